"""Layers that ``COPY``, ``ADD`` and ``WORKDIR`` make without a container:
a tar written entry by entry, then staged by the store (which hashes and
unpacks it with the safe extractor like any other layer)."""
import errno
import io
import os
import posixpath
import stat
import tarfile
import tempfile

from .. import _core

_CHUNK = 1 << 20


class LayerWriter:
    """A layer tar being written to a temporary file of the store.

    >>> w = LayerWriter(store.tmp_dir)
    >>> w.add_bytes("etc/motd", b"hi\\n", 0o644, 0, 0)
    >>> staged = w.stage(store)
    """

    def __init__(self, tmp_dir, mtime_max=None):
        self.mtime_max = mtime_max      # SOURCE_DATE_EPOCH: no later mtime
        self.file = tempfile.TemporaryFile(dir=tmp_dir)
        self.tar = tarfile.open(fileobj=self.file, mode="w", format=tarfile.PAX_FORMAT)
        self.dirs = set()
        self.count = 0

    def close(self):
        self.file.close()

    def _info(self, path, kind, mode, uid, gid, mtime=0, size=0, linkname=""):
        info = tarfile.TarInfo(path.lstrip("/"))
        info.type, info.mode, info.uid, info.gid = kind, mode & 0o7777, uid, gid
        if self.mtime_max is not None:
            mtime = min(mtime, self.mtime_max)
        info.mtime, info.size, info.linkname = int(mtime), size, linkname
        info.uname = info.gname = ""
        self.count += 1
        return info

    def add_dir(self, path, mode=0o755, uid=0, gid=0, mtime=0):
        path = path.strip("/")
        if not path or path in self.dirs:
            return
        self.dirs.add(path)
        self.tar.addfile(self._info(path, tarfile.DIRTYPE, mode, uid, gid, mtime))

    def add_bytes(self, path, data, mode=0o644, uid=0, gid=0, mtime=0):
        self.tar.addfile(self._info(path, tarfile.REGTYPE, mode, uid, gid, mtime, len(data)),
                         io.BytesIO(data))

    def add_fd(self, path, fd, st, mode, uid, gid, tap=None):
        """A regular file from ``fd`` (closed here); ``st`` is its stat;
        ``tap(data)`` sees every byte written."""
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return      # replaced by something else since it was listed
            size = os.fstat(f.fileno()).st_size
            self.tar.addfile(self._info(path, tarfile.REGTYPE, mode, uid, gid, st.st_mtime,
                                        size), _Exact(f, size, tap))

    def add_symlink(self, path, target, uid=0, gid=0, mtime=0):
        self.tar.addfile(self._info(path, tarfile.SYMTYPE, 0o777, uid, gid, mtime,
                                    linkname=target))

    def stage(self, store):
        """Hand the tar to the store: a StagedLayer for ``add_image``."""
        self.tar.close()
        self.file.seek(0)
        return store.stage_layer(self.file)


class _Exact:
    """Reads exactly ``size`` bytes: a file that grows is cut there, one that
    shrinks is padded (the header promised ``size``)."""

    def __init__(self, f, size, tap=None):
        self.f, self.left, self.tap = f, size, tap

    def read(self, n=-1):
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(n) or bytes(n)
        self.left -= len(data)
        if self.tap is not None:
            self.tap(data)
        return data


def image_kind(layer_dirs, path):
    """``"dir"``, ``"file"`` or None: what ``path`` is in the image made of
    ``layer_dirs`` (lowest first), looked up in the top-most layer that has
    it; a whiteout hides it. Paths resolve inside each layer's root."""
    rel = path.strip("/")
    if not rel:
        return "dir"
    parent, base = posixpath.split(rel)
    for layer in reversed(layer_dirs):
        try:
            dfd = os.open(layer, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if base and _exists(dfd, posixpath.join(parent, ".wh." + base)):
                return None
            try:
                fd = _core.openat2(dfd, rel, os.O_PATH | os.O_CLOEXEC,
                                   _core.RESOLVE_IN_ROOT | _core.RESOLVE_NO_MAGICLINKS)
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.ENOTDIR):
                    continue
                raise
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None
            return "dir" if stat.S_ISDIR(st.st_mode) else "file"
        finally:
            os.close(dfd)
    return None


def _exists(dfd, rel):
    try:
        os.close(_core.openat2(dfd, rel, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC,
                               _core.RESOLVE_IN_ROOT | _core.RESOLVE_NO_MAGICLINKS))
        return True
    except OSError:
        return False
