"""A cgroup v1 attach, started ahead.

Moving a task between cgroups takes a global rwsem whose write side first
waits for an RCU grace period when none has been taken for ~15 ms (6-8 ms
on these machines); once taken, attaches for the next ~15 ms cost µs. So
when a start is coming (a create, the top of a start or an exec), a thread
moves this process into the cgroup it is in (a move to where it is, which
takes the same lock) while the start prepares: the container's own attach,
a few ms later, finds the grace period passed or under way. cgroup2 clones
into the cgroup (CLONE_INTO_CGROUP) and needs none of this. Errors are
ignored: this only saves time.
"""
import os
import threading

_busy = threading.Lock()


def _forked():
    global _busy
    _busy = threading.Lock()        # a thread of the parent held it: not ours


os.register_at_fork(after_in_child=_forked)


def _own_procs(layout):
    """``cgroup.procs`` of our cgroup in the pids (else any) v1 hierarchy, read
    now: someone may have moved us since the last time."""
    path = None
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, rel = line.rstrip("\n").split(":", 2)
            for name in names.split(","):
                if name in layout.v1 and (path is None or name == "pids"):
                    path = os.path.join(layout.v1[name], rel.lstrip("/"), "cgroup.procs")
    return path


def _move_in_place(layout, done):
    try:
        path = _own_procs(layout)
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
    except (OSError, ValueError):
        pass
    finally:
        done.release()


def ahead(layout):
    """Start the grace period of the next attach now, in the background."""
    busy = _busy
    if not layout.v1 or not busy.acquire(blocking=False):
        return
    try:
        threading.Thread(target=_move_in_place, args=(layout, busy), daemon=True,
                         name="pyc-cgroup-warm").start()
    except RuntimeError:            # no new thread (the interpreter is going down)
        busy.release()
