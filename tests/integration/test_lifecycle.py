"""Containers that live on their own: monitor, state, logs, exec, stop, restart."""
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pycontainer import Client, errors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def script(store_root, body):
    """Run a Python snippet with a Client on the same store in another process."""
    store_root = str(store_root)
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {ROOT!r})
        from pycontainer import Client, errors
        client = Client(root={store_root!r})
    """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)


def spawn(stack, store_root, body):
    """Like :func:`script`, but in the background with pipes to talk to it;
    killed (if still running) and reaped when ``stack`` (an ExitStack) closes."""
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {ROOT!r})
        from pycontainer import Client, errors
        client = Client(root={str(store_root)!r})
    """) + textwrap.dedent(body)
    p = stack.enter_context(subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    stack.callback(p.kill)
    return p


def wait_until(pred, what, timeout=60):
    """Poll until ``pred()`` is true: a wait for a state; the deadline is only
    there so that a broken engine fails the test instead of hanging it."""
    deadline = time.monotonic() + timeout
    while not (value := pred()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return value


def wait_logs(c, want):
    wait_until(lambda: c.logs() == want, f"the logs to be {want!r}")


def wait_exit(*fds, timeout=60):
    """Wait until the processes behind these pidfds have exited."""
    for fd in fds:
        assert select.select([fd], [], [], timeout)[0], "a process did not exit"


def fully_frozen(client, cid):
    """The kernel reports every task of the container frozen."""
    def read(path, name):
        with contextlib.suppress(FileNotFoundError):
            with open(os.path.join(path, name)) as f:
                return f.read()
    dirs = list(client._runtime.cg.dirs(cid).values())
    for path in dirs:                  # v1 and hybrid hosts: the freezer hierarchy
        state = read(path, "freezer.state")
        if state is not None:
            return state.strip() == "FROZEN"
    for path in dirs:                  # cgroup v2
        events = read(path, "cgroup.events")
        if events is not None:
            return "frozen 1" in events.splitlines()
    return False


def monitor_pid(c):
    c.reload()
    return c.attrs["State"]["MonitorPid"]


def live_monitors(run_root):
    """pids of running pyc-monitor processes of containers under ``run_root``."""
    prefix, pids = os.fsencode(run_root) + b"/", set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) >= 2 and argv[0].endswith(b"pyc-monitor") and argv[1].startswith(prefix):
            pids.add(int(entry))
    return pids


def test_outlives_the_creating_process(client, busybox, store_root):
    r = script(store_root, """
        c = client.containers.run("busybox", ["sh", "-c", "echo up; sleep 30"],
                                  name="pyc-outlive", detach=True)
        print(c.id)
    """)
    assert r.returncode == 0, r.stderr
    c = client.containers.get("pyc-outlive")
    try:
        assert c.status == "running"
        assert c.id == r.stdout.decode().strip()
        wait_logs(c, b"up\n")
        c.stop(timeout=1)
        assert c.status == "exited"
        assert c.attrs["State"]["ExitCode"] == 137
    finally:
        c.remove(force=True)


def test_create_start_wait_states(client, busybox):
    c = client.containers.create("busybox", ["sh", "-c", "exit 5"])
    try:
        assert c.status == "created"
        c.start()
        assert c.wait(timeout=10) == {"StatusCode": 5, "Error": None}
        assert c.status == "exited"
        assert c.attrs["State"]["FinishedAt"]
        c.start()                      # an exited container starts again
        assert c.wait(timeout=10)["StatusCode"] == 5
    finally:
        c.remove()


def test_wait_deadline(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            c.wait(timeout=0.3)
        assert time.monotonic() - t0 < 2


def test_stop_uses_stop_signal_then_kill(client, busybox):
    with client.containers.run("busybox", ["sh", "-c", "trap 'exit 7' TERM; echo trapped; "
                                                       "while :; do sleep 0.1; done"],
                               detach=True) as c:
        wait_logs(c, b"trapped\n")
        c.stop(timeout=5)
        assert c.attrs["State"]["ExitCode"] == 7
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        t0 = time.monotonic()
        c.stop(timeout=0.5)            # PID 1 ignores SIGTERM: SIGKILL after the timeout
        assert c.attrs["State"]["ExitCode"] == 137
        assert time.monotonic() - t0 < 5


def test_kill_signal_names(client, busybox):
    with client.containers.run("busybox", ["sh", "-c", "trap 'exit 3' HUP; echo trapped; "
                                                       "while :; do sleep 0.1; done"],
                               detach=True) as c:
        wait_logs(c, b"trapped\n")
        c.kill("HUP")
        assert c.wait(timeout=5)["StatusCode"] == 3
        with pytest.raises(errors.Conflict):
            c.kill()
        with pytest.raises(errors.InvalidArgument):
            client.containers.run("busybox", ["sleep", "5"], detach=True, name="pyc-sig").kill("NOPE")
    client.containers.get("pyc-sig").remove(force=True)


def test_pause_unpause(client, busybox, tmp_path):
    # Each round appends to a file first, then writes to stdout: the file says
    # how far it got, with no monitor in between; the logs never get ahead of it.
    ticks = tmp_path / "ticks"

    def rounds():
        return ticks.read_bytes().count(b"x") if ticks.exists() else 0
    with client.containers.run("busybox", ["sh", "-c", "while :; do echo x >> /out/ticks; "
                                                       "echo x; sleep 0.05; done"],
                               detach=True, volumes={str(tmp_path): {"bind": "/out", "mode": "rw"}}) as c:
        wait_until(rounds, "the first round")
        c.pause()
        assert c.status == "paused"
        assert fully_frozen(client, c.id)     # pause() returns once the kernel says FROZEN
        with pytest.raises(errors.Conflict):
            c.pause()
        n = rounds()
        time.sleep(0.3)                 # not a sync: how long it is watched while frozen
        assert rounds() == n            # frozen: no progress...
        assert c.logs().count(b"x") <= n     # ...and no output beyond it
        c.unpause()
        assert c.status == "running"
        wait_until(lambda: c.logs().count(b"x") > n, "output after unpause")


def test_restart_policy_on_failure(client, busybox):
    c = client.containers.run("busybox", ["sh", "-c", "echo try; exit 3"], detach=True,
                              restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
    try:
        def done():
            c.reload()
            return c.status == "exited" and c.attrs["RestartCount"] == 2
        wait_until(done, "the second restart to exit")
        assert c.attrs["State"]["ExitCode"] == 3
        assert c.logs() == b"try\n" * 3
    finally:
        c.remove(force=True)


def test_restart_policy_on_failure_not_on_success(client, busybox):
    c = client.containers.run("busybox", ["sh", "-c", "echo once"], detach=True,
                              restart_policy={"Name": "on-failure"})
    try:
        assert c.wait(timeout=30)["StatusCode"] == 0
        c.reload()
        assert c.status == "exited" and c.attrs["RestartCount"] == 0
        assert c.logs() == b"once\n"
    finally:
        c.remove(force=True)


def test_failed_exec_is_recorded_as_json(client, busybox):
    # The program's name (quotes, newline) ends up in run.json's Error.
    c = client.containers.create("busybox", ['no"such\nprog'])
    try:
        with pytest.raises(errors.OperationError):
            c.start()
        c.reload()
        st = c.attrs["State"]
        assert (st["Status"], st["ExitCode"]) == ("exited", 127)
        assert st["Error"] == 'exec: "no"such\nprog": No such file or directory'
        with open(os.path.join(client._runtime.dir(c.id), "run.json")) as f:
            json.load(f)
    finally:
        c.remove(force=True)


def test_restart_policy_always_until_stopped(client, busybox):
    c = client.containers.run("busybox", ["true"], detach=True, restart_policy="always")
    try:
        def restarted_twice():
            c.reload()
            return c.attrs["RestartCount"] >= 2
        wait_until(restarted_twice, "two restarts")
        c.stop(timeout=1)
        assert c.status == "exited"
        count = c.attrs["RestartCount"]
        time.sleep(0.5)                 # not a sync: how long it is watched for restarts
        c.reload()
        assert c.status == "exited" and c.attrs["RestartCount"] == count
    finally:
        c.remove(force=True)


GATED = ["sh", "-c", "while [ ! -e /g/open ]; do sleep 0.05; done; echo try; exit 3"]


def test_a_running_containers_restart_policy_is_updated(client, busybox, tmp_path):
    """The new policy rules from the next exit on: no -> on-failure:2."""
    c = client.containers.run("busybox", GATED, detach=True, volumes=[f"{tmp_path}:/g"])
    try:
        c.update(restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
        assert c.attrs["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                           "MaximumRetryCount": 2}
        (tmp_path / "open").touch()

        def done():
            c.reload()
            return c.status == "exited" and c.attrs["RestartCount"] == 2
        wait_until(done, "the second restart to exit")
        assert c.logs() == b"try\n" * 3 and c.attrs["State"]["ExitCode"] == 3
    finally:
        c.remove(force=True)


def test_an_updated_no_policy_ends_the_restarts(client, busybox, tmp_path):
    c = client.containers.run("busybox", GATED, detach=True, volumes=[f"{tmp_path}:/g"],
                              restart_policy="always")
    try:
        c.update(restart_policy="no")
        (tmp_path / "open").touch()
        assert c.wait(timeout=30)["StatusCode"] == 3
        c.reload()
        assert c.status == "exited" and c.attrs["RestartCount"] == 0
        assert c.attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"
    finally:
        c.remove(force=True)


def test_restart_policy_update_refusals(client, busybox):
    c = client.containers.run("busybox", ["sleep", "30"], detach=True, remove=True)
    try:
        with pytest.raises(errors.InvalidArgument, match="AutoRemove"):
            c.update(restart_policy="always")
        with pytest.raises(errors.InvalidArgument, match="unknown restart policy"):
            c.update(restart_policy={"Name": "sometimes"})
        assert c.attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"
    finally:
        c.remove(force=True)


def test_auto_remove(client, busybox):
    c = client.containers.run("busybox", ["true"], detach=True, remove=True)
    c.wait(timeout=10, condition="removed")
    with pytest.raises(errors.NotFound):
        client.containers.get(c.id)


def test_logs_options(client, busybox, tmp_path):
    # stdout and stderr are two pipes: each line waits until the one before is
    # logged (the test opens a gate file), so their order in the log is fixed.
    gated = ("g() { until [ -e /gate/$1 ]; do sleep 0.01; done; }; "
             "echo a; g 1; echo b >&2; g 2; echo c; printf d")
    c = client.containers.run("busybox", ["sh", "-c", gated], detach=True,
                              volumes={str(tmp_path): {"bind": "/gate", "mode": "ro"}})
    try:
        for gate, logged in (("1", b"a\n"), ("2", b"a\nb\n")):
            wait_logs(c, logged)
            (tmp_path / gate).touch()
        c.wait(timeout=10)
        assert c.logs() == b"a\nb\nc\nd"
        assert c.logs(stderr=False) == b"a\nc\nd"
        assert c.logs(stdout=False) == b"b\n"
        assert c.logs(tail=2) == b"c\nd"
        stamped = c.logs(timestamps=True).splitlines()
        assert stamped[0].endswith(b" a") and stamped[0][:4].isdigit()
        assert c.logs(since=time.time() + 60) == b""
        assert b"".join(c.logs(stream=True)) == b"a\nb\nc\nd"
    finally:
        c.remove()


def test_logs_follow(client, busybox):
    with client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done"],
                               detach=True) as c:
        assert b"".join(c.logs(stream=True, follow=True)) == b"1\n2\n3\n"


def test_rename_top_stats_update(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True, name="pyc-old",
                               mem_limit="64m") as c:
        c.rename("pyc-new")
        assert c.name == "pyc-new"
        assert client.containers.get("pyc-new").id == c.id
        with pytest.raises(errors.NotFound):
            client.containers.get("pyc-old")
        top = c.top()
        assert top["Titles"][0] == "PID" and "sleep 30" in top["Processes"][0][-1]
        s = c.stats(stream=False, one_shot=True)
        assert s["memory_stats"]["limit"] == 64 << 20 and s["pids_stats"]["current"] == 1
        c.update(mem_limit="128m", pids_limit=20)
        s = c.stats(stream=False, one_shot=True)
        assert s["memory_stats"]["limit"] == 128 << 20 and s["pids_stats"]["limit"] == 20
        with pytest.raises(errors.InvalidArgument):
            c.update(mem_limit="1k")


def test_list_filters_and_prune(client, busybox):
    a = client.containers.run("busybox", ["sleep", "30"], detach=True, labels={"pyc": "a"})
    b = client.containers.create("busybox", ["true"], labels={"pyc": "b"})
    try:
        assert a in client.containers.list()
        assert b not in client.containers.list()
        assert b in client.containers.list(all=True)
        assert client.containers.list(filters={"label": "pyc=b"}) == []    # running only
        assert client.containers.list(all=True, filters={"label": "pyc=b"}) == [b]
        assert client.containers.list(filters={"status": "created", "label": "pyc"}) == [b]
        assert client.containers.list(all=True, filters={"id": a.id[:8]}) == [a]
        pruned = client.containers.prune(filters={"label": "pyc"})
        assert pruned["ContainersDeleted"] == [b.id]
        assert a in client.containers.list()
    finally:
        a.remove(force=True)


def test_remove_running_needs_force(client, busybox):
    c = client.containers.run("busybox", ["sleep", "30"], detach=True)
    try:
        with pytest.raises(errors.Conflict):
            c.remove()
    finally:
        c.remove(force=True)
    with pytest.raises(errors.NotFound):
        c.reload()


def test_other_process_sees_and_waits(client, busybox, store_root, tmp_path):
    # The container exits once the test opens the gate, after the other
    # process has seen it running.
    c = client.containers.run("busybox", ["sh", "-c", "until [ -e /gate/go ]; do sleep 0.01; done; "
                                                "exit 9"],
                              detach=True, volumes={str(tmp_path): {"bind": "/gate", "mode": "ro"}})
    try:
        with contextlib.ExitStack() as stack:
            p = spawn(stack, store_root, f"""
                c = client.containers.get({c.id[:12]!r})
                print(c.status, flush=True)
                print(c.wait(timeout=60)["StatusCode"])
            """)
            status = p.stdout.readline()
            (tmp_path / "go").touch()
            out, err = p.communicate(timeout=60)
        assert (status + out).decode().split() == ["running", "9"], err
    finally:
        c.remove(force=True)


# -- exec ------------------------------------------------------------------

def test_exec_joins_namespaces(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True, hostname="exbox",
                               environment={"FOO": "bar"}, mem_limit="64m") as c:
        code, out = c.exec_run(["sh", "-c", "echo $FOO; hostname; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
                                            "ls /proc | grep -c '^[0-9]'"])
        assert code == 0
        foo, host, limit, nprocs = out.decode().split()
        assert (foo, host, limit) == ("bar", "exbox", str(64 << 20))
        assert int(nprocs) <= 4


def test_exec_user_env_workdir_exit_code(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        assert c.exec_run("id -u", user="nobody") == (0, b"65534\n")
        assert c.exec_run(["sh", "-c", "pwd; echo $X"], workdir="/tmp",
                          environment={"X": "y"}).output == b"/tmp\ny\n"
        assert c.exec_run(["sh", "-c", "exit 4"]).exit_code == 4
        assert c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True).output == (b"o\n", b"e\n")


def test_exec_stream_yields_exit_code(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        res = c.exec_run(["sh", "-c", "echo 1; sleep 0.1; echo 2; exit 6"], stream=True)
        assert b"".join(res.output) == b"1\n2\n"
        assert res.exit_code == 6


def test_exec_timeout(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            c.exec_run(["sleep", "20"], timeout=0.3)
        assert time.monotonic() - t0 < 3
        assert "sleep 20" not in str(c.top())


def test_exec_refused_when_not_running(client, busybox):
    c = client.containers.create("busybox", ["true"])
    try:
        with pytest.raises(errors.Conflict):
            c.exec_run("true")
    finally:
        c.remove()


# -- reliability -------------------------------------------------------------

def _leftover_cgroups(client, cid):
    return [p for p in client._runtime.cg.dirs(cid).values() if os.path.isdir(p)]


def test_kill_monitor_reports_exit(client, busybox):
    c = client.containers.run("busybox", ["sleep", "30"], detach=True)
    try:
        os.kill(monitor_pid(c), signal.SIGKILL)

        def not_running():
            c.reload()
            return c.status != "running"
        wait_until(not_running, "the exit to be recorded")
        assert c.status == "exited"
        assert c.attrs["State"]["ExitCode"] == 137
        # Reading is pure: the stale record and the cgroups stay until repair.
        run = os.path.join(client._runtime.dir(c.id), "run.json")
        with open(run) as f:
            assert '"running"' in f.read()
        assert _leftover_cgroups(client, c.id)
        client._backend.reconcile()
        with open(run) as f:
            assert '"exited"' in f.read()
        assert not _leftover_cgroups(client, c.id)
        assert c.wait(timeout=5)["StatusCode"] == 137
    finally:
        c.remove(force=True)


def test_monitor_death_restarts_by_policy(client, busybox):
    """Repair restarts an `always` container whose monitor died, as dockerd
    does for such containers when it starts; a `no` one stays exited."""
    a = client.containers.run("busybox", ["sleep", "30"], detach=True,
                              restart_policy={"Name": "always"})
    b = client.containers.run("busybox", ["sleep", "30"], detach=True)
    try:
        old = {}
        for c in (a, b):
            old[c.id] = mon = monitor_pid(c)
            os.kill(mon, signal.SIGKILL)
            while os.path.exists(f"/proc/{mon}") and c.attrs["State"]["Running"]:
                c.reload()
        client._backend.reconcile()
        a.reload()
        b.reload()
        assert a.status == "running" and monitor_pid(a) != old[a.id]
        assert b.status == "exited" and b.attrs["State"]["ExitCode"] == 137
        assert a.exec_run(["true"]).exit_code == 0
    finally:
        a.remove(force=True)
        b.remove(force=True)


def test_wiped_runtime_state_is_repaired(busybox, store_root, tmp_path):
    run_root = str(tmp_path / "run")
    client = Client(root=store_root, run_root=run_root)
    c = client.containers.run("busybox", ["sleep", "30"], detach=True, name="pyc-reboot")
    mon, init = os.pidfd_open(monitor_pid(c)), os.pidfd_open(c.attrs["State"]["Pid"])
    try:
        os.kill(monitor_pid(c), signal.SIGKILL)       # as a reboot would: the init dies with it
        wait_exit(mon, init)
    finally:
        os.close(mon)
        os.close(init)
    subprocess.run(["rm", "-rf", run_root], check=True)
    client = Client(root=store_root, run_root=run_root)
    c = client.containers.get("pyc-reboot")
    try:
        assert c.status == "exited"
        assert not _leftover_cgroups(client, c.id)
        c.start()
        assert c.status == "running"
    finally:
        c.remove(force=True)


def test_kill_9_creator_mid_run_leaves_nothing(client, busybox, store_root):
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys; sys.path.insert(0, {ROOT!r})
        from pycontainer import Client
        client = Client(root={str(store_root)!r})
        print("ready", flush=True)
        while True:
            client.containers.run("busybox", ["true"], detach=True, remove=True,
                                  labels={{"pyc-crash": "1"}})
    """)], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    time.sleep(0.4)                    # not a sync: any point of the loop will do for the kill
    proc.kill()
    proc.wait()
    Client(root=store_root).ping()     # a later Client repairs what was half made
    wait_until(lambda: not live_monitors(client._runtime.run_root),
               "the auto-removing monitors to finish")
    left = client.containers.list(all=True, filters={"label": "pyc-crash"})
    for c in left:
        c.remove(force=True)
    Client(root=store_root).ping()
    for cid in os.listdir(client._runtime.containers):
        assert os.path.exists(os.path.join(client._runtime.containers, cid, "config.json"))


@pytest.mark.parametrize("delay", [0.02, 0.08, 0.2])
def test_kill_9_mid_remove_loop_leaves_whole_or_nothing(client, busybox, store_root, delay):
    cs = [client.containers.run("busybox", ["sleep", "30"], detach=True, labels={"pyc-rm": "1"})
          for _ in range(6)]
    ids = [c.id for c in cs]
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys; sys.path.insert(0, {ROOT!r})
        from pycontainer import Client
        client = Client(root={str(store_root)!r})
        print("ready", flush=True)
        for cid in {ids!r}:
            client.containers.get(cid).remove(force=True)
    """)], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    time.sleep(delay)                     # not a sync: where in the loop the kill lands
    proc.kill()
    proc.wait()
    Client(root=store_root).ping()        # repairs whatever the kill cut in half
    for cid in ids:
        try:
            c = client.containers.get(cid)    # still whole: it can be removed normally
        except errors.NotFound:
            assert not os.path.exists(client._runtime.dir(cid))
            assert not os.path.exists(client._runtime.rundir(cid))
            assert not _leftover_cgroups(client, cid)
        else:
            c.remove(force=True)
    assert not client.containers.list(all=True, filters={"label": "pyc-rm"})


def test_kill_9_during_remove_is_repaired(client, busybox, store_root):
    c = client.containers.run("busybox", ["sleep", "30"], detach=True)
    # A remover that dies after deleting config.json but before the rest.
    cfg = client._runtime.config_path(c.id)
    c.kill()
    os.unlink(cfg)
    Client(root=store_root).ping()
    assert not os.path.exists(client._runtime.dir(c.id))
    assert not os.path.exists(client._runtime.rundir(c.id))
    assert not _leftover_cgroups(client, c.id)


def test_four_threads_hammer_one_container(client, busybox):
    c = client.containers.run("busybox", ["sleep", "30"], detach=True)
    cid, errors_seen = c.id, []

    def worker(verb):
        for _ in range(100):
            try:
                obj = client.containers.get(cid)
                if verb == "start":
                    obj.start()
                elif verb == "stop":
                    obj.stop(timeout=0)
                elif verb == "kill":
                    obj.kill()
                else:
                    obj.remove(force=True)
            except (errors.NotFound, errors.Conflict):
                pass
            except Exception as err:       # anything untyped is a failure
                errors_seen.append(repr(err))
    threads = [threading.Thread(target=worker, args=(v,)) for v in ("start", "stop", "kill", "remove")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors_seen
    with pytest.raises(errors.NotFound):
        client.containers.get(cid).remove(force=True)
        client.containers.get(cid)
    assert not _leftover_cgroups(client, cid)


def test_two_processes_same_name(client, busybox, store_root):
    # Both processes are started and ready before either is told to go.
    body = """
        print("ready", flush=True)
        sys.stdin.readline()
        try:
            c = client.containers.create("busybox", ["true"], name="pyc-race")
            print("won", c.id)
        except errors.Conflict:
            print("conflict")
    """
    with contextlib.ExitStack() as stack:
        procs = [spawn(stack, store_root, body) for _ in range(2)]
        for p in procs:
            assert p.stdout.readline() == b"ready\n", p.stderr.read()
        for p in procs:
            p.stdin.write(b"go\n")
            p.stdin.flush()
        results = [p.communicate(timeout=60) for p in procs]
    words = sorted(out.decode().split()[0] for out, _ in results)
    assert words == ["conflict", "won"], [err for _, err in results]
    client.containers.get("pyc-race").remove()


def test_state_files_are_json(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        d = client._runtime.dir(c.id)
        for name in ("config.json", "run.json"):
            with open(os.path.join(d, name)) as f:
                json.load(f)
