"""cgroup policy against temporary directories (v2) and a fake v1 layout."""
import os
import re

import pytest

from pycontainer import _core
from pycontainer.cgroups import Layout, Resources, V1Driver, V2Driver
from pycontainer.cgroups.layout import detect
from pycontainer.cgroups.v2 import shares_to_weight
from pycontainer.errors import InvalidArgument

HYBRID = """\
30 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/pids rw shared:13 - cgroup cgroup rw,pids
35 30 0:31 / /sys/fs/cgroup/systemd rw shared:14 - cgroup cgroup rw,xattr,name=systemd
"""


def test_detect_hybrid(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text(HYBRID)
    layout = detect(str(mi))
    assert layout.mode == "hybrid"
    assert layout.v2 == "/sys/fs/cgroup/unified"
    assert layout.v1["cpu"] == layout.v1["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert "systemd" not in layout.v1


def test_detect_pure_v2(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text("30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n")
    layout = detect(str(mi))
    assert layout.mode == "v2" and layout.v2 == "/sys/fs/cgroup"


def _fake_v2_root(tmp_path):
    root = tmp_path / "cg2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


def _apply_to_files(steps):
    """A recording stand-in for the kernel: mkdir makes a dir, writes land in files."""
    for kind, path, value in steps:
        if kind == "d":
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "cgroup.controllers"), "w") as f:
                f.write("cpuset cpu memory pids\n")
        elif kind == "w":
            with open(path, "w") as f:
                f.write(value)


def test_v2_writer(tmp_path, monkeypatch):
    root = _fake_v2_root(tmp_path)
    monkeypatch.setattr(_core, "cgroup_apply", _apply_to_files)
    drv = V2Driver(str(root))
    res = Resources.from_kwargs(mem_limit="64m", pids_limit=100, cpu_shares=1024,
                                nano_cpus=1_500_000_000, cpuset_cpus="0")
    _apply_to_files(drv.create_steps("abc", res))
    d = root / "pycontainer" / "abc"
    assert (d / "memory.max").read_text() == str(64 << 20)
    assert (d / "memory.swap.max").read_text() == str(64 << 20)
    assert (d / "pids.max").read_text() == "100"
    assert (d / "cpu.max").read_text() == "150000 100000"
    assert (d / "cpu.weight").read_text() == str(shares_to_weight(1024))
    assert (d / "cpuset.cpus").read_text() == "0"
    assert "+memory" in (root / "cgroup.subtree_control").read_text()
    assert drv.attach_steps("abc", 42) == [("w", str(d / "cgroup.procs"), "42")]
    assert drv.clone_into("abc") == str(d)
    assert drv.remove_steps("abc") == [("R", str(d), "")]


def test_v2_writer_really_writes_with_c_core(tmp_path):
    # The C batch writer against plain files: mkdir, write and rmdir.
    d = tmp_path / "pycontainer" / "x"
    _core.cgroup_apply([("d", str(tmp_path / "pycontainer"), ""), ("d", str(d), "")])
    (d / "memory.max").write_text("")
    _core.cgroup_apply([("w", str(d / "memory.max"), "123")])
    assert (d / "memory.max").read_text() == "123"
    (d / "memory.max").unlink()
    _core.cgroup_apply([("R", str(d), "")])
    assert not d.exists()


def test_c_writer_names_failing_path(tmp_path):
    with pytest.raises(FileNotFoundError) as ei:
        _core.cgroup_apply([("w", str(tmp_path / "missing" / "file"), "1")])
    assert "missing" in str(ei.value)


def test_v2_unlimited_swap_and_quota(tmp_path, monkeypatch):
    root = _fake_v2_root(tmp_path)
    monkeypatch.setattr(_core, "cgroup_apply", _apply_to_files)
    drv = V2Driver(str(root))
    steps = dict((p.rsplit("/", 1)[1], v) for k, p, v in
                 drv.create_steps("x", Resources.from_kwargs(mem_limit="10m", memswap_limit=-1,
                                                             cpu_period=50000)) if k == "w")
    assert steps["memory.swap.max"] == "max"
    assert steps["cpu.max"] == "max 50000"


def test_v1_plan(tmp_path):
    layout = Layout(v1={"memory": str(tmp_path / "memory"), "pids": str(tmp_path / "pids"),
                        "cpu": str(tmp_path / "cpu,cpuacct"), "cpuacct": str(tmp_path / "cpu,cpuacct")},
                    v1_mounts={str(tmp_path / "memory"): "memory"})
    drv = V1Driver(layout, parent="/")
    drv._ready = True
    steps = drv.create_steps("c1", Resources.from_kwargs(mem_limit="32m", cpu_quota=20000,
                                                         cpu_period=100000))
    dirs = [p for k, p, _ in steps if k == "d"]
    assert sorted(dirs) == sorted([str(tmp_path / "memory/pycontainer/c1"),
                                   str(tmp_path / "pids/pycontainer/c1"),
                                   str(tmp_path / "cpu,cpuacct/pycontainer/c1")])
    writes = {p.rsplit("/", 1)[1]: v for k, p, v in steps if k == "w"}
    assert writes == {"memory.limit_in_bytes": str(32 << 20), "cpu.cfs_period_us": "100000",
                      "cpu.cfs_quota_us": "20000"}
    assert len(drv.attach_steps("c1", 7)) == 3


@pytest.mark.parametrize("kw", [
    {"mem_limit": "5m"}, {"mem_limit": -1}, {"cpu_shares": 1}, {"cpu_shares": 262145},
    {"nano_cpus": 10**15}, {"cpuset_cpus": "1-0"}, {"cpuset_cpus": "x"}, {"pids_limit": -2},
    {"memswap_limit": "1g"}, {"mem_limit": True}, {"cpu_period": 10},
    {"nano_cpus": 10**9, "cpu_quota": 50000},
])
def test_resources_refused(kw):
    with pytest.raises(InvalidArgument):
        Resources.from_kwargs(**kw)


@pytest.mark.parametrize("kw, words", [
    ({"mem_limit": 2**64}, "mem_limit must be within 6291456..9223372036854775807 bytes"),
    ({"mem_limit": "16e"}, "is not a size"),
    ({"mem_limit": "9" * 400 + "t"}, "mem_limit must be within"),     # no float overflow
    ({"mem_limit": "1g", "memswap_limit": 2**63}, "memswap_limit must be within 1073741824.."),
    ({"pids_limit": 2**63}, "pids_limit must be within 1..4194304"),
    ({"pids_limit": 4194305}, "pids_limit must be within 1..4194304"),
    ({"cpu_quota": 2**44}, "cpu_quota must be within 1000..17592186044415"),
    ({"cpu_period": 2**63}, "cpu_period must be within 1000..1000000"),
    ({"cpu_shares": 2**64}, "cpu_shares must be within 2..262144"),
    ({"nano_cpus": -1}, "nano_cpus must be within"),
    ({"cpuset_cpus": "0-99999999999999"}, "names cpu 99999999999999"),  # not expanded
    ({"cpuset_cpus": "0, 1"}, "is not a cpu list"),
    ({"cpuset_cpus": 0}, "cpuset_cpus must be a string"),
    ({"pids_limit": 1.5}, "pids_limit must be an integer"),
])
def test_resources_past_what_the_kernel_takes_refused(kw, words):
    with pytest.raises(InvalidArgument, match=re.escape(words)):
        Resources.from_kwargs(**kw)


def test_resources_at_the_kernel_bounds():
    r = Resources.from_kwargs(mem_limit=2**63 - 1, pids_limit=4194304, cpu_quota=2**44 - 1,
                              cpu_period=1000000, cpu_shares=262144)
    assert r.swap_total() == 2**63 - 1        # 2x memory, but never past int64
    assert Resources.from_kwargs(pids_limit=-1, cpu_quota=-1).pids_limit == 0


def test_resources_units():
    r = Resources.from_kwargs(mem_limit="1g", memswap_limit="2g")
    assert r.mem_limit == 1 << 30 and r.swap_total() == 2 << 30
    assert Resources.from_kwargs(mem_limit="64m").swap_total() == 128 << 20
