"""exec: run another process in a running container.

The C core clones the process into the container's pid namespace, then the
child joins its mount, uts, ipc, net and cgroup namespaces through the init's
pidfd (``setns``, not dumpable meanwhile), is moved into the container's
cgroups, drops to the user and execs. The caller reaps it; if the caller
exits first, the container's init adopts it.
"""
import errno
import os
import select
import signal
import time

from .. import _core
from ..cgroups import warm as _cgroup_warm
from ..errors import Conflict, InvalidArgument, OperationError
from . import config as _config
from ..runtime import plan as planmod
from ..runtime.spec import Process, User
from . import users
from .._core import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID,
                     CLONE_NEWUSER, CLONE_NEWUTS)
from ..runtime.process import spawn
from ..runtime.timing import mark

JOIN = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP


class ExecOutput:
    """Iterator over an exec's output chunks; ``exit_code`` is set once it ends.

    With ``demux`` each item is ``(stdout_chunk, stderr_chunk)`` (one is None).
    """

    def __init__(self, proc, out_r, err_r, demux, deadline):
        self.exit_code = None
        self._proc, self._fds, self._demux, self._deadline = proc, [out_r, err_r], demux, deadline
        self._it = self._run()

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def _run(self):
        fds = [fd for fd in self._fds if fd is not None]
        try:
            while fds:
                left = None if self._deadline is None else self._deadline - time.monotonic()
                if left is not None and left <= 0:
                    self._proc.kill(signal.SIGKILL)
                    self._proc.wait()
                    raise TimeoutError("exec did not finish within its timeout (killed)")
                ready, _, _ = select.select(fds, [], [], left)
                for fd in ready:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        fds.remove(fd)
                        continue
                    if self._demux:
                        yield (chunk, None) if fd == self._fds[0] else (None, chunk)
                    else:
                        yield chunk
            left = None if self._deadline is None else max(self._deadline - time.monotonic(), 0)
            code = self._proc.wait(left)
            if code is None:
                self._proc.kill(signal.SIGKILL)
                self._proc.wait()
                raise TimeoutError("exec did not finish within its timeout (killed)")
            self.exit_code = code
        finally:
            for fd in self._fds:
                if fd is not None:
                    os.close(fd)
            self._fds = [None, None]


def exec_plan(user_who, workdir, argv, env, attach, sec=None, privileged=False, tty=False):
    """ids, capabilities, no_new_privs and seccomp as the container's init got
    them (an exec is never less confined than the container), then exec.

    ``privileged`` is docker's ``exec --privileged``: every capability the
    host has in the bounding set (so root's exec has them all effective);
    the namespaces, cgroups, masked paths, no_new_privs and the container's
    seccomp filter stay, as with docker (runc applies the container's filter
    to every exec)."""
    from .. import security
    from .._core import lib
    from ..security import caps
    sec = sec or {}
    pb = planmod.PlanBuilder()
    if attach:
        pb.op(lib.PYC_OP_SYNC, "wait for the cgroup attach")
    for res, soft, hard in sec.get("ulimits", []):
        pb.op(lib.PYC_OP_RLIMIT, f"setrlimit {res} {soft}:{hard}", a=res, b=soft, c=hard)
    bpf = security.seccomp_bpf(sec) if sec else None      # compiled for the container's caps
    if privileged:
        sec = dict(sec, caps=caps.host_mask())
    path = next((e[5:] for e in env if e.startswith("PATH=")), _config.DEFAULT_PATH)
    proc = Process(args=argv, env=env, cwd=workdir, search_path=path,
                   user=User(user_who.uid, user_who.gid, tuple(user_who.groups)),
                   capabilities=sec.get("caps"), no_new_privileges=sec.get("no_new_privs", False),
                   terminal=tty)
    planmod.add_process(pb, proc, bpf)
    pb.op(lib.PYC_OP_EXEC, f"exec {argv[0]!r}", s1=argv[0], s2=path)
    return pb.build()


def start_exec(rt, cid, attrs, cmd, user="", environment=None, workdir=None, stdout=True,
               stderr=True, detach=False, stream=False, demux=False, timeout=None,
               privileged=False, tty=False, stdin=False, socket=False):
    """Start ``cmd`` in the running container; returns (proc, ExecOutput or None),
    or with ``tty``/``stdin`` (proc, ExecPump): its stdio served on a socket
    (engine/attach.py). A tty is a new pty of the container's devpts.

    ``user``: as docker takes it, an int uid or ``"uid"``, ``"uid:gid"``,
    ``"name"``, ``"name:group"``; empty means the container's user.
    """
    _cgroup_warm.ahead(rt.cgroup_layout)
    argv = _config._as_list(cmd, "cmd")
    if not argv:
        raise InvalidArgument("exec needs a command")
    if workdir is not None and not str(workdir).startswith("/"):
        raise InvalidArgument(f"workdir must be absolute, got {workdir!r}")
    st, rtc = attrs["State"], attrs["Runtime"]
    cfg = rtc["Config"]
    # The container's own files (upper layer on top) say who the user is.
    layers = list(reversed(rtc["Lowers"])) + [os.path.join(rtc["LayerDir"], "upper")]
    user = _user_spec(user)
    who = users.lookup(user if user else cfg.get("user") or "", layers)
    env = _config.process_env(_config.merge_env(
        cfg["env"], [f"HOME={who.home}"] if user else [], _config._env_list(environment)))
    wd = workdir or cfg.get("working_dir") or "/"
    into = rt.cg.clone_into(cid)
    if tty and not any(e.startswith("TERM=") for e in env):
        env = env + ["TERM=xterm"]
    plan = exec_plan(who, wd, argv, env, attach=not into, sec=cfg.get("security"),
                     privileged=bool(privileged), tty=tty)
    from .state import alive, pidfd_for
    pidfd = pidfd_for(st["Pid"], st.get("PidStartTime"))
    if pidfd is None:
        raise Conflict(f"container {cid[:12]} is not running")
    devnull = -1
    fds = []
    try:
        in_r = in_w = None
        if tty:
            stdio = (-1, -1, -1)          # the plan's PTY op sets them
            out_r = err_r = None
        elif detach:
            devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            stdio = (-1, devnull, devnull)
            out_r = err_r = None
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            fds += [out_r, out_w]
            if demux or not (stdout and stderr):
                err_r, err_w = os.pipe2(os.O_CLOEXEC)
                fds += [err_r, err_w]
            else:
                err_r, err_w = None, out_w
            if stdin:
                in_r, in_w = os.pipe2(os.O_CLOEXEC)
                fds += [in_r, in_w]
            stdio = (-1 if in_r is None else in_r, out_w if stdout or demux else devnull_fd(fds),
                     err_w if stderr or demux else devnull_fd(fds))
        cgfd = os.open(into, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if into else -1
        limited = bool((cfg.get("resources") or {}).get("mem_limit"))
        ooms = rt.cg.oom_kills(cid) if limited else 0
        # The child shares our memory (CLONE_VM: an exec 3x faster from a 64 MiB
        # caller than with a page-table copy), except at a memory limit, where the
        # OOM killer would take us too. Either way it makes only raw syscalls
        # before exec (csrc/spawn.c: child_main; glibc's set*id once hung it).
        try:
            proc = spawn(plan, argv, env, 0, stdio=stdio,
                         attach=(lambda pid: _core.cgroup_apply(rt.cg.attach_steps(cid, pid)))
                         if not into else None,
                         cgroup_fd=cgfd, join_pidfd=pidfd,
                         join_flags=JOIN | (CLONE_NEWUSER if cfg.get("userns_host") is not None else 0),
                         share_memory=not limited)
        except ProcessLookupError as err:       # setns: the init is exiting
            raise Conflict(f"container {cid[:12]} is not running (it exited meanwhile)") \
                from err
        except (ConnectionResetError, BrokenPipeError) as err:
            # our child died before it exec'd: say why when we can tell
            if limited and rt.cg.oom_kills(cid) > ooms:
                raise OperationError(errno.ESRCH, "exec: the memory limit killed the process "
                                     "before it started (the container is at its limit)",
                                     op="exec") from err
            if not alive(st["Pid"], st.get("PidStartTime")):
                raise Conflict(f"container {cid[:12]} is not running (it exited meanwhile)") \
                    from err
            raise
        finally:
            if cgfd >= 0:
                os.close(cgfd)
        mark("exec")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    finally:
        os.close(pidfd)
        if devnull >= 0:
            os.close(devnull)
    if tty and detach:
        # no reader: the pump drains and reaps it (a closed master would SIGHUP it)
        from .attach import ExecPump
        pump = ExecPump(proc, {1: proc.pty}, -1, True)
        pump.client.close()
        return proc, pump
    if detach:
        return proc, None
    # Our copies of the write ends must go, or reads never see EOF.
    keep = {out_r, err_r, in_w}
    for fd in fds:
        if fd not in keep:
            os.close(fd)
    if tty or stdin or socket:
        from .attach import ExecPump
        if tty:
            return proc, ExecPump(proc, {1: proc.pty}, proc.pty if stdin else -1, True)
        outs = {1: out_r} if err_r is None else {1: out_r, 2: err_r}
        return proc, ExecPump(proc, outs, -1 if in_w is None else in_w, False)
    deadline = None if timeout is None else time.monotonic() + timeout
    return proc, ExecOutput(proc, out_r, err_r, demux, deadline)


def _user_spec(user):
    """``user=`` as text: ints are uids (0 is root, not "the default")."""
    if user is None:
        return ""
    if isinstance(user, bool) or not isinstance(user, (int, str)):
        raise InvalidArgument(f"user must be a name, a uid or 'user:group', got {user!r}")
    if isinstance(user, int) and user < 0:
        raise InvalidArgument(f"user {user} is not a valid uid")
    return str(user)


def devnull_fd(fds):
    fd = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
    fds.append(fd)
    return fd
