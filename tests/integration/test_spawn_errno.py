"""The container's child shares the calling thread's memory, and so its
errno (CLONE_VM, csrc/spawn.c). A failure the child acts on (ENOENT before
a mkdir, EEXIST) must not be read from errno, which the caller's thread
overwrites as it runs on: here that thread fails calls with EINVAL as fast
as it can while the child sets up."""
import os
import time

from pycontainer.runtime import process

MOUNTS = {f"/pyc/a{i}/b/c/d": "size=64k" for i in range(16)}


def test_the_childs_expected_failures_ignore_the_callers_errno(client, busybox, monkeypatch):
    follow = process._follow

    def busy_follow(*args, **kw):       # the caller's thread, busy while the child runs
        r, w = os.pipe()
        try:
            end = time.monotonic() + 0.03
            while time.monotonic() < end:
                try:
                    os.lseek(r, 0, 99)          # EINVAL
                except OSError:
                    pass
        finally:
            os.close(r)
            os.close(w)
        return follow(*args, **kw)

    monkeypatch.setattr(process, "_follow", busy_follow)
    for _ in range(40):
        out = client.containers.run("busybox", ["sh", "-c", "echo ok"], remove=True,
                                    tmpfs=MOUNTS, network_mode="none")
        assert out == b"ok\n"
