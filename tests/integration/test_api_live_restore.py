"""Live restore: containers outlive a SIGKILLed pycontainerd (their monitors
own them), a new daemon lists and controls them, ``--rm`` is kept by the
monitor (not the daemon's memory), and the SDK and the daemon share the store."""
import json

import pytest

from api_daemon import Daemon, until


@pytest.fixture
def rundir(tmp_path):
    return tmp_path


@pytest.fixture
def cleanup(store_root, rundir):
    """Names to remove afterwards; ``cleanup.daemons``: daemons to stop, error or not."""
    made = _Made()
    yield made
    for old in made.daemons:
        if old.proc.poll() is None:
            old.stop()
    d = Daemon(store_root, rundir)
    for n in made:
        d.docker("rm", "-f", n, ok=False)
    assert d.stop() == 0, d.log_text()


class _Made(list):
    def __init__(self):
        super().__init__()
        self.daemons = []


def test_containers_survive_a_sigkilled_daemon(store_root, busybox, rundir, cleanup, client):
    cleanup.extend(["pyc-api-lr", "pyc-api-lr-rm", "pyc-api-lr-sdk"])
    d = Daemon(store_root, rundir)
    cleanup.daemons.append(d)
    d.docker("run", "-d", "--name", "pyc-api-lr", "busybox", "sh", "-c",
             "echo up; exec sleep 120")
    d.docker("run", "-d", "--rm", "--name", "pyc-api-lr-rm", "busybox", "sleep", "120")
    d.proc.kill()                                   # SIGKILL: no cleanup of any kind
    d.proc.wait()
    sdk = client.containers.run("busybox", "sleep 120", detach=True, name="pyc-api-lr-sdk")
    assert sdk.status in ("created", "running")

    d2 = Daemon(store_root, rundir)
    cleanup.daemons.append(d2)
    ps = d2.docker("ps", "--format", "{{.Names}} {{.Status}}").stdout.splitlines()
    running = {line.split()[0] for line in ps if line.split()[1] == "Up"}
    assert {"pyc-api-lr", "pyc-api-lr-rm", "pyc-api-lr-sdk"} <= running, ps
    assert d2.docker("exec", "pyc-api-lr", "echo", "ok").stdout == "ok\n"
    assert d2.docker("logs", "pyc-api-lr").stdout == "up\n"
    # --rm after a restart: the monitor removes it, this daemon never saw its create
    d2.docker("kill", "pyc-api-lr-rm")
    left = until(lambda: d2.docker("ps", "-a", "--format", "{{.Names}}").stdout,
                 lambda out: "pyc-api-lr-rm" not in out.split())
    assert "pyc-api-lr-rm" not in left.split()
    d2.docker("stop", "-t", "1", "pyc-api-lr")
    st = json.loads(d2.docker("inspect", "pyc-api-lr").stdout)[0]["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 137
    assert d2.stop() == 0, d2.log_text()


def test_run_rm_exit_code_comes_from_the_journal(store_root, busybox, rundir, cleanup):
    d = Daemon(store_root, rundir)
    cleanup.daemons.append(d)
    try:
        r = d.docker("run", "--rm", "--name", "pyc-api-lr-code", "busybox", "sh", "-c",
                     "echo bye; exit 6", ok=False)
        assert (r.returncode, r.stdout) == (6, "bye\n")
        assert "pyc-api-lr-code" not in d.docker("ps", "-a", "--format", "{{.Names}}").stdout
        cid = d.docker("create", "--rm", "busybox", "true").stdout.strip()
        host = json.loads(d.docker("inspect", cid).stdout)[0]["HostConfig"]
        assert host["AutoRemove"] is True        # stored with the container
        d.docker("rm", cid)
    finally:
        assert d.stop() == 0, d.log_text()
