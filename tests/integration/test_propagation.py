"""Bind propagation: an ``rslave`` bind receives the mounts the host makes
under its source later (node-exporter's ``/:/host:ro,rslave``); the default
``rprivate`` bind does not; a slave bind of a source on a private mount is
refused as docker refuses it; nothing the container mounts reaches the host."""
import contextlib
import subprocess
import time

import pytest

from pycontainer import errors


def mount(*args):
    subprocess.run(["mount", *args], check=True, capture_output=True)


@contextlib.contextmanager
def shared_tmpfs(path):
    """A tmpfs on ``path`` in a peer group of its own (this namespace's)."""
    path.mkdir()
    mount("-t", "tmpfs", "-o", "size=1m", "pyc-test-prop", str(path))
    try:
        mount("--make-shared", str(path))
        yield path
    finally:
        subprocess.run(["umount", "-R", "-l", str(path)], check=False, capture_output=True)


def container_mounts(c):
    code, out = c.exec_run(["cat", "/proc/self/mountinfo"])
    assert code == 0
    return [line.split()[4] for line in out.decode().splitlines()]


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_slave_bind_sees_later_host_mounts(client, busybox, tmp_path):
    with shared_tmpfs(tmp_path / "src") as src:
        (src / "sub").mkdir()
        slave = client.containers.run(
            "busybox", "sleep 600", detach=True, cap_add=["SYS_ADMIN"],
            volumes={str(src): {"bind": "/host", "mode": "ro,rslave"}})
        private = client.containers.run(
            "busybox", "sleep 600", detach=True, mounts=[{
                "Type": "bind", "Source": str(src), "Target": "/host", "ReadOnly": True}])
        try:
            slave.reload()
            binds = {m["Destination"]: m for m in slave.attrs["Mounts"]}
            assert binds["/host"]["Propagation"] == "rslave" and not binds["/host"]["RW"]
            private.reload()
            assert private.attrs["Mounts"][0]["Propagation"] == "rprivate"
            mount("-t", "tmpfs", "-o", "size=1m", "pyc-test-prop-sub", str(src / "sub"))
            (src / "sub" / "late").write_text("late\n")
            assert wait_for(lambda: "/host/sub" in container_mounts(slave))
            assert slave.exec_run(["cat", "/host/sub/late"]).output == b"late\n"
            assert "/host/sub" not in container_mounts(private)
            # the engine's own binds stay private on the slave base
            info = slave.exec_run(["cat", "/proc/self/mountinfo"]).output.decode().splitlines()
            fields = {ln.split()[4]: ln.split()[6:ln.split().index("-")] for ln in info}
            assert fields["/etc/hosts"] == [] and fields["/"] == []
            assert any(w.startswith("master:") for w in fields["/host"])
            # what the container mounts stays in it (its namespace is a slave)
            code, out = slave.exec_run(["sh", "-c", "mount -t tmpfs pyc-in /tmp && echo ok"])
            assert out == b"ok\n", out
            with open("/proc/self/mountinfo") as f:
                assert "pyc-in" not in f.read()
            # the host's unmount reaches the slave too
            subprocess.run(["umount", str(src / "sub")], check=True)
            assert wait_for(lambda: "/host/sub" not in container_mounts(slave))
        finally:
            slave.remove(force=True)
            private.remove(force=True)


def test_a_slave_bind_of_a_private_mount_is_refused(client, busybox, tmp_path):
    with pytest.raises(errors.InvalidArgument, match="not a shared or slave mount"):
        client.containers.create("busybox", "true",
                                 volumes=[f"{tmp_path}:/x:rslave"])
    for bad in ("rshared", "shared", "rw,private,rslave"):
        with pytest.raises(errors.InvalidArgument):
            client.containers.create("busybox", "true", volumes=[f"{tmp_path}:/x:{bad}"])
    with pytest.raises(errors.InvalidArgument, match="binds of host paths"):
        client.containers.create("busybox", "true", volumes=["named:/x:rslave"])
    assert client.containers.list(all=True) == []
