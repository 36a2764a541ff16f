"""The build context: the files ``COPY`` and ``ADD`` may read.

A directory is read in place (no tar copy of it is made); a tar stream or
file object is unpacked once by the store's safe extractor
(image/extract.py) into a private directory, then read the same way.

Confinement: the caller's directory may hold hostile symbolic links
(``ln -s /etc/shadow x`` then ``COPY x /``). Every source path is opened
with ``openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`` from an fd of the
context root, so a path or a link that leads outside fails in the kernel
(EXDEV) before anything outside is opened, and a ``../`` source is refused
before any syscall. Below a source directory the walk (fstree.walk) opens
nothing but directories with ``O_NOFOLLOW``; links there are copied as
links, never followed. ``.dockerignore`` (ignore.py) hides what it excludes
from every source, globs included.
"""
import errno
import fnmatch
import os
import posixpath
import stat
import tempfile

from .. import _core, fstree
from ..errors import InvalidArgument, NotFound
from .ignore import Matcher, read_patterns

_RESOLVE = _core.RESOLVE_BENEATH | _core.RESOLVE_NO_MAGICLINKS
_GLOB = set("*?[")
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_DEEP = 64        # levels the fast walk keeps fds for


class OutsideContext(InvalidArgument):
    """A COPY/ADD source is outside the build context."""


def clean(path):
    """A source path as a path below the context root; refuses ``../``."""
    rel = posixpath.normpath(path).lstrip("/") or "."
    if rel == ".." or rel.startswith("../"):
        raise OutsideContext(f"forbidden path outside the build context: {path}")
    return "" if rel == "." else rel


class Context:
    """A context directory, held open by an ``O_PATH`` fd.

    Args:
        path: the directory.
        dockerfile: the Dockerfile's path below it (for
            ``<Dockerfile>.dockerignore``).
        owned: remove ``path`` on :meth:`close` (an unpacked tar).
    """

    def __init__(self, path, dockerfile="Dockerfile", owned=False, ignore=True):
        self.path = os.path.abspath(path)
        self.owned = owned
        try:
            self.fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound(f"build context {path} does not exist") from None
        except NotADirectoryError:
            raise InvalidArgument(f"build context {path} is not a directory") from None
        self.ignore_text = self._ignore_text(dockerfile) if ignore else ""
        self.matcher = Matcher(read_patterns(self.ignore_text))
        self._snapshot = None

    @classmethod
    def from_tar(cls, fileobj, tmp_dir, dockerfile="Dockerfile", ignore=True):
        """Unpack a tar (plain or compressed) into a private dir under ``tmp_dir``."""
        from ..image.extract import extract_layer
        holder = tempfile.mkdtemp(prefix="build-context-", dir=tmp_dir)
        try:
            extract_layer(fileobj, os.path.join(holder, "c"))
            return cls(os.path.join(holder, "c"), dockerfile, owned=holder, ignore=ignore)
        except BaseException:
            fstree.remove(holder)
            raise

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.owned:
            fstree.remove(self.owned)
            self.owned = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def snapshot(self):
        """``(digest, newest ctime ns)`` of the lstat of every entry of the
        context, taken once (the first COPY); None for an unpacked tar (a
        new directory each build) or a tree that cannot be walked."""
        if self._snapshot is None and not self.owned:
            try:
                import hashlib
                data, newest = _core.tree_stat(self.fd)
                self._snapshot = (hashlib.sha256(data).digest(), newest)
            except OSError:
                self._snapshot = False
        return self._snapshot or None

    def _ignore_text(self, dockerfile):
        for name in (dockerfile + ".dockerignore", ".dockerignore"):
            data = self.read_file(name, missing_ok=True)
            if data is not None:
                return data.decode("utf-8", "replace")
        return ""

    # -- opening, confined ------------------------------------------------

    def open(self, rel, flags=os.O_RDONLY, what="COPY"):
        """An fd of ``rel`` below the root; links followed only inside it."""
        rel = clean(rel) or "."
        try:
            return _core.openat2(self.fd, rel, flags | os.O_CLOEXEC, _RESOLVE)
        except OSError as err:
            if err.errno == errno.EXDEV:
                raise OutsideContext(f"{what} failed: {rel} leads outside the build context "
                                     "(a symbolic link or ..)") from None
            if err.errno in (errno.ENOENT, errno.ENOTDIR):
                raise NotFound(f"{what} failed: file not found in build context or excluded "
                               f"by .dockerignore: {rel}") from None
            raise

    def read_file(self, rel, missing_ok=False, limit=16 << 20):
        try:
            fd = self.open(rel, os.O_RDONLY)
        except NotFound:
            if missing_ok:
                return None
            raise
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise InvalidArgument(f"{rel} in the build context is not a regular file")
            return f.read(limit)

    def excluded(self, rel):
        return bool(rel) and self.matcher.excluded(rel)

    # -- sources ------------------------------------------------------------

    def expand(self, source, what="COPY"):
        """The context paths a source names (a glob may name several), in order."""
        rel = clean(source)
        if not _GLOB & set(rel):
            if self.excluded(rel):
                raise NotFound(f"{what} failed: file not found in build context or excluded "
                               f"by .dockerignore: {source}")
            fd = self.open(rel, os.O_PATH, what)   # exists, and stays inside
            os.close(fd)
            return [rel]
        found = [""]
        for part in rel.split("/"):
            nxt = []
            for base in found:
                if not _GLOB & set(part):
                    nxt.append(posixpath.join(base, part) if base else part)
                    continue
                try:
                    fd = self.open(base or ".", os.O_RDONLY | os.O_DIRECTORY, what)
                except (NotFound, NotADirectoryError):
                    continue
                try:
                    names = sorted(os.listdir(fd))
                finally:
                    os.close(fd)
                nxt += [posixpath.join(base, n) if base else n for n in names
                        if fnmatch.fnmatchcase(n, part)]
            found = nxt
        out = []
        for path in found:
            if self.excluded(path):
                continue
            try:
                os.close(self.open(path, os.O_PATH, what))
            except NotFound:
                continue
            out.append(path)
        if not out:
            raise NotFound(f"{what} failed: no source files were specified: {source!r} "
                           "matches nothing in the build context")
        return out

    def walk(self, rel, excludes=None, what="COPY"):
        """Yield ``(path below rel, lstat, dir fd, name)`` for ``rel`` and,
        when it is a directory, everything below it that is not excluded;
        the top entry has path ``""`` (and, for a file, ``name`` None and
        ``dir fd`` an O_PATH fd of it). The fds are valid until the next
        item; nothing below ``rel`` is ever followed."""
        fd = self.open(rel, os.O_PATH, what)
        try:
            st = os.fstat(fd)
            if not stat.S_ISDIR(st.st_mode):
                yield "", st, fd, None
                return
            dfd = _core.openat2(self.fd, rel or ".", os.O_RDONLY | os.O_DIRECTORY |
                                os.O_CLOEXEC, _RESOLVE)
        finally:
            os.close(fd)
        try:
            yield "", st, None, None
            yield from self._scan(dfd, rel, excludes)
        finally:
            os.close(dfd)

    def _scan(self, top, rel, excludes):
        """The walk below ``top`` (an fd of ``rel``): each directory's entries
        by name, a directory before what it holds, as fstree.walk(sort=True)
        gives them; one fd per level kept open, and past _DEEP levels the
        rest of a subtree is fstree.walk's (no depth limit there)."""
        matcher = self.matcher if self.matcher else None
        stack = [(top, "", sorted(os.listdir(top), reverse=True))]
        try:
            while stack:
                fd, prefix, names = stack[-1]
                if not names:
                    stack.pop()
                    if fd != top:
                        os.close(fd)
                    continue
                name = names.pop()
                sub = prefix + name
                full = (f"{rel}/{sub}" if rel else sub) if matcher is not None else None
                if (matcher is not None and matcher.excluded(full)) or \
                        (excludes is not None and excludes.excluded(sub)):
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if not stat.S_ISDIR(st.st_mode) or matcher is None or \
                            not matcher.may_reinclude_below(full):
                        continue
                else:
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    yield sub, st, fd, name
                if not stat.S_ISDIR(st.st_mode):
                    continue
                try:
                    child = os.open(name, _DIR, dir_fd=fd)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                cst = os.fstat(child)
                if (cst.st_dev, cst.st_ino) != (st.st_dev, st.st_ino):
                    os.close(child)            # replaced since its stat: not walked
                    continue
                if len(stack) >= _DEEP:
                    try:
                        full = f"{rel}/{sub}" if rel else sub
                        yield from self._walk(fstree.walk(child, sort=True), full, excludes,
                                              sub + "/")
                    finally:
                        os.close(child)
                    continue
                stack.append((child, sub + "/", sorted(os.listdir(child), reverse=True)))
        finally:
            for fd, _, _ in stack:
                if fd != top:
                    os.close(fd)

    def _walk(self, walk, rel, excludes, prefix=""):
        try:
            for entry in walk:
                sub = prefix + entry.path
                full = posixpath.join(rel, entry.path) if rel else entry.path
                skip = self.excluded(full) or (excludes is not None and excludes.excluded(sub))
                if skip:
                    if entry.is_dir() and not self.matcher.may_reinclude_below(full):
                        entry.skip = True
                    continue
                try:
                    est = entry.stat()
                except FileNotFoundError:
                    continue
                yield sub, est, entry.dir_fd, entry.name
        finally:
            walk.close()


def open_entry(dir_fd, name):
    """A read fd of a walked regular file (``name`` None: ``dir_fd`` is an
    O_PATH fd of the file itself, reopened)."""
    if name is None:
        return os.open(f"/proc/self/fd/{dir_fd}", os.O_RDONLY | os.O_CLOEXEC)
    return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                   dir_fd=dir_fd)
