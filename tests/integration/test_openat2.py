"""openat2(RESOLVE_IN_ROOT) under mount churn on the host.

The kernel fails a scoped lookup that crosses ``..`` with EAGAIN when any
mount or rename anywhere raced it (openat2(2): "the caller should retry").
Other containers starting make exactly that churn, so a container start
failed now and then with "mount tmpfs on /dev/shm: Resource temporarily
unavailable". The C core retries.
"""
import os
import subprocess

from pycontainer import _core


def test_scoped_lookup_retries_when_mounts_race(tmp_path):
    (tmp_path / "root" / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "m").mkdir()
    churn = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f"while :; do mount -t tmpfs pyc-churn {tmp_path}/m; umount {tmp_path}/m; done"])
    fd = os.open(tmp_path / "root", os.O_PATH | os.O_CLOEXEC)
    try:
        failed = 0
        for _ in range(200_000):
            try:
                os.close(_core.openat2(fd, "a/../a/b/../b/c", os.O_PATH | os.O_CLOEXEC,
                                       _core.RESOLVE_IN_ROOT))
            except BlockingIOError:
                failed += 1
        assert failed == 0
    finally:
        os.close(fd)
        churn.kill()
        churn.wait()
