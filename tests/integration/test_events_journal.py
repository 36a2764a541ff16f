"""The events each verb and each monitor journals, as docker writes them
(Type, Action, Actor.ID, Actor.Attributes, timeNano), read back by another
process where the writer is a monitor (no Python process need be alive)."""
import contextlib
import io
import json
import signal
import tarfile
import time

from test_lifecycle import script, spawn, wait_until
from stream_helpers import read_until


def journal(client, t0, **filters):
    return list(client.events(since=t0, until=time.time(), decode=True, filters=filters))


def from_another_process(store_root, t0, filters):
    r = script(store_root, f"""
        import json, time
        print(json.dumps(list(client.events(since={t0!r}, until=time.time(), decode=True,
                                            filters={filters!r}))))
    """)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_volume_mount_and_unmount_come_from_the_monitor(client, busybox, store_root):
    t0 = time.time()
    c = client.containers.run("busybox", ["sh", "-c", "read x"], detach=True, stdin_open=True,
                              volumes={"pyc-ev-mnt": {"bind": "/data", "mode": "rw"},
                                       "pyc-ev-ro": {"bind": "/ro", "mode": "ro"}})
    try:
        with c.attach_socket() as s:     # ends the container with no Python verb
            s.sendall(b"go\n")
            assert c.wait(timeout=30)["StatusCode"] == 0
        def mine():
            return [e for e in from_another_process(store_root, t0, {})
                    if e["Actor"]["ID"] in (c.id, "pyc-ev-mnt", "pyc-ev-ro")]
        evs = wait_until(lambda: (lambda e: sum(x["Action"] == "unmount" for x in e) == 2 and e)(
            mine()), "the unmounts")
    finally:
        c.remove(force=True)
        for v in ("pyc-ev-mnt", "pyc-ev-ro"):
            client.volumes.get(v).remove()
    vol = [e for e in evs if e["Type"] == "volume" and e["Action"] in ("mount", "unmount")]
    got = [(e["Action"], e["Actor"]["ID"]) for e in vol]
    assert sorted(got[:2]) == [("mount", "pyc-ev-mnt"), ("mount", "pyc-ev-ro")]
    assert sorted(got[2:]) == [("unmount", "pyc-ev-mnt"), ("unmount", "pyc-ev-ro")]
    mounts = {e["Actor"]["ID"]: e["Actor"]["Attributes"] for e in vol if e["Action"] == "mount"}
    assert mounts["pyc-ev-mnt"] == {"container": c.id, "destination": "/data",
                                    "driver": "local", "propagation": "", "read/write": "true"}
    assert mounts["pyc-ev-ro"]["read/write"] == "false"
    un = [e for e in vol if e["Action"] == "unmount"]
    assert un[0]["Actor"]["Attributes"] == {"container": c.id, "driver": "local"}
    assert all(e["scope"] == "local" and e["time"] == e["timeNano"] // 10**9 for e in vol)
    # docker's order: the mounts, then start; die, then the unmounts
    order = [e["Action"] for e in evs if e["Action"] in ("mount", "start", "die", "unmount")]
    assert order == ["mount", "mount", "start", "die", "unmount", "unmount"]


def test_detach_by_keys_and_by_a_client_that_dies(client, busybox, store_root):
    with client.containers.run("busybox", ["sh"], detach=True, tty=True,
                               stdin_open=True) as c:
        t0 = time.time()
        with c.attach_socket() as s:
            s.sendall(b"echo A$((1+1))\n")
            read_until(s, b"A2")
            s.sendall(b"\x10\x11")                  # ctrl-p ctrl-q
        c.resize(30, 100)                           # a resize is neither attach nor detach
        with contextlib.ExitStack() as stack:       # an attacher killed: its socket closes
            p = spawn(stack, store_root, f"""
                s = client.containers.get({c.id!r}).attach_socket()
                s.sendall(b"echo B$((2+2))\\n")
                while b"B4" not in s.recv(4096):
                    pass
                print("attached", flush=True)
                sys.stdin.read()
            """)
            assert p.stdout.readline() == b"attached\n"
            p.send_signal(signal.SIGKILL)
            p.wait()
        f = {"container": c.id, "event": ["attach", "detach", "resize"]}
        evs = wait_until(lambda: (lambda e: len(e) == 5 and e)(
            from_another_process(store_root, t0, f)), "two detaches")
    assert [e["Action"] for e in evs] == ["attach", "detach", "resize", "attach", "detach"]
    assert evs[1]["Actor"]["Attributes"]["name"] == c.name
    assert evs[2]["Actor"]["Attributes"]["height"] == "30"
    assert evs[2]["Actor"]["Attributes"]["width"] == "100"


def test_container_verbs_journal_their_events(client, busybox):
    t0 = time.time()
    c = client.containers.run("busybox", ["sleep", "600"], detach=True, labels={"k": "v"})
    try:
        c.pause()
        c.unpause()
        c.restart(timeout=1)
        img = c.commit(repository="pyc-ev-commit", tag="t", message="m1")
        with tarfile.open(fileobj=io.BytesIO(b"".join(c.export()))) as tar:
            assert "bin/busybox" in [n.lstrip("./") for n in tar.getnames()]
    finally:
        c.remove(force=True)
    picked = ("pause", "unpause", "restart", "commit", "export", "destroy")
    evs = [e for e in journal(client, t0, container=c.id) if e["Action"] in picked]
    assert [e["Action"] for e in evs] == list(picked)
    for e in evs:
        assert e["Type"] == "container" and e["Actor"]["ID"] == c.id
        assert e["Actor"]["Attributes"]["k"] == "v" and e["Actor"]["Attributes"]["name"] == c.name
    assert evs[3]["Actor"]["Attributes"]["comment"] == "m1"
    assert evs[3]["Actor"]["Attributes"]["imageID"] == img.id
    client.images.remove(img.id)


def test_image_verbs_journal_their_events(client, busybox):
    """docker's actor is the image's id; ``name`` the reference used."""
    t0 = time.time()
    busybox.tag("pyc-ev-img", "t1")
    data = b"".join(client.images.get("pyc-ev-img:t1").save(named="pyc-ev-img:t1"))
    client.images.remove("pyc-ev-img:t1")
    loaded = client.images.load(data)
    client.images.remove("pyc-ev-img:t1")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    imported = client.images.import_image(buf.getvalue(), repository="pyc-ev-imp", tag="x")
    client.images.remove(imported.id)
    evs = journal(client, t0, type="image")
    assert all(e["scope"] == "local" and e["timeNano"] >= t0 * 1e9 for e in evs)
    ours = [(e["Action"], e["Actor"]["Attributes"].get("name"))
            for e in evs if e["Actor"]["ID"] == busybox.id]
    assert loaded[0].id == busybox.id
    assert ours == [("tag", "pyc-ev-img:t1"), ("save", "pyc-ev-img:t1"),
                    ("untag", "pyc-ev-img:t1"), ("load", ours[3][1]),
                    ("untag", "pyc-ev-img:t1")]
    imp = [(e["Action"], e["Actor"]["Attributes"].get("name"))
           for e in evs if e["Actor"]["ID"] == imported.id]
    assert imp == [("import", "pyc-ev-imp:x"), ("untag", "pyc-ev-imp:x"),
                   ("delete", imported.id)]


def test_a_build_journals_its_image(client, busybox, tmp_path):
    """docker's legacy builder writes none; ours writes ``build`` with the tag."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nLABEL pyc.ev=1\n")
    t0 = time.time()
    img, _ = client.images.build(path=str(tmp_path), tag="pyc-ev-built:1")
    try:
        evs = journal(client, t0, type="image", event="build")
        assert [(e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in evs] == [
            (img.id, "pyc-ev-built:1")]
    finally:
        client.images.remove(img.id, force=True)
