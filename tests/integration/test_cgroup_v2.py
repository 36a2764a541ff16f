"""The cgroup v2 writer against the kernel: this host's cgroup2 tree has no
controllers, but device programs attach to any cgroup2 directory."""
import os
import time

import pytest

from pycontainer import _core
from pycontainer.cgroups import Resources, V2Driver, detect
from pycontainer.security import DEVICE_RULES


@pytest.fixture
def v2_root():
    layout = detect()
    if not layout.v2:
        pytest.fail("no cgroup2 tree mounted")
    return layout.v2


def _run_in(cgroup_dir, script):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.dup2(w, 1)
            os.dup2(w, 2)
            with open(os.path.join(cgroup_dir, "cgroup.procs"), "w") as f:
                f.write("0")
            os.execv("/bin/sh", ["sh", "-c", script])
        finally:
            os._exit(127)
    os.close(w)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return out.decode()


def _drained(cgroup_dir, timeout=60):
    """Wait until the kernel counts no task in the cgroup (an exited, reaped
    task may still be counted for a moment), so that rmdir finds it empty."""
    deadline = time.monotonic() + timeout
    while os.path.isdir(cgroup_dir):
        with open(os.path.join(cgroup_dir, "cgroup.events")) as f:
            if "populated 0" in f.read().splitlines():
                return
        assert time.monotonic() < deadline, f"{cgroup_dir} still has tasks"
        time.sleep(0.005)


@pytest.fixture
def kmsg_node(tmp_path):
    """A node for /dev/kmsg (c 1:11): not on the allow list, harmless to open."""
    path = tmp_path / "kmsg"
    os.mknod(path, 0o600 | 0o020000, os.makedev(1, 11))
    return str(path)


def test_v2_device_program_allows_only_the_list(v2_root, kmsg_node):
    drv = V2Driver(v2_root, parent="/pyc-v2-test")
    cid = "devices"
    steps = drv.create_steps(cid, Resources(), list(DEVICE_RULES))
    _core.cgroup_apply([s for s in steps if s[0] == "d"])
    try:
        drv.after_create(cid, list(DEVICE_RULES))
        out = _run_in(drv.dirs(cid)["unified"],
                      "head -c1 /dev/zero >/dev/null && echo zero-ok; "
                      f"(exec 3<{kmsg_node}) 2>/dev/null || echo kmsg-denied; "
                      "echo x > /dev/null && echo null-ok")
        assert out.split() == ["zero-ok", "kmsg-denied", "null-ok"]
    finally:
        _drained(drv.dirs(cid)["unified"])
        _core.cgroup_apply(drv.remove_steps(cid) + [("R", drv.base, ""),
                                                    ("R", os.path.dirname(drv.base), "")])


def test_v2_privileged_rule_allows_all(v2_root, kmsg_node):
    drv = V2Driver(v2_root, parent="/pyc-v2-test")
    _core.cgroup_apply([s for s in drv.create_steps("priv", Resources()) if s[0] == "d"])
    try:
        drv.after_create("priv", ["a *:* rwm"])
        out = _run_in(drv.dirs("priv")["unified"], f"(exec 3<{kmsg_node}) && echo kmsg-ok")
        assert "kmsg-ok" in out
    finally:
        _drained(drv.dirs("priv")["unified"])
        _core.cgroup_apply(drv.remove_steps("priv") + [("R", drv.base, ""),
                                                       ("R", os.path.dirname(drv.base), "")])
