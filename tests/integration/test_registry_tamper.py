"""Pulls that must fail cleanly (and the cut connections that must not fail),
from a registry of our own that serves crafted images (tests/tamper_registry.py)."""
import json
import os
import subprocess
import sys
import time

import pytest

from pycontainer.errors import ImageError, ImageNotFound, RegistryError
from pycontainer.image.store import ImageStore
from pycontainer.registry import Registry
from pycontainer.registry.pull import this_platform
from tamper_registry import Image, TamperRegistry, digest

ARCH = this_platform()[1]
BIG = os.urandom(3 << 20)     # incompressible: the blob is big enough to cut in half


@pytest.fixture
def server():
    s = TamperRegistry()
    yield s
    s.stop()


@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path / "store", min_free_space=0)


@pytest.fixture
def reg(store):
    r = Registry(store)
    yield r
    r.close()


def image(compress="gzip", arch=ARCH):
    return Image([{"etc/hello": b"hello\n"}, {"big": BIG, "etc/more": b"more\n"}], arch,
                 compress)


def assert_untouched(store):
    """Nothing of a failed pull is in the store: no image, layer, blob or download."""
    assert store.list() == []
    assert os.listdir(os.path.join(store.root, "layers")) == []
    assert os.listdir(os.path.join(store.root, "blobs", "sha256")) == []
    assert os.listdir(store.tmp_dir) == []


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_good_image_pulls(server, store, reg, compress):
    img = image(compress)
    mdigest = server.serve(img)
    rec = reg.pull(f"{server.host}/pyc/app:1")
    assert rec.manifest_digest == mdigest
    assert rec.repo_digests == [f"{server.host}/pyc/app@{mdigest}"]
    with open(os.path.join(rec.layer_dirs[1], "big"), "rb") as f:
        assert f.read() == BIG
    for d in img.layers:       # the compressed blobs are kept as served
        with open(store.blob_path(d["digest"]), "rb") as f:
            assert digest(f.read()) == d["digest"]
    assert os.listdir(store.tmp_dir) == []


def test_flipped_byte_fails_and_keeps_nothing(server, store, reg):
    img = image()
    d = img.layers[1]["digest"]
    blob = bytearray(img.blobs[d])
    blob[len(blob) // 3] ^= 0x01
    img.blobs[d] = bytes(blob)
    server.serve(img)
    with pytest.raises(ImageError, match="does not match|not valid compressed"):
        reg.pull(f"{server.host}/pyc/app:1")
    assert_untouched(store)


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_size_fails(server, store, reg, delta):
    img = image()
    img.layers[0]["size"] += delta
    server.serve(img)
    with pytest.raises(ImageError, match="descriptor"):
        reg.pull(f"{server.host}/pyc/app:1")
    assert_untouched(store)


def test_wrong_media_types_fail(server, store, reg):
    img = image()
    img.layers[0]["mediaType"] = "application/vnd.example.not-a-layer"
    server.serve(img)
    with pytest.raises(ImageError, match="media type"):
        reg.pull(f"{server.host}/pyc/app:1")
    img = image()
    server.serve(img, tag="2", media="application/vnd.example.thing+json",
                 manifest=json.dumps(dict(img.manifest, mediaType="application/x")).encode())
    with pytest.raises(ImageError, match="media type"):
        reg.pull(f"{server.host}/pyc/app:2")
    assert_untouched(store)


def test_index_selects_this_platform_or_fails(server, store, reg):
    other = "s390x" if ARCH != "s390x" else "riscv64"
    mine, theirs = image(), image(arch=other)
    entries = []
    for img, arch in ((theirs, other), (mine, ARCH)):
        m = server.serve(img, tag=f"only-{arch}")
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": m, "size": len(img.manifest_bytes()),
                        "platform": {"os": "linux", "architecture": arch}})
    both = json.dumps({"schemaVersion": 2, "manifests": entries}).encode()
    server.manifests["multi"] = (both, "application/vnd.oci.image.index.v1+json")
    alone = json.dumps({"schemaVersion": 2, "manifests": entries[:1]}).encode()
    server.manifests["foreign"] = (alone, "application/vnd.oci.image.index.v1+json")
    with pytest.raises(ImageNotFound, match="no matching manifest"):
        reg.pull(f"{server.host}/pyc/app:foreign")
    assert_untouched(store)
    rec = reg.pull(f"{server.host}/pyc/app:multi")
    assert rec.manifest_digest == entries[1]["digest"]
    assert rec.config["architecture"] == ARCH
    assert reg.pull(f"{server.host}/pyc/app:multi", platform=f"linux/{other}").config[
        "architecture"] == other


def test_failed_pull_moves_no_tag(server, store, reg):
    old = server.serve(image(), tag="1")
    assert reg.pull(f"{server.host}/pyc/app:1").manifest_digest == old
    bad = Image([{"etc/new": b"new\n"}], ARCH)
    bad.layers[0]["size"] += 5
    server.serve(bad, tag="1")
    with pytest.raises(ImageError):
        reg.pull(f"{server.host}/pyc/app:1")
    assert store.get(f"{server.host}/pyc/app:1").manifest_digest == old
    assert len(store.list()) == 1


def test_connection_cut_mid_blob_resumes_with_range(server, store, reg):
    img = image()
    d = img.layers[1]["digest"]
    server.serve(img)
    server.cut[d] = 2
    rec = reg.pull(f"{server.host}/pyc/app:1")
    starts = [start for ref, start in server.ranges if ref == d]
    assert starts[0] == 0 and len(starts) == 3 and starts[1] > 0
    with open(os.path.join(rec.layer_dirs[1], "big"), "rb") as f:
        assert f.read() == BIG


def test_registry_that_keeps_cutting_fails_cleanly(server, store, reg):
    img = image()
    server.serve(img)
    server.cut[img.layers[1]["digest"]] = 100
    with pytest.raises(RegistryError, match="dropped|truncated"):
        reg.pull(f"{server.host}/pyc/app:1")
    assert store.list() == []
    assert os.listdir(os.path.join(store.root, "layers")) == []


def test_kill_9_then_pull_again_resumes(server, store, tmp_path):
    img = image()
    d = img.layers[1]["digest"]
    server.serve(img)
    server.stall = d
    code = ("import sys; from pycontainer.image.store import ImageStore; "
            "from pycontainer.registry import Registry; "
            "Registry(ImageStore(sys.argv[1], min_free_space=0)).pull(sys.argv[2])")
    proc = subprocess.Popen([sys.executable, "-c", code, store.root,
                             f"{server.host}/pyc/app:1"])
    part = os.path.join(store.tmp_dir, f"pull-{d[7:]}.part")
    half = len(img.blobs[d]) // 2
    deadline = time.monotonic() + 60
    while not (os.path.exists(part) and os.path.getsize(part) >= half - (64 << 10)):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)     # polling a file's size: the state we wait for
    proc.kill()
    proc.wait()
    server.stall = None
    server.ranges.clear()
    with Registry(store) as reg:
        rec = reg.pull(f"{server.host}/pyc/app:1")
    starts = [start for ref, start in server.ranges if ref == d]
    assert len(starts) == 1 and starts[0] >= half - (64 << 10)   # only the rest was fetched
    with open(os.path.join(rec.layer_dirs[1], "big"), "rb") as f:
        assert f.read() == BIG
    stale = [n for n in os.listdir(store.tmp_dir) if not n.startswith("layer-")]
    assert stale == []


def test_tags_list_follows_pages(server, reg):
    server.tags = [f"v{i}" for i in range(7)]
    assert reg.tags(f"{server.host}/pyc/app", page_size=2) == sorted(server.tags)
