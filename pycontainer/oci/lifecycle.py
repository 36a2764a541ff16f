"""The verbs that change a container: create, start, kill, delete, exec, pause.

``create`` clones the init with the same C core and op plan as the engine;
the plan stops the init just before ``pivot_root`` on ``exec.fifo`` (an
``open(O_WRONLY)`` blocks until ``start`` opens it for reading), and create
returns while it waits there: the init's parent is then whoever reaps for
the caller (containerd's shim, conmon, dockerd's subreaper), as with runc.
Every verb checks the state first; a refused verb changes nothing.
"""
import contextlib
import errno
import os
import signal
import time

from .. import _core
from ..cgroups import warm as cgroup_warm
from ..errors import Conflict, InvalidArgument, NotFound, OperationError
from ..runtime import plan as planmod
from ..runtime.process import spawn
from . import bundle as bundlemod, cgroup as cgmod, hooks
from .state import Container, proc_start_time

JOIN = {"mount": _core.CLONE_NEWNS, "uts": _core.CLONE_NEWUTS, "ipc": _core.CLONE_NEWIPC,
        "network": _core.CLONE_NEWNET, "pid": _core.CLONE_NEWPID,
        "cgroup": _core.CLONE_NEWCGROUP, "user": _core.CLONE_NEWUSER}


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _write_pid_file(path, pid):
    if path:
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.replace(tmp, path)


def _send_console(sock_path, master):
    """The pty master to whoever listens on ``--console-socket`` (SCM_RIGHTS)."""
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock_path)
        socket.send_fds(s, [b"/dev/ptmx"], [master])


def _pty(proc_cfg):
    import fcntl
    import struct
    import termios
    master, slave = os.openpty()
    os.set_inheritable(master, False)
    size = proc_cfg.get("consoleSize") or {}
    if size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", int(size.get("height", 0)), int(size.get("width", 0)),
                                0, 0))
    return master, slave


def _userns(cfg, path):
    lx = cfg.get("linux") or {}

    def text(entries):
        return "".join(f"{int(m['containerID'])} {int(m['hostID'])} {int(m['size'])}\n"
                       for m in entries or []).encode()
    open(path, "w").close()
    _core.check(_core.lib.pyc_userns_create(text(lx.get("uidMappings")),
                                            text(lx.get("gidMappings")), os.fsencode(path)),
                "create the container's user namespace", path)


def create(root, cid, bundle, pid_file=None, console_socket=None, preserve_fds=0,
           detach_stdio=None):
    """Make container ``cid`` from ``bundle``; returns (Container, InitProcess).

    The init waits on its fifo; on any failure nothing of it is left.
    """
    cgroup_warm.ahead(cgmod.layout())      # its attach comes after the bundle's reading
    c = Container(root, cid)
    bundle = os.path.abspath(bundle)
    cfg, text = bundlemod.read(bundle)
    spec, res, rules, extra = bundlemod.to_spec(cfg, bundle)
    hooks.check(cfg.get("hooks"))
    proc_cfg = cfg["process"]
    if proc_cfg.get("terminal") and not console_socket and detach_stdio is None:
        raise InvalidArgument("process.terminal is true: a --console-socket is needed to "
                              "hand over the pty")
    lx = cfg.get("linux") or {}
    drv, name, cg_mounts = cgmod.driver(lx.get("cgroupsPath"), cid)
    steps = cgmod.cpuset_fill(drv, name, drv.create_steps(name, res, rules))
    steps += cgmod.extra_steps(drv, name, extra)
    if not any((m.get("destination") == "/sys/fs/cgroup") for m in cfg.get("mounts") or []):
        cg_mounts = []
    os.makedirs(root, 0o700, exist_ok=True)
    try:
        os.mkdir(c.dir, 0o700)
    except FileExistsError:
        raise Conflict(f"container with id {cid} already exists") from None
    with contextlib.ExitStack() as undo:
        undo.callback(_remove_dir, c)
        with open(c.path("config.json"), "w") as f:
            f.write(text)
        userns = spec.namespace("user")
        if userns is not None:
            spec.linux.user_namespace = userns.path or c.path("userns")
            if not userns.path:
                _userns(cfg, spec.linux.user_namespace)
        # Opened for writing by the init once it may be another uid (runc's mode).
        os.mkfifo(c.fifo)
        os.chmod(c.fifo, 0o622)
        undo.callback(_core.cgroup_apply, drv.remove_steps(name))
        if spec.namespace("mount") is None:
            # Its mounts are made in our mount namespace, on the rootfs: undone
            # by delete (or here), all at once.
            if _is_mount_point(spec.root.mountpoint):
                raise Conflict(f"{spec.root.mountpoint} is already a mount point (a container "
                               "without a mount namespace on it?)")
            undo.callback(_unmount, spec.root.mountpoint)
        into = drv.clone_into(name)
        if into:
            _core.cgroup_apply(steps)
            drv.after_create(name, rules)

        # The init waits for start as late as it can (runc's place: every
        # namespace entered, so state shows them), reopening the fifo through
        # the container's /proc; without one, before pivot_root.
        late = any(m.type == "proc" and m.destination == "/proc" for m in spec.mounts)
        wait = f"wait for start on {c.fifo}"

        def ready(pb, b):
            pb.op(_core.lib.PYC_OP_SYNC, "report the init ready")
            pb.op(_core.lib.PYC_OP_WRITE, wait, s1=c.fifo if not b else None, s2="0", b=b)

        def before_pivot(pb):
            pb.op(_core.lib.PYC_OP_SYNC, "wait for the create hooks")
            if late:
                pb.op(_core.lib.PYC_OP_WRITE, f"open {c.fifo}", s1=c.fifo, b=1)
            else:
                ready(pb, 0)

        def after_pivot(pb):
            for path, flags in bundlemod.propagation_ops(cfg):
                pb.op(_core.lib.PYC_OP_MOUNT, f"propagation of {path}", s2=path, a=flags)
        plan = planmod.compile_plan(spec, cg_mounts, before_pivot=before_pivot,
                                    after_pivot=after_pivot,
                                    before_process=(lambda pb: ready(pb, 2)) if late else None,
                                    in_order=True)
        master = slave = -1
        if proc_cfg.get("terminal") and console_socket:
            master, slave = _pty(proc_cfg)
            undo.callback(os.close, master)
            undo.callback(os.close, slave)
        stdio = (slave,) * 3 if slave >= 0 else (detach_stdio or (0, 1, 2))
        record = {"ociVersion": cfg.get("ociVersion", bundlemod.OCI_VERSION), "id": cid,
                  "bundle": bundle, "rootfs": spec.root.mountpoint, "created": _now(),
                  "annotations": cfg.get("annotations") or {},
                  "cgroupsPath": lx.get("cgroupsPath") or "",
                  "cgroups": sorted(set(drv.dirs(name).values())),
                  "freezer": _freezer(drv, name),
                  "join": sum(JOIN[n.type] for n in spec.linux.namespaces if n.type in JOIN),
                  "userns": c.path("userns") if userns is not None and not userns.path
                  else "",
                  "umount": spec.root.mountpoint if spec.namespace("mount") is None else "",
                  "python_verbs": bool(cfg.get("hooks"))}

        early = []

        def meanwhile():        # while the front end clones: the cgroups, made
            if not into:
                _core.cgroup_apply(steps)
                early.append(True)

        def attach(pid):
            if not into:
                _core.cgroup_apply(([] if early else steps) + drv.attach_steps(name, pid))
                drv.after_create(name, rules)

        def at_sync(pid, n):
            if n != 2:
                return
            record.update(pid=pid, start=proc_start_time(pid))
            state = c.state_for(record, "created")
            for kind in ("prestart", "createRuntime", "createContainer"):
                hooks.run(cfg.get("hooks"), kind, state, pid)

        pidns = spec.namespace("pid")
        # A pid namespace is entered by the caller for the clone (only children join one).
        pidfd = os.open(pidns.path, os.O_RDONLY | os.O_CLOEXEC) if pidns and pidns.path else -1
        cgfd = os.open(into, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if into else -1
        try:
            init = spawn(plan, spec.process.args, spec.process.env, planmod.clone_flags(spec),
                         stdio=stdio, attach=attach, cgroup_fd=cgfd, share_memory=False,
                         join_pidfd=pidfd, join_flags=_core.CLONE_NEWPID if pidfd >= 0 else 0,
                         keep_fds_from=3 + preserve_fds, leave_at_sync=3, at_sync=at_sync,
                         meanwhile=meanwhile)
        finally:
            for fd in (cgfd, pidfd):
                if fd >= 0:
                    os.close(fd)
        try:
            c.save(record)
            if master >= 0:
                _send_console(console_socket, master)
            _write_pid_file(pid_file, init.pid)
        except BaseException:
            init.kill()
            init.wait()
            raise
        undo.pop_all()
    if master >= 0:
        os.close(master)
        os.close(slave)
    return c, init


def _freezer(drv, name):
    d = drv.dirs(name)
    if "freezer" in d:
        return os.path.join(d["freezer"], "freezer.state")
    if "unified" in d:
        return os.path.join(d["unified"], "cgroup.freeze")
    return ""


def _is_mount_point(path):
    """From the mount table: a bind on the same filesystem looks like a plain
    directory to stat (os.path.ismount)."""
    want = os.fsencode(path)
    for c, esc in ((b"\\", b"\\134"), (b" ", b"\\040"), (b"\t", b"\\011"), (b"\n", b"\\012")):
        want = want.replace(c, esc)
    with open("/proc/self/mountinfo", "rb") as f:
        return any(line.split()[4] == want for line in f)


def _unmount(path):
    r = _core.lib.pyc_umount(os.fsencode(path))
    if r < 0 and -r not in (errno.EINVAL, errno.ENOENT):
        _core.check(r, "unmount the container's rootfs", path)


def _remove_dir(c):
    if c.exists():
        if os.path.ismount(c.path("userns")):
            from ..security import userns
            userns.release(c.path("userns"))
        for n in os.listdir(c.dir):
            os.unlink(c.path(n))
        os.rmdir(c.dir)


def start(c):
    status = c.status()
    if status != "created":
        raise Conflict(f"cannot start a container that is {status}")
    cfg = c.config()
    hooks.run(cfg.get("hooks"), "startContainer", c.state(), c.record["pid"])
    fd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    got = b""
    try:
        pidfd = os.pidfd_open(c.record["pid"])
        try:
            import select
            # The init writes one byte once it has opened the fifo; its exit ends the wait too.
            select.select([fd, pidfd], [], [])
            try:
                got = os.read(fd, 1)
            except BlockingIOError:
                pass
        finally:
            os.close(pidfd)
    finally:
        os.close(fd)
    os.unlink(c.fifo)
    # The byte says it went on; it may have run and exited since (``true``): started.
    if not got:
        raise OperationError(errno.ESRCH, f"container {c.id}: the init exited before it started")
    with contextlib.suppress(OperationError):
        hooks.run(cfg.get("hooks"), "poststart", c.state())


def parse_signal(text):
    text = str(text).upper()
    if text.isdigit():
        n = int(text)
        if not 0 < n < signal.NSIG:
            raise InvalidArgument(f"invalid signal number {n}")
        return n
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(getattr(signal.Signals, name))
    except AttributeError:
        raise InvalidArgument(f"unknown signal {text!r}") from None


def kill(c, sig, all_procs=False):
    status = c.status()
    if status not in ("created", "running", "paused"):
        raise Conflict(f"container {c.id} is not running")
    pids = _procs(c) if all_procs else [c.record["pid"]]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _procs(c):
    for d in c.record.get("cgroups") or []:
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            continue
    return []


def delete(c, force=False):
    status = c.status()
    if status not in ("stopped", "creating") and not force:     # the spec (runc: created too)
        raise Conflict(f"cannot delete container {c.id} that is not stopped: {status}")
    r = c.record
    if status != "stopped" and r:
        if status == "paused":
            set_frozen(c, False)
        for pid in _procs(c) or [r["pid"]]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_gone(r["pid"], r["start"])
    if r:
        _core.cgroup_apply([("R", d, "") for d in r["cgroups"]])
        if r.get("umount"):
            _unmount(r["umount"])
        with contextlib.suppress(FileNotFoundError, ValueError, OSError):
            cfg = c.config()
            with contextlib.suppress(OperationError):
                hooks.run(cfg.get("hooks"), "poststop", c.state())
    _remove_dir(c)


def _wait_gone(pid, start, timeout=10.0):
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if proc_start_time(pid) != start:
            return
        import select
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)


def set_frozen(c, frozen):
    status = c.status()
    want = "running" if frozen else "paused"
    if status != want:
        raise Conflict(f"container {c.id} is {status}, not {want}")
    path = c.record.get("freezer")
    if not path:
        raise InvalidArgument("this host gives containers no freezer")
    v1 = path.endswith("freezer.state")
    _core.cgroup_apply([("w", path, ("FROZEN" if frozen else "THAWED") if v1 else
                         ("1" if frozen else "0"))])


def exec_process(c, process, console_socket=None, pid_file=None, detach=False,
                 preserve_fds=0):
    """Start ``process`` (an OCI process object) in the container; returns InitProcess."""
    cgroup_warm.ahead(cgmod.layout())
    status = c.status()
    if status not in ("created", "running"):
        raise Conflict(f"cannot exec in a {status} container")
    cfg = c.config()
    proc = bundlemod._process(process)
    if "capabilities" not in process:
        base = bundlemod._process(cfg["process"])
        proc.capabilities, proc.cap_sets = base.capabilities, base.cap_sets
    lx = cfg.get("linux") or {}
    bpf = None
    if lx.get("seccomp"):
        from . import seccomp
        bpf = seccomp.compile(lx["seccomp"], proc)
    r = c.record
    drv, name, _ = cgmod.driver(r.get("cgroupsPath"), c.id)
    into = drv.clone_into(name)
    pb = planmod.PlanBuilder()
    if r.get("umount"):         # no mount namespace to join: the init's chroot
        pb.op(_core.lib.PYC_OP_ROOTFS, "open the init's root", s2=f"/proc/{r['pid']}/root")
        pb.op(_core.lib.PYC_OP_PIVOT_ROOT, "chroot into the init's root", a=1)
    if not into:
        pb.op(_core.lib.PYC_OP_SYNC, "wait for the cgroup attach")
    for res, soft, hard in proc.rlimits:
        pb.op(_core.lib.PYC_OP_RLIMIT, f"setrlimit {res} {soft}:{hard}", a=res, b=soft, c=hard)
    planmod.add_process(pb, proc, bpf)
    pb.op(_core.lib.PYC_OP_EXEC, f"exec {proc.args[0]!r}", s1=proc.args[0],
          s2=proc.search_path)
    plan = pb.build()
    master = slave = -1
    if process.get("terminal"):
        if not console_socket:
            raise InvalidArgument("exec --tty needs a --console-socket")
        master, slave = _pty(process)
    stdio = (slave,) * 3 if slave >= 0 else (0, 1, 2)
    pidfd = os.pidfd_open(r["pid"])
    cgfd = os.open(into, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if into else -1
    try:
        if proc_start_time(r["pid"]) != r["start"]:
            raise Conflict(f"container {c.id} is not running")
        p = spawn(plan, proc.args, proc.env, 0, stdio=stdio,
                  attach=(lambda pid: _core.cgroup_apply(drv.attach_steps(name, pid)))
                  if not into else None, cgroup_fd=cgfd, join_pidfd=pidfd,
                  join_flags=r["join"], share_memory=False, keep_fds_from=3 + preserve_fds)
        if master >= 0:
            _send_console(console_socket, master)
        _write_pid_file(pid_file, p.pid)
    finally:
        os.close(pidfd)
        if cgfd >= 0:
            os.close(cgfd)
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
    return p


def update(c, resources):
    if c.status() == "stopped":
        raise Conflict(f"container {c.id} is stopped")
    res, rules, extra = bundlemod.resources(resources)
    drv, name, _ = cgmod.driver(c.record.get("cgroupsPath"), c.id)
    steps = drv.create_steps(name, res, None) + cgmod.extra_steps(drv, name, extra)
    _core.cgroup_apply([s for s in steps if s[0] == "w"])


def stats(c):
    """The ``events --stats`` data runc prints (the fields this host has)."""
    r = c.record
    drv, name, _ = cgmod.driver(r.get("cgroupsPath"), c.id)
    dirs = drv.dirs(name)

    def read(ctrl, file):
        try:
            with open(os.path.join(dirs.get(ctrl) or dirs.get("unified", ""), file)) as f:
                return f.read()
        except OSError:
            return ""
    num = (lambda s: int(s.split()[0]) if s.strip() and s.split()[0].isdigit() else 0)
    if drv.kind == "v1":
        mem = {"usage": {"usage": num(read("memory", "memory.usage_in_bytes")),
                         "max": num(read("memory", "memory.max_usage_in_bytes")),
                         "limit": num(read("memory", "memory.limit_in_bytes"))}}
        cpu = {"usage": {"total": num(read("cpuacct", "cpuacct.usage"))}}
        pids = {"current": num(read("pids", "pids.current"))}
    else:
        mem = {"usage": {"usage": num(read("unified", "memory.current"))}}
        usage = dict(line.split() for line in read("unified", "cpu.stat").splitlines() if line)
        cpu = {"usage": {"total": int(usage.get("usage_usec", 0)) * 1000}}
        pids = {"current": num(read("unified", "pids.current"))}
    return {"cpu": cpu, "memory": mem, "pids": pids}


def oom_kills(c):
    r = c.record
    drv, name, _ = cgmod.driver(r.get("cgroupsPath"), c.id)
    return drv.oom_kills(name)


def by_id(root, cid):
    c = Container(root, cid)
    if not c.exists():
        raise NotFound(f"container {cid} does not exist")
    return c


def exec_args(args, cwd=None, env=(), user=None, caps=(), tty=False, nnp=False, base=None):
    """An OCI process object from exec's flags (runc's defaults: the container's)."""
    p = dict(base or {})
    p["args"] = list(args)
    p["terminal"] = bool(tty)
    if cwd:
        p["cwd"] = cwd
    if env:
        p["env"] = list(p.get("env") or []) + list(env)
    if user:
        uid, _, gid = user.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise InvalidArgument(f"--user {user!r}: numeric uid[:gid] only")
        p["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    if caps:
        c = dict(p.get("capabilities") or {})
        for k in ("bounding", "effective", "permitted"):
            c[k] = list(c.get(k) or []) + list(caps)
        p["capabilities"] = c
    if nnp:
        p["noNewPrivileges"] = True
    return p

