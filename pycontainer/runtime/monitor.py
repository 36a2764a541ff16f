"""Start a container under its own monitor process (``pyc-monitor``, C).

Python writes the monitor's input file (header + op plan + argv/env + cgroup
paths + state paths), starts the monitor, and reads one report line: ``ok
PID`` once the init has exec'd, or ``err INDEX ERRNO [N]`` naming the failed
step: a plan op (INDEX >= 0), the start (-1: input, pipes, clone) or the
cgroup attach (-2, N: which attach path). The monitor detaches (fork +
setsid), so this process may exit at any time.

The monitor decides nothing itself: whether and when it restarts the init
is a :class:`Restart` in the input (the engine turns docker's restart
policies into one), and the container's id and every path are given.
"""
import errno
import fcntl
import os
import struct
from dataclasses import dataclass

from .. import _core
from ..errors import InvalidArgument, OperationError, SetupError

MAGIC, VERSION = 0x4D435950, 4     # PYC_MON_MAGIC, PYC_MON_VERSION (csrc/monitor/monitor.h)
# struct pyc_mon_header: 8 section lengths, auto_remove, stdio, join_pidns, pad,
# struct pyc_mon_restart
HEADER = struct.Struct("=IIQ8IIIII32s6I")
STEP_START, STEP_ATTACH = -1, -2      # enum pyc_mon_step
IO_TTY, IO_STDIN, IO_STDIN_ONCE = 1, 2, 4     # the header's stdio (csrc/monitor/io.h)
MAX_HOOK_ARGS = 63
_U32 = (1 << 32) - 1


@dataclass(frozen=True)
class Restart:
    """When the monitor starts the init again: data, no policy of its own.

    The init is restarted when its exit code (0..255; 128 + signal when
    killed) is in ``codes``, no stop was asked for and fewer than ``max``
    restarts were made (0: no limit). Before each restart the monitor waits:
    ``backoff_ms`` first, multiplied by ``backoff_factor`` after each restart
    up to ``backoff_max_ms``, and back to ``backoff_ms`` after a run longer
    than ``reset_after_ms``. ``Restart()`` never restarts.
    """
    codes: frozenset = frozenset()
    max: int = 0
    backoff_ms: int = 0
    backoff_factor: int = 1
    backoff_max_ms: int = 0
    reset_after_ms: int = 0

    def __post_init__(self):
        if any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 255
               for c in self.codes):
            raise InvalidArgument(f"restart exit codes must be within 0..255, got {self.codes!r}")
        for name in ("max", "backoff_ms", "backoff_factor", "backoff_max_ms", "reset_after_ms"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= _U32:
                raise InvalidArgument(f"restart {name} must be within 0..{_U32}, got {v!r}")

    def packed(self):
        """The 32-byte exit code set, then the numbers (struct pyc_mon_restart)."""
        bits = bytearray(32)
        for c in self.codes:
            bits[c >> 3] |= 1 << (c & 7)
        return (bytes(bits), self.max, self.backoff_ms, self.backoff_factor,
                self.backoff_max_ms, self.reset_after_ms, 0)


NEVER = Restart()

# struct pyc_mon_extra (csrc/monitor/extra.h)
EXTRA_MAGIC, EXTRA_VERSION = 0x58435950, 2
EXTRA = struct.Struct("=IIQIIQ5Q6I")
LOG_FILE, LOG_NONE = 0, 1          # enum pyc_mon_log_driver


@dataclass(frozen=True)
class Probe:
    """A healthcheck for the monitor: the exec plan it spawns joined to the
    init (``join_flags``), and docker's numbers (nanoseconds)."""
    plan: object
    argv: list
    env: list
    join_flags: int
    interval_ns: int
    timeout_ns: int
    start_period_ns: int
    start_interval_ns: int
    retries: int


@dataclass(frozen=True)
class Extra:
    """The monitor's optional input (csrc/monitor/extra.h): log rotation
    (``log_max_size`` 0: none; ``log_max_files`` files kept, the live one
    included; ``log_none``: keep no log), the event journal the monitor
    appends to (``journal`` "" for none; ``event_from`` and
    ``event_attrs``, the inside of a JSON object, describe the container
    in its events; ``volume_events``: its volumes' mount and unmount events,
    as extra.h's PYC_MON_X_VOLUMES), and a healthcheck (``probe``, with
    ``health_path`` the file of its state)."""
    log_max_size: int = 0
    log_max_files: int = 1
    log_none: bool = False
    journal: str = ""
    journal_max_size: int = 0
    event_from: str = ""
    event_attrs: str = ""
    volume_events: str = ""
    probe: Probe = None
    health_path: str = ""

    def packed(self):
        p = self.probe
        plan_ops, plan_strs = (p.plan.ops, p.plan.strs) if p else (b"", b"")
        argv, env = (_nul(p.argv), _nul(p.env)) if p else (b"", b"")
        paths = _nul([self.health_path if p else "", self.journal, self.event_from,
                      self.event_attrs, self.volume_events])
        nums = (p.interval_ns, p.timeout_ns, p.start_period_ns, p.start_interval_ns,
                p.join_flags, p.retries, p.plan.nops) if p else (0,) * 7
        head = EXTRA.pack(EXTRA_MAGIC, EXTRA_VERSION, self.log_max_size, self.log_max_files,
                          LOG_NONE if self.log_none else LOG_FILE, self.journal_max_size,
                          *nums, len(plan_strs), len(argv), len(env), len(paths))
        return head + bytes(plan_ops) + bytes(plan_strs) + argv + env + paths


def monitor_path():
    """The monitor executable: built next to the C core, or $PYCONTAINER_MONITOR."""
    env = os.environ.get("PYCONTAINER_MONITOR")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.abspath(_core.__file__)), "pyc-monitor")


def _nul(items):
    return b"".join(os.fsencode(i) + b"\0" for i in items)


def _hook_bytes(hooks):
    for cmd in hooks:
        if not cmd or len(cmd) > MAX_HOOK_ARGS or any(not os.fsencode(a) for a in cmd):
            raise InvalidArgument(f"a hook needs 1..{MAX_HOOK_ARGS} non-empty arguments, "
                                  f"got {cmd!r}")
    return b"".join(_nul(cmd) + b"\0" for cmd in hooks)


def pack(plan, argv, env, clone_flags, attach, cleanup, files, cid, restart=NEVER,
         auto_remove=False, remove=(), hooks=(), stdio=0, attach_socket="", extra=None,
         pidns=None):
    """The monitor's input file as bytes (see csrc/monitor/monitor.h).

    ``files``: run.json, the log, the OOM counter file ("" for none), the
    stop marker and the name link, which is released at auto-remove only
    while it points at ``cid``; ``remove``: the directories auto-remove
    deletes. ``restart``: a :class:`Restart`. ``hooks``: commands (argv
    lists, absolute program paths) the monitor runs once the container is
    done for good, before removing its cgroups. ``stdio``: ``IO_TTY`` (the
    plan opens a pty and sends its master) and/or ``IO_STDIN``;
    ``attach_socket``: where the monitor serves attach clients ("" for none;
    the protocol is in csrc/monitor/io.h, the client engine/attach.py).
    ``extra``: an :class:`Extra`, packed after the sections at the next
    8-byte boundary.
    ``pidns``: a pid namespace file every start of the init is cloned into
    (``pid_mode container:``).
    """
    if len(files) != 5 or not cid:
        raise InvalidArgument("the monitor needs five files and the container id")
    paths = [*files, attach_socket, cid, *remove] + ([pidns] if pidns else [])
    sections = [plan.ops, plan.strs, _nul(argv), _nul(env), _nul(attach),
                "".join(f"{k}\t{p}\t{v}\n" for k, p, v in cleanup).encode(), _nul(paths),
                _hook_bytes(hooks)]
    header = HEADER.pack(MAGIC, VERSION, clone_flags, plan.nops, *[len(s) for s in sections[1:]],
                         1 if auto_remove else 0, stdio, 1 if pidns else 0, 0,
                         *restart.packed())
    data = header + b"".join(sections)
    if extra is not None:
        data += b"\0" * (-len(data) % 8) + extra.packed()
    return data


_RESTART = struct.Struct("=32s6I")          # struct pyc_mon_restart: the header's tail


def set_restart(spec_path, restart):
    """Give a running monitor a new :class:`Restart`: its input written anew
    with it and renamed into place (the monitor reads it again at each exit)."""
    with open(spec_path, "rb") as f:
        data = bytearray(f.read())
    if len(data) < HEADER.size or HEADER.unpack_from(data)[:2] != (MAGIC, VERSION):
        raise InvalidArgument(f"{spec_path}: not a monitor input of this version")
    _RESTART.pack_into(data, HEADER.size - _RESTART.size, *restart.packed())
    tmp = spec_path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, spec_path)


def start(spec_path, data, plan, companion=None):
    """Write the input, start the monitor, return the init's pid.
    ``companion``: ``(fds, argv)``, a program the monitor runs beside the
    container, with ``fds`` as its fd 3 and 5 (the DNS server and its
    sockets; its fd 4 is the monitor's lifeline).

    Raises OperationError (the failed op's label) when the init could not start.
    """
    with open(spec_path, "wb") as f:
        f.write(data)
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        exe = monitor_path()
        argv, actions, high = [exe, spec_path], [(os.POSIX_SPAWN_DUP2, w, 3)], []
        try:
            if companion is not None:
                # above 5, so that no dup2 overwrites another's source
                for i, fd in enumerate(companion[0]):
                    high.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 6))
                    actions.append((os.POSIX_SPAWN_DUP2, high[-1], 4 + i))
                argv += ["--", *companion[1]]
            pid = os.posix_spawn(exe, argv, {"PATH": "/usr/bin:/bin"}, file_actions=actions)
        finally:
            for fd in high:
                os.close(fd)
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    try:
        os.waitpid(pid, 0)        # the intermediate exits once the monitor is detached
        chunks = []
        while True:
            chunk = os.read(r, 256)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
    words = b"".join(chunks).decode().split()
    if len(words) == 2 and words[0] == "ok":
        return int(words[1])
    if len(words) in (3, 4) and words[0] == "err":
        index, err = int(words[1]), int(words[2])
        label, path = _step(index, int(words[3]) if len(words) == 4 else -1, plan, data)
        raise SetupError(err, f"{label}: {os.strerror(err)}", op=label, path=path,
                         index=index)
    raise OperationError(errno.EIO, f"the monitor {exe} failed to start the container "
                                      f"(report {b''.join(chunks)!r})")


def _step(index, which, plan, data):
    """(label, path) of a failed step the monitor reported."""
    if 0 <= index < len(plan.labels):
        return plan.labels[index], None
    if index == STEP_ATTACH:
        paths = _attach_paths(data, plan)
        if 0 <= which < len(paths):
            return f"attach the init to cgroup {os.path.dirname(paths[which])}", paths[which]
        return "attach the init to its cgroups", None
    return "start the init under its monitor (input, pipes, clone)", None


def _attach_paths(data, plan):
    """The attach section of the input :func:`pack` made."""
    fields = HEADER.unpack_from(data)
    strs, argv, env, attach = fields[4:8]
    start = HEADER.size + len(plan.ops) + strs + argv + env
    return [os.fsdecode(p) for p in data[start:start + attach].split(b"\0") if p]
