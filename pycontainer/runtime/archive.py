"""Files in and out of containers: docker-py's ``put_archive``, ``get_archive``,
``export`` and ``diff``, plus ``put_file`` and ``get_file`` (see docs/archive.md).

Where the work happens. A forked helper process sees the container's files:

* running container: the helper enters the container's mount namespace
  (``setns`` on a pidfd of its init), so it sees what the container sees,
  volumes and bind mounts included;
* created or stopped container (and ``export`` always): the helper unshares a
  private mount namespace and mounts the container's overlay there (read-only
  with the writable layer as the top lower dir, or read-write for
  ``put_archive``); the mount dies with the helper.

Tar data flows over a pipe; the helper reports its result as JSON lines
(``errno``, message, path in the container) on a second pipe and always ends
with ``os._exit``. Errors are raised here as ``OSError`` subclasses with the
path (:class:`ContainerPathNotFound` is also a ``NotFound``).

Confinement (CVE-2018-15664, CVE-2019-14271): the container's files are
hostile. Every path is resolved with ``openat2(RESOLVE_IN_ROOT)`` from the
container's root; entries are created and read with ``*at`` calls and
``O_NOFOLLOW`` (no path-based call that follows a link: in the private
namespace ``/`` is still the host's); files are opened ``O_PATH`` first and
read or written only when they are regular files; owners are numeric and
never looked up by name; the helper locks imports down before it touches the
container, so nothing is ever loaded from the container's filesystem. The
container's kernel filesystems (/proc, /sys, /dev, cgroups) are refused, and
show up as empty directories when a directory above them is archived.
"""
import bz2  # noqa: F401  (tarfile's "r|*" needs them: import before forking)
import codecs
import contextlib
import errno
import gc
import importlib.machinery
import json
import lzma  # noqa: F401
import os
import posixpath
import shutil
import signal
import stat
import sys
import tarfile
import tempfile
import time
import zlib  # noqa: F401

from .. import _core
from .._core import ffi, lib
from ..errors import Conflict, InvalidArgument, NotFound
from ..image.extract import clean_name
from . import state as _state

CHUNK_SIZE = 2 * 1024 * 1024      # docker-py's DEFAULT_DATA_CHUNK_SIZE

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV = 0x1, 0x2, 0x4
MS_REC, MS_PRIVATE = 0x4000, 1 << 18

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

# The helper never imports after entering the container; codecs are looked up
# now so that nothing has to be found later either.
for _enc in ("utf-8", "ascii", "latin-1", "iso8859-1"):
    codecs.lookup(_enc)


class ContainerPathNotFound(NotFound, FileNotFoundError):
    """A path does not exist in the container (docker-py raises ``NotFound``)."""

    def __init__(self, *args):
        OSError.__init__(self, *args)

    __str__ = OSError.__str__


# -- public API ----------------------------------------------------------------

def put_archive(rt, cid, path, data):
    """Extract a tar (bytes, a file object or an iterable of bytes; plain,
    gzip, bzip2 or xz) into the existing directory ``path``. Returns True."""
    path = _container_path(path)
    return _put(rt, cid, path, _chunks(data))


def put_file(rt, cid, path, data, mode=0o644):
    """Write ``data`` (bytes or str) to the file ``path`` (owner 0:0, ``mode``);
    its directory must exist. A symbolic link at ``path`` is replaced."""
    path = _container_path(path)
    parent, name = posixpath.split(path.rstrip("/"))
    if not name or path.endswith("/") or name in (".", ".."):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if isinstance(data, str):
        data = data.encode()
    elif hasattr(data, "read"):
        data = data.read()
    data = memoryview(data).cast("B")
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), mode & 0o7777, int(time.time())
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    head = ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    pad = b"\0" * (-len(data) % tarfile.BLOCKSIZE)
    return _put(rt, cid, parent or "/", iter((head, data, pad, b"\0" * 2 * tarfile.BLOCKSIZE)))


def get_archive(rt, cid, path, chunk_size=CHUNK_SIZE):
    """``(iterator of tar bytes, stat)`` of ``path``, as docker-py.

    The last component is not followed (a link is archived as a link) unless
    the path ends with ``/``; ``dir/.`` archives the directory's contents.
    ``stat`` has docker's keys: ``name``, ``size``, ``mode`` (Go's FileMode
    bits), ``mtime`` (RFC 3339) and ``linkTarget``.
    """
    path = _container_path(path)
    helper = _start(rt, cid, write=False, job=_job_get, args=(path,), parent_writes=False)
    try:
        st = helper.message()
        if "stat" not in st:
            helper.finish(st)
        stream = ArchiveStream(helper, chunk_size)
    except BaseException:
        helper.close()
        raise
    return stream, _docker_stat(path, st["stat"])


def get_file(rt, cid, path):
    """The content of the regular file ``path`` (links followed in the container)."""
    path = _container_path(path)
    helper = _start(rt, cid, write=False, job=_job_get_file, args=(path,), parent_writes=False)
    try:
        chunks = []
        while True:
            chunk = os.read(helper.data, _IO)
            if not chunk:
                break
            chunks.append(chunk)
        helper.finish()
        return b"".join(chunks)
    finally:
        helper.close()


def export(rt, cid, chunk_size=CHUNK_SIZE):
    """An iterator of tar bytes of the container's whole root filesystem (the
    image plus the container's changes; no volumes, no kernel filesystems)."""
    helper = _start(rt, cid, write=False, job=_job_export, args=(), parent_writes=False,
                    rootfs_only=True)
    try:
        return ArchiveStream(helper, chunk_size)
    except BaseException:
        helper.close()
        raise


def diff(rt, cid):
    """Changes of the writable layer: ``[{"Path": "/etc/passwd", "Kind": 0}]``,
    Kind 0 modified, 1 added, 2 deleted (docker's values), sorted by path."""
    rtc = _state.load(rt, cid)["Runtime"]
    upper = os.path.join(rtc["LayerDir"], "upper")
    return _diff(upper, list(rtc["Lowers"]))


class ArchiveStream:
    """Iterator of tar bytes produced by a helper process.

    Exhausting it checks the helper's result (raising its error); ``close()``,
    leaving a ``with`` block or dropping it stops the helper.
    """

    def __init__(self, helper, chunk_size):
        self._helper = helper
        self._size = max(int(chunk_size or CHUNK_SIZE), 1)
        self._owner = os.getpid()

    def __iter__(self):
        return self

    def __next__(self):
        h = self._helper
        if h is None:
            raise StopIteration
        try:
            buf = bytearray()
            while len(buf) < self._size:
                chunk = os.read(h.data, self._size - len(buf))
                if not chunk:
                    break
                buf += chunk
            if buf:
                return bytes(buf)
            h.finish()
        except BaseException:
            self.close()
            raise
        self.close()
        raise StopIteration

    def close(self):
        h, self._helper = self._helper, None
        if h is not None and os.getpid() == self._owner:
            h.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()


# -- parent side ----------------------------------------------------------------

def _container_path(path):
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    path = os.fspath(path)
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidArgument(f"bad path in the container: {path!r}")
    return path if path.startswith("/") else "/" + path


def _chunks(data):
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield memoryview(data).cast("B")
    elif hasattr(data, "read"):
        while True:
            chunk = data.read(_IO)
            if not chunk:
                return
            yield chunk
    elif isinstance(data, str):
        raise InvalidArgument("put_archive() takes tar data as bytes, not str")
    else:
        yield from data


def _put(rt, cid, path, chunks):
    with _state.locked(rt, cid):
        helper = _start(rt, cid, write=True, job=_job_put, args=(path,), parent_writes=True)
        try:
            try:
                for chunk in chunks:
                    _write_all(helper.data, chunk)
            except BrokenPipeError:
                pass            # the helper stopped reading: its status says why
            os.close(helper.data)
            helper.data = -1
            helper.finish()
        finally:
            helper.close()
    return True


def _start(rt, cid, write, job, args, parent_writes, rootfs_only=False):
    attrs = _state.load(rt, cid)
    view = _choose_view(rt, cid, attrs, write, rootfs_only)
    try:
        return _Helper(view, job, args, parent_writes)
    except BaseException:
        view.cleanup()
        raise


class _View:
    """How the helper reaches the container's root."""

    def __init__(self, kind, pidfd=-1, mountdir=None, options=None, flags=0, chdir=None,
                 kernel_devs=frozenset(), workdir=None):
        self.kind, self.pidfd, self.mountdir = kind, pidfd, mountdir
        self.options, self.flags, self.chdir = options, flags, chdir
        self.kernel_devs, self.workdir = kernel_devs, workdir

    def close_fds(self):
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1

    def cleanup(self):
        self.close_fds()
        if self.mountdir:
            with contextlib.suppress(OSError):
                os.rmdir(self.mountdir)
            self.mountdir = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def _choose_view(rt, cid, attrs, write, rootfs_only):
    st, rtc = attrs["State"], attrs["Runtime"]
    if st.get("Running") and not rootfs_only:
        view = _ns_view(st.get("Pid"), st.get("PidStartTime"))
        if view is not None:
            return view
    if write:
        if rtc.get("Ephemeral"):
            raise Conflict(f"container {cid[:12]} was run attached with remove=True")
        if st.get("Restarting"):
            raise Conflict(f"container {cid[:12]} is restarting")
    read_only = not write or bool(attrs.get("HostConfig", {}).get("ReadonlyRootfs"))
    return _overlay_view(rt, cid, rtc, read_only)


def _ns_view(pid, start):
    fd = _state.pidfd_for(pid, start)
    if fd is None:
        return None
    try:
        if os.stat(f"/proc/{pid}/ns/mnt").st_ino == os.stat("/proc/self/ns/mnt").st_ino:
            raise PermissionError(errno.EPERM, "the container shares our mount namespace")
        devs = _kernel_devs(pid)
        if not _state.alive(pid, start):
            os.close(fd)
            return None
    except FileNotFoundError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return _View("ns", pidfd=fd, kernel_devs=devs)


def _kernel_devs(pid):
    """st_dev of the container's kernel filesystems and of its /dev, read
    from the host's /proc (kernel data, not the container's files)."""
    devs = set()
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) < 5 or not rfields:
                continue
            point = fields[4].replace("\\040", " ")
            if rfields[0] in KERNEL_FS or point == "/dev":
                major, minor = fields[2].split(":")
                devs.add(os.makedev(int(major), int(minor)))
    return frozenset(devs)


def _escape(path):
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def _overlay_options(lowers, upper, work, base=None):
    rel = (lambda p: os.path.relpath(p, base)) if base else (lambda p: p)
    opts = "lowerdir=" + ":".join(_escape(rel(p)) for p in lowers)
    if upper:
        opts += f",upperdir={_escape(rel(upper))},workdir={_escape(rel(work))}"
    return opts


def _overlay_view(rt, cid, rtc, read_only):
    layer_dir = rtc["LayerDir"]
    upper, work = os.path.join(layer_dir, "upper"), None
    lowers = list(rtc["Lowers"])
    if read_only:       # the writable layer as the top lower dir: nothing is written
        lowers, upper = [upper] + lowers, None
    else:
        # A work dir of our own (same filesystem as the upper dir): the
        # container's may carry the dirty mark of a volatile mount.
        work = tempfile.mkdtemp(prefix=".archive-work-", dir=layer_dir)
    try:
        opts, chdir = _overlay_options(lowers, upper, work), None
        if len(opts) >= 4000:    # mount(2) takes one page: shorten with relative paths
            chdir = os.path.commonpath([p for p in lowers + [upper, work] if p])
            opts = _overlay_options(lowers, upper, work, chdir)
            if len(opts) >= 4000:
                raise OSError(errno.E2BIG, "too many image layers to mount the "
                              "container's filesystem", cid)
        base = rt.rundir(cid)
        if not os.path.isdir(base):
            base = rt.run_root
        mountdir = tempfile.mkdtemp(prefix=".archive-", dir=base)
    except BaseException:
        if work:
            os.rmdir(work)
        raise
    flags = MS_NOSUID | MS_NODEV | (MS_RDONLY if read_only else 0)
    return _View("overlay", mountdir=mountdir, options=opts, flags=flags, chdir=chdir,
                 workdir=work)


class _Helper:
    """A forked process working in the container's filesystem."""

    def __init__(self, view, job, args, parent_writes):
        self.view, self.pid, self.data, self.status = view, 0, -1, -1
        self._buf = b""
        r, w = os.pipe2(os.O_CLOEXEC)
        sr, sw = os.pipe2(os.O_CLOEXEC)
        theirs, self.data = (r, w) if parent_writes else (w, r)
        self.status = sr
        try:
            pid = os.fork()
        except BaseException:
            for fd in (r, w, sr, sw):
                os.close(fd)
            raise
        if pid == 0:                         # the helper: never returns
            _child(view, job, args, theirs, sw)
        self.pid = pid
        os.close(theirs)
        os.close(sw)
        view.close_fds()

    def message(self):
        """The helper's next JSON message; ``{}`` at EOF."""
        while b"\n" not in self._buf:
            chunk = os.read(self.status, 65536)
            if not chunk:
                line, self._buf = self._buf, b""
                return json.loads(line) if line.strip() else {}
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def finish(self, msg=None):
        """Wait for the helper's last word and raise its error, if any."""
        while msg is None or "stat" in msg:
            msg = self.message()
            if not msg:
                break
        code = self._reap()
        if msg and "error" in msg:
            raise _error(msg["error"])
        if not msg or code != 0:
            raise OSError(errno.EIO, f"the archive helper process failed (status {code})")

    def _reap(self):
        if not self.pid:
            return None
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        return os.waitstatus_to_exitcode(status)

    def close(self):
        for name in ("data", "status"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap()
        self.view.cleanup()


def _write_all(fd, data):
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def _error(rec):
    path, msg = rec.get("path"), rec.get("msg") or "failed"
    kind = rec.get("kind")
    if kind == "invalid":
        return InvalidArgument(f"{path}: {msg}" if path else msg)
    code = rec.get("errno") or errno.EIO
    if code == errno.ENOENT:
        return ContainerPathNotFound(code, msg, path)
    return OSError(code, msg, path)


_GO_TYPES = {stat.S_IFDIR: 1 << 31, stat.S_IFLNK: 1 << 27, stat.S_IFBLK: 1 << 26,
             stat.S_IFCHR: (1 << 26) | (1 << 21), stat.S_IFIFO: 1 << 25,
             stat.S_IFSOCK: 1 << 24}


def _go_mode(mode):
    """A Unix st_mode as Go's os.FileMode bits (what docker reports)."""
    out = (mode & 0o777) | _GO_TYPES.get(stat.S_IFMT(mode), 0)
    if mode & stat.S_ISUID:
        out |= 1 << 23
    if mode & stat.S_ISGID:
        out |= 1 << 22
    if mode & stat.S_ISVTX:
        out |= 1 << 20
    return out


def _rfc3339(ns):
    secs, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return text + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def _docker_stat(path, st):
    clean = posixpath.normpath(path)
    link = st.get("link")
    if link is not None:
        link = posixpath.normpath(posixpath.join(posixpath.dirname(clean), link))
    name = posixpath.basename(clean) or "/"
    return {"name": name, "size": st["size"], "mode": _go_mode(st["mode"]),
            "mtime": _rfc3339(st["mtime_ns"]), "linkTarget": link or ""}


# -- diff (in this process: metadata of the writable layer only) ----------------

def _is_whiteout(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(fd_or_path):
    try:
        if isinstance(fd_or_path, int):
            return os.getxattr(fd_or_path, _OPAQUE) == b"y"
        return os.getxattr(fd_or_path, _OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _lower_entry(lowers, parts):
    """What the image layers (top-most first) show at ``parts``, merged as
    overlayfs does: ``(lstat or None, layers in which it is a directory)``."""
    active = list(lowers)
    for i, name in enumerate(parts):
        last = i == len(parts) - 1
        found, keep = None, []
        for layer in active:
            p = os.path.join(layer, *parts[:i + 1])
            try:
                st = os.lstat(p)        # every parent was checked to be a real dir
            except (FileNotFoundError, NotADirectoryError):
                continue
            if _is_whiteout(st):
                break
            if found is None:
                found = st
            if not stat.S_ISDIR(st.st_mode) or not stat.S_ISDIR(found.st_mode):
                break
            keep.append(layer)
            if _opaque(p):
                break
        if found is None:
            return None, []
        if last:
            return found, keep
        if not stat.S_ISDIR(found.st_mode):
            return None, []
        active = keep
    return None, list(lowers)


def _lower_names(layers, parts):
    names, hidden = set(), set()
    for layer in layers:
        p = os.path.join(layer, *parts)
        try:
            entries = os.listdir(p)
        except OSError:
            continue
        for n in entries:
            if n in names or n in hidden:
                continue
            try:
                st = os.lstat(os.path.join(p, n))
            except OSError:
                continue
            (hidden if _is_whiteout(st) else names).add(n)
    return names


def _diff(upper, lowers):
    changes = []
    try:
        top = os.open(upper, _RDIR)
    except FileNotFoundError:
        return changes
    # fds all the way: the container may be changing its layer meanwhile, so
    # no path in it is ever followed.
    stack = [(top, [])]
    try:
        while stack:
            fd, parts = stack.pop()
            try:
                for name in os.listdir(fd):
                    _diff_entry(fd, name, parts + [name], lowers, stack, changes)
            finally:
                os.close(fd)
    finally:
        for fd, _ in stack:
            os.close(fd)
    changes.sort(key=lambda c: c["Path"].split("/"))
    return changes


def _diff_entry(parent, name, sub, lowers, stack, out):
    path = "/" + "/".join(sub)
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except OSError:
        return
    lower, layers = _lower_entry(lowers, sub)
    if _is_whiteout(st):
        if lower is not None:
            out.append({"Path": path, "Kind": 2})
        return
    out.append({"Path": path, "Kind": 0 if lower is not None else 1})
    if not stat.S_ISDIR(st.st_mode):
        return
    try:
        fd = os.open(name, _RDIR, dir_fd=parent)
    except OSError:
        return
    try:
        if lower is not None and stat.S_ISDIR(lower.st_mode) and _opaque(fd):
            present = set(os.listdir(fd))
            for n in sorted(_lower_names(layers, sub) - present):
                out.append({"Path": f"{path}/{n}", "Kind": 2})
    except BaseException:
        os.close(fd)
        raise
    stack.append((fd, sub))


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
    return os.open(view.mountdir, _DIRPATH)


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
        stack = [(self.opendir(parent, name, st), None, arc)]
        try:
            while stack:
                fd, names, where = stack[-1]
                if names is None:
                    names = sorted(os.listdir(fd), reverse=True)
                    stack[-1] = (fd, names, where)
                if not names:
                    os.close(fd)
                    stack.pop()
                    continue
                child = names.pop()
                carc = f"{where}/{child}" if where else child
                try:
                    cst = os.stat(child, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue            # removed meanwhile
                if not self.entry(fd, child, carc, cst):
                    continue
                if stat.S_ISDIR(cst.st_mode) and cst.st_dev not in self.ctx.devs:
                    try:
                        stack.append((self.opendir(fd, child, cst), None, carc))
                    except (FileNotFoundError, NotADirectoryError):
                        continue
        finally:
            for fd, _, _ in stack:
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
            fd = os.open(name, _RDIR, dir_fd=parent)
            try:
                _owner(fd, m)
            finally:
                os.close(fd)
            self.dirs.append((parts, m.mode, m.mtime))
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
            fd = os.open(name, _RDIR, dir_fd=parent)
            try:
                _owner(fd, m)
            finally:
                os.close(fd)
            self.dirs.append((parts, m.mode, m.mtime))
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
