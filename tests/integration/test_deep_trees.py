"""Directory trees deeper than Python's recursion limit, made by containers and
by images: removing, committing, reading and pruning them must work, and must
never leave a store that the next Client cannot open."""
import hashlib
import io
import json
import os
import secrets
import subprocess
import tarfile

import pytest

from conftest import OVERLAY_UPPER_FS, _fstype, _no_mounts_below
from pycontainer import Client, fstree
from pycontainer.image import busybox_rootfs_tar

DEPTH = 5000
IMAGE_DEPTH = 2500
# Made from the bottom up (a new dir, the chain moved into it), so that no
# path and no cwd is ever long: busybox's cd slows to a crawl past PATH_MAX.
BUILD = ("cd /tmp && mkdir n && echo bottom > n/f && mv n d && i=1 && "
         f"while [ $i -lt {DEPTH} ]; do mkdir n && mv d n/d && mv n d || exit 9; "
         "i=$((i+1)); done && echo built $i")


def down(top, depth):
    """A script that goes ``depth`` levels of ``d`` below ``top`` (1,000 at a
    time: each cd's path stays short) and shows what is at the bottom."""
    steps = [f"cd -P {top}"]
    while depth:
        n = min(depth, 1000)
        steps.append("cd -P " + "/".join(["d"] * n))
        depth -= n
    return " && ".join(steps + ["cat f", "ls"])


def built(client, busybox):
    c = client.containers.run(busybox.id, ["sh", "-c", BUILD], detach=True)
    assert c.wait(timeout=120)["StatusCode"] == 0, c.logs()
    assert c.logs() == f"built {DEPTH}\n".encode()
    return c


def test_remove_force_of_a_deep_tree_and_next_client(client, busybox, store_root):
    c = built(client, busybox)
    c.remove(force=True)
    assert c.id not in [x.id for x in client.containers.list(all=True)]
    assert not os.path.lexists(client._runtime.dir(c.id))
    assert not os.path.lexists(client._runtime.rundir(c.id))
    again = Client(root=str(store_root))
    assert c.id not in [x.id for x in again.containers.list(all=True)]


def test_next_client_collects_a_deep_half_removed_dir(client, store_root):
    """What a crash half way through a removal leaves (no config.json) is
    garbage that the next Client removes when it first reaches the store,
    however deep."""
    cid = secrets.token_hex(32)
    top = os.path.join(client._runtime.containers, cid)
    os.makedirs(os.path.join(top, "upper", "tmp"))
    fd = os.open(os.path.join(top, "upper", "tmp"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(DEPTH):
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
    finally:
        os.close(fd)
    Client(root=str(store_root)).ping()
    assert not os.path.lexists(top)


def test_run_remove_making_a_deep_tree(client, busybox):
    before = set(os.listdir(client._runtime.run_root))
    out = client.containers.run(busybox.id, ["sh", "-c", BUILD], remove=True)
    assert out == f"built {DEPTH}\n".encode()
    assert set(os.listdir(client._runtime.run_root)) == before


def test_commit_diff_and_archive_of_a_deep_tree(client, busybox):
    c = built(client, busybox)
    img = None
    try:
        changes = c.diff()
        deep = "/tmp" + "/d" * DEPTH
        assert {"Path": deep + "/f", "Kind": 1} in changes
        assert len(changes) == DEPTH + 2            # /tmp, the dirs, f
        bits, st = c.get_archive("/tmp/d")
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tf:
            names = tf.getnames()
        assert len(names) == DEPTH + 1 and names[-1] == "d" + "/d" * (DEPTH - 1) + "/f"
        exported = sum(len(b) for b in c.export())
        assert exported > DEPTH * 512
        img = c.commit("pyc-test/deep", "1")
        out = client.containers.run(img.id, ["sh", "-c", down("/tmp", DEPTH)],
                                    remove=True)
        assert out == b"bottom\nf\n"
    finally:
        c.remove(force=True)
        if img is not None:
            client.images.remove(img.id)


def deep_image_archive(depth):
    """A ``docker save`` archive of busybox plus a ``depth``-deep chain of
    directories in its one layer (a hostile image can be this deep)."""
    buf = io.BytesIO()
    busybox_rootfs_tar(buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="a", format=tarfile.PAX_FORMAT) as tf:
        name = "deep"
        for _ in range(depth):
            name += "/d"
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(info)
        info = tarfile.TarInfo(name + "/f")
        info.size = 7
        tf.addfile(info, io.BytesIO(b"bottom\n"))
    layer = buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["pyc-test/deep:1"],
                            "Layers": ["layer.tar"]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for n, data in (("manifest.json", manifest), ("config.json", config),
                        ("layer.tar", layer)):
            info = tarfile.TarInfo(n)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def trash(client):
    tmp = client._backend.image_store.tmp_dir
    return [n for n in os.listdir(tmp) if n.startswith("trash-")]


def layers(client):
    return sorted(os.listdir(os.path.join(client.root, "layers")))


def test_hostile_deep_image_loads_runs_and_is_removed(fresh_client):
    data = deep_image_archive(IMAGE_DEPTH)
    (img,) = fresh_client.images.load(data)
    out = fresh_client.containers.run(img.id, ["sh", "-c", down("/deep", IMAGE_DEPTH)],
                                      remove=True)
    assert out == b"bottom\nf\n"
    assert len(layers(fresh_client)) == 1
    fresh_client.images.remove(img.id)
    assert layers(fresh_client) == [] and trash(fresh_client) == []
    # Once more, then pruned (unused, though tagged).
    (img,) = fresh_client.images.load(data)
    got = fresh_client.images.prune(filters={"dangling": False})
    assert {"Deleted": img.id} in got["ImagesDeleted"]
    assert got["SpaceReclaimed"] > 0
    assert layers(fresh_client) == [] and trash(fresh_client) == []
    assert fresh_client.images.prune()["ImagesDeleted"] == []
