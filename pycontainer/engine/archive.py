"""Files in and out of containers: docker-py's ``put_archive``, ``get_archive``,
``export`` and ``diff``, plus ``put_file`` and ``get_file`` (see docs/archive.md).

Where the work happens. A helper process (a fresh interpreter, never a fork
of ours: the caller may be multi-threaded) sees the container's files:

* running container: the helper enters the container's mount namespace
  (``setns`` on a pidfd of its init), so it sees what the container sees,
  volumes and bind mounts included;
* created or stopped container (and ``export`` always): the helper unshares a
  private mount namespace and mounts the container's overlay there (read-only
  with the writable layer as the top lower dir, or read-write for
  ``put_archive``), then its volumes and bind mounts over it, as dockerd
  does (not for ``export``); the mounts die with the helper.

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
import codecs
import contextlib
import errno
import fcntl
import json
import os
import posixpath
import signal
import stat
import sys
import tarfile
import tempfile
import time

from .. import fstree
from .. import _core
from ..errors import Conflict, InvalidArgument, NotFound
from ..volumes import VolumeStore
from . import mounts as _mounts
from . import state as _state

# The helper never imports after entering the container; codecs are looked up
# now so that nothing has to be found later either.
for _enc in ("utf-8", "ascii", "latin-1", "iso8859-1"):
    codecs.lookup(_enc)


BOOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "archive_boot.py")
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ContainerPathNotFound(NotFound, FileNotFoundError):
    """A path does not exist in the container (docker-py raises ``NotFound``)."""

    def __init__(self, *args):
        OSError.__init__(self, *args)

    __str__ = OSError.__str__


from .archive_child import (CHUNK_SIZE, KERNEL_FS, MS_NODEV, MS_NOSUID, MS_RDONLY, _IO,  # noqa: E402
                            _write_all)
from .diff import _diff  # noqa: E402


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
    helper = _start(rt, cid, write=False, job="get", args=(path,), parent_writes=False)
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
    helper = _start(rt, cid, write=False, job="get_file", args=(path,), parent_writes=False)
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
    helper = _start(rt, cid, write=False, job="export", args=(), parent_writes=False,
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
        helper = _start(rt, cid, write=True, job="put", args=(path,), parent_writes=True)
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
        self.binds = []             # mounted over the overlay: _binds

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
            fstree.remove(self.workdir)
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
    view = _overlay_view(rt, cid, rtc, read_only)
    if not rootfs_only:
        view.binds = _binds(rt, rtc["Config"].get("mounts") or (), write)
    return view


def _binds(rt, specs, write):
    """``[source, destination, rw, is_file]`` of the container's volumes and
    bind mounts, shallow destinations first. A volume not made yet is made
    by a write (dockerd makes it at create), and left out of a read."""
    specs = [s for s in specs if s["Type"] in ("bind", "volume")]      # a tmpfs holds nothing
    if write:
        specs = _mounts.resolve(specs, rt.root)
    elif any(s["Type"] == "volume" for s in specs):
        store = VolumeStore(rt.root)
        specs = [dict(s, Source=store.data_path(s["Name"])) if s["Type"] == "volume" else s
                 for s in specs]
    out = [[s["Source"], s["Destination"], bool(s.get("RW")) and write, bool(s.get("IsFile"))]
           for s in specs if s.get("Source") and os.path.exists(s["Source"])]
    return sorted(out, key=lambda b: b[1].rstrip("/").count("/"))


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
    """The helper process working in the container's filesystem: a fresh
    interpreter (archive_boot.py), given its job as JSON and its fds as 3-5."""

    def __init__(self, view, job, args, parent_writes):
        self.view, self.pid, self.data, self.status = view, 0, -1, -1
        self._buf = b""
        r, w = os.pipe2(os.O_CLOEXEC)
        sr, sw = os.pipe2(os.O_CLOEXEC)
        theirs, self.data = (r, w) if parent_writes else (w, r)
        self.status = sr
        spec = json.dumps({"job": job, "args": list(args), "view": {
            "kind": view.kind, "pidfd": view.pidfd >= 0, "mountdir": view.mountdir,
            "options": view.options, "flags": view.flags, "chdir": view.chdir,
            "kernel_devs": sorted(view.kernel_devs), "binds": view.binds}})
        # Sources copied above 5 first, so that no dup2 into 3-5 overwrites one.
        wanted = [theirs, sw] + ([view.pidfd] if view.pidfd >= 0 else [])
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in wanted]
        argv = [sys.executable, "-I", "-S", BOOT, PACKAGE_PARENT, _core.BACKEND_DIR, spec]
        try:
            self.pid = os.posix_spawn(
                sys.executable, argv, {"PATH": "/usr/bin:/bin"},
                file_actions=[(os.POSIX_SPAWN_DUP2, fd, 3 + i) for i, fd in enumerate(high)])
        except BaseException:
            for fd in (r, w, sr, sw):
                os.close(fd)
            raise
        finally:
            for fd in high:
                os.close(fd)
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
