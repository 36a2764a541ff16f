"""The leak checker (tests/leakcheck.py) notices what a test leaves behind.

These call snapshot()/check() directly and clean up in ``finally``, so the
autouse leak check of each test itself sees nothing.
"""
import errno
import os
import signal
import subprocess
import threading
import time

import pytest

import leakcheck

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting and making cgroups need root")


def test_nothing_new_is_nothing_leaked(tmp_path):
    before = leakcheck.snapshot(roots=[tmp_path], watch_dirs=[tmp_path])
    assert leakcheck.check(before, grace=0) == []


@needs_root
def test_notices_leaked_mount(tmp_path):
    target = tmp_path / "pyc-leak"
    target.mkdir()
    before = leakcheck.snapshot(kinds={"mounts"})
    subprocess.run(["mount", "-t", "tmpfs", "none", str(target)], check=True)
    try:
        leaks = leakcheck.check(before, grace=0.1, kinds={"mounts"})
        assert leaks == [f"mount {target} (tmpfs, source none)"]
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert leakcheck.check(before, grace=0, kinds={"mounts"}) == []


@needs_root
def test_notices_mount_under_a_root(tmp_path):
    target = tmp_path / "plain"
    target.mkdir()
    before = leakcheck.snapshot(roots=[tmp_path], kinds={"mounts"})
    unrooted = leakcheck.snapshot(kinds={"mounts"})
    subprocess.run(["mount", "-t", "tmpfs", "none", str(target)], check=True)
    try:
        assert leakcheck.check(before, grace=0, kinds={"mounts"}) == [f"mount {target} (tmpfs, source none)"]
        # Not under a root and no marker in its name: not ours to watch.
        assert leakcheck.check(unrooted, grace=0, kinds={"mounts"}) == []
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_notices_leaked_child_process():
    before = leakcheck.snapshot(kinds={"processes"})
    child = subprocess.Popen(["sleep", "30"])
    try:
        leaks = leakcheck.check(before, grace=0.1, kinds={"processes"})
        assert len(leaks) == 1
        assert leaks[0].startswith(f"process {child.pid} (sleep)")
        assert f"child of {os.getpid()}" in leaks[0]
    finally:
        child.kill()
        child.wait()
    assert leakcheck.check(before, grace=0, kinds={"processes"}) == []


def test_notices_grandchildren_and_zombies():
    before = leakcheck.snapshot(kinds={"processes"})
    child = subprocess.Popen(["sh", "-c", "sleep 30 & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while not any(d.startswith("process ") and "(sleep)" in d
                      for d in leakcheck.snap_processes(os.getpid()).values()):
            assert time.monotonic() < deadline, "sh did not start sleep"
            time.sleep(0.01)
        leaks = leakcheck.check(before, grace=0.1, kinds={"processes"})
        assert any("(sleep)" in line and f"child of {child.pid}" in line for line in leaks)
        assert any(line.startswith(f"process {child.pid} (sh)") for line in leaks)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    zombie = subprocess.Popen(["true"])
    try:
        leaks = leakcheck.check(before, grace=0.3, kinds={"processes"})
        assert leaks and "state Z" in leaks[0]
    finally:
        zombie.wait()


def test_exiting_child_within_grace_is_no_leak():
    before = leakcheck.snapshot(kinds={"processes"})
    child = subprocess.Popen(["sleep", "0.3"])
    reaper = threading.Thread(target=child.wait)
    reaper.start()
    try:
        assert leakcheck.check(before, grace=3, kinds={"processes"}) == []
    finally:
        reaper.join()


def test_notices_leaked_fd():
    before = leakcheck.snapshot(kinds={"fds"})
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        assert leakcheck.check(before, grace=0.1, kinds={"fds"}) == [f"fd {fd} -> /dev/null"]
    finally:
        os.close(fd)
    assert leakcheck.check(before, grace=0, kinds={"fds"}) == []


def test_notices_leftover_store_entry(tmp_path):
    containers = tmp_path / "containers"
    containers.mkdir()
    before = leakcheck.snapshot(watch_dirs=[containers], kinds={"store"})
    (containers / "abc123").mkdir()
    assert leakcheck.check(before, grace=0, kinds={"store"}) == [f"store entry {containers}/abc123"]


def _memory_hierarchy():
    for point, fstype, _, opts in leakcheck.read_mountinfo():
        if fstype == "cgroup" and "memory" in opts.split(","):
            return point
    pytest.skip("no cgroup v1 memory hierarchy on this host")


@needs_root
def test_notices_leaked_cgroup():
    mnt = _memory_hierarchy()
    parent = os.path.join(mnt, "pycontainer")
    leaf = os.path.join(parent, f"x-leakcheck-{os.getpid()}")
    before = leakcheck.snapshot(kinds={"cgroups"})
    made_parent = False
    try:
        try:
            os.mkdir(parent)
            made_parent = True
        except FileExistsError:
            pass
        os.mkdir(leaf)
        assert leakcheck.check(before, grace=0.1, kinds={"cgroups"}) == [f"cgroup {leaf}"]
    finally:
        for d in (leaf, parent if made_parent else None):
            if d is None:
                continue
            try:
                os.rmdir(d)
            except OSError as e:   # the parent may be in use by a concurrent run
                if e.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
                    raise
    assert leakcheck.check(before, grace=0, kinds={"cgroups"}) == []


def test_format_leaks():
    msg = leakcheck.format_leaks(["fd 7 -> /dev/null", "mount /x (tmpfs, source none)"])
    assert msg.splitlines() == [
        "the test left 2 thing(s) behind:",
        "  fd 7 -> /dev/null",
        "  mount /x (tmpfs, source none)",
    ]


def test_a_firewall_chain_left_behind_is_a_leak():
    """A network's nft chain that outlives its test (a remove() that missed it)."""
    import subprocess
    made_table = subprocess.run(["nft", "list", "table", "ip", "pycontainer"],
                                capture_output=True).returncode != 0
    before = leakcheck.snapshot(kinds={"rules"})
    subprocess.run(["nft", "add", "table", "ip", "pycontainer"], check=True)
    subprocess.run(["nft", "add", "chain", "ip", "pycontainer", "net-pycleaktest"], check=True)
    try:
        assert leakcheck.check(before, grace=0.2, kinds={"rules"}) == [
            "nft chain net-pycleaktest in table ip pycontainer"]
    finally:
        subprocess.run(["nft", "delete", "chain", "ip", "pycontainer", "net-pycleaktest"],
                       check=True)
        if made_table:
            subprocess.run(["nft", "delete", "table", "ip", "pycontainer"], check=True)
    assert leakcheck.check(before, grace=0.2, kinds={"rules"}) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="trusted.* xattrs need root")
def test_an_orphaned_cgroup_is_a_leak_however_old(tmp_path):
    """Empty, and its owner's dirs gone: nobody will remove it (a session
    killed with its containers, then its store deleted)."""
    mnt = tmp_path / "mnt"
    owner = tmp_path / "store" / "containers" / ("c" * 64)
    owner.mkdir(parents=True)
    cases = {"o" * 64: ("", str(tmp_path / "gone")), "l" * 64: ("", str(owner)),
             "r" * 64: ("4242\n", str(tmp_path / "gone"))}
    for cid, (procs, who) in cases.items():
        d = mnt / "pycontainer" / cid
        d.mkdir(parents=True)
        (d / "cgroup.procs").write_text(procs)
        os.setxattr(d, "trusted.pyc.owner", who.encode())
    orphans = leakcheck.orphan_cgroups([str(mnt)])
    assert list(orphans) == [str(mnt / "pycontainer" / ("o" * 64))]   # not the owned, the busy
