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

The per-entry work is C (``csrc/untar.c``): it parses the ustar, GNU and PAX
headers of the chunks this module reads from the stream and makes each entry
with the ``*at`` calls, keeping the last parent directory open for the next
entry; it releases the GIL and keeps its state in one struct per layer, so
layers may be extracted in parallel threads. The caps, the messages and the
final directory modes stay here.

Any violation raises :class:`~pycontainer.errors.ImageError` naming the member
and the reason (:class:`~pycontainer.errors.ImageTooLarge` for a cap). A disk
error (ENOSPC, EIO...) raises :class:`~pycontainer.errors.StorageError` with
its errno instead: the image is not at fault. Extraction happens in a fresh
temporary directory next to the destination, renamed into place only on
success and removed on failure.
"""

import bz2
import gzip
import lzma
import os
import struct
import tarfile
import tempfile
import zlib
from dataclasses import dataclass

from pycontainer import fstree
from pycontainer._core import check, ffi, lib
from pycontainer.errors import Conflict, ImageError, ImageTooLarge, PyContainerError
from pycontainer.image.limits import (DEFAULT_MAX_ENTRIES, DEFAULT_MAX_LAYER_SIZE, Budget,
                                      Limits, disk_op, storage_error)

MAX_HEADER_BYTES = 1 << 20
# What may follow the end of the archive: tar writers pad to their record
# size (10 KiB for GNU tar); more is a bomb's way to fill the blob.
MAX_TRAILER_BYTES = 1 << 20
MAX_SYMLINKS = 40   # followed per lookup (csrc/untar.h: MAX_LINKS)
# Stream slack per member (header, extended header, padding).
_PER_ENTRY_OVERHEAD = 2048
# Disk an entry takes besides its content (inode, directory entry, a block).
_ENTRY_COST = 4096
_CHUNK = 1 << 20

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"

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

    def readinto(self, b):
        if not self.prefix and hasattr(self.raw, "readinto"):
            return self.raw.readinto(b)
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


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
        stream, more = _gunzip(raw)
        errors += more
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


def _gunzip(raw):
    """A gzip reader: ISA-L's (about 3x zlib's speed) when installed."""
    try:
        from isal import igzip, isal_zlib
    except ImportError:
        return gzip.GzipFile(fileobj=raw, mode="rb"), ()
    return igzip.GzipFile(fileobj=raw, mode="rb"), (isal_zlib.error,)


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


_DIR_RECORD = struct.Struct("=IIqII")   # csrc/pyc.h: struct pyc_untar's dirs
_UNBOUNDED = 1 << 60    # twice it still fits the C side's int64


def _reasons():
    """What each PYC_UT_E_* of csrc/untar.c says: text, or f(detail, untar)."""
    return {
        lib.PYC_UT_E_CHECKSUM: "not a valid tar archive: bad checksum",
        lib.PYC_UT_E_HEADER: "not a valid tar archive: invalid header",
        lib.PYC_UT_E_TRUNCATED: "not a valid tar archive: unexpected end of data",
        lib.PYC_UT_E_EMPTY: "not a valid tar archive: empty file",
        lib.PYC_UT_E_EXTSIZE: lambda d, u: (f"extended tar header of {u.ut.want} bytes is "
                                            f"larger than the {MAX_HEADER_BYTES} byte limit"),
        lib.PYC_UT_E_EXTBAD: "not a valid tar archive: bad extended header",
        lib.PYC_UT_E_ENTRIES: lambda d, u: f"more than {u.ut.max_entries} entries in the layer",
        lib.PYC_UT_E_SPARSE: "sparse files are not supported",
        lib.PYC_UT_E_CLIMB: "path climbs above the layer root",
        lib.PYC_UT_E_NUL: "name contains a NUL byte",
        lib.PYC_UT_E_ROOT_TYPE: "the layer root must be a directory",
        lib.PYC_UT_E_ROOT_DUP: "duplicate entry for the layer root",
        lib.PYC_UT_E_NOTDIR: lambda d, u: f"{d!r} is not a directory",
        lib.PYC_UT_E_THROUGH_LINK: lambda d, u: f"path goes through the symbolic link {d!r}",
        lib.PYC_UT_E_LOOP: "too many levels of symbolic links",
        lib.PYC_UT_E_MISSING: lambda d, u: f"{d!r} does not exist",
        lib.PYC_UT_E_REPLACE_DIR: "would replace a directory",
        lib.PYC_UT_E_DUP: "duplicate entry: the path already exists in this layer",
        lib.PYC_UT_E_EMPTY_LINK: "empty symbolic link target",
        lib.PYC_UT_E_LINK_NUL: "symbolic link target contains a NUL byte",
        lib.PYC_UT_E_HL_ROOT: "hard link to the layer root",
        lib.PYC_UT_E_HL_MISSING: lambda d, u: (f"hard link target {u.link()!r} was not "
                                               "extracted before"),
        lib.PYC_UT_E_HL_NOTREG: lambda d, u: (f"hard link target {u.link()!r} is not a "
                                              "regular file of this layer"),
        lib.PYC_UT_E_WH_META: "unsupported whiteout metadata entry",
        lib.PYC_UT_E_WH_NAME: lambda d, u: f"bad whiteout name {d!r}",
        lib.PYC_UT_E_WH_CONFLICT: lambda d, u: (f"whiteout of {d!r} conflicts with an entry "
                                                "of this layer"),
        lib.PYC_UT_E_DEVICE: ("device nodes are not allowed (only the 0:0 character device "
                              "of a whiteout)"),
        lib.PYC_UT_E_TYPE: lambda d, u: f"unsupported tar entry type {os.fsencode(d)!r}",
        lib.PYC_UT_E_XATTR: lambda d, u: (f"cannot set extended attribute {d!r}: "
                                          f"{os.strerror(u.ut.err)}"),
        lib.PYC_UT_E_OWNER: "bad owner (uid or gid out of range)",
        lib.PYC_UT_E_MTIME: "bad mtime (out of range)",
    }


class _Untar:
    """One layer's extraction by the C loop (csrc/untar.c), under ``budget``.

    The C counts what it takes against an allowance and stops before an
    entry that would pass it; the caps and their messages stay here.
    """

    _why = None

    def __init__(self, root_fd, budget):
        self.budget = budget
        self.ut = ffi.new("struct pyc_untar *")
        self.ut.root_fd = root_fd
        self.ut.max_entries = budget.limits.max_layer_entries
        self.ut.entry_cost = _ENTRY_COST
        check(lib.pyc_untar_init(self.ut), "extract the layer")
        self.used = ffi.new("uint64_t *")
        if _Untar._why is None:
            _Untar._why = _reasons()

    def close(self):
        lib.pyc_untar_free(self.ut)

    def feed(self, data):
        """Extract what ``data`` holds; True once the archive has ended."""
        buf, off, n = ffi.from_buffer(data), 0, len(data)
        while True:
            content, disk = self.budget.allowance()
            self.ut.allow_content = min(content, _UNBOUNDED)
            self.ut.allow_disk = _UNBOUNDED if disk is None else min(disk, _UNBOUNDED)
            rc = lib.pyc_untar_feed(self.ut, buf + off, n - off, self.used)
            off += self.used[0]
            self._sync()
            if rc == lib.PYC_UT_MORE:
                return False
            if rc == lib.PYC_UT_END:
                return True
            if rc != lib.PYC_UT_BUDGET:
                raise self.error(rc)
            what = f"layer entry {self.name()!r}"
            want = self.ut.want
            self.budget.reserve(_ENTRY_COST, what)
            self.budget.take(want, what)     # a cap passed stops here
            self.budget.reserve(want, what)
            self.ut.granted = 1

    def eof(self):
        rc = lib.pyc_untar_eof(self.ut)
        if rc != lib.PYC_UT_END:
            raise self.error(rc)

    def _sync(self):
        """Count what the C took since the last call (within its allowance)."""
        ut = self.ut
        if ut.used_content or ut.used_disk:
            self.budget.take(ut.used_content, "the layer")
            self.budget.reserve(ut.used_disk, "the layer")
            ut.used_content = ut.used_disk = 0

    def name(self):
        ut = self.ut
        return None if ut.name == ffi.NULL else os.fsdecode(ffi.unpack(ut.name, ut.name_len))

    def link(self):
        return os.fsdecode(ffi.unpack(self.ut.link, self.ut.link_len))

    def error(self, rc):
        name = self.name()
        where = f"layer entry {name!r}" if name is not None else "layer"
        if rc < 0:
            err = OSError(-rc, os.strerror(-rc))
            return storage_error(err, where) or ImageError(f"{where}: {err.strerror}")
        why = self.ut.why
        prefix = ""
        if why & lib.PYC_UT_E_HL_TARGET:
            why &= ~lib.PYC_UT_E_HL_TARGET
            prefix = f"hard link target {self.link()!r}: "
        text = self._why.get(why, f"error {why}")
        if callable(text):
            ut = self.ut
            detail = b"" if ut.detail == ffi.NULL else ffi.unpack(ut.detail, ut.detail_len)
            text = text(os.fsdecode(detail), self)
        return ImageError(f"{where}: {prefix}{text}")

    def finish(self, root_fd):
        """Apply directory modes and mtimes once nothing more is written."""
        ut = self.ut
        recs = ffi.unpack(ut.dirs, ut.dirs_len) if ut.dirs_len else b""
        dirs, root, off = [], None, 0
        while off < len(recs):
            n, mode, sec, nsec, _ = _DIR_RECORD.unpack_from(recs, off)
            off += _DIR_RECORD.size
            meta = (mode, sec * 1_000_000_000 + nsec)
            if n:
                dirs.append((recs[off:off + n].split(b"/"), meta))
            else:
                root = meta
            off += n
        with fstree.DirStack(os.dup(root_fd)) as at:  # no walk from the root each time
            for parts, meta in reversed(dirs):
                at.goto(parts[:-1])
                _set_dir(os.open(parts[-1], _RDIR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=at.fd),
                         meta)
        _set_dir(os.open(".", _RDIR | os.O_CLOEXEC, dir_fd=root_fd), root or (0o755, None))
        return LayerStats(ut.size, ut.files)


def _set_dir(fd, meta):
    mode, ns = meta
    try:
        os.chmod(fd, mode)
        if ns is not None:
            os.utime(fd, ns=(ns, ns))
    finally:
        os.close(fd)


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
    untar = None
    try:
        untar = _Untar(root_fd, budget)
        while True:
            data = stream.read(_CHUNK)
            if not data:
                untar.eof()
                break
            if untar.feed(data):
                break
        stream.end_of_archive()
        return untar.finish(root_fd)
    except OSError as e:
        if isinstance(e, PyContainerError):
            raise                   # StorageError from the stream or the budget
        err = storage_error(e, "layer")
        if err is not None:
            raise err from e
        raise ImageError(f"layer: {e.strerror or e}") from None
    finally:
        if untar is not None:
            untar.close()
        os.close(root_fd)
