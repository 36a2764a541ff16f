"""A store on a small filesystem: disk errors keep their errno, caps come from Client."""
import errno
import io
import os
import shutil
import subprocess
import tarfile
from contextlib import contextmanager

import pytest

from conftest import _no_mounts_below
from pycontainer import errors
from pycontainer.image import ImageStore

MIB = 1 << 20


def tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@contextmanager
def small_fs(path, size="8m"):
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "pyc-test-small",
                    str(path)], check=True)
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", str(path)], check=True)


def leftovers(root):
    """What a failed layer could leave: staging dirs, layers, blobs."""
    return {sub: sorted(os.listdir(os.path.join(root, sub)))
            for sub in ("tmp", "layers", "blobs/sha256")}


def test_disk_full_during_extraction_keeps_enospc(tmp_path):
    with small_fs(tmp_path / "small") as root:
        store = ImageStore(root, min_free_space=0)       # let the kernel say ENOSPC
        kept = store.import_image(tar_of({"etc/keep": b"me\n"}), "keep")
        before = leftovers(root)
        with pytest.raises(OSError) as info:
            store.import_image(tar_of({"big": os.urandom(12 * MIB)}), "big")
        err = info.value
        assert err.errno == errno.ENOSPC, err
        assert isinstance(err, errors.PyContainerError) and not isinstance(err, errors.ImageError)
        assert err.limit is None                          # the kernel's ENOSPC, not the reserve
        assert leftovers(root) == before                  # no staged dir, no orphan blob
        with open(os.path.join(store.get("keep").layer_dirs[0], "etc", "keep"), "rb") as f:
            assert f.read() == b"me\n"
        assert store.get("keep").id == kept.id
        assert store.import_image(tar_of({"etc/again": b"ok\n"}), "again").tags == ["again:latest"]


def test_client_caps_and_default_reserve(tmp_path):
    from pycontainer import Client

    with small_fs(tmp_path / "store", size="16m") as root:
        c = Client(root=root, max_layer_size=2 * MIB, max_image_size=3 * MIB)
        try:
            with pytest.raises(errors.ImageTooLarge, match=f"max_layer_size={2 * MIB}"):
                c.images.import_image(tar_of({"big": bytes(3 * MIB)}), repository="big")
            # 2 MiB stored twice (blob and unpacked) fits in 16 MiB; five such
            # imports do not: the reserve stops one before the kernel would.
            with pytest.raises(errors.StorageError) as info:
                for i in range(5):
                    c.images.import_image(tar_of({"f": os.urandom(2 * MIB - 4096)}),
                                          repository=f"fill{i}")
            assert info.value.errno == errno.ENOSPC and info.value.limit == "min_free_space"
            assert os.listdir(os.path.join(root, "tmp")) == []
        finally:
            run_root = c._runtime.run_root
            if os.path.isdir(run_root) and _no_mounts_below(run_root):
                shutil.rmtree(run_root, ignore_errors=True)
