"""docker-py's resource keywords: each limit read back from the container's
cgroup files (as the host shows them), and refused clearly where this
host's cgroups have no file for it."""
import os

import pytest

from pycontainer import errors


def cgroup_file(client, c, controller, name):
    """A file of the container's cgroup, read on the host."""
    d = client._runtime.cg.dirs(c.id)
    path = os.path.join(d.get(controller) or d["unified"], name)
    with open(path) as f:
        return f.read().strip()


def v1(client):
    return client._runtime.cg.kind == "v1"


def root_device():
    """(path, "major:minor") of a block device this host has."""
    for name in sorted(os.listdir("/sys/block")):
        path = f"/dev/{name}"
        if os.path.exists(path) and not name.startswith(("loop", "zram")):
            st = os.stat(path)
            return path, f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    pytest.fail("no block device on this host")


def test_memory_keywords(client, busybox):
    kw = dict(mem_limit="64m", mem_reservation="32m")
    if v1(client):
        kw.update(mem_swappiness=10, oom_kill_disable=True)
    with client.containers.run("busybox", ["sleep", "60"], detach=True, **kw) as c:
        if v1(client):
            assert cgroup_file(client, c, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
            assert cgroup_file(client, c, "memory", "memory.swappiness") == "10"
            assert "oom_kill_disable 1" in cgroup_file(client, c, "memory", "memory.oom_control")
        else:
            assert cgroup_file(client, c, "memory", "memory.low") == str(32 << 20)
        assert c.attrs["HostConfig"]["MemoryReservation"] == 32 << 20
    with pytest.raises(errors.InvalidArgument, match="mem_reservation"):
        client.containers.create("busybox", "true", mem_limit="64m", mem_reservation="128m")
    with pytest.raises(errors.InvalidArgument, match="mem_swappiness"):
        client.containers.create("busybox", "true", mem_swappiness=101)


def test_cpuset_mems_and_realtime(client, busybox):
    if not v1(client):
        with pytest.raises(errors.InvalidArgument, match="cgroup v2 has no cpu.rt_runtime_us"):
            client.containers.create("busybox", "true", cpu_rt_runtime=1000)
        return
    with client.containers.run("busybox", ["sh", "-c", "sleep 60"], detach=True,
                               cpuset_mems="0", cpu_rt_period=100000,
                               cpu_rt_runtime=1000) as c:
        assert cgroup_file(client, c, "cpuset", "cpuset.mems") == "0"
        assert cgroup_file(client, c, "cpu", "cpu.rt_runtime_us") == "1000"
        assert cgroup_file(client, c, "cpu", "cpu.rt_period_us") == "100000"
        # the container's own view, through its cgroup namespace
        inside = c.exec_run(["cat", "/sys/fs/cgroup/cpuset/cpuset.mems"]).output.strip()
        assert inside == b"0"
    with pytest.raises(errors.InvalidArgument, match="cpuset_mems"):
        client.containers.create("busybox", "true", cpuset_mems="63")


def test_blkio_throttles(client, busybox):
    path, dev = root_device()
    kw = dict(device_read_bps=[{"Path": path, "Rate": "1mb"}],
              device_write_iops=[{"Path": path, "Rate": 100}])
    with client.containers.run("busybox", ["sleep", "60"], detach=True, **kw) as c:
        if v1(client):
            assert cgroup_file(client, c, "blkio", "blkio.throttle.read_bps_device") == \
                f"{dev} {1 << 20}"
            assert cgroup_file(client, c, "blkio", "blkio.throttle.write_iops_device") == \
                f"{dev} 100"
            # the init is in the blkio cgroup too
            procs = cgroup_file(client, c, "blkio", "cgroup.procs").split()
            assert str(c.attrs["State"]["Pid"]) in procs
        else:
            assert f"{dev} rbps={1 << 20}" in cgroup_file(client, c, "unified", "io.max")
        assert c.attrs["HostConfig"]["BlkioDeviceReadBps"] == [{"Path": dev, "Rate": 1 << 20}]
    # a container without blkio limits gets no blkio cgroup (one attach less)
    if v1(client):
        with client.containers.run("busybox", ["sleep", "60"], detach=True) as c:
            assert not os.path.exists(client._runtime.cg.dirs(c.id)["blkio"])
    with pytest.raises(errors.InvalidArgument, match="not a block device"):
        client.containers.create("busybox", "true",
                                 device_read_bps=[{"Path": "/dev/null", "Rate": 1}])


def test_blkio_weight_refused_where_the_host_lacks_it(client, busybox):
    mnt = client._runtime.cgroup_layout.v1.get("blkio")
    if v1(client) and not (mnt and os.path.exists(f"{mnt}/blkio.weight")):
        with pytest.raises(errors.InvalidArgument, match="blkio.weight"):
            client.containers.create("busybox", "true", blkio_weight=300)
    else:
        with client.containers.run("busybox", ["sleep", "60"], detach=True,
                                   blkio_weight=300) as c:
            name = "blkio.weight" if v1(client) else "io.weight"
            assert "300" in cgroup_file(client, c, "blkio", name)


def test_device_cgroup_rules(client, busybox):
    # /dev/loop-control (10:237) is made by devices=; the rule allows its major only
    with client.containers.run("busybox", ["sleep", "60"], detach=True,
                               device_cgroup_rules=["c 10:* rwm"]) as c:
        if v1(client):
            assert "c 10:* rwm" in cgroup_file(client, c, "devices", "devices.list")
        out = c.exec_run(["sh", "-c", "mknod /dev/x c 10 237 && echo made"]).output
        assert b"made" in out
        denied = c.exec_run(["sh", "-c", "mknod /dev/y c 11 1 && head -c1 /dev/y"])
        assert denied.exit_code != 0
    with pytest.raises(errors.InvalidArgument, match="device_cgroup_rules"):
        client.containers.create("busybox", "true", device_cgroup_rules=["x 1:2 q"])


def test_oom_score_adj_below_ours_is_a_clear_error(client, busybox):
    with open("/proc/self/oom_score_adj") as f:
        ours = int(f.read())
    if ours <= -1000:
        pytest.fail("this test needs an oom_score_adj above -1000")
    # lowering needs CAP_SYS_RESOURCE, which root lacks on these hosts: the op says so
    try:
        out = client.containers.run("busybox", ["cat", "/proc/self/oom_score_adj"],
                                    remove=True, oom_score_adj=-1000)
        assert out.strip() == b"-1000"
    except errors.OperationError as err:
        assert "oom_score_adj" in str(err)


def test_cgroup_parent_per_container(client, busybox):
    layout = client._runtime.cgroup_layout
    tops = sorted(set(layout.v1.values())) if v1(client) else [layout.v2]
    try:
        with client.containers.run("busybox", ["sleep", "60"], detach=True,
                                   cgroup_parent="/pyc-par-ci/jobs", cpuset_cpus="0") as c:
            with open(f"/proc/{c.attrs['State']['Pid']}/cgroup") as f:
                lines = f.read().splitlines()
            want = f"/pyc-par-ci/jobs/pycontainer/{c.id}"
            mem = [ln for ln in lines if (":memory:" in ln if v1(client) else ln.startswith("0::"))]
            assert mem and mem[0].endswith(want), lines
            assert c.attrs["HostConfig"]["CgroupParent"] == "/pyc-par-ci/jobs"
            c.update(pids_limit=50)        # another verb finds the same cgroup
            assert cgroup_file(client, c, "pids" if v1(client) else "unified",
                               "pids.max") == "50"
            assert client._runtime.cg.dirs(c.id)["pids" if v1(client) else "unified"].startswith(
                tuple(os.path.join(t, "pyc-par-ci") for t in tops))
        procs = client.containers.list(all=True, filters={"id": c.id})
        assert procs == []
    finally:
        for top in tops:                   # the parents stay, as docker leaves them
            for d in ("pyc-par-ci/jobs/pycontainer", "pyc-par-ci/jobs", "pyc-par-ci"):
                if os.path.isdir(os.path.join(top, d)):
                    os.rmdir(os.path.join(top, d))
