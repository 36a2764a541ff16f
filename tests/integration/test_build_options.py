"""build()'s options beyond the Dockerfile: squash, extra_hosts, shmsize,
cache_from, container_limits, network_mode, platform; each seen in the
image or from inside the RUN containers."""
import os

import pytest

from build_helpers import archive_tree, build, cached_steps, run, write_context
from pycontainer.errors import BuildError, InvalidArgument


@pytest.fixture
def bclient(fresh_client):
    fresh_client.images.busybox()
    return fresh_client


def _tree(image, tmp_path):
    path = str(tmp_path / "image.tar")
    with open(path, "wb") as f:
        for chunk in image.save():
            f.write(chunk)
    try:
        return archive_tree(path)
    finally:
        os.unlink(path)


def test_squash_makes_one_layer_on_the_base_and_keeps_whiteouts(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {"a.txt": "a\n"})
    dockerfile = """\
FROM busybox
RUN mkdir /s && echo one > /s/one && echo gone > /s/gone
RUN rm /s/gone /etc/group && echo two > /s/two
ENV SQUASHED=1
COPY a.txt /s/a.txt
"""
    plain, _ = build(bclient, ctx, dockerfile, tag="plain:1")
    image, _ = build(bclient, ctx, dockerfile, tag="squashed:1", squash=True)
    base = bclient.images.get("busybox")
    n = len(base.attrs["RootFS"]["Layers"])
    assert len(plain.attrs["RootFS"]["Layers"]) == n + 3
    assert len(image.attrs["RootFS"]["Layers"]) == n + 1
    assert image.attrs["RootFS"]["Layers"][:n] == base.attrs["RootFS"]["Layers"]
    tree, layers = _tree(image, tmp_path)
    plain_tree, _ = _tree(plain, tmp_path)
    assert tree == plain_tree                       # the same files, one layer
    assert "/etc/group" not in tree and "/s/gone" not in tree
    assert layers[-1] == ["/etc/group"]             # the base's file stays whited out
    assert "SQUASHED=1" in image.attrs["Config"]["Env"]
    history = image.record.config["history"][len(base.record.config["history"]):]
    assert [h["created_by"].split()[0] for h in history] == ["RUN", "RUN", "ENV", "COPY"]
    assert [bool(h.get("empty_layer")) for h in history] == [True, True, True, False]
    assert run(bclient, "squashed:1", ["cat", "/s/one", "/s/two", "/s/a.txt"]) == \
        "one\ntwo\na\n"


def test_extra_hosts_shmsize_and_limits_reach_the_run_containers(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    image, _ = build(bclient, ctx, """\
FROM busybox
RUN grep myhost /etc/hosts > /hosts; grep ' /dev/shm ' /proc/mounts > /shm; \\
    cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares \\
        /sys/fs/cgroup/cpuset/cpuset.cpus > /limits
""", tag="opts:1", extra_hosts={"myhost": "10.1.2.3"}, shmsize=8 << 20,
        container_limits={"memory": 64 << 20, "memswap": 128 << 20, "cpushares": 512,
                          "cpusetcpus": "0"})
    out = run(bclient, "opts:1", ["cat", "/hosts", "/shm", "/limits"]).splitlines()
    assert out[0].split() == ["10.1.2.3", "myhost"]
    assert "size=8192k" in out[1]
    assert out[2:] == [str(64 << 20), "512", "0"]
    with pytest.raises(BuildError, match="shmsize"):
        build(bclient, ctx, tag="bad:1", shmsize="lots")
    with pytest.raises(BuildError, match="container_limits: unknown key"):
        build(bclient, ctx, tag="bad:1", container_limits={"disk": 1})


def test_network_mode_and_platform(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    dockerfile = "FROM busybox\nRUN ls /sys/class/net > /nets\n"
    image, _ = build(bclient, ctx, dockerfile, tag="net:1", network_mode="none",
                     platform="linux/amd64")
    assert run(bclient, "net:1", ["cat", "/nets"]) == "lo\n"
    image, _ = build(bclient, ctx, dockerfile, tag="net:1", network_mode="host",
                     nocache=True)
    host = sorted(os.listdir("/sys/class/net"))
    assert run(bclient, "net:1", ["cat", "/nets"]).split() == host
    with pytest.raises(BuildError, match="no emulation") as err:
        build(bclient, ctx, tag="arm:1", platform="linux/arm64")
    assert isinstance(err.value.error, InvalidArgument)


def test_cache_from_a_loaded_image_serves_its_steps(bclient, tmp_path):
    from pycontainer import Client, fstree
    files = {"a.txt": "a\n", "b.txt": "b\n"}
    dockerfile = """\
FROM busybox
RUN head -c 8 /dev/urandom | od -An -tx1 > /random
COPY a.txt /a
RUN cat /a > /copy
COPY b.txt /b
"""
    ctx = write_context(tmp_path / "c", files)
    first, _ = build(bclient, ctx, dockerfile, tag="origin:1")
    archive = str(tmp_path / "origin.tar")
    with open(archive, "wb") as f:
        for chunk in first.save(named=True):
            f.write(chunk)
    other_root = tmp_path / "other"
    other_root.mkdir()
    other = Client(root=str(other_root))
    try:
        other.images.busybox()
        with open(archive, "rb") as f:
            other.images.load(f.read())
        # a store without this build's cache: cache_from is the only source
        image, log = build(other, ctx, tag="copy:1", cache_from=["origin:1", "not-here:1"])
        assert cached_steps(log) == [2, 3, 4, 5]
        assert image.attrs["RootFS"] == first.attrs["RootFS"]
        # a changed file: the steps from its COPY on are built, the rest still served
        with open(os.path.join(ctx, "b.txt"), "w") as f:
            f.write("changed\n")
        image, log = build(other, ctx, tag="copy:2", cache_from=["origin:1"])
        assert cached_steps(log) == [2, 3, 4]
        assert run(other, "copy:2", ["cat", "/random"]) == \
            run(bclient, "origin:1", ["cat", "/random"])
        _, log = build(other, ctx, tag="copy:3")      # its own cache now has them
        assert cached_steps(log) == [2, 3, 4, 5]
        # as docker's legacy builder: given cache_from, the local cache is not used
        _, log = build(other, ctx, tag="copy:4", cache_from=["not-here:1"])
        assert cached_steps(log) == []
        with pytest.raises(BuildError, match="cache_from must be a list"):
            build(other, ctx, tag="x:1", cache_from=42)
    finally:
        for c in other.containers.list(all=True):
            c.remove(force=True)
        other.close()
        if os.path.isdir(other._runtime.run_root):
            fstree.remove(other._runtime.run_root)
        fstree.remove(str(other_root))
