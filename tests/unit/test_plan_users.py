"""The op plan compiler and the image user lookup (no root needed)."""
import os
import struct

import pytest

from pycontainer._core import lib
from pycontainer.errors import InvalidArgument
from pycontainer.runtime import plan as planmod
from pycontainer.engine import users
from pycontainer.runtime.spec import (Linux, Process, Root, Spec, default_namespaces,
                                      standard_mounts)
from pycontainer.engine.config import ContainerConfig, merge_env


def _cfg(**kw):
    base = dict(image="img", image_id="sha256:1", argv=["sh", "-c", "true"], env=["PATH=/bin"],
                hostname="h")
    base.update(kw)
    return ContainerConfig(**base)


def _kinds(plan):
    return [struct.unpack_from("=I", plan.ops, i * 48)[0] for i in range(plan.nops)]


def test_plan_order():
    spec = Spec(process=Process(args=["sh"], cwd="/srv"),
                root=Root(lowers=["/l2", "/l1"], mountpoint="/r/rootfs", upper="/r/u",
                          work="/r/w", readonly=True),
                mounts=standard_mounts(), linux=Linux(namespaces=default_namespaces()))
    plan = planmod.compile_plan(spec, [("memory", "memory")])
    kinds = _kinds(plan)
    assert kinds[0] == lib.PYC_OP_MOUNT and lib.PYC_OP_OVERLAY in kinds[1:3]
    assert kinds[-1] == lib.PYC_OP_EXEC
    # SYNC (cgroup attach) comes before the cgroup namespace and the pivot.
    assert kinds.index(lib.PYC_OP_SYNC) < kinds.index(lib.PYC_OP_UNSHARE) \
        < kinds.index(lib.PYC_OP_PIVOT_ROOT) < kinds.index(lib.PYC_OP_REMOUNT_ROOT)
    # ids are dropped after groups, uid last.
    assert kinds.index(lib.PYC_OP_GROUPS) < kinds.index(lib.PYC_OP_GID) < kinds.index(lib.PYC_OP_UID)
    assert len(plan.labels) == plan.nops
    assert any("mknod /dev/null" == label for label in plan.labels)
    assert b"/l2\n/l1\0" in plan.strs


def test_user_mount_on_dev_replaces_the_runtimes_and_masks_come_before_pivot(tmp_path):
    from pycontainer.engine import spec as engine_spec
    dev = {"Type": "bind", "Destination": "/dev", "Source": "/srv/d", "RW": True,
           "IsFile": False, "Flags": []}
    sec = {"caps": 0, "privileged": False, "seccomp": "unconfined", "devices": []}

    def labels(mounts):
        spec, names = engine_spec.build(_cfg(mounts=mounts, security=sec), str(tmp_path), "/r",
                                        ["/l1"], str(tmp_path / "store"))
        return planmod.compile_plan(spec, [("memory", "memory")], names).labels
    got = labels([dev])
    assert "mount tmpfs on /dev" not in got and "mknod /dev/null" not in got
    assert "bind /srv/d on /dev" in got
    # /dev/null is the host's when masking: the user's /dev may have none
    pivot = got.index(f"pivot_root into {tmp_path}/rootfs")
    assert any(m.startswith("mask ") for m in got)
    assert all(got.index(m) < pivot for m in got if m.startswith("mask "))
    assert all(got.index(m) > pivot for m in got if m.startswith("make /proc"))
    default = labels([])
    assert "mount tmpfs on /dev" in default and "mknod /dev/null" in default


def test_env_merge_later_wins():
    assert merge_env(["A=1", "B=2"], ["A=3"]) == ["A=3", "B=2"]
    with pytest.raises(InvalidArgument):
        merge_env(["=x"])


@pytest.fixture
def layers(tmp_path):
    low, top = tmp_path / "low", tmp_path / "top"
    (low / "etc").mkdir(parents=True)
    (top / "etc").mkdir(parents=True)
    (low / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n")
    (low / "etc/group").write_text("root:x:0:\nbob:x:1000:\nstaff:x:50:bob,alice\n")
    # the top layer replaces passwd; group comes from the lower layer
    (top / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n")
    return [str(low), str(top)]


def test_user_lookup_top_layer_wins(layers):
    who = users.lookup("bob", layers)
    assert (who.uid, who.gid, who.home) == (1001, 1001, "/home/bob")
    assert who.groups == (1001, 50)


def test_user_numeric_and_group_name(layers):
    assert users.lookup("77:staff", layers).gid == 50
    assert users.lookup("77", layers).home == "/"
    assert users.lookup("", layers).home == "/root"


def test_user_unknown(layers):
    with pytest.raises(InvalidArgument):
        users.lookup("alice", layers)
    with pytest.raises(InvalidArgument):
        users.lookup("bob:nogroup", layers)


def test_passwd_symlink_to_host_not_followed(tmp_path):
    layer = tmp_path / "l"
    (layer / "etc").mkdir(parents=True)
    os.symlink("/etc/passwd", layer / "etc/passwd")
    # resolved inside the layer, so the host's /etc/passwd is never read
    assert users.read_image_file([str(layer)], "etc/passwd") is None
