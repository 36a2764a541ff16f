"""``COPY`` and ``ADD``: sources -> one layer tar, and the digest of exactly
what it holds (paths, types, modes, owners, content; not mtimes) for the
cache key. One pass: every file is read once, hashed and written.

Docker's destination rules: a destination ending in ``/``, several sources,
or a directory that exists in the image receive sources by their base name;
a directory source copies what it holds (``--parents`` keeps the source's
path); parent directories the image lacks are made (0755, the ``--chown``
owner). Files from the context belong to 0:0 unless ``--chown`` says
otherwise; from another stage or image they keep their owners.
"""
import hashlib
import os
import posixpath
import stat
import threading
import time

from ..errors import InvalidArgument
from .context import open_entry
from .ignore import Matcher, read_patterns
from .layer import image_kind

_CHUNK = 1 << 20


class CopyJob:
    """One COPY/ADD into the image ``layer_dirs`` describe.

    Args:
        writer: the :class:`LayerWriter` receiving entries.
        layer_dirs: the image's unpacked layers (for what exists already).
        owner: ``(uid, gid)`` from ``--chown``, or None.
        chmod: mode from ``--chmod``, or None.
        keep_owner: keep the sources' owners (``--from``, tar archives).
    """

    def __init__(self, writer, layer_dirs, owner=None, chmod=None, keep_owner=False):
        self.writer, self.layer_dirs = writer, layer_dirs
        self.owner, self.chmod, self.keep_owner = owner, chmod, keep_owner
        self.probe = isinstance(writer, _Probe)
        self.hash = hashlib.sha256()
        self._kinds = {}

    def digest(self):
        return self.hash.hexdigest()

    def _note(self, *fields):
        self.hash.update(repr(fields).encode() + b"\n")

    def kind(self, path):
        if path not in self._kinds:
            self._kinds[path] = image_kind(self.layer_dirs, path)
        return self._kinds[path]

    def _ids(self, st):
        if self.owner is not None:
            return self.owner
        return (st.st_uid, st.st_gid) if self.keep_owner and st is not None else (0, 0)

    def parents(self, path):
        """Make the missing parent directories of ``path``."""
        parts = path.strip("/").split("/")[:-1]
        for n in range(1, len(parts) + 1):
            d = "/".join(parts[:n])
            if d in self.writer.dirs:
                continue
            kind = self.kind("/" + d)
            if kind == "file":
                raise InvalidArgument(f"cannot copy to {path}: /{d} is not a directory in "
                                      "the image")
            if kind is None:
                uid, gid = self.owner or (0, 0)
                self._note("dir", d, 0o755, uid, gid)
                self.writer.add_dir(d, 0o755, uid, gid)

    def add_bytes(self, path, data, mode=0o644):
        self.parents(path)
        uid, gid = self.owner or (0, 0)
        mode = self.chmod if self.chmod is not None else mode
        self._note("bytes", path, mode, uid, gid, hashlib.sha256(data).hexdigest())
        self.writer.add_bytes(path, data, mode, uid, gid)

    def add_tree(self, ctx, rel, dest, into_dir, parents=False, excludes=None, what="COPY"):
        """Copy context path ``rel`` to ``dest`` (a directory when ``into_dir``)."""
        base = posixpath.basename(rel) if rel else ""
        for sub, st, dfd, name in ctx.walk(rel, excludes, what):
            if sub == "":
                if stat.S_ISDIR(st.st_mode):
                    top = posixpath.join(dest, rel) if parents else dest
                    if parents:
                        self.parents(top + "/x")
                    else:
                        self.parents(top)
                    if self.kind(top) is None and top.strip("/") not in self.writer.dirs:
                        if not rel:     # a context's root: no mode of its own to copy
                            st = _Dir(st)
                        self._entry(top, st, None, None)
                    root = top.rstrip("/")
                    continue
                if parents:
                    target = posixpath.join(dest, rel)
                elif into_dir or self.kind(dest) == "dir":
                    target = posixpath.join(dest, base)
                else:
                    target = dest
                self.parents(target)
                self._entry(target, st, dfd, name)
                continue
            self._entry(f"{root}/{sub}", st, dfd, name)

    def _entry(self, path, st, dfd, name):
        path = "/" + path.strip("/")
        parent = path.rpartition("/")[0][1:]
        if parent and parent not in self.writer.dirs:
            self.parents(path)      # an excluded directory with re-included content
        mode = st.st_mode & 0o7777
        uid, gid = self._ids(st)
        kind = st.st_mode & 0o170000
        if kind == stat.S_IFREG and self.probe:       # the probe's hot path
            self._note("file", path, mode if self.chmod is None else self.chmod, uid, gid,
                       _MEMO.get((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                  st.st_ctime_ns)) or self.writer.digest_of(st, dfd, name))
            return
        if stat.S_ISDIR(st.st_mode):
            mode = self.chmod if self.chmod is not None else mode
            self._note("dir", path, mode, uid, gid)
            self.writer.dirs.discard(path.strip("/"))
            self.writer.add_dir(path, mode, uid, gid, st.st_mtime)
        elif stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=dfd)
            self._note("link", path, target, uid, gid)
            self.writer.add_symlink(path, target, uid, gid, st.st_mtime)
        elif stat.S_ISREG(st.st_mode):
            mode = self.chmod if self.chmod is not None else mode
            fd = open_entry(dfd, name)
            before = os.fstat(fd)
            hashing = _Hashing()
            self.writer.add_fd(path, fd, st, mode, uid, gid, tap=hashing)
            self._note("file", path, mode, uid, gid, hashing.digest())
            _remember(before, dfd, name, hashing)
        # sockets, fifos and devices are not copied (docker skips sockets; the
        # store refuses devices)


class _NeedsRead(Exception):
    """A probe met a source whose digest needs reading it (it is written instead)."""


class _Probe:
    """A LayerWriter that writes nothing: the probe of a COPY's digest."""

    def __init__(self):
        self.dirs, self.count = set(), 0
        self.budget = PROBE_READ

    def digest_of(self, st, dfd, name):
        """A file's digest: remembered, or read when the probe's budget allows
        (past it, writing the layer is the cheaper way to the digest)."""
        digest = _MEMO.get(_stat_key(st))
        if digest is not None:
            return digest
        self.budget -= st.st_size
        if self.budget < 0:
            raise _NeedsRead(name)
        fd = open_entry(dfd, name)
        with os.fdopen(fd, "rb") as f:
            before = os.fstat(f.fileno())
            hashing = _Hashing()
            for data in iter(lambda: f.read(_CHUNK), b""):
                hashing(data)
        _remember(before, dfd, name, hashing)
        return hashing.digest()

    def add_dir(self, path, *args):
        self.dirs.add(path.strip("/"))

    def add_bytes(self, *args):
        pass

    def add_symlink(self, *args):
        pass


def probe_digest(layer_dirs, spec, fill):
    """The digest ``fill(job)`` would give, from the contents remembered for
    files unchanged since they were last copied, or None (a file must be read)."""
    job = CopyJob(_Probe(), layer_dirs, **spec)
    try:
        fill(job)
    except _NeedsRead:
        return None
    return job.digest()


# What was read of a file, by what its stat says of it: (dev, inode, size,
# mtime, ctime) -> sha256 of its content. A file changed later has another
# ctime (the kernel sets it on every write; nobody can set it back), unless
# the change came within the clock's granularity of the read: files changed
# in the last RACY_NS before they were read are not remembered (git's rule).
_MEMO = {}
_MEMO_LOCK = threading.Lock()
_MEMO_MAX = 1 << 20
RACY_NS = 2_000_000_000
PROBE_READ = 16 << 20      # bytes a probe may read for files it does not know


# What a COPY's probe gave, by all it depends on: the context's snapshot
# (Context.snapshot: every entry's lstat, ctime included), the parent's
# layers, the sources and flags. A no-op rebuild then walks its context
# once, in C, instead of once per COPY in Python. A snapshot with an entry
# changed in the last RACY_NS is not remembered (as _MEMO's files).
_TREES = {}
_TREES_MAX = 4096


def tree_digest(key):
    with _MEMO_LOCK:
        return _TREES.get(key)


def remember_tree(key, digest, newest_ctime):
    if time.time_ns() - newest_ctime < RACY_NS:
        return
    with _MEMO_LOCK:
        if len(_TREES) >= _TREES_MAX:
            _TREES.clear()
        _TREES[key] = digest


def _stat_key(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _remember(before, dfd, name, hashing):
    try:
        after = os.stat(dfd) if name is None else os.stat(name, dir_fd=dfd,
                                                          follow_symlinks=False)
    except OSError:
        return
    key = _stat_key(before)
    if key != _stat_key(after) or time.time_ns() - before.st_ctime_ns < RACY_NS or \
            hashing.size != before.st_size:
        return
    with _MEMO_LOCK:
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        _MEMO[key] = hashing.digest()


class _Dir:
    """A directory's stat with mode 0755 (what docker gives a new one)."""

    def __init__(self, st):
        self.st_mode = (st.st_mode & ~0o7777) | 0o755
        self.st_uid, self.st_gid, self.st_mtime = st.st_uid, st.st_gid, st.st_mtime


class _Hashing:
    def __init__(self):
        self.h = hashlib.sha256()
        self.size = 0

    def __call__(self, data):
        self.h.update(data)
        self.size += len(data)

    def digest(self):
        return self.h.hexdigest()


def parse_chmod(value, inst):
    if value is None:
        return None
    try:
        mode = int(value, 8)
    except ValueError:
        raise inst.error(f"invalid --chmod={value}: use an octal mode such as 755") from None
    if not 0 <= mode <= 0o7777:
        raise inst.error(f"invalid --chmod={value}: out of range")
    return mode


def excludes_of(patterns):
    return Matcher(read_patterns("\n".join(patterns))) if patterns else None
