"""Layer extraction that no archive can escape.

:func:`extract_layer` unpacks one image layer (a tar stream, plain or
compressed) into a new directory. The archive is treated as hostile:

* Paths. Every member name is cleaned lexically like Go's ``filepath.Clean``
  and then made relative, which is what docker does: a leading ``/`` is
  stripped and ``..`` at the root of an absolute name stays at the root
  (``/../etc/x`` becomes ``etc/x``). A relative name that still climbs above
  the root after cleaning (``../x``, ``a/../../x``) is refused, as docker
  refuses it ("breakout"). Names with a NUL byte are refused.
* Resolution. The parent directory of each member is reached by walking one
  component at a time with directory file descriptors opened
  ``O_PATH | O_NOFOLLOW | O_DIRECTORY``. A symbolic link met on the way is
  resolved as if the layer root were ``/``: absolute link text restarts at the
  root, ``..`` stops at the root, and at most 40 links are followed per
  lookup. Missing parents are created (mode 0755, owner 0:0) like docker
  does. The last component is never followed: entries are created with the
  ``*at`` calls and ``O_EXCL | O_NOFOLLOW``, so nothing is written outside
  the root whatever the links say.
* Entries. Regular files, directories, symbolic links (the link text is kept
  verbatim, absolute or not), hard links and FIFOs are created. A hard link
  must point at a regular file extracted earlier from the same archive. A
  path may appear once: a second entry for an existing path is refused,
  including a file that would replace a directory (a directory created
  implicitly as a parent may later get its own entry). Sparse files and
  unknown entry types are refused.
* Devices. Character and block devices are refused, except a character
  device 0:0, which is an overlayfs whiteout.
* Whiteouts. ``<dir>/.wh.<name>`` becomes a character device 0:0 named
  ``<name>`` and ``<dir>/.wh..wh..opq`` sets ``trusted.overlay.opaque=y`` on
  ``<dir>``. The path of a whiteout must not go through a symbolic link, and
  ``<name>`` must not be empty, ``.`` or ``..``. Old AUFS metadata (a
  ``.wh..wh.*`` entry at the root and what is under it) is skipped; other
  ``.wh..wh.*`` entries are refused.
* Ownership and modes. Owners, permission bits and mtimes are kept. The
  setuid, setgid and sticky bits are kept as well, because images need them
  (``su``, ``ping``, ``/tmp``); the store keeps layers in a root-only
  directory so that they cannot be reached by other users. Hard links keep
  the metadata of the file they point at.
* Extended attributes. ``SCHILY.xattr.*`` PAX records are applied to files,
  directories and FIFOs, except ``trusted.overlay.*`` (only whiteouts may set
  overlay attributes) and ``security.*`` (capabilities and LSM labels are not
  taken from images), which are dropped. Attributes of symbolic links are
  dropped.
* Limits. A :class:`~pycontainer.image.limits.Budget` caps the sum of the
  file contents (checked against each file's declared size before it is
  written) and keeps the filesystem's reserve free; ``max_entries`` caps the
  member count, extended headers are capped at 1 MiB, and the decompressed
  stream is capped, so a compression bomb stops early. After the end of the
  archive only 1 MiB more (tar writers' padding) may follow.

Any violation raises :class:`~pycontainer.errors.ImageError` naming the member
and the reason (:class:`~pycontainer.errors.ImageTooLarge` for a cap). A disk
error (ENOSPC, EIO...) raises :class:`~pycontainer.errors.StorageError` with
its errno instead: the image is not at fault. Extraction happens in a fresh
temporary directory next to the destination, renamed into place only on
success and removed on failure.
"""

import bz2
import errno
import gzip
import lzma
import os
import stat
import tarfile
import tempfile
import zlib
from collections import deque
from dataclasses import dataclass

from pycontainer import fstree
from pycontainer.errors import Conflict, ImageError, ImageTooLarge, PyContainerError
from pycontainer.image.limits import (DEFAULT_MAX_ENTRIES, DEFAULT_MAX_LAYER_SIZE, Budget,
                                      Limits, disk_op, storage_error)

MAX_HEADER_BYTES = 1 << 20
# What may follow the end of the archive: tar writers pad to their record
# size (10 KiB for GNU tar); more is a bomb's way to fill the blob.
MAX_TRAILER_BYTES = 1 << 20
MAX_SYMLINKS = 40
# Stream slack per member (header, extended header, padding).
_PER_ENTRY_OVERHEAD = 2048
# Disk an entry takes besides its content (inode, directory entry, a block).
_ENTRY_COST = 4096
_CHUNK = 1 << 20

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_PAX_PREFIX = "SCHILY.xattr."
_DROPPED_XATTRS = ("trusted.overlay.", "security.")

_DIR_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_RDIR = os.O_RDONLY | os.O_DIRECTORY


@dataclass(frozen=True)
class LayerStats:
    """What a layer held.

    Attributes:
        size: bytes of regular file content.
        files: number of entries extracted (whiteouts and links included,
            the root directory entry and skipped metadata excluded).
    """

    size: int
    files: int


class LayerStream:
    """The decompressed bytes of a layer: counted, capped, handed to ``sink``.

    ``cap`` is the (name, value) of the limit that ``limit`` derives from,
    for the error message.
    """

    def __init__(self, raw, limit, errors=(), sink=None, cap=None):
        self.raw = raw
        self.limit = limit
        self.count = 0
        self.errors = errors
        self.sink = sink
        self.cap = cap
        self.ended = False

    def read(self, n=-1):
        if n is None or n < 0 or n > _CHUNK:
            n = _CHUNK
        try:
            data = self.raw.read(n)
        except self.errors as e:
            err = storage_error(e, "read the layer")
            if err is not None:
                raise err from e
            if isinstance(e, PyContainerError):
                raise
            raise ImageError(f"layer stream is corrupt: {e}") from e
        self.count += len(data)
        if self.count > self.limit:
            raise self._over()
        if data and self.sink is not None:
            self.sink(data)
        return data

    def _over(self):
        if self.ended:
            return ImageError(f"layer has more than {MAX_TRAILER_BYTES} bytes after the end "
                              "of the tar archive")
        if self.cap is None:
            return ImageError(f"layer stream exceeds {self.limit} bytes once decompressed")
        name, value = self.cap
        return ImageTooLarge(f"layer stream exceeds {self.limit} bytes once decompressed "
                             f"({name}={value} bytes plus tar headers)", name, value)

    def end_of_archive(self):
        """The tar has ended: let only its padding follow."""
        if not self.ended:
            self.ended = True
            self.limit = min(self.limit, self.count + MAX_TRAILER_BYTES)

    def drain(self):
        """Read to the end (the digest covers what follows the archive too)."""
        while self.read(_CHUNK):
            pass


class _PrefixReader:
    """Gives back bytes already peeked from a non-seekable stream."""

    def __init__(self, prefix, raw):
        self.prefix = prefix
        self.raw = raw

    def read(self, n=-1):
        if not self.prefix:
            return self.raw.read(n)
        if n is None or n < 0:
            n = len(self.prefix)  # a short read is fine for a stream
        data, self.prefix = self.prefix[:n], self.prefix[n:]
        return data


def open_layer_stream(fileobj, limit, sink=None, cap=None):
    """Return a reader of the uncompressed tar bytes of a layer stream.

    Args:
        fileobj: a binary file object positioned at the start of the layer.
        limit: most decompressed bytes to allow before raising.
        sink: called with each decompressed chunk (to hash and copy it).
        cap: (name, value) of the limit ``limit`` comes from; passing
            ``limit`` then raises ImageTooLarge naming it.

    Returns:
        A :class:`LayerStream`.

    Raises:
        ImageError: unsupported compression, corrupt data, or over ``limit``.
    """
    head = b""
    while len(head) < 6:
        more = fileobj.read(6 - len(head))
        if not more:
            break
        head += more
    raw = _PrefixReader(head, fileobj)
    errors = (OSError, EOFError, zlib.error, lzma.LZMAError)
    if head.startswith(b"\x1f\x8b"):
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
    elif head.startswith(b"\x28\xb5\x2f\xfd"):
        try:
            import zstandard
        except ImportError:
            raise ImageError("layer is zstd-compressed but the 'zstandard' module "
                             "is not installed (pip install zstandard)") from None
        stream = zstandard.ZstdDecompressor().stream_reader(raw)
        errors += (zstandard.ZstdError,)
    elif head.startswith(b"BZh"):
        stream = bz2.BZ2File(raw, mode="rb")
    elif head.startswith(b"\xfd7zXZ\x00"):
        stream = lzma.LZMAFile(raw, mode="rb")
    else:
        stream = raw
    return LayerStream(stream, limit, errors, sink, cap)


def stream_limit(max_bytes, max_entries):
    """Most decompressed bytes a layer within the given caps can take."""
    return max_bytes + max_entries * _PER_ENTRY_OVERHEAD + MAX_HEADER_BYTES


def layer_stream(fileobj, limits, sink=None):
    """:func:`open_layer_stream` capped for one layer under ``limits``."""
    return open_layer_stream(fileobj, stream_limit(limits.max_layer_size,
                                                   limits.max_layer_entries),
                             sink, ("max_layer_size", limits.max_layer_size))


class _TarInfo(tarfile.TarInfo):
    """TarInfo that refuses corrupt headers and oversized extended headers."""

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        try:
            return super().frombuf(buf, encoding, errors)
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as e:
            # tarfile would silently stop here; a layer cut short is an error.
            raise ImageError(f"layer is not a valid tar archive: {e}") from None

    def _proc_member(self, tf):
        if (self.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK,
                          tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
                and self.size > MAX_HEADER_BYTES):
            raise ImageError(f"extended tar header of {self.size} bytes is larger than "
                             f"the {MAX_HEADER_BYTES} byte limit")
        try:
            return super()._proc_member(tf)
        except tarfile.HeaderError as e:
            raise ImageError(f"layer is not a valid tar archive: bad extended "
                             f"header: {e}") from None


def clean_name(name):
    """Clean a member name into path components relative to the layer root.

    Args:
        name: the member name or hard link target from the archive.

    Returns:
        A list of components; empty for the root itself.

    Raises:
        ValueError: the name climbs above the root or holds a NUL byte.
    """
    if "\x00" in name:
        raise ValueError("name contains a NUL byte")
    parts = name.strip("/").split("/")
    if "" not in parts and "." not in parts and ".." not in parts:
        return parts    # already clean (in C: a deep tree's names are long)
    absolute = name.startswith("/")
    parts = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts:
                parts.pop()
            elif not absolute:
                raise ValueError("path climbs above the layer root")
            continue
        parts.append(comp)
    return parts


def _joined(names, comp):
    # Only for messages: joining at every step of a deep walk costs O(depth) each.
    return "/".join(names + [comp])


class _Extractor:
    def __init__(self, root_fd, budget):
        self.root_fd = root_fd
        self.budget = budget
        self.max_entries = budget.limits.max_layer_entries
        self.size = 0
        self.entries = 0
        self.files = 0
        self.implicit = set()  # (dev, ino) of parents created on the way
        self.regular = set()  # (dev, ino) of regular files extracted
        self.dirs = []  # (components, mode, mtime), applied at the end
        self.root_meta = None
        self._last = None  # (parts, fd, resolved) of the last parent dir

    def parent(self, parts):
        """Open (creating) the parent dir of an entry; kept open for the next one.

        Reuse is safe: no entry removes or replaces a directory (a second
        entry for an existing path is refused), so a resolved dir stays put.
        Tars list entries directory by directory, so most lookups are hits.
        """
        key = tuple(parts)
        if self._last is None or self._last[0] != key:
            fd, resolved = self._below_last(key)
            if fd is None:
                fd, resolved = self.walk(parts, create=True, follow=True)
            self.close()
            self._last = (key, fd, resolved)
        return self._last[1], list(self._last[2])

    def _below_last(self, key):
        """The dir one level below the last parent, as a walk would resolve it
        (a plain subdirectory of a resolved dir): deep trees cost O(1) a level."""
        last = self._last
        if last is None or key[:-1] != last[0] or key[-1] in ("", ".", ".."):
            return None, None
        try:
            return os.open(key[-1], _DIR_FLAGS, dir_fd=last[1]), last[2] + [key[-1]]
        except OSError:
            return None, None   # missing or a link: the full walk decides

    def close(self):
        if self._last is not None:
            os.close(self._last[1])
            self._last = None

    # -- path resolution -------------------------------------------------

    def walk(self, parts, *, create, follow):
        """Open the directory named by ``parts`` inside the root.

        Returns an O_PATH fd and the resolved components (free of links).
        Raises ValueError with the reason when that is not possible.
        """
        fds = [self.root_fd]
        names = []
        pending = deque(parts)
        links = 0
        try:
            while pending:
                comp = pending.popleft()
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if len(fds) > 1:  # ".." stops at the layer root
                        os.close(fds.pop())
                        names.pop()
                    continue
                cur = fds[-1]
                try:
                    fd = os.open(comp, _DIR_FLAGS, dir_fd=cur)
                except FileNotFoundError:
                    if not create:
                        raise ValueError(f"{_joined(names, comp)!r} does not exist") from None
                    os.mkdir(comp, 0o755, dir_fd=cur)
                    fd = os.open(comp, _RDIR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
                    try:
                        os.chmod(fd, 0o755)  # whatever the umask
                        st = os.fstat(fd)
                    finally:
                        os.close(fd)
                    self.implicit.add((st.st_dev, st.st_ino))
                    fd = os.open(comp, _DIR_FLAGS, dir_fd=cur)
                except OSError as e:
                    if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    if not stat.S_ISLNK(os.lstat(comp, dir_fd=cur).st_mode):
                        raise ValueError(f"{_joined(names, comp)!r} is not a directory") from None
                    if not follow:
                        raise ValueError(f"path goes through the symbolic link {_joined(names, comp)!r}") from None
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise ValueError("too many levels of symbolic links") from None
                    target = os.readlink(comp, dir_fd=cur)
                    if target.startswith("/"):
                        # Absolute link text means the layer root.
                        while len(fds) > 1:
                            os.close(fds.pop())
                        names.clear()
                    pending.extendleft(reversed(target.split("/")))
                    continue
                fds.append(fd)
                names.append(comp)
            fd = fds.pop() if len(fds) > 1 else os.open(".", _DIR_FLAGS, dir_fd=self.root_fd)
            return fd, names
        finally:
            for fd in fds[1:]:
                os.close(fd)

    # -- members ---------------------------------------------------------

    def add(self, tf, member):
        self.entries += 1
        if self.entries > self.max_entries:
            raise ValueError(f"more than {self.max_entries} entries in the layer")
        if member.issparse():
            raise ValueError("sparse files are not supported")
        self.budget.reserve(_ENTRY_COST, f"layer entry {member.name!r}")
        parts = clean_name(member.name)
        if not parts:
            return self._root(member)
        if parts[0].startswith(WHITEOUT_META_PREFIX) and parts != [WHITEOUT_OPAQUE]:
            return  # old AUFS metadata (.wh..wh.plnk/...), meaningless for overlay
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            return self._whiteout(member, parts)
        # Before anything is written: a cap passed stops here.
        if member.isreg():
            self.budget.take(member.size, f"layer entry {member.name!r}")
        parent, resolved = self.parent(parts[:-1])
        if self._claim(parent, base, member, resolved):
            return
        if member.isreg():
            self._file(tf, member, parent, base)
        elif member.isdir():
            os.mkdir(base, 0o700, dir_fd=parent)
            _apply(parent, base, member, _RDIR, full=False)
            self.dirs.append((resolved + [base], member.mode, member.mtime))
        elif member.issym():
            self._symlink(member, parent, base)
        elif member.islnk():
            self._hardlink(member, parent, base)
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=parent)
            _apply(parent, base, member, os.O_RDONLY | os.O_NONBLOCK, full=True)
        elif member.ischr() or member.isblk():
            if not (member.ischr() and member.devmajor == 0 and member.devminor == 0):
                raise ValueError("device nodes are not allowed (only the 0:0 "
                                 "character device of a whiteout)")
            _mknod_whiteout(parent, base, member)
        else:
            raise ValueError(f"unsupported tar entry type {member.type!r}")
        self.files += 1

    def _root(self, member):
        if not member.isdir():
            raise ValueError("the layer root must be a directory")
        if self.root_meta is not None:
            raise ValueError("duplicate entry for the layer root")
        _apply(self.root_fd, ".", member, _RDIR, full=False)
        self.root_meta = member

    def _claim(self, parent, base, member, resolved):
        """Refuse an existing path; True when an implicit parent got its entry."""
        try:
            st = os.lstat(base, dir_fd=parent)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if member.isdir() and key in self.implicit:
                self.implicit.discard(key)
                _apply(parent, base, member, _RDIR, full=False)
                self.dirs.append((resolved + [base], member.mode, member.mtime))
                self.files += 1
                return True
            if not member.isdir():
                raise ValueError("would replace a directory")
        raise ValueError("duplicate entry: the path already exists in this layer")

    def _file(self, tf, member, parent, base):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(base, flags, 0o600, dir_fd=parent)
        try:
            src = tf.extractfile(member)
            left = member.size
            while left > 0:
                chunk = src.read(min(left, _CHUNK))
                if not chunk:
                    raise ValueError("unexpected end of data")
                self.budget.reserve(len(chunk), f"layer entry {member.name!r}")
                _write_all(fd, chunk)
                left -= len(chunk)
            self.size += member.size
            _meta(fd, member)
            st = os.fstat(fd)
            self.regular.add((st.st_dev, st.st_ino))
        finally:
            os.close(fd)

    def _symlink(self, member, parent, base):
        target = member.linkname
        if not target:
            raise ValueError("empty symbolic link target")
        if "\x00" in target:
            raise ValueError("symbolic link target contains a NUL byte")
        os.symlink(target, base, dir_fd=parent)
        _check_ids(member)
        os.chown(base, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        ns = _ns(member.mtime)
        os.utime(base, ns=(ns, ns), dir_fd=parent, follow_symlinks=False)

    def _hardlink(self, member, parent, base):
        tparts = clean_name(member.linkname)
        if not tparts:
            raise ValueError("hard link to the layer root")
        try:
            tparent, _ = self.walk(tparts[:-1], create=False, follow=True)
        except ValueError as e:
            raise ValueError(f"hard link target {member.linkname!r}: {e}") from None
        try:
            try:
                st = os.lstat(tparts[-1], dir_fd=tparent)
            except FileNotFoundError:
                raise ValueError(f"hard link target {member.linkname!r} was not "
                                 "extracted before") from None
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) not in self.regular:
                raise ValueError(f"hard link target {member.linkname!r} is not a regular "
                                 "file of this layer")
            os.link(tparts[-1], base, src_dir_fd=tparent, dst_dir_fd=parent,
                    follow_symlinks=False)
        finally:
            os.close(tparent)

    def _whiteout(self, member, parts):
        base = parts[-1]
        if base.startswith(WHITEOUT_META_PREFIX) and base != WHITEOUT_OPAQUE:
            raise ValueError("unsupported whiteout metadata entry")
        name = base[len(WHITEOUT_PREFIX):]
        if base != WHITEOUT_OPAQUE and (name in ("", ".", "..") or "/" in name):
            raise ValueError(f"bad whiteout name {name!r}")
        # Whiteouts never go through a link: they would hide or mark a
        # directory other than the one the layer names.
        fd, resolved = self.parent(parts[:-1])
        if resolved == parts[:-1]:      # reached without a link (cached: deep trees)
            parent = os.dup(fd)
        else:
            parent, _ = self.walk(parts[:-1], create=True, follow=False)
        try:
            if base == WHITEOUT_OPAQUE:
                fd = os.open(".", _RDIR | os.O_CLOEXEC, dir_fd=parent)
                try:
                    os.setxattr(fd, OPAQUE_XATTR, b"y")
                finally:
                    os.close(fd)
            else:
                try:
                    os.lstat(name, dir_fd=parent)
                except FileNotFoundError:
                    pass
                else:
                    raise ValueError(f"whiteout of {name!r} conflicts with an entry "
                                     "of this layer")
                _mknod_whiteout(parent, name, member)
            self.files += 1
        finally:
            os.close(parent)

    def finish(self):
        """Apply directory modes and mtimes once nothing more is written."""
        with fstree.DirStack(os.dup(self.root_fd)) as at:  # no walk from the root each time
            for parts, mode, mtime in reversed(self.dirs):
                at.goto(parts[:-1])
                fd = os.open(parts[-1], _RDIR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=at.fd)
                try:
                    os.chmod(fd, mode & 0o7777)
                    _utime_fd(fd, mtime)
                finally:
                    os.close(fd)
        fd = os.open(".", _RDIR | os.O_CLOEXEC, dir_fd=self.root_fd)
        try:
            if self.root_meta is not None:
                os.chmod(fd, self.root_meta.mode & 0o7777)
                _utime_fd(fd, self.root_meta.mtime)
            else:
                os.chmod(fd, 0o755)
        finally:
            os.close(fd)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _check_ids(member):
    if not (0 <= member.uid < 2**32 - 1 and 0 <= member.gid < 2**32 - 1):
        raise ValueError(f"bad owner {member.uid}:{member.gid}")


def _ns(mtime):
    try:
        ns = int(mtime * 1_000_000_000)
    except (OverflowError, ValueError, TypeError):
        raise ValueError(f"bad mtime {mtime!r}") from None
    if not -(2**63) <= ns < 2**63:
        raise ValueError(f"bad mtime {mtime!r}")
    return ns


def _utime_fd(fd, mtime):
    os.utime(fd, ns=(_ns(mtime),) * 2)


def _owner(fd, member):
    _check_ids(member)
    os.chown(fd, member.uid, member.gid)
    _set_xattrs(fd, member)


def _meta(fd, member):
    # chown first: it clears setuid/setgid, which chmod then restores.
    _owner(fd, member)
    os.chmod(fd, member.mode & 0o7777)
    _utime_fd(fd, member.mtime)


def _apply(parent, name, member, flags, full):
    """Set owner and xattrs (and mode and mtime when ``full``) of a new entry."""
    fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    try:
        (_meta if full else _owner)(fd, member)
    finally:
        os.close(fd)


def _mknod_whiteout(parent, name, member):
    _check_ids(member)
    os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
    os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)


def _set_xattrs(fd, member):
    for key, value in member.pax_headers.items():
        if not key.startswith(_XATTR_PAX_PREFIX):
            continue
        attr = key[len(_XATTR_PAX_PREFIX):]
        if not attr or attr.startswith(_DROPPED_XATTRS):
            continue
        try:
            os.setxattr(fd, attr, value.encode("utf-8", "surrogateescape"))
        except OSError as e:
            raise ValueError(f"cannot set extended attribute {attr!r}: {e.strerror}") from None


def extract_layer(fileobj, dest_dir, *, max_layer_size=DEFAULT_MAX_LAYER_SIZE,
                  max_entries=DEFAULT_MAX_ENTRIES, budget=None):
    """Extract a layer tar into a new directory, refusing anything unsafe.

    Args:
        fileobj: binary file object of the layer: a tar, plain or compressed
            with gzip (zstd when the ``zstandard`` module is installed; bzip2
            and xz are accepted too), or a :class:`LayerStream`.
        dest_dir: directory to create; it must not exist, or be empty. Its
            parent must exist.
        max_layer_size: cap on the sum of all file contents.
        max_entries: cap on the number of tar members.
        budget: a :class:`~pycontainer.image.limits.Budget` shared by the
            layers of one image (the store's); it replaces the two caps above.

    Returns:
        A :class:`LayerStats`.

    Raises:
        ImageError: the layer is malformed, hostile or over a limit
            (ImageTooLarge); the message names the member and the reason.
            Nothing is left behind.
        StorageError: a disk error (its errno kept), or the filesystem's
            reserve would be used.
        Conflict: ``dest_dir`` exists and is not empty.
    """
    if budget is None:
        budget = Budget(Limits(max_layer_size=max_layer_size, max_image_size=max_layer_size,
                               max_layer_entries=max_entries))
    dest_dir = os.path.abspath(os.fspath(dest_dir))
    parent, leaf = os.path.split(dest_dir)
    if os.path.lexists(dest_dir) and not (os.path.isdir(dest_dir)
                                          and not os.path.islink(dest_dir)
                                          and not os.listdir(dest_dir)):
        raise Conflict(f"cannot extract layer: {dest_dir} already exists")
    tmp = disk_op(tempfile.mkdtemp, "extract the layer", prefix=f".{leaf}.tmp-", dir=parent)
    try:
        stats = _extract_into(fileobj, tmp, budget)
        try:
            os.rename(tmp, dest_dir)
        except OSError as e:
            raise Conflict(f"cannot extract layer: {dest_dir} already exists") from e
        return stats
    except BaseException:
        fstree.remove(tmp)
        raise


def _extract_into(fileobj, tmp, budget):
    stream = fileobj if isinstance(fileobj, LayerStream) else layer_stream(fileobj, budget.limits)
    root_fd = os.open(tmp, _DIR_FLAGS)
    name = None
    ex = _Extractor(root_fd, budget)
    try:
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=_TarInfo) as tf:
            while True:
                name = None
                member = tf.next()
                if member is None:
                    break
                name = member.name
                ex.add(tf, member)
            stream.end_of_archive()
            ex.finish()
        return LayerStats(ex.size, ex.files)
    except (ValueError, OSError, tarfile.TarError) as e:
        if isinstance(e, PyContainerError):
            raise                   # StorageError from the stream or the budget
        where = f"layer entry {name!r}" if name is not None else "layer"
        err = storage_error(e, where)
        if err is not None:
            raise err from e
        if isinstance(e, tarfile.TarError):
            why = f"not a valid tar archive: {e}"
        elif isinstance(e, OSError):
            why = f"{e.strerror or e}"
        else:
            why = str(e)
        raise ImageError(f"{where}: {why}") from None
    finally:
        ex.close()
        os.close(root_fd)
