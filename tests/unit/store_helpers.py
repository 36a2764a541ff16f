"""Layer tars and tree snapshots shared by the image store tests."""
import io
import os
import tarfile

DEFAULT_FILES = {"etc/hello": b"hello\n", "bin/tool": b"#!/bin/sh\n"}


def rootfs_tar(files=None):
    """A plain tar of ``{name: bytes}`` (mode 0755, fixed mtime: reproducible)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in sorted((files or DEFAULT_FILES).items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            info.mtime = 1000
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tree(root):
    """Relative paths and contents of everything under ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    out[rel] = f.read()
            else:
                out[rel] = None
    return out
