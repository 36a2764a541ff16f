"""A container's cgroups name their owner; when the owner's dirs are gone
(an attached run killed with SIGKILL, then its store deleted, so no repair of
that store will ever run), the next engine to start, of any store, removes
them. Before, such cgroups stayed on the host for good."""
import os
import shutil
import signal
import subprocess
import sys
import time

from pycontainer import Client
from pycontainer.runtime import runtime

SCRIPT = """
from pycontainer import Client
c = Client(root={root!r})
c.images.busybox()
c.containers.run("busybox", ["sleep", "60"], network_mode="none")
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


def test_the_cgroups_of_a_killed_owner_in_a_deleted_store_are_swept(client, store_root,
                                                                    tmp_path, monkeypatch):
    bases = client._backend.runtime.cg.default_bases()
    before = set(os.listdir(bases[0]))
    root = tmp_path / "pyc-gone"
    p = subprocess.Popen([sys.executable, "-c", SCRIPT.format(root=str(root))])
    try:
        def started():
            new = [n for n in set(os.listdir(bases[0])) - before if len(n) == 64]
            return new and _procs(os.path.join(bases[0], new[0])) and new[0]
        _until(started, "the attached container")
        cid = started()
        p.send_signal(signal.SIGKILL)       # no clean-up runs in the owner
        p.wait(30)
        _until(lambda: _procs(os.path.join(bases[0], cid)) == [], "the init's end")
        dirs = [os.path.join(b, cid) for b in bases]
        assert any(os.path.isdir(d) for d in dirs)      # what the owner would have removed
        monkeypatch.setattr(runtime, "CGROUP_MIN_AGE", 0)
        assert cid not in runtime.sweep_cgroups(bases)  # its store is there: its repair's
        assert any(os.path.isdir(d) for d in dirs)
        shutil.rmtree(runtime.default_run_root(str(root)))
        shutil.rmtree(root)                 # the store goes: no repair of it will run
        Client(root=str(store_root)).ping()             # another store's engine starts
        assert not any(os.path.exists(d) for d in dirs)
    finally:
        p.kill()
        p.wait()
