"""``squash=True``: the final stage's own layers become one layer on top of
its base, as ``docker build --squash`` does.

The layers are unpacked in the store in overlay form (a whiteout is a 0:0
character device, an opaque directory has ``trusted.overlay.opaque=y``);
they are laid over each other, bottom first, in a scratch dir of the store
(files are hard links, nothing is copied), and that dir is staged as one
layer by the same walk as a ``RUN`` step's upper dir (image/commit.py), so
whiteouts of the base's files survive the squash.
"""
import os
import stat
import tempfile

from .. import fstree
from ..image.commit import stage_upper
from ..image.extract import OPAQUE_XATTR
from .layer import image_kind


def squash_layers(store, base_dirs, layer_dirs, epoch=None):
    """One staged layer doing what ``layer_dirs`` (bottom first) do together
    on top of ``base_dirs`` (a whiteout is kept for what the base has)."""
    top = tempfile.mkdtemp(prefix="squash-", dir=store.tmp_dir)
    try:
        upper = os.path.join(top, "upper")
        os.mkdir(upper)
        for layer in layer_dirs:
            _lay(layer, upper, base_dirs)
        return stage_upper(store, upper, epoch)
    finally:
        fstree.remove(top)


def _gone(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        fstree.remove(path)
    else:
        os.unlink(path)


def _lay(layer, upper, base_dirs):
    for entry in fstree.walk(layer):
        src = os.path.join(layer, entry.path)
        dst = os.path.join(upper, entry.path)
        st = os.lstat(src)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            opaque = _opaque(src)
            if opaque or not os.path.isdir(dst) or os.path.islink(dst):
                _gone(dst)
                os.mkdir(dst)
            if opaque:
                os.setxattr(dst, OPAQUE_XATTR, b"y")
            os.chown(dst, st.st_uid, st.st_gid)
            os.chmod(dst, stat.S_IMODE(mode))
            for name in os.listxattr(src):
                if not name.startswith(("trusted.overlay.", "user.overlay.")):
                    os.setxattr(dst, name, os.getxattr(src, name))
            continue
        _gone(dst)
        if stat.S_ISCHR(mode) and st.st_rdev == 0:
            if image_kind(base_dirs, "/" + entry.path) is None:
                continue                                    # nothing below to hide
            os.mknod(dst, stat.S_IFCHR | 0o600, 0)
        elif stat.S_ISREG(mode):
            os.link(src, dst)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), dst)
            os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(dst, stat.S_IMODE(mode))
            os.chown(dst, st.st_uid, st.st_gid)
        else:
            continue
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    # directories last: what was put in them changed their mtimes
    for entry in fstree.walk(layer):
        src = os.path.join(layer, entry.path)
        st = os.lstat(src)
        if stat.S_ISDIR(st.st_mode):
            os.utime(os.path.join(upper, entry.path), ns=(st.st_atime_ns, st.st_mtime_ns))


def _opaque(path):
    try:
        return os.getxattr(path, OPAQUE_XATTR) == b"y"
    except OSError:
        return False
