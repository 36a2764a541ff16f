"""Directory trees walked, sized and removed without recursion or long paths.

The trees under a store are written by containers and images, so they are
hostile: a chain of directories thousands of levels deep, paths far past
PATH_MAX, symbolic links anywhere, and (while a container runs) entries that
change under the walk. Everything here therefore:

* never recurses: Python stops at ~1,000 frames, and Python 3.11's
  ``shutil.rmtree``, ``os.walk`` and ``tarfile.add`` recurse once per level;
* reaches every entry by its name relative to its directory's fd (``*at``
  calls), so no syscall is ever given more than one path component;
* opens directories ``O_DIRECTORY | O_NOFOLLOW`` and never follows a link;
* holds at most :data:`MAX_OPEN` directory fds whatever the depth: ancestors
  above that are closed on the way down and reopened through ``..`` on the
  way up, checked to be the same directory (st_dev, st_ino) as before. A
  directory moved meanwhile raises :class:`TreeChanged` instead of sending the
  walk somewhere else.

:func:`walk` yields the entries of a tree parents first, :func:`size` adds up
its files and :func:`remove` deletes it (``rm -rf``, best effort).
"""
import errno
import os
import stat

from .errors import PyContainerError

MAX_OPEN = 32
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# What opening a directory by name raises when it went or is no directory (now).
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
_ATTEMPTS = 8


class TreeChanged(PyContainerError, OSError):
    """A directory of the walk was moved while it was walked."""

    def __init__(self, name):
        super().__init__(errno.ESTALE, "directory moved during the walk", name)


class DirStack:
    """The directories from a top one down to the current one, as fds.

    Takes ownership of ``fd`` (the top directory). :attr:`fd` is always open;
    at most ``max_open`` of the others are.
    """

    def __init__(self, fd, max_open=MAX_OPEN):
        self._max = max(1, max_open)
        self._fds = [fd]
        self._names = [None]
        self._ids = [None]
        self._low = 1     # frames [1, _low) are closed, [_low, len) open

    @property
    def fd(self):
        return self._fds[-1]

    @property
    def depth(self):
        return len(self._fds) - 1

    def push(self, name):
        """Enter the subdirectory ``name``; raises OSError if it is not one."""
        return self.enter(os.open(name, _DIR, dir_fd=self._fds[-1]), name)

    def enter(self, fd, name):
        """Enter the subdirectory ``name`` that the caller opened as ``fd``
        (taken over: closed here, even when this raises)."""
        self._fds.append(fd)
        self._names.append(name)
        self._ids.append(None)
        if len(self._fds) - self._low > self._max:
            i = self._low
            try:
                st = os.fstat(self._fds[i])
                self._ids[i] = (st.st_dev, st.st_ino)
            finally:
                os.close(self._fds[i])
                self._fds[i] = -1
                self._low += 1
        return fd

    def pop(self):
        """Leave the current directory; returns its name in its parent."""
        if self.depth == 0:
            raise ValueError("at the top of the tree")
        child, name = self._fds[-1], self._names[-1]
        try:
            if self._low == len(self._fds) - 1 and self._low > 1:
                self._reopen_parent(child)
        finally:
            self._fds.pop()
            self._names.pop()
            self._ids.pop()
            os.close(child)
        return name

    def _reopen_parent(self, child):
        i = self._low - 1
        fd = os.open("..", _DIR, dir_fd=child)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != self._ids[i]:
            os.close(fd)
            raise TreeChanged(self._names[i])
        self._fds[i] = fd
        self._low = i

    def goto(self, names):
        """Move to the directory ``names`` (components below the top): up to
        what it shares with where the stack is, then down. Cheap for the next
        directory of a deep walk, whichever way it goes."""
        names = list(names)
        here = self._names[1:]
        keep = min(len(here), len(names))
        if here[:keep] != names[:keep]:     # compared in C first: the usual case
            keep = 0
            while here[keep] == names[keep]:
                keep += 1
        while self.depth > keep:
            self.pop()
        for name in names[keep:]:
            self.push(name)

    def reset(self):
        """Back to the top directory."""
        while self.depth:
            fd = self._fds.pop()
            if fd >= 0:
                os.close(fd)
            self._names.pop()
            self._ids.pop()
        self._low = 1

    def close(self):
        self.reset()
        if self._fds[0] >= 0:
            os.close(self._fds[0])
            self._fds[0] = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _listing(fd, sort):
    """``[(name, is_dir hint)]`` of a directory, in reverse order (for pop())."""
    with os.scandir(fd) as it:
        # d_type now, while ``fd`` is the fd the entries remember.
        out = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    if sort:
        out.sort(reverse=True)
    return out


class Entry:
    """One entry met by :func:`walk`, valid until the walk moves on.

    ``dir_fd`` is the fd of its directory, ``name`` its name there, ``path``
    its path below the top (``a/b/c``; for messages and archives, never for a
    syscall), ``depth`` the number of directories between it and the top.
    Set ``skip = True`` to keep the walk out of a directory.
    """

    __slots__ = ("dir_fd", "name", "depth", "skip", "_hint", "_st", "_fd", "_dirs", "_path")

    def __init__(self, dir_fd, name, dirs, hint):
        self.dir_fd, self.name, self.depth = dir_fd, name, len(dirs) - 1
        self.skip, self._hint, self._st, self._fd = False, hint, None, None
        self._dirs, self._path = dirs, None

    @property
    def path(self):
        # Built on demand: a deep walk keeps one path (its names), not one per level.
        if self._path is None:
            self._path = "/".join(self._dirs[1:] + [self.name])
        return self._path

    def stat(self):
        """Its lstat (cached); FileNotFoundError if it went meanwhile."""
        if self._st is None:
            self._st = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        return self._st

    def is_dir(self):
        """From :meth:`stat` once taken, else from the directory listing."""
        if self._st is not None:
            return stat.S_ISDIR(self._st.st_mode)
        return self._hint

    def open_dir(self):
        """An fd of this directory (the walk's own: do not close it), checked
        to be what :meth:`stat` saw; OSError if it is no directory now."""
        if self._fd is None:
            fd = os.open(self.name, _DIR, dir_fd=self.dir_fd)
            if self._st is not None:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != (self._st.st_dev, self._st.st_ino):
                    os.close(fd)
                    raise NotADirectoryError(errno.ENOTDIR, "replaced during the walk",
                                             self.path)
            self._fd = fd
        return self._fd


def walk(top, dir_fd=None, sort=False):
    """Yield an :class:`Entry` for everything below the directory ``top``,
    each directory before what it holds.

    Args:
        top: a directory path (opened without following a final link), or
            an fd of one (duplicated: the caller keeps its own).
        dir_fd: the directory a relative ``top`` path is relative to.
        sort: visit the entries of each directory by name.

    Entries that go away meanwhile are passed over; other errors raise.
    Close the generator (``contextlib.closing``) to release its fds early.

    >>> [e.path for e in walk("/srv/app", sort=True)]
    ['bin', 'bin/tool', 'etc']
    """
    fd = os.dup(top) if isinstance(top, int) else os.open(top, _DIR, dir_fd=dir_fd)
    e = None
    with DirStack(fd) as ds:
        try:
            frames = [_listing(fd, sort)]
            while frames:
                names = frames[-1]
                if not names:
                    frames.pop()
                    if frames:
                        ds.pop()
                    continue
                name, hint = names.pop()
                e = Entry(ds.fd, name, ds._names, hint)
                yield e
                if _descend(ds, e):
                    frames.append(_listing(ds.fd, sort))
        finally:
            if e is not None and e._fd is not None:
                os.close(e._fd)


def _descend(ds, e):
    """Enter ``e`` if it is a directory to walk; False if not (or no more)."""
    try:
        if e.skip or not e.is_dir():
            return False
        fd = e.open_dir()
    except OSError as err:
        if err.errno in _GONE:
            return False
        raise
    finally:
        if e.skip and e._fd is not None:
            os.close(e._fd)
            e._fd = None
    e._fd = None
    ds.enter(fd, e.name)
    return True


def size(path):
    """Bytes of the regular files at or below ``path``, each inode once;
    links are never followed, and what cannot be read counts as nothing."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size if stat.S_ISREG(st.st_mode) else 0
    total, seen = 0, set()
    try:
        for e in walk(path):
            try:
                st = e.stat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    except OSError:
        pass
    return total


def remove(path, dir_fd=None):
    """Delete ``path`` and all below it, like ``rm -rf``: never following a
    link, never failing (what cannot be deleted stays). Returns True when
    ``path`` is gone."""
    try:
        fd = os.open(path, _DIR, dir_fd=dir_fd)
    except FileNotFoundError:
        return True
    except OSError as err:
        if err.errno not in (errno.ENOTDIR, errno.ELOOP):
            return False
        return _unlink(path, dir_fd)
    with DirStack(fd) as ds:
        for _ in range(_ATTEMPTS):
            try:
                _empty(ds)
                break
            except TreeChanged:
                ds.reset()      # moved inside the tree: start again from the top
            except OSError:
                break
    try:
        os.rmdir(path, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _unlink(name, dir_fd):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _empty(ds):
    """Delete what the top directory of ``ds`` holds."""
    frames = [_listing(ds.fd, False)]
    while frames:
        names = frames[-1]
        if not names:
            frames.pop()
            if frames:
                name = ds.pop()
                try:
                    os.rmdir(name, dir_fd=ds.fd)
                except OSError:
                    pass
            continue
        name, is_dir = names.pop()
        if not is_dir:
            try:
                os.unlink(name, dir_fd=ds.fd)
                continue
            except FileNotFoundError:
                continue
            except IsADirectoryError:
                pass            # d_type unknown, or replaced by a directory
            except OSError:
                continue
        try:
            os.rmdir(name, dir_fd=ds.fd)    # empty (upper/, rootfs/): no open
            continue
        except FileNotFoundError:
            continue
        except NotADirectoryError:
            _unlink(name, ds.fd)
            continue
        except OSError:
            pass
        try:
            ds.push(name)
        except OSError as err:
            if err.errno in (errno.ENOTDIR, errno.ELOOP):
                _unlink(name, ds.fd)
            continue
        frames.append(_listing(ds.fd, False))
