"""Start a container under its own monitor process (``pyc-monitor``, C).

Python writes the monitor's input file (header + op plan + argv/env + cgroup
paths + state paths), starts the monitor, and reads one report line: ``ok
PID`` once the init has exec'd, or ``err INDEX ERRNO [N]`` naming the failed
step: a plan op (INDEX >= 0), the start (-1: input, pipes, clone) or the
cgroup attach (-2, N: which attach path). The monitor detaches (fork +
setsid), so this process may exit at any time.
"""
import os
import struct

from .. import _core
from ..errors import OperationError

MAGIC = 0x4D435950
HEADER = struct.Struct("=IIQ8IiIII")
RESTART = {"no": 0, "": 0, "always": 1, "on-failure": 2, "unless-stopped": 3}
STEP_START, STEP_ATTACH = -1, -2      # enum pyc_mon_step (csrc/monitor/monitor.h)


def monitor_path():
    """The monitor executable: built next to the C core, or $PYCONTAINER_MONITOR."""
    env = os.environ.get("PYCONTAINER_MONITOR")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.abspath(_core.__file__)), "pyc-monitor")


def _nul(items):
    return b"".join(os.fsencode(i) + b"\0" for i in items)


def pack(plan, argv, env, clone_flags, attach, cleanup, paths, restart=("no", 0),
         auto_remove=False, hooks=()):
    """The monitor's input file as bytes (see csrc/monitor/monitor.h).

    ``hooks``: commands (argv lists, absolute program paths) the monitor runs
    once the container is done for good, before removing its cgroups.
    """
    name, max_retry = restart
    sections = [plan.ops, plan.strs, _nul(argv), _nul(env), _nul(attach),
                "".join(f"{k}\t{p}\t{v}\n" for k, p, v in cleanup).encode(), _nul(paths)]
    hook_bytes = b"".join(_nul(cmd) + b"\0" for cmd in hooks)
    header = HEADER.pack(MAGIC, 1, clone_flags, plan.nops, *[len(s) for s in sections[1:]],
                         RESTART[name], max_retry, 1 if auto_remove else 0, len(hook_bytes), 0)
    return header + b"".join(sections) + hook_bytes


def start(spec_path, data, plan):
    """Write the input, start the monitor, return the init's pid.

    Raises OperationError (the failed op's label) when the init could not start.
    """
    with open(spec_path, "wb") as f:
        f.write(data)
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        exe = monitor_path()
        pid = os.posix_spawn(exe, [exe, spec_path], {"PATH": "/usr/bin:/bin"},
                             file_actions=[(os.POSIX_SPAWN_DUP2, w, 3)])
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
        raise OperationError(err, f"{label}: {os.strerror(err)}", op=label, path=path,
                             index=index)
    raise OperationError(5, f"the monitor {exe} failed to start the container "
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
