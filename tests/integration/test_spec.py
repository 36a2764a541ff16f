"""The low-level runtime runs a Spec built by hand: no docker keywords, no
engine policy, only what the OCI-shaped spec says."""
import os
import secrets

from pycontainer.runtime import teardown
from pycontainer.runtime.spec import (Linux, Mount, Namespace, Process, Root, Spec, User,
                                      standard_mounts)


def _drain(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_a_spec_built_by_hand_runs(client, busybox, tmp_path):
    rt = client._runtime
    record = client._backend.images.record("busybox")
    cid = "pyc" + secrets.token_hex(30) + "sp"
    for d in ("rootfs", "upper", "work", "data"):
        (tmp_path / d).mkdir()
    (tmp_path / "data" / "hello").write_text("from the host\n")
    spec = Spec(
        process=Process(args=["sh", "-c", "id -u; hostname; cat /data/hello; "
                                          "grep CapEff /proc/self/status; ls /sys/fs/cgroup | wc -l"],
                        env=["PATH=/bin"], cwd="/tmp", user=User(1000, 1000),
                        capabilities=0, search_path="/bin"),
        root=Root(lowers=rt.lowers(record), mountpoint=str(tmp_path / "rootfs"),
                  upper=str(tmp_path / "upper"), work=str(tmp_path / "work")),
        hostname="byhand",
        mounts=standard_mounts() + [Mount("/data", "bind", str(tmp_path / "data"), ["ro"])],
        linux=Linux(namespaces=[Namespace(k) for k in ("pid", "mount", "uts", "ipc", "network")],
                    cgroupns=False, loopback=True))
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            proc = rt.start(cid, spec, (-1, w, w), hold_mntns=True)
        finally:
            os.close(w)
        out = _drain(r)
        status = proc.wait()
        teardown.release(proc.held_fds)
    finally:
        os.close(r)
        rt.remove_cgroups(cid)
    teardown.flush()
    assert status == 0, out
    uid, host, hello, caps, _ = out.decode().splitlines()
    assert (uid, host, hello) == ("1000", "byhand", "from the host")
    assert caps.split() == ["CapEff:", "0000000000000000"]
    # nothing of the container's mounts is left in the host's namespace
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path / "rootfs") not in f.read()
