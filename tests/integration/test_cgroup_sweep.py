"""A container's cgroups name their owner; when the owner's dirs are gone
(an attached run killed with SIGKILL, or a detached one whose monitor was
killed with it, then its store deleted, so no repair of that store will ever
run), the next engine to start, of any store, removes them and the run root
the store left. Before, such cgroups and run roots stayed on the host for good."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from pycontainer import Client
from pycontainer.runtime import runtime

SCRIPT = """
from pycontainer import Client
c = Client(root={root!r})
c.images.busybox()
c.containers.run("busybox", ["sleep", "60"], network_mode="none", detach={detach})
"""


def _until(pred, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _procs(path):
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return f.read().split()
    except FileNotFoundError:
        return None


@pytest.mark.parametrize("detach", [False, True])
def test_the_cgroups_of_a_killed_owner_in_a_deleted_store_are_swept(client, store_root,
                                                                    tmp_path, monkeypatch,
                                                                    detach):
    bases = client._backend.runtime.cg.default_bases()
    before = set(os.listdir(bases[0]))
    root = tmp_path / "pyc-gone"
    p = subprocess.Popen([sys.executable, "-c", SCRIPT.format(root=str(root), detach=detach)])
    try:
        def started():
            new = [n for n in set(os.listdir(bases[0])) - before if len(n) == 64]
            return new and _procs(os.path.join(bases[0], new[0])) and new[0]
        _until(started, "the attached container")
        cid = started()
        if detach:      # the monitor and the init killed together (a killed session)
            p.wait(30)
            run = json.load(open(root / "containers" / cid / "run.json"))
            for pid in (run["MonitorPid"], run["Pid"]):
                os.kill(pid, signal.SIGKILL)
        else:
            p.send_signal(signal.SIGKILL)       # no clean-up runs in the owner
            p.wait(30)
        _until(lambda: _procs(os.path.join(bases[0], cid)) == [], "the init's end")
        dirs = [os.path.join(b, cid) for b in bases]
        assert any(os.path.isdir(d) for d in dirs)      # what the owner would have removed
        monkeypatch.setattr(runtime, "CGROUP_MIN_AGE", 0)
        assert cid not in runtime.sweep_cgroups(bases)  # its store is there: its repair's
        assert any(os.path.isdir(d) for d in dirs)
        run_root = runtime.default_run_root(str(root))
        assert os.path.isdir(os.path.join(run_root, cid))
        shutil.rmtree(root)                 # the store goes: no repair of it will run
        Client(root=str(store_root)).ping()             # another store's engine starts
        assert not any(os.path.exists(d) for d in dirs)
        assert not os.path.exists(run_root)
    finally:
        p.kill()
        p.wait()
