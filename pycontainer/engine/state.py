"""A container's state as every process sees it.

Three files, each with one writer, each replaced atomically:
``config.json`` (Python, at create/rename), ``state.json`` (Python: created),
``run.json`` (the monitor, or this process for attached runs: pid + start
time, exit code, times). A "running" record whose monitor and init are gone
is stale (a killed monitor, a reboot).

Reading is pure: :func:`load` reports a stale record as the exit it was
(code 137) and changes nothing. Only a holder of the container's lock
repairs it (:func:`repair`: record the exit, release cgroups), because
another process may be starting the container again at that moment.
"""
import contextlib
import fcntl
import os
import select
import signal
import struct
import sys

from .. import _core
from ..errors import ContainerNotFound
from . import health as _health
from ..jsonfile import read_json, write_json_atomic


def proc_start_time(pid):
    """Field 22 of /proc/<pid>/stat: tells a reused pid from the original."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):      # exited, not yet reaped: not alive
            return None
        return int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid, start_time):
    return bool(pid) and proc_start_time(pid) == start_time


def pidfd_for(pid, start_time):
    """A pidfd for ``pid`` if it is still the process we started, else None."""
    if not pid:                 # never started (None), or not recorded (0)
        return None
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return None
    if proc_start_time(pid) != start_time:    # checked after opening: no race
        os.close(fd)
        return None
    return fd


def gone_within(pid, start_time, timeout):
    """Whether the process we started ends within ``timeout`` seconds (None:
    for ever): True, False while it lives on, None when it is not alive."""
    fd = pidfd_for(pid, start_time)
    if fd is None:
        return None
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def signal_pid(pid, start_time, sig):
    fd = pidfd_for(pid, start_time)
    if fd is None:
        return False
    try:
        signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


class Files:
    """Paths of one container's state files."""

    def __init__(self, rt, cid):
        self.rt, self.cid = rt, cid
        self.config = rt.config_path(cid)
        self.dir = os.path.dirname(self.config)
        self.state = os.path.join(self.dir, "state.json")
        self.run = os.path.join(self.dir, "run.json")
        self.lock = os.path.join(rt.rundir(cid), "lock")
        self.repaired = None      # set by locked(): the stale record it repaired


@contextlib.contextmanager
def locked(rt, cid, wait=True):
    """Serialise actions on one container across threads and processes.

    Yields the container's :class:`Files` with a stale record repaired, or
    None when ``wait`` is false and another holder has the lock.
    """
    files = Files(rt, cid)
    if not os.path.exists(files.config):
        raise ContainerNotFound(f"No such container: {cid}")
    os.makedirs(os.path.dirname(files.lock), 0o700, exist_ok=True)   # after a reboot
    try:
        fd = os.open(files.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        raise ContainerNotFound(f"No such container: {cid}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        if not os.path.exists(files.config):
            raise ContainerNotFound(f"No such container: {cid}")
        files.repaired = repair(rt, files)
        yield files
    finally:
        os.close(fd)


def _read(path):
    try:
        return read_json(path)
    except (FileNotFoundError, ValueError):
        return None


def load(rt, cid):
    """config.json + the computed ``State`` (docker's fields)."""
    files = Files(rt, cid)
    try:
        attrs = read_json(files.config)
    except FileNotFoundError:
        raise ContainerNotFound(f"No such container: {cid}") from None
    run, orphaned = _read_run(files.run)
    if run is None:
        user = _read(files.state) or {}
        state = {"Status": user.get("Status", "created"), "Running": False, "Paused": False,
                 "Restarting": False, "OOMKilled": False, "Dead": False, "Pid": 0,
                 "ExitCode": user.get("ExitCode", 0), "Error": "", "StartedAt": None,
                 "FinishedAt": None, "RestartCount": 0}
    else:
        if orphaned:
            run = _exit_of(run)
        status = run["Status"]
        running = status == "running"
        if running:
            rt.cg.know_parent(cid, ((attrs.get("Runtime") or {}).get("Config") or {})
                              .get("cgroup_parent", ""))
        paused = running and rt.cg.is_frozen(cid)
        state = {"Status": "paused" if paused else status, "Running": running,
                 "Paused": paused, "Restarting": status == "restarting",
                 "OOMKilled": run.get("OOMKilled", False), "Dead": status == "dead",
                 "Pid": run.get("Pid", 0) if running else 0, "ExitCode": run.get("ExitCode", 0),
                 "Error": run.get("Error", ""), "StartedAt": run.get("StartedAt") or None,
                 "FinishedAt": run.get("FinishedAt") or None,
                 "RestartCount": run.get("RestartCount", 0),
                 "PidStartTime": run.get("PidStartTime"), "MonitorPid": run.get("MonitorPid"),
                 "MonitorStartTime": run.get("MonitorStartTime"),
                 "Attached": bool(run.get("Attached"))}
    if run is not None and _health.probe_argv(attrs["Config"].get("Healthcheck")):
        health = _health.read_state(rt, cid)
        if health is not None:
            state["Health"] = health
    attrs["State"] = state
    attrs["RestartCount"] = state["RestartCount"]
    return attrs


def record_dir(rt, cid):
    """The directory a container's record is read from (its config.json's),
    or None when it has none (not a container, yet or any more)."""
    for d in (rt.dir(cid), rt.rundir(cid)):     # an ephemeral container's is in the run root
        if os.path.exists(os.path.join(d, "config.json")):
            return d
    return None


# Every file of a record is written whole and renamed into its directory, so
# a record at rest is unchanged while its directory's stat is. Timestamps
# are coarse (a clock tick): two writes within one tick leave one mtime, so
# a key is trusted only once its mtime is older than this when first read.
SETTLE_NS = 100_000_000


# A key is the 56 bytes of csrc/tree.c's record of the directory: mode uid
# gid size mtime ctime ino^dev, as u64s. One C call gives the keys of every
# container of a store (~1 us each, where os.stat costs ~4 in Python).
_KEY = 56
_O_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


def dir_key(d):
    """The stat of a record's directory that every write moves (None: gone)."""
    try:
        fd = os.open(d, _O_DIR)
    except FileNotFoundError:
        return None
    try:
        data, _ = _core.tree_stat(fd, 0, 64)
    finally:
        os.close(fd)
    return data[3:3 + _KEY]         # after the record's u16 length and "."


def entry_keys(top):
    """``{name: dir_key(top/name)}`` for every entry of ``top``, in one call
    ({} when ``top`` does not exist)."""
    try:
        fd = os.open(top, _O_DIR)
    except FileNotFoundError:
        return {}
    try:
        data, _ = _core.tree_stat(fd, 1, 128 << 10)     # ~1,000 containers
    finally:
        os.close(fd)
    keys, off, end = {}, 3 + _KEY, len(data) - 2        # past ".", before 0xffff
    while off < end:
        n = int.from_bytes(data[off:off + 2], sys.byteorder)     # the machine's u16
        name = data[off + 2:off + 2 + n]
        off += 2 + n
        keys[name.decode("utf-8", "surrogateescape")] = data[off:off + _KEY]
        off += _KEY
    return keys


def settled(key, since_ns):
    """``key`` (read at or after ``since_ns``) can stand for what was read:
    any later write gets a later timestamp."""
    if key is None:
        return False
    mtime, ctime = struct.unpack_from("=QQ", key, 32)
    return max(mtime, ctime) < since_ns - SETTLE_NS


def _stale(run):
    return run["Status"] in ("running", "restarting") and not alive(
        run.get("MonitorPid"), run.get("MonitorStartTime"))


def _read_run(path):
    """``(run.json, orphaned)``. The monitor records the exit, then leaves: a
    record read before that write and checked after the leave looks orphaned
    (a clean exit seen as 137), so a stale one is read again; and the monitor
    is looked at once only, since it may leave between two looks."""
    run = _read(path)
    if run is None or not _stale(run):
        return run, False
    run = _read(path)
    return run, run is not None and _stale(run)


def monitor_alive(rt, cid):
    """The container's monitor (or attached owner) is alive, so it records
    the exit and cleans up itself: seen without the lock, which a recovery
    over every container would take and hold for nothing."""
    run = _read(os.path.join(os.path.dirname(rt.config_path(cid)), "run.json"))
    return run is not None and alive(run.get("MonitorPid"), run.get("MonitorStartTime"))


def _exit_of(run):
    """The exit a stale record stands for: killed (137) if it was running."""
    code = 137 if run["Status"] == "running" else run.get("ExitCode", 0)
    return dict(run, Status="exited", ExitCode=code, Pid=0,
                Error="the container's monitor died")


def repair(rt, files):
    """Under the container's lock: if its record is stale, record the exit
    and release what the container held. Returns the repaired record or None."""
    run, orphaned = _read_run(files.run)
    if not orphaned:
        return None
    pid, start = run.get("Pid"), run.get("PidStartTime")
    fd = pidfd_for(pid, start)
    if fd is not None:           # an orphaned init: it must not outlive its monitor
        try:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            # its cgroups can only go once it is gone (rmdir says EBUSY before)
            select.select([fd], [], [], 10)
        finally:
            os.close(fd)
    with contextlib.suppress(OSError):
        rt.remove_cgroups(files.cid)
    with contextlib.suppress(OSError):
        rt.release_userns(files.cid)
    run = _exit_of(run)
    write_json_atomic(files.run, run)
    return run
