"""exec_run(privileged=, user=) and stop()/restart() timeouts as docker has them."""
import time

import pytest

from pycontainer import errors
from pycontainer.engine import containers as lifecycle
from pycontainer.security import caps

DEFAULT_CAPS = sum(1 << caps.NUMBER[n] for n in caps.DEFAULT)


def _status(text):
    """``/proc/<pid>/status`` fields -> {name: value}."""
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _host_bounding():
    with open("/proc/self/status") as f:
        return int(_status(f.read())["CapBnd"], 16)


def test_privileged_exec_gets_every_capability_in_the_container(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True, hostname="privbox",
                               mem_limit="64m") as c:
        plain = _status(c.exec_run(["cat", "/proc/self/status"]).output.decode())
        assert int(plain["CapEff"], 16) == DEFAULT_CAPS
        code, out = c.exec_run(["sh", "-c", "cat /proc/self/status; echo; hostname; "
                                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
                                "cat /proc/1/cmdline"], privileged=True)
        assert code == 0, out
        st = _status(out.decode())
        host = _host_bounding()           # root's bounding set here lacks CAP_SYS_RESOURCE
        assert int(st["CapEff"], 16) == host and int(st["CapBnd"], 16) == host
        assert int(st["CapPrm"], 16) == host
        assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0
        assert int(st["CapEff"], 16) & ~DEFAULT_CAPS       # more than the container has
        assert st["Seccomp"].strip() == "2"    # the container's filter stays, as with docker
        tail = out.decode().rsplit("\n", 4)[-3:]
        assert tail[0] == "privbox" and tail[1] == str(64 << 20)      # its uts and cgroups
        assert tail[2].startswith("sleep")                              # its pid namespace
        # the container itself is unchanged
        again = _status(c.exec_run(["cat", "/proc/self/status"]).output.decode())
        assert int(again["CapEff"], 16) == DEFAULT_CAPS


def test_exec_user_as_docker_takes_it(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True, user="nobody") as c:
        assert c.exec_run("id -u").output == b"65534\n"          # the container's user
        assert c.exec_run("id -u", user=1000) == (0, b"1000\n")
        assert c.exec_run("id -u", user=0) == (0, b"0\n")        # 0 is root, not "default"
        assert c.exec_run("id -u", user="1000") == (0, b"1000\n")
        assert c.exec_run(["sh", "-c", "id -u; id -g"], user="1000:1000").output == b"1000\n1000\n"
        assert c.exec_run(["sh", "-c", "id -u; id -g"], user="nobody:nogroup").output == \
            b"65534\n65534\n"
        assert c.exec_run(["sh", "-c", "id -u; id -g"], user="daemon").output == b"1\n1\n"
        for bad in (True, 1.5, -1, ["root"]):
            with pytest.raises(errors.InvalidArgument):
                c.exec_run("true", user=bad)
        with pytest.raises(errors.InvalidArgument):
            c.exec_run("true", user="nosuchuser")


def test_stop_and_restart_default_to_the_containers_stop_timeout(client, busybox):
    # PID 1 without a SIGTERM handler ignores SIGTERM: only the SIGKILL after the timeout stops it.
    with client.containers.run("busybox", ["sleep", "60"], detach=True, stop_timeout=1) as c:
        assert c.attrs["Config"]["StopTimeout"] == 1
        assert lifecycle.stop_timeout(c.attrs, None) == 1
        t0 = time.monotonic()
        c.restart()
        assert time.monotonic() - t0 < 5 and c.status == "running"
        t0 = time.monotonic()
        c.stop(timeout=None)
        took = time.monotonic() - t0
        assert 0.9 < took < 5 and c.attrs["State"]["ExitCode"] == 137
    with client.containers.create("busybox", ["true"]) as c:
        assert "StopTimeout" not in c.attrs["Config"]           # docker omits it when unset
        assert lifecycle.stop_timeout(c.attrs, None) == 10      # and waits docker's 10 s
        assert lifecycle.stop_timeout(c.attrs, 3) == 3
        assert lifecycle.stop_timeout(c.attrs, -1) is None     # negative: for ever
        with pytest.raises(errors.InvalidArgument):
            c.stop(timeout="10")
    for bad in ("10s", 1.5, True):
        with pytest.raises(errors.InvalidArgument):
            client.containers.create("busybox", ["true"], stop_timeout=bad)
    assert not [c for c in client.containers.list(all=True) if c.attrs["Config"].get("StopTimeout")]

