"""Start a container under its own monitor process (``pyc-monitor``, C).

Python writes the monitor's input file (header + op plan + argv/env + cgroup
paths + state paths), starts the monitor, and reads one report line: ``ok
PID`` once the init has exec'd, or ``err INDEX ERRNO`` naming the failed op.
The monitor detaches (fork + setsid), so this process may exit at any time.
"""
import os
import struct

from .. import _core
from ..errors import OperationError

MAGIC = 0x4D435950
HEADER = struct.Struct("=IIQ8IiIII")
RESTART = {"no": 0, "": 0, "always": 1, "on-failure": 2, "unless-stopped": 3}


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
    if len(words) == 3 and words[0] == "err":
        index, err = int(words[1]), int(words[2])
        label = plan.labels[index] if 0 <= index < len(plan.labels) else "start the container"
        raise OperationError(err, f"{label}: {os.strerror(err)}", op=label, index=index)
    raise OperationError(5, f"the monitor {exe} failed to start the container "
                            f"(report {b''.join(chunks)!r})")
