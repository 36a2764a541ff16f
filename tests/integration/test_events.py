"""The event journal: durable, shared by processes and monitors, docker's fields and filters."""
import contextlib
import json
import subprocess
import threading
import time

import pytest

from pycontainer import errors
from pycontainer.engine.events import Journal
from test_lifecycle import script, spawn, wait_until


def actions(client, since, **kw):
    return [(e["Type"], e["Action"])
            for e in client.events(since=since, until=time.time(), decode=True, **kw)]


def test_container_life_seen_from_another_process(client, busybox, store_root):
    t0 = time.time()
    c = client.containers.run("busybox", ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"],
                              detach=True, labels={"app": "ev"})
    wait_until(lambda: b"sleep" in c.exec_run(["ps"]).output, "the trap to be set")
    c.stop(timeout=1)
    name = c.name
    c.rename(name + "-b")
    c.remove()
    t1 = time.time()
    r = script(store_root, f"""
        import json
        evs = client.events(since={t0!r}, until={t1!r}, decode=True,
                            filters={{"container": {c.id[:12]!r}}})
        print(json.dumps(list(evs)))
    """)
    assert r.returncode == 0, r.stderr
    evs = [e for e in json.loads(r.stdout) if not e["Action"].startswith("exec_")]
    assert [e["Action"] for e in evs] == ["create", "start", "kill", "die", "stop", "rename",
                                          "destroy"]
    die = evs[3]
    assert die["Type"] == "container" and die["scope"] == "local"
    assert die["Actor"]["ID"] == c.id == die["id"]
    assert die["Actor"]["Attributes"] == {"app": "ev", "image": "busybox", "name": name,
                                          "exitCode": "0"}
    assert die["status"] == "die" and die["from"] == "busybox"
    assert die["time"] == die["timeNano"] // 10**9
    assert evs[2]["Actor"]["Attributes"]["signal"] == "15"
    assert evs[5]["Actor"]["Attributes"]["oldName"] == "/" + name
    assert evs[5]["Actor"]["Attributes"]["name"] == name + "-b"
    assert all(t0 * 1e9 <= e["timeNano"] <= t1 * 1e9 for e in evs)
    # a window that ends before the stop holds only the first events
    before_stop = evs[4]["timeNano"] - 1         # docker's exact "secs.nanos" form
    until = f"{before_stop // 10**9}.{before_stop % 10**9:09d}"
    life = ["create", "start", "kill", "die", "stop", "rename", "destroy"]   # values OR
    assert [e["Action"] for e in client.events(since=t0, until=until, decode=True,
                                               filters={"container": c.id, "event": life})] == \
        ["create", "start", "kill", "die"]


def test_follow_across_writer_restarts(client, busybox, store_root):
    """A reader in another process follows the journal while two writer
    processes, one after the other, record events: it sees every one."""
    t0 = time.time()
    with contextlib.ExitStack() as stack:
        reader = spawn(stack, store_root, f"""
            import json
            print("ready", flush=True)
            for ev in client.events(since={t0!r}, decode=True,
                                    filters={{"type": "volume", "volume": "pyc-ev-"}}):
                print(ev["Action"], ev["Actor"]["ID"], flush=True)
                if ev["Actor"]["ID"] == "pyc-ev-2" and ev["Action"] == "destroy":
                    break
        """)
        assert reader.stdout.readline() == b"ready\n"
        for n in (1, 2):                      # each writer a new process (a new Client)
            r = script(store_root, f"""
                v = client.volumes.create("pyc-ev-{n}")
                client.volumes.create("pyc-other-{n}")
                v.remove()
                client.volumes.get("pyc-other-{n}").remove()
            """)
            assert r.returncode == 0, r.stderr
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
    assert out.decode().split("\n")[:-1] == ["create pyc-ev-1", "destroy pyc-ev-1",
                                          "create pyc-ev-2", "destroy pyc-ev-2"]


def test_filters_and_docker_rules(client, busybox):
    t0 = time.time()
    net = client.networks.create("pyc-ev-net")
    net.remove()
    v = client.volumes.create("pyc-ev-vol")
    v.remove()
    client.containers.run("busybox", ["true"], remove=True, name="pyc-ev-run")
    got = actions(client, t0, filters={"type": ["network", "volume"]})
    assert got == [("network", "create"), ("network", "destroy"), ("volume", "create"),
                   ("volume", "destroy")]
    assert actions(client, t0, filters={"type": "volume", "event": "create"}) == \
        [("volume", "create")]
    assert actions(client, t0, filters={"network": "pyc-ev-net"}) == \
        [("network", "create"), ("network", "destroy")]
    assert actions(client, t0, filters={"container": "pyc-ev-run"}) == \
        [("container", a) for a in ("create", "start", "die", "destroy")]
    assert actions(client, t0, filters={"image": "busybox", "event": "die"}) == \
        [("container", "die")]
    with pytest.raises(errors.InvalidArgument, match="unsupported filter"):
        client.events(filters={"colour": "red"})
    with pytest.raises(errors.InvalidArgument, match="unknown event type"):
        client.events(filters={"type": "plugin"})


def test_close_ends_a_blocking_stream(client):
    stream = client.events(decode=True)
    got = []
    t = threading.Thread(target=lambda: got.extend(stream))
    t.start()
    client.volumes.create("pyc-ev-close").remove()
    stream.close()
    t.join(10)
    assert not t.is_alive()
    assert all(e["Type"] == "volume" for e in got)


def test_rotation_loses_nothing(tmp_path):
    """Many writers and readers on a journal that rotates a few times:
    each reader, following from the start, gets every event once, in each
    writer's order; at most two files of about max_size remain."""
    journal = Journal(str(tmp_path), max_size=65536)
    writers, per_writer = 4, 300
    streams = [journal.stream(since=0, decode=True) for _ in range(3)]
    seen = [[] for _ in streams]

    def read(i):
        for ev in streams[i]:
            seen[i].append(ev["Actor"]["ID"])
            if len(seen[i]) == writers * per_writer:
                return          # a stream closed meanwhile ends the loop too

    def write(w):
        for n in range(per_writer):
            journal.emit("volume", "create", f"{w}-{n}")
    total = writers * per_writer
    readers = [threading.Thread(target=read, args=(i,)) for i in range(len(streams))]
    ws = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    try:
        for t in readers + ws:
            t.start()
        for t in ws:
            t.join()
        wait_until(lambda: all(len(ids) >= total for ids in seen), "every reader has all",
                   timeout=30)
    finally:
        for s in streams:
            s.close()
        for t in readers:
            t.join()
    for ids in seen:
        assert sorted(ids) == sorted(f"{w}-{n}" for w in range(writers) for n in range(per_writer))
        for w in range(writers):
            mine = [i for i in ids if i.startswith(f"{w}-")]
            assert mine == [f"{w}-{n}" for n in range(per_writer)]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["events.log", "events.log.1"]
    # a writer rotates once past the size: by at most a line per writer
    assert all(p.stat().st_size <= 65536 + writers * 200 for p in tmp_path.iterdir())


def test_exec_events_carry_the_exit_code(client, busybox):
    with client.containers.run("busybox", ["sleep", "600"], detach=True) as c:
        t0 = time.time()
        assert c.exec_run(["sh", "-c", "exit 3"]).exit_code == 3
        res = c.exec_run(["sh", "-c", "echo x; exit 4"], stream=True)
        assert b"".join(res.output) == b"x\n" and res.exit_code == 4
        c.exec_run(["sh", "-c", "exit 5"], detach=True)
        sock = c.exec_run(["sh", "-c", "echo y; exit 6"], socket=True).output
        with sock:
            while sock.recv(65536):
                pass
        assert sock.exit_code == 6
        f = {"container": c.id, "event": ["exec_create", "exec_start", "exec_die"]}
        evs = wait_until(lambda: (lambda e: len(e) == 12 and e)(
            list(client.events(since=t0, until=time.time(), decode=True, filters=f))),
            "twelve exec events")
    runs = {}
    for e in evs:
        runs.setdefault(e["Actor"]["Attributes"]["execID"], []).append(e)
    assert len(runs) == 4
    codes = []
    for run in runs.values():
        assert [e["Action"].split(":")[0] for e in run] == ["exec_create", "exec_start",
                                                            "exec_die"]
        codes.append(run[2]["Actor"]["Attributes"]["exitCode"])
    assert sorted(codes) == ["3", "4", "5", "6"]
    assert evs[0]["Action"] == "exec_create: sh -c exit 3"


def test_a_socket_exec_that_ends_during_its_handshake_has_its_exec_die(client, busybox):
    """The exec's exit can come before the attach handshake's ack: its exec_die
    was lost then (25 in 40 under two busy loops)."""
    spin = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(2)]
    try:
        with client.containers.run("busybox", ["sleep", "600"], detach=True) as c:
            t0 = time.time()
            for _ in range(20):
                with c.exec_run(["sh", "-c", "exit 6"], socket=True).output as sock:
                    while sock.recv(65536):
                        pass
                assert sock.exit_code == 6
            f = {"container": c.id, "event": "exec_die"}
            wait_until(lambda: len(list(client.events(since=t0, until=time.time(),
                                                      decode=True, filters=f))) == 20,
                       "twenty exec_die events")
    finally:
        for p in spin:
            p.kill()
            p.wait()
