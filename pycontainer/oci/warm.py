"""The OCI runtime's warm process: ``create`` without an interpreter to start.

A Python ``create`` spends ~100 ms starting and importing before any work.
So the C front end (``csrc/oci/front.c``) hands ``create`` to this warm
process (``forkserver.Server``: a child forked ahead becomes the command,
with the caller's stdio, cwd, environment and umask) and the child makes
the container as the Python runtime would, but for one step: the init's
clone. Its caller (containerd's shim, conmon, dockerd) must be the init's
parent, as with runc, to reap it and get its exit status; a child of the
warm process would be nobody's. So the child sends the spawn (the compiled
op plan, argv, env, flags and the fds it needs) to the front end, which
clones with the same C core and passes back the pid, a pidfd and the sync
socket; the child follows the init's setup on that socket, runs the hooks
and writes the state, as ever.

The front end starts this process (detached) when it finds none, and runs
that ``create`` in Python itself. It exits after ``forkserver.IDLE`` seconds
unused, or when our code changes on disk; ``PYCONTAINER_WARM=0`` turns it
off.
"""
import os
import struct
import sys

from .. import forkserver

# A spawn for the front end: payload length, clone flags, join flags,
# pdeathsig, keep_fds_from, ops, string table length, argv and env counts,
# which of stdio 0-2 / cgroup fd / join pidfd follow (SCM_RIGHTS, in order);
# then the ops, the string table, argv and env (each string NUL-ended).
# Keep in step with csrc/oci/front.c.
HEAD = struct.Struct("<IQQiiIIIII")
SOCKET_GLOB = "/run/pyc-warm-oci-*.sock"


def serve(path, lock=-1):
    """Listen on ``path``; ``lock`` (an fd, held by whoever started us) is
    closed once we listen."""
    import stat
    if lock >= 0 and not stat.S_ISREG(os.fstat(lock).st_mode):
        lock = -1           # not the lock file: never close another fd of ours
    _preload()
    forkserver.Server(path, _command).run(lock)


def _preload():
    """What a create imports, once."""
    import json  # noqa: F401
    import select  # noqa: F401
    import socket  # noqa: F401
    from . import bundle, cgroup, cli, hooks, lifecycle, seccomp, state  # noqa: F401
    from .. import cgroups
    from ..cgroups import resources
    from ..runtime import plan, process  # noqa: F401
    # host facts every create reads: once here, not in each child
    cgroup.LAYOUT = cgroups.detect()
    resources._cpus_online()


def _command(args, conn):
    from ..runtime import process
    from . import cli
    process.clone_elsewhere = lambda *spawn: _clone(conn, *spawn)
    return cli.main(args)


def _clone(conn, plan, argv, env, clone_flags, stdio, cgroup_fd, pdeathsig, keep_fds_from,
           join_pidfd, join_flags, meanwhile=None):
    """Have the front end clone the init; (pid, pidfd, sync socket)."""
    import errno
    import socket
    from .._core import check
    from ..errors import OperationError
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        with theirs:
            socket.send_fds(conn, [b"d\0\0\0\0"], [theirs.fileno()])
        fds, mask = [], 0
        for i, fd in enumerate(list(stdio) + [cgroup_fd, join_pidfd]):
            if fd >= 0:
                fds.append(fd)
                mask |= 1 << i
        strings = b"".join(os.fsencode(s) + b"\0" for s in list(argv) + list(env))
        payload = bytes(plan.ops) + bytes(plan.strs) + strings
        head = HEAD.pack(len(payload), clone_flags, join_flags, pdeathsig, keep_fds_from,
                         plan.nops, len(plan.strs), len(argv), len(env), mask)
        socket.send_fds(ours, [head], fds)
        ours.sendall(payload)
        failed = None
        if meanwhile is not None:
            try:
                meanwhile()
            except BaseException as err:    # the init is made: killed and reaped there
                failed = err
        msg, got, _, _ = socket.recv_fds(ours, 4, 2)
        pid = int.from_bytes(msg, "little", signed=True) if len(msg) == 4 else None
        if pid is None or (pid > 0 and len(got) != 2):
            for fd in got:
                os.close(fd)
            raise OperationError(errno.EPIPE, "clone the container init: the runtime's "
                                 "front end went away")
        if failed is not None:
            for fd in got:
                os.close(fd)
            raise failed
        return check(pid, "clone the container init"), got[0], got[1]
    finally:
        ours.close()


def stop_all(timeout=10.0):
    """Stop every OCI warm process on this machine (the tests' end)."""
    import glob
    return [p for p in glob.glob(SOCKET_GLOB) if forkserver.stop(p, timeout)]


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else -1)
