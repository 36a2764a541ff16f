"""Caps on what unpacking writes: a layer, an image, the disk reserve."""
import errno
import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from pycontainer.errors import ImageError, ImageTooLarge, InvalidArgument, StorageError
from pycontainer.image import ImageStore
from store_helpers import rootfs_tar, tree

MIB = 1 << 20


def files_tar(sizes):
    """A tar with one file per size, of incompressible-enough bytes."""
    return rootfs_tar({f"f{i}": os.urandom(n) for i, n in enumerate(sizes)})


def assert_nothing_staged(store):
    assert os.listdir(store.tmp_dir) == []


@pytest.fixture
def small(tmp_path):
    return ImageStore(tmp_path / "small", max_layer_size=MIB, max_image_size=MIB + MIB // 2,
                      max_layer_entries=100)


def test_zeros_after_the_end_of_the_tar_are_refused(tmp_path):
    # A 64 KiB gzip that decompresses to a tiny tar and 64 MiB of zeros: the
    # zeros used to be copied into the layer blob (a few MB wrote GBs).
    store = ImageStore(tmp_path / "s")
    bomb = gzip.compress(rootfs_tar() + bytes(64 * MIB), compresslevel=9)
    assert len(bomb) < 128 * 1024
    with pytest.raises(ImageError, match="after the end of the tar"):
        store.import_image(bomb, "bomb")
    assert_nothing_staged(store)
    assert os.listdir(os.path.join(store.root, "layers")) == []
    assert os.listdir(os.path.join(store.root, "blobs", "sha256")) == []
    # The padding tar writers add (a 10 KiB record, or more) is fine.
    assert store.import_image(gzip.compress(rootfs_tar() + bytes(64 * 1024)), "padded").tags


def test_layer_cap_names_the_limit_and_stops_before_writing(small):
    small.import_image(rootfs_tar({"keep": b"me"}), "keep")
    before = tree(small.root)
    with pytest.raises(ImageTooLarge) as info:
        small.import_image(gzip.compress(rootfs_tar({"zeros": bytes(8 * MIB)})), "big")
    err = info.value
    assert (err.limit, err.value) == ("max_layer_size", MIB)
    assert "max_layer_size" in str(err) and str(MIB) in str(err) and "zeros" in str(err)
    assert tree(small.root) == before
    # The sum of the files counts, not only each one.
    with pytest.raises(ImageTooLarge, match="max_layer_size"):
        small.import_image(files_tar([600 * 1024, 600 * 1024]), "sum")
    assert tree(small.root) == before


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _oci_layout_of(layers):
    """A tar of an OCI layout holding one image made of ``layers`` (plain tars)."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in layers]},
                         "config": {}}).encode()
    blobs = [config] + list(layers)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(t), "size": len(t)} for t in layers]}).encode()
    blobs.append(manifest)
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
        "size": len(manifest),
        "annotations": {"io.containerd.image.name": "docker.io/library/two:1"}}]}).encode()
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
    files.update({f"blobs/sha256/{sha(b)[7:]}": b for b in blobs})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_image_cap_counts_every_new_layer(small):
    small.import_image(rootfs_tar({"keep": b"me"}), "keep")
    before = tree(small.root)
    # Each layer is under max_layer_size (1 MiB); together they pass 1.5 MiB.
    two = _oci_layout_of([files_tar([900 * 1024]), files_tar([900 * 1024])])
    with pytest.raises(ImageTooLarge) as info:
        small.load(two)
    assert (info.value.limit, info.value.value) == ("max_image_size", MIB + MIB // 2)
    assert "max_image_size" in str(info.value)
    assert tree(small.root) == before
    one = _oci_layout_of([files_tar([900 * 1024])])
    assert [r.tags for r in small.load(one)] == [["two:1"]]


def test_reserve_refuses_a_layer_that_would_fill_the_disk(tmp_path):
    st = os.statvfs(tmp_path)
    whole_disk = st.f_blocks * st.f_frsize
    store = ImageStore(tmp_path / "s", min_free_space=whole_disk)
    with pytest.raises(StorageError) as info:
        store.import_image(rootfs_tar(), "x")
    err = info.value
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC
    assert not isinstance(err, ImageError)
    assert (err.limit, err.value) == ("min_free_space", whole_disk)
    assert "min_free_space" in str(err) and str(whole_disk) in str(err)
    assert_nothing_staged(store)
    assert os.listdir(os.path.join(store.root, "layers")) == []


def test_default_reserve_is_small_on_a_small_filesystem(tmp_path):
    store = ImageStore(tmp_path / "s")
    st = os.statvfs(store.root)
    assert store.limits.min_free(st) == min(1 << 30, st.f_blocks * st.f_frsize // 20)


@pytest.mark.parametrize("kw", [{"max_layer_size": 0}, {"max_image_size": -1},
                                {"max_layer_size": "1G"}, {"min_free_space": -1},
                                {"max_layer_size": True}])
def test_limits_are_validated(tmp_path, kw):
    with pytest.raises(InvalidArgument):
        ImageStore(tmp_path / "s", **kw)
