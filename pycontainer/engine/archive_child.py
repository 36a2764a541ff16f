"""The helper process of runtime/archive.py: it runs forked, inside the
container's view of its files, confined as described there, and always ends
with ``os._exit``."""
import bz2  # noqa: F401  (tarfile's "r|*" needs them: import before the lockdown)
import codecs
import contextlib
import errno
import gc
import gzip  # noqa: F401
import importlib.machinery
import json
import lzma  # noqa: F401
import os
import posixpath
import stat
import sys
import tarfile
import zlib  # noqa: F401

from .. import _core, fstree

from .._core import CLONE_NEWNS, ffi, lib
from ..image.extract import clean_name

CHUNK_SIZE = 2 * 1024 * 1024      # docker-py's DEFAULT_DATA_CHUNK_SIZE

MS_RDONLY, MS_NOSUID, MS_NODEV = 0x1, 0x2, 0x4
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 1 << 18

# Filesystems of the container that are never read or written through it.
KERNEL_FS = frozenset({
    "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "devtmpfs", "debugfs",
    "tracefs", "securityfs", "bpf", "configfs", "fusectl", "pstore", "efivarfs",
    "binfmt_misc", "hugetlbfs", "autofs", "nsfs", "rpc_pipefs", "selinuxfs"})

_DIRPATH = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_RDIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_RESOLVE = _core.RESOLVE_IN_ROOT | _core.RESOLVE_NO_MAGICLINKS
_IO = 1 << 20
_MAX_HEADER = 1 << 20
_DROPPED_XATTRS = ("trusted.overlay.", "security.")
_OPAQUE = "trusted.overlay.opaque"
_CAPS = "security.capability"
_XATTR_PAX = "SCHILY.xattr."

def _write_all(fd, data):
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


# -- the helper process -----------------------------------------------------------

class _Refused(Exception):
    """The archive asks for something that is not done (reported as InvalidArgument)."""


class _Ctx:
    def __init__(self, status_fd):
        self.status = status_fd
        self.root = self.procfd = -1
        self.devs = frozenset()
        self.path = None

    def send(self, **msg):
        _write_all(self.status, json.dumps(msg).encode() + b"\n")

    def kernel_check(self, st, path=None):
        if st.st_dev in self.devs:
            raise PermissionError(errno.EPERM, "the container's kernel filesystems "
                                  "(/proc, /sys, /dev) are not copied", path or self.path)

    def resolve(self, path, flags=_DIRPATH):
        """An fd for ``path`` resolved inside the container's root."""
        rel = path.strip("/") or "."
        return _core.openat2(self.root, rel, flags, _RESOLVE)

    def reopen(self, pathfd, flags):
        """Open an O_PATH fd (already checked) for real, via the host's /proc."""
        return os.open(str(pathfd), flags | os.O_CLOEXEC | os.O_NOCTTY, dir_fd=self.procfd)

    def open_regular(self, parent, name, flags, expect=None):
        """Open ``name`` only if it is a regular file (never a device or FIFO)."""
        pfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            st = os.fstat(pfd)
            if not stat.S_ISREG(st.st_mode) or (
                    expect is not None and (st.st_dev, st.st_ino) != expect):
                return None, st
            return self.reopen(pfd, flags), st
        finally:
            os.close(pfd)


for _enc in ("utf-8", "ascii", "latin-1", "iso8859-1"):    # looked up now, not in the container
    codecs.lookup(_enc)

JOBS = {}          # job name -> function, filled below; the parent names the job


def main(argv):
    """The helper process: ``python -I -S boot ROOT BACKEND SPEC`` (see
    archive.py). SPEC is JSON: the job, its arguments and the view; the
    data, status and pidfd descriptors arrive as fds 3, 4 and 5."""
    spec = json.loads(argv[0])
    v = spec["view"]
    view = _View(v["kind"], DATA_FD + 2 if v["pidfd"] else -1, v["mountdir"], v["options"],
                 v["flags"], v["chdir"], frozenset(v["kernel_devs"]),  # st_dev numbers
                 v.get("binds") or [])
    _child(view, JOBS[spec["job"]], spec["args"], DATA_FD, DATA_FD + 1)


DATA_FD = 3


class _View:
    """What the parent's view says, as the helper needs it."""

    def __init__(self, kind, pidfd, mountdir, options, flags, chdir, kernel_devs, binds):
        self.kind, self.pidfd, self.mountdir = kind, pidfd, mountdir
        self.options, self.flags, self.chdir, self.kernel_devs = options, flags, chdir, kernel_devs
        self.binds = binds


def _child(view, job, args, data_fd, status_fd):
    code = 1
    ctx = _Ctx(status_fd)
    try:
        gc.disable()            # no finalizer of the parent's objects runs here
        _lockdown_imports()
        _close_fds({data_fd, status_fd, view.pidfd})
        os.umask(0)
        ctx.procfd = os.open("/proc/self/fd", _DIRPATH)
        ctx.root = _enter(view)
        ctx.devs = view.kernel_devs
        job(ctx, data_fd, *args)
        ctx.send(ok=True)
        code = 0
    except BaseException as e:     # noqa: B036 - everything goes back to the parent
        with contextlib.suppress(BaseException):
            ctx.send(error=_error_record(e, ctx.path))
    finally:
        os._exit(code)


def _lockdown_imports():
    """From here on an import can only find built-in modules: nothing is ever
    loaded from the container's filesystem (whose / we are about to enter)."""
    keep = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter)
    sys.meta_path[:] = [f for f in sys.meta_path if f in keep]
    sys.path_hooks[:] = []
    sys.path[:] = []
    sys.path_importer_cache.clear()


def _close_fds(keep):
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _enter(view):
    if view.kind == "ns":
        _core.check(lib.pyc_setns(view.pidfd, CLONE_NEWNS),
                    "setns into the container's mount namespace")
        os.close(view.pidfd)
        return os.open("/", _DIRPATH)
    _core.check(lib.pyc_unshare(CLONE_NEWNS), "unshare a mount namespace")
    _core.check(lib.pyc_mount(ffi.NULL, b"/", ffi.NULL, MS_REC | MS_PRIVATE, ffi.NULL),
                "make mounts private")
    if view.chdir:
        os.chdir(view.chdir)
    _core.check(lib.pyc_mount(b"overlay", os.fsencode(view.mountdir), b"overlay", view.flags,
                              view.options.encode()),
                "mount the container's filesystem", view.mountdir)
    os.chdir("/")
    root = os.open(view.mountdir, _DIRPATH)
    for source, dest, rw, is_file in view.binds:
        _bind(root, source, dest, rw, is_file, not view.flags & MS_RDONLY)
    return root


def _bind(root, source, dest, rw, is_file, may_create):
    """Mount ``source`` (a host path: a volume's data or a bind's source)
    over ``dest`` resolved inside ``root``, through fds: a link in the
    container's files cannot move the mount out of it. A missing mount point
    is made when the overlay is writable (the runtime makes it at start),
    else the mount is left out (nothing can be there)."""
    rel = dest.strip("/")
    try:
        target = _core.openat2(root, rel, os.O_PATH | os.O_CLOEXEC, _RESOLVE)
    except FileNotFoundError:
        if not may_create:
            return
        target = _make_mount_point(root, rel, is_file)
    src = os.open(source, os.O_PATH | os.O_CLOEXEC)
    try:
        _core.check(lib.pyc_mount(f"/proc/self/fd/{src}".encode(),
                                  f"/proc/self/fd/{target}".encode(), ffi.NULL,
                                  MS_BIND | MS_REC, ffi.NULL), "mount a volume", dest)
    finally:
        os.close(src)
        os.close(target)
    if not rw:
        mounted = _core.openat2(root, rel, os.O_PATH | os.O_CLOEXEC, _RESOLVE)
        try:
            _core.check(lib.pyc_mount(ffi.NULL, f"/proc/self/fd/{mounted}".encode(), ffi.NULL,
                                      MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                                      ffi.NULL), "make a volume read-only", dest)
        finally:
            os.close(mounted)


def _make_mount_point(root, rel, is_file):
    """Make the missing parts of ``rel`` below ``root`` (directories, the
    last an empty file for a file's bind); an O_PATH fd of it."""
    parts = [p for p in rel.split("/") if p]
    for i, name in enumerate(parts):
        parent = _core.openat2(root, "/".join(parts[:i]) or ".", _DIRPATH, _RESOLVE)
        try:
            if i == len(parts) - 1 and is_file:
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                     | os.O_CLOEXEC, 0o644, dir_fd=parent))
            else:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=parent)
        finally:
            os.close(parent)
    return _core.openat2(root, rel, os.O_PATH | os.O_CLOEXEC, _RESOLVE)


def _error_record(e, path):
    if isinstance(e, (_Refused, tarfile.TarError, UnicodeError)):
        msg = str(e) if isinstance(e, _Refused) else f"not a valid tar archive: {e}"
        return {"kind": "invalid", "msg": msg, "path": path}
    if isinstance(e, OSError):
        where = e.filename if isinstance(e.filename, str) and e.filename.startswith("/") \
            else path
        msg = e.strerror or str(e)
        if msg.startswith("openat2: "):
            msg = msg[len("openat2: "):]
        return {"kind": "os", "errno": e.errno or errno.EIO, "msg": msg, "path": where}
    return {"kind": "os", "errno": errno.EIO, "msg": f"{type(e).__name__}: {e}",
            "path": path}


def _split(path):
    """(parent, name, follow, contents_only) of a container path, cleaned."""
    contents = path.endswith("/.") or path == "/."
    follow = path.endswith("/") or contents
    clean = posixpath.normpath(path)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    parent, name = posixpath.split(clean)
    return parent, name, follow, contents


def _job_get(ctx, data_fd, path):
    ctx.path = path
    parent_path, name, follow, contents = _split(path)
    if follow or not name:
        fd = ctx.resolve(path, os.O_PATH | os.O_CLOEXEC)
        parent, entry = fd, "."
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
    else:
        parent, entry = ctx.resolve(parent_path), name
        ctx.kernel_check(os.fstat(parent))
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    ctx.kernel_check(st)
    info = {"mode": st.st_mode, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if stat.S_ISLNK(st.st_mode):
        info["link"] = os.readlink(name, dir_fd=parent)
    ctx.send(stat=info)
    arc = "." if contents or not name else name
    with _TarWriter(ctx, data_fd) as out:
        out.tree(parent, entry, arc, st, include_self=True)


def _job_export(ctx, data_fd):
    ctx.path = "/"
    st = os.fstat(ctx.root)
    with _TarWriter(ctx, data_fd) as out:
        out.tree(ctx.root, ".", "", st, include_self=False)


def _job_get_file(ctx, data_fd, path):
    ctx.path = path
    pfd = ctx.resolve(path, os.O_PATH | os.O_CLOEXEC)
    st = os.fstat(pfd)
    ctx.kernel_check(st)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if not stat.S_ISREG(st.st_mode):
        raise _Refused("not a regular file")
    fd = ctx.reopen(pfd, os.O_RDONLY)
    os.close(pfd)
    while True:
        chunk = os.read(fd, _IO)
        if not chunk:
            break
        _write_all(data_fd, chunk)
    os.close(fd)


class _Exact:
    """Exactly ``size`` bytes of an fd: zeros when the file shrank meanwhile."""

    def __init__(self, fd, size):
        self.fd, self.left = fd, size

    def read(self, n):
        n = min(n, self.left)
        buf = bytearray()
        while len(buf) < n:
            chunk = os.read(self.fd, n - len(buf))
            if not chunk:
                buf += bytes(n - len(buf))
                break
            buf += chunk
        self.left -= n
        return bytes(buf)


class _TarWriter:
    """Writes entries read with fds (never following a link) as a PAX tar."""

    def __init__(self, ctx, fd):
        self.ctx = ctx
        self.file = os.fdopen(fd, "wb", buffering=_IO, closefd=False)
        self.tar = tarfile.open(fileobj=self.file, mode="w|", format=tarfile.PAX_FORMAT,
                                encoding="utf-8", errors="surrogateescape")
        self.tar.copybufsize = _IO
        self.links = {}

    def __enter__(self):
        return self

    def __exit__(self, exc, *rest):
        if exc is None:
            self.tar.close()
            self.file.flush()

    def tree(self, parent, name, arc, st, include_self):
        """``name`` in ``parent`` (``st`` its lstat) and everything below it."""
        if include_self:
            self.entry(parent, name, arc, st)
        if not stat.S_ISDIR(st.st_mode) or st.st_dev in self.ctx.devs:
            return
        fd = self.opendir(parent, name, st)
        walk = fstree.walk(fd, sort=True)
        try:
            for e in walk:
                try:
                    cst = e.stat()
                except FileNotFoundError:
                    continue            # removed meanwhile
                carc = f"{arc}/{e.path}" if arc else e.path
                if not self.entry(e.dir_fd, e.name, carc, cst) or cst.st_dev in self.ctx.devs:
                    e.skip = True
        finally:
            walk.close()
            os.close(fd)

    def opendir(self, parent, name, st):
        fd = os.open(name, _RDIR, dir_fd=parent)
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise NotADirectoryError(errno.ENOTDIR, "changed while archived", name)
        return fd

    def entry(self, parent, name, arc, st):
        """Write one entry; False when it is skipped (a socket, changed meanwhile)."""
        mode = st.st_mode
        ti = tarfile.TarInfo(arc)
        ti.mode = stat.S_IMODE(mode)
        ti.uid, ti.gid, ti.uname, ti.gname = st.st_uid, st.st_gid, "", ""
        ti.mtime = int(st.st_mtime)
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.links:
                ti.type, ti.linkname = tarfile.LNKTYPE, self.links[key]
                self.tar.addfile(ti)
                return True
            fd, fst = self.ctx.open_regular(parent, name, os.O_RDONLY, expect=key)
            if fd is None:
                return False
            try:
                ti.size = fst.st_size
                with contextlib.suppress(OSError):
                    caps = os.getxattr(fd, _CAPS)
                    ti.pax_headers[_XATTR_PAX + _CAPS] = caps.decode("utf-8", "surrogateescape")
                self.tar.addfile(ti, _Exact(fd, fst.st_size))
            finally:
                os.close(fd)
            if st.st_nlink > 1:
                self.links[key] = arc
        elif stat.S_ISDIR(mode):
            ti.type = tarfile.DIRTYPE
            self.tar.addfile(ti)
        elif stat.S_ISLNK(mode):
            ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=parent)
            self.tar.addfile(ti)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.tar.addfile(ti)
        elif stat.S_ISFIFO(mode):
            ti.type = tarfile.FIFOTYPE
            self.tar.addfile(ti)
        else:
            return False            # sockets are not archived (as docker)
        return True


class _TarInfo(tarfile.TarInfo):
    """Caps extended headers, so a hostile archive cannot make us buffer GiBs."""

    def _proc_member(self, tf):
        if (self.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK,
                          tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
                and self.size > _MAX_HEADER):
            raise _Refused(f"extended tar header of {self.size} bytes")
        return super()._proc_member(tf)


def _job_put(ctx, data_fd, path):
    ctx.path = path
    put = _Extract(ctx, path)
    stream = os.fdopen(data_fd, "rb", buffering=_IO, closefd=False)
    with tarfile.open(fileobj=stream, mode="r|*", tarinfo=_TarInfo,
                      encoding="utf-8", errors="surrogateescape") as tf:
        while True:
            ctx.path = path
            member = tf.next()
            if member is None:
                break
            put.add(tf, member)
    put.finish()


class _Extract:
    """put_archive: entries created under the target directory with dir fds,
    each parent resolved in the container's root (links in it are followed
    as the container would, never out of it), the last component never."""

    def __init__(self, ctx, target):
        self.ctx = ctx
        self.base = [p for p in posixpath.normpath(target).split("/") if p]
        fd = self.open_dir(self.base, create=False)   # must exist: docker's rule
        os.close(fd)
        self.dirs = []

    def where(self, parts):
        return "/" + "/".join(self.base + parts)

    def open_dir(self, comps, create):
        ctx = self.ctx
        ctx.path = "/" + "/".join(comps)
        try:
            fd = ctx.resolve(ctx.path)
        except FileNotFoundError:
            if not create:
                raise
            fd = self._mkdirs(comps)
        try:
            ctx.kernel_check(os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _mkdirs(self, comps):
        ctx = self.ctx
        for i in range(1, len(comps) + 1):
            try:
                os.close(ctx.resolve("/".join(comps[:i])))
                continue
            except FileNotFoundError:
                pass
            parent = ctx.resolve("/".join(comps[:i - 1]))
            try:
                ctx.kernel_check(os.fstat(parent))
                with contextlib.suppress(FileExistsError):
                    os.mkdir(comps[i - 1], 0o755, dir_fd=parent)
            finally:
                os.close(parent)
        return ctx.resolve("/".join(comps))

    def add(self, tf, m):
        try:
            parts = clean_name(m.name)
        except ValueError as e:
            raise _Refused(f"tar entry {m.name!r}: {e}") from None
        if not parts:
            if not m.isdir():
                raise _Refused("the archive's root entry is not a directory")
            return                      # the target exists: docker skips "."
        if m.issparse():
            raise _Refused(f"tar entry {m.name!r}: sparse files are not supported")
        if m.ischr() or m.isblk():
            raise _Refused(f"tar entry {m.name!r}: device nodes are not copied")
        if not (m.isreg() or m.isdir() or m.issym() or m.islnk() or m.isfifo()):
            raise _Refused(f"tar entry {m.name!r}: unsupported type {m.type!r}")
        if not (0 <= m.uid < 2**32 - 1 and 0 <= m.gid < 2**32 - 1):
            raise _Refused(f"tar entry {m.name!r}: bad owner {m.uid}:{m.gid}")
        name = parts[-1]
        parent = self.open_dir(self.base + parts[:-1], create=True)
        self.ctx.path = self.where(parts)
        try:
            self._add(tf, m, parts, parent, name)
        finally:
            os.close(parent)

    def _add(self, tf, m, parts, parent, name):
        ctx = self.ctx
        try:
            old = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is not None and stat.S_ISDIR(old.st_mode):
            if not m.isdir():
                raise IsADirectoryError(errno.EISDIR, "cannot overwrite a directory with "
                                        "a non-directory", ctx.path)
            if old.st_dev in ctx.devs:
                return                  # a kernel filesystem's mount point: left alone
            self._dir_done(parent, name, parts, m)
            return
        if old is not None:
            if m.isdir():
                raise NotADirectoryError(errno.ENOTDIR, "cannot overwrite a non-directory "
                                         "with a directory", ctx.path)
            try:
                os.unlink(name, dir_fd=parent)
            except OSError as e:
                # A bind-mounted file (/etc/hosts): write it in place.
                if e.errno == errno.EBUSY and m.isreg() and stat.S_ISREG(old.st_mode):
                    return self._in_place(tf, m, parent, name)
                raise
        if m.isreg():
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o600, dir_fd=parent)
            try:
                _copy(tf, m, fd)
                _owner(fd, m)
                os.chmod(fd, m.mode & 0o7777)       # after chown, which clears setuid
                os.utime(fd, ns=(_ns(m.mtime),) * 2)
            finally:
                os.close(fd)
        elif m.isdir():
            os.mkdir(name, 0o700, dir_fd=parent)
            self._dir_done(parent, name, parts, m)
        elif m.issym():
            if not m.linkname:
                raise _Refused(f"tar entry {m.name!r}: empty symbolic link")
            os.symlink(m.linkname, name, dir_fd=parent)
            os.chown(name, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
            os.utime(name, ns=(_ns(m.mtime),) * 2, dir_fd=parent, follow_symlinks=False)
        elif m.islnk():
            try:
                tparts = clean_name(m.linkname)
            except ValueError as e:
                raise _Refused(f"hard link {m.name!r} -> {m.linkname!r}: {e}") from None
            if not tparts:
                raise _Refused(f"hard link {m.name!r} to the target directory")
            tparent = self.open_dir(self.base + tparts[:-1], create=False)
            try:
                ctx.path = self.where(parts)
                os.link(tparts[-1], name, src_dir_fd=tparent, dst_dir_fd=parent,
                        follow_symlinks=False)
            finally:
                os.close(tparent)
        elif m.isfifo():
            os.mkfifo(name, 0o600, dir_fd=parent)
            pfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            try:
                if not stat.S_ISFIFO(os.fstat(pfd).st_mode):
                    raise FileExistsError(errno.EEXIST, "replaced while copied", ctx.path)
                fd = ctx.reopen(pfd, os.O_RDONLY | os.O_NONBLOCK)
            finally:
                os.close(pfd)
            try:
                _owner(fd, m)
                os.chmod(fd, m.mode & 0o7777)
                os.utime(fd, ns=(_ns(m.mtime),) * 2)
            finally:
                os.close(fd)

    def _dir_done(self, parent, name, parts, m):
        """Owner and xattrs now; mode and mtime once its contents are in."""
        fd = os.open(name, _RDIR, dir_fd=parent)
        try:
            _owner(fd, m)
        finally:
            os.close(fd)
        self.dirs.append((parts, m.mode, m.mtime))

    def _in_place(self, tf, m, parent, name):
        fd, _ = self.ctx.open_regular(parent, name, os.O_WRONLY | os.O_TRUNC)
        if fd is None:
            raise FileExistsError(errno.EEXIST, "replaced while copied", self.ctx.path)
        try:
            _copy(tf, m, fd)
        finally:
            os.close(fd)

    def finish(self):
        """Directory modes and mtimes, once nothing more is written in them."""
        for parts, mode, mtime in reversed(self.dirs):
            self.ctx.path = self.where(parts)
            try:
                parent = self.open_dir(self.base + parts[:-1], create=False)
            except FileNotFoundError:
                continue
            try:
                fd = os.open(parts[-1], _RDIR, dir_fd=parent)
            except (FileNotFoundError, NotADirectoryError):
                continue
            finally:
                os.close(parent)
            try:
                os.chmod(fd, mode & 0o7777)
                os.utime(fd, ns=(_ns(mtime),) * 2)
            finally:
                os.close(fd)


def _copy(tf, m, fd):
    src = tf.extractfile(m)
    left = m.size
    while left > 0:
        chunk = src.read(min(left, _IO))
        if not chunk:
            raise _Refused(f"tar entry {m.name!r}: unexpected end of data")
        _write_all(fd, chunk)
        left -= len(chunk)


def _owner(fd, m):
    os.chown(fd, m.uid, m.gid)
    for key, value in m.pax_headers.items():
        if not key.startswith(_XATTR_PAX):
            continue
        attr = key[len(_XATTR_PAX):]
        if attr and not attr.startswith(_DROPPED_XATTRS):
            os.setxattr(fd, attr, value.encode("utf-8", "surrogateescape"))


def _ns(mtime):
    try:
        ns = int(mtime * 1_000_000_000)
    except (OverflowError, ValueError, TypeError):
        raise _Refused(f"bad mtime {mtime!r}") from None
    if not -(2**63) <= ns < 2**63:
        raise _Refused(f"bad mtime {mtime!r}")
    return ns


JOBS.update(get=_job_get, export=_job_export, get_file=_job_get_file, put=_job_put)
