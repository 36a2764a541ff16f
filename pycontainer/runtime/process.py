"""Start a container init from a compiled plan and follow it to exec.

The parent side of the sync protocol: clone (C), move the child into its
cgroups while it mounts (overlapping the kernel's attach latency with the
child's work), let it pass its SYNC op, then wait for the exec.
"""
import os
import select
import signal

from .._core import check, ffi, lib
# engine.py takes the namespace flags from here
from .._core import (CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS,  # noqa: F401
                     CLONE_NEWPID, CLONE_NEWUTS)  # noqa: F401
from ..errors import SetupError
from .timing import mark


STACK_SIZE = 256 * 1024

# Set in the OCI runtime's warm child (oci/warm.py), whose caller must be
# the init's parent: ``clone_elsewhere(plan, argv, env, clone_flags, stdio,
# cgroup_fd, pdeathsig, keep_fds_from, join_pidfd, join_flags, meanwhile)``
# has it cloned there, runs ``meanwhile()`` (if given) while it waits, and
# returns (pid, pidfd, sync socket).
clone_elsewhere = None


class InitProcess:
    """The container's PID 1, held by pidfd so a reused pid is never mistaken."""

    def __init__(self, pid, pidfd, ours=True):
        self.pid = pid
        self.pidfd = pidfd
        self.ours = ours        # False: another process's child, which reaps it
        self.status = None      # exit code once reaped (128+signal when killed)
        self.held_fds = []      # namespace fds kept open by the caller
        self.pty = -1           # the pty master, when the plan opened one (the caller's)

    def kill(self, sig=signal.SIGKILL):
        if self.status is None and self.pidfd >= 0:
            try:
                signal.pidfd_send_signal(self.pidfd, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout=None):
        """Reap the process; returns its exit code or None on timeout."""
        if self.status is not None:
            return self.status
        if timeout is not None or not self.ours:
            ready, _, _ = select.select([self.pidfd], [], [], timeout)
            if not ready:
                return None
        if not self.ours:       # gone; its status is its parent's to read
            self.status = -1
            self.close()
            return self.status
        info = os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED)
        if info.si_code == os.CLD_EXITED:
            self.status = info.si_status
        else:
            self.status = 128 + info.si_status
        self.close()
        return self.status

    def close(self):
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


def _cstrings(items, keep):
    arr = [ffi.new("char[]", os.fsencode(s)) for s in items]
    ptrs = ffi.new("char *[]", arr + [ffi.NULL])
    keep.extend(arr)
    keep.append(ptrs)   # a struct field does not keep its cdata alive
    return ptrs


def spawn(plan, argv, env, clone_flags, stdio=(-1, -1, -1), attach=None, cgroup_fd=-1,
          pdeathsig=0, join_pidfd=-1, join_flags=0, share_memory=True, keep_fds_from=3,
          leave_at_sync=0, at_sync=None, meanwhile=None):
    """Clone the init, run ``attach(pid)`` while it sets up, follow it to exec.

    Returns an :class:`InitProcess`. On any failure the child is killed and
    reaped before the error propagates; a failing op raises OperationError
    naming the op and its errno.

    ``keep_fds_from``: fds 3 up to it stay open into the container (OCI
    ``--preserve-fds``). ``at_sync(pid, n)`` runs at the n-th SYNC op (1-based)
    before the child goes on (hooks); ``leave_at_sync``: past that SYNC,
    return while the child goes on (the OCI runtime's init then waits for
    ``start``). ``meanwhile()`` runs while ``clone_elsewhere`` clones, if set.
    """
    if clone_elsewhere is not None:
        pid, pidfd, sock = clone_elsewhere(plan, argv, env, clone_flags, tuple(stdio), cgroup_fd,
                                           pdeathsig, keep_fds_from, join_pidfd, join_flags,
                                           meanwhile)
        return _follow_init(InitProcess(pid, pidfd, ours=False), sock, plan, attach,
                            leave_at_sync, at_sync)
    keep = []
    spec = ffi.new("struct pyc_spawn *")
    spec.clone_flags = clone_flags
    ops = ffi.from_buffer(plan.ops)
    strs = ffi.from_buffer(plan.strs)
    keep += [ops, strs]
    spec.ops = ffi.cast("struct pyc_op *", ops)
    spec.nops = plan.nops
    spec.strs = strs
    spec.strs_len = len(plan.strs)
    spec.argv = _cstrings(argv, keep)
    spec.envp = _cstrings(env, keep)
    spec.stdio = list(stdio)
    spec.cgroup_fd = cgroup_fd
    spec.pdeathsig = pdeathsig
    spec.keep_fds_from = keep_fds_from
    spec.join_pidfd = join_pidfd
    spec.join_flags = join_flags
    # The child shares our memory until exec (no page-table copy); its stack
    # lives in ``keep`` until this function returns (exec'd, or killed and reaped).
    # Not when it joins a memory cgroup that may be at its limit: the OOM killer
    # scores a task by its mm and kills every process sharing it, us included.
    # Shared or copied, the child touches no libc state of ours (no lock, no
    # malloc, no set*id wrapper: csrc/spawn.c child_main), so a caller's
    # threads never wait on a child, nor the child on them.
    if share_memory:
        stack = ffi.new("char[]", STACK_SIZE)
        keep.append(stack)
        spec.stack = stack
        spec.stack_size = STACK_SIZE
    pidfd_p, sock_p = ffi.new("int *"), ffi.new("int *")
    pid = check(lib.pyc_container_spawn(spec, pidfd_p, sock_p), "clone the container init")
    mark("clone")
    return _follow_init(InitProcess(pid, pidfd_p[0]), sock_p[0], plan, attach, leave_at_sync,
                        at_sync)


def _follow_init(proc, sock, plan, attach, leave_at_sync, at_sync):
    pid = proc.pid
    try:
        if attach is not None:
            attach(pid)
        proc.pty = _follow(sock, plan, leave_at_sync,
                           (lambda n: at_sync(pid, n)) if at_sync is not None else None)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        os.close(sock)
    return proc


def _follow(sock, plan, leave_at_sync=0, at_sync=None):
    """To the exec, or past the ``leave_at_sync``-th SYNC (``at_sync(n)`` runs
    at each); returns the pty master the child sent, or -1."""
    msg = ffi.new("struct pyc_msg *")
    pty = -1
    syncs = 0
    try:
        while True:
            kind = check(lib.pyc_sync_wait(sock, msg, -1), "wait for the container init")
            if kind == lib.PYC_MSG_FD:
                if pty >= 0:
                    os.close(pty)
                pty = msg.fd
                continue
            if kind == lib.PYC_MSG_SYNC:
                syncs += 1
                if at_sync is not None:
                    at_sync(syncs)
            _step(sock, plan, msg, kind)
            if kind == lib.PYC_MSG_EXEC or (kind == lib.PYC_MSG_SYNC and syncs == leave_at_sync):
                return pty
    except BaseException:
        if pty >= 0:
            os.close(pty)
        raise


def _step(sock, plan, msg, kind):
    """One message of the child's setup: a sync to answer, an error to raise, the exec."""
    if kind == lib.PYC_MSG_SYNC:
        mark("child setup")
        check(lib.pyc_sync_go(sock), "resume the container init")
    elif kind == lib.PYC_MSG_ERROR:
        label = plan.labels[msg.index] if 0 <= msg.index < len(plan.labels) else "setup"
        raise SetupError(msg.err, f"{label}: {os.strerror(msg.err)}",
                         op=label, index=msg.index)
    else:
        mark("exec")
