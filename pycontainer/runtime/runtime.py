"""The runtime: container directories, cgroups, the op plan and the init.

One :class:`Runtime` per Client. It owns the on-disk layout under
``<root>/containers/<id>/`` (ARCHITECTURE.md, "On disk") and undoes every step it
made when a later one fails.
"""
import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import time

from .. import _core, cgroups, fstree
from ..security import userns
from ..errors import Conflict
from ..jsonfile import read_json, write_json_atomic
from . import monitor
from . import plan as planmod
from .process import spawn


INIT_DIRS = ("proc", "sys", "dev", "etc", "tmp")
INIT_FILES = ("etc/hostname", "etc/hosts", "etc/resolv.conf")
STORE_MARK = "store"        # in a run root: its store's path (the sweep reads it)
CGROUP_GRACE = 600          # s before a container cgroup with no owner recorded may go
CGROUP_MIN_AGE = 30         # ... and one whose owner is gone (a start in another namespace)




class Runtime:
    """Creates, starts and cleans up containers under one store root."""

    def __init__(self, root, run_root=None, cgroup_parent="/", layout=None):
        self.root = root
        self.run_root = run_root or default_run_root(root)
        self.containers = os.path.join(root, "containers")
        # Names are claimed on the tmpfs (cheap); rebuilt from the store after a reboot.
        self.names = os.path.join(self.run_root, "names")
        fresh = not os.path.isdir(self.names)
        for d in (self.containers, self.run_root, self.names):
            os.makedirs(d, mode=0o700, exist_ok=True)
        if fresh:
            self._rebuild_names()
        self._in_base = run_root is None    # ours: beside other stores' in one dir
        if self._in_base and not os.path.exists(os.path.join(self.run_root, STORE_MARK)):
            write_json_atomic(os.path.join(self.run_root, STORE_MARK),
                              {"Store": os.path.abspath(root)})
        self.cgroup_layout = layout or cgroups.detect()
        self.cg = cgroups.driver_for(self.cgroup_layout, cgroup_parent)
        self._cg_mounts = self.cg.container_mounts()
        self.cg.parent_of = self._cgroup_parent_of
        self.userns = userns.Allocator(root)
        self._init_layers = {}

    def dir(self, cid):
        """The container's directory in the store (config, upper layer, logs)."""
        return os.path.join(self.containers, cid)

    def rundir(self, cid):
        """Its run-time directory on tmpfs (rootfs mount point, /etc files)."""
        return os.path.join(self.run_root, cid)

    def lowers(self, record):
        """overlay lowerdirs, top-most first: the image's init layer, then its
        layers. A layer the image has twice (two steps that changed the same,
        or nothing) is one directory, which overlayfs refuses to stack twice
        (ELOOP): only its top-most place is kept, which shows the same tree
        (whatever the lower copy holds, the upper one holds above it)."""
        return [self.init_layer(record)] + list(dict.fromkeys(reversed(record.layer_dirs)))

    def init_layer(self, record):
        """A small read-only layer per image holding the mount points every
        container needs (/proc, /sys, /dev, /etc/hosts...), made once, so a
        container's upper layer stays empty and start needs no copy-up."""
        path = self._init_layers.get(record.id)
        if path and os.path.isdir(path):   # image removal deletes it
            return path
        path = os.path.join(self.root, "init", record.id.split(":")[-1])
        if not os.path.isdir(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            # made in tmp/, which image removal's sweep leaves alone: a sibling
            # in init/ is not an image's and would be swept from under us
            tmpdir = os.path.join(self.root, "tmp")
            os.makedirs(tmpdir, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix="init-", dir=tmpdir)
            os.chmod(tmp, 0o755)       # it is the container's / (mkdtemp gives 0700)
            for d in INIT_DIRS:
                os.makedirs(os.path.join(tmp, d), 0o755, exist_ok=True)
            # the top-most dir's mode wins in overlay: /tmp must stay 1777 for
            # users other than root (as in every image)
            os.chmod(os.path.join(tmp, "tmp"), 0o1777)
            for f in INIT_FILES:
                open(os.path.join(tmp, f), "w").close()
            try:
                os.rename(tmp, path)
            except OSError:   # another process made it first
                fstree.remove(tmp)
        self._init_layers[record.id] = path
        return path

    # -- create ----------------------------------------------------------
    def layer_dir(self, cid, ephemeral):
        """Where the writable layer lives: the store, or for an ephemeral
        container (``run(remove=True)`` attached) the run-time tmpfs, since it
        is deleted when the call returns anyway."""
        return self.rundir(cid) if ephemeral else self.dir(cid)

    def create(self, cid, cfg, record, ephemeral=False, hold=False):
        """Make the container's directories and claim its name.

        Returns the attrs written to ``config.json``; with ``hold``,
        ``(attrs, lock_fd)``: the container's lock, still held, for a caller
        that starts it at once (repair leaves a locked container alone).
        """
        rd = self.rundir(cid)
        d = ld = self.layer_dir(cid, ephemeral)
        with contextlib.ExitStack() as undo:
            lock = self._make_locked_rundir(rd)
            undo.callback(fstree.remove, rd)
            undo.callback(os.close, lock)
            self.claim_name(cfg.name, cid)
            undo.callback(self.release_name, cfg.name, cid)
            if d != rd:
                os.mkdir(d, 0o700)
                undo.callback(fstree.remove, d)
            os.mkdir(os.path.join(rd, "rootfs"), 0o755)
            os.mkdir(os.path.join(ld, "upper"), 0o755)
            os.mkdir(os.path.join(ld, "work"), 0o700)
            if cfg.userns:
                cfg.userns_host = self.userns.allocate(cid)
                undo.callback(self.userns.release, cid)
                # The container's root owns its writable layer.
                os.chown(os.path.join(ld, "upper"), cfg.userns_host, cfg.userns_host)
            self._write_etc(rd, cfg)
            attrs = {
                "Id": cid, "Name": "/" + cfg.name, "Created": _now(),
                "Image": cfg.image_id, "ImageName": cfg.image,
                "Layers": list(reversed(record.layer_dirs)),
                "Config": {"Image": cfg.image, "Cmd": cfg.argv, "Env": cfg.env,
                           "Hostname": cfg.hostname, "WorkingDir": cfg.working_dir,
                           "User": cfg.user, "Labels": cfg.labels,
                           "StopSignal": cfg.stop_signal, "Tty": cfg.tty,
                           "OpenStdin": cfg.stdin_open, "StdinOnce": cfg.stdin_once,
                           **({"StopTimeout": cfg.stop_timeout}
                              if cfg.stop_timeout is not None else {})},
                "HostConfig": {"NetworkMode": cfg.network_mode, "ReadonlyRootfs": cfg.read_only,
                               **host_resources(cfg.resources)},
                "Runtime": {"LayerDir": ld, "Lowers": self.lowers(record),
                            "Ephemeral": ephemeral, "Config": cfg.to_dict()},
            }
            write_json_atomic(os.path.join(d, "config.json"), attrs)
            undo.pop_all()
        if hold:
            return attrs, lock
        os.close(lock)
        return attrs

    def _make_locked_rundir(self, rd):
        """The run dir appears with its lock file in it, already locked: held
        until config.json exists, so a config-less dir whose lock is held
        belongs to a creator still at work, and garbage collection never sees
        the dir unlocked (it is made under a temporary name, then renamed)."""
        tmp = f"{rd}.new"
        os.mkdir(tmp, 0o700)
        try:
            lock = os.open(os.path.join(tmp, "lock"),
                           os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(lock, fcntl.LOCK_EX)
            os.rename(tmp, rd)
        except BaseException:
            fstree.remove(tmp)
            raise
        return lock

    def ensure_rundir(self, cid, cfg):
        """Recreate the run-time dir (tmpfs) after a reboot wiped it."""
        rd = self.rundir(cid)
        if not os.path.isdir(os.path.join(rd, "rootfs")):
            os.makedirs(os.path.join(rd, "rootfs"), 0o755, exist_ok=True)
            self._write_etc(rd, cfg)

    def _write_etc(self, d, cfg):
        with open(os.path.join(d, "hostname"), "w") as f:
            f.write(cfg.hostname + "\n")
        with open(os.path.join(d, "hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                    f"127.0.1.1\t{cfg.hostname}\n" +
                    "".join(f"{ip}\t{name}\n" for name, ip in cfg.extra_hosts))
        if cfg.network_mode == "host":
            with contextlib.suppress(OSError):
                shutil.copyfile("/etc/resolv.conf", os.path.join(d, "resolv.conf"))

    def _rebuild_names(self):
        for cid in os.listdir(self.containers):
            with contextlib.suppress(OSError, ValueError, KeyError):
                name = read_json(os.path.join(self.containers, cid, "config.json"))["Name"]
                os.symlink(cid, os.path.join(self.names, name.lstrip("/")))

    def claim_name(self, name, cid):
        """A symlink per name: creating it is atomic across processes."""
        link = os.path.join(self.names, name)
        try:
            os.symlink(cid, link)
            return
        except FileExistsError:
            owner = self.name_owner(name)
        if owner and not self._exists_or_in_progress(owner):
            # Left by a container removed without us (auto-remove after a rename,
            # a crash): replace it atomically.
            tmp = f"{link}.{cid[:12]}.tmp"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(cid, tmp)
            if self.name_owner(name) == owner:
                os.rename(tmp, link)
                return
            os.unlink(tmp)
        if True:
            raise Conflict(f'the container name "/{name}" is already in use by container '
                           f'"{self.name_owner(name)}"') from None

    def _exists_or_in_progress(self, cid):
        if self.has_config(cid):
            return True
        try:
            fd = os.open(os.path.join(self.rundir(cid), "lock"), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return self.has_config(cid)

    def name_owner(self, name):
        try:
            return os.readlink(os.path.join(self.names, name))
        except OSError:
            return None

    def release_name(self, name, cid):
        if self.name_owner(name) == cid:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.names, name))

    # -- start -----------------------------------------------------------
    def _plan(self, spec, labels=None):
        return planmod.compile_plan(spec, self._cg_mounts, labels), planmod.clone_flags(spec)

    def userns_path(self, cid):
        return os.path.join(self.rundir(cid), "userns")

    def prepare_userns(self, cid, cfg):
        """The container's user namespace, bound on a file in its run dir for
        as long as it runs (restarts by the monitor reuse it)."""
        path = self.userns_path(cid)
        if not os.path.ismount(path):
            userns.create(path, cfg.userns_host)
        return path

    def release_userns(self, cid):
        path = self.userns_path(cid)
        if os.path.lexists(path):
            userns.release(path)

    def start(self, cid, spec, stdio, pdeathsig=0, hold_mntns=False, on_spawn=None,
              labels=None):
        """Create cgroups, compile the plan and spawn the init in this process.

        ``on_spawn(pid)``: called while the child sets up, beside the cgroup
        attach; returns None or a callable that waits for its work (before
        the child may go on past SYNC).
        Returns the InitProcess; on failure nothing of the attempt is left.
        """
        plan, flags = self._plan(spec, labels)
        rules = spec.linux.device_rules
        create = self._create_steps(cid, spec, rules)
        with contextlib.ExitStack() as undo:
            undo.callback(self.remove_cgroups, cid)
            into = self.cg.clone_into(cid)
            if into:      # CLONE_INTO_CGROUP needs it before the clone
                _core.cgroup_apply(create)
                self.cg.after_create(cid, rules)
            cgfd = os.open(into, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if into else -1

            held = []

            def attach(pid):
                # e.g. veths into the child's netns, on a thread beside the cgroup attach
                pending = on_spawn(pid) if on_spawn is not None else None
                try:
                    if not into:
                        # mkdir + limits + attach while the child mounts its rootfs
                        # (it waits at SYNC before anything runs in the container).
                        _core.cgroup_apply(create + self.cg.attach_steps(
                            cid, pid, spec.linux.resources))
                finally:
                    if pending is not None:
                        pending()
                if hold_mntns:
                    # Keep the mount namespace alive past the init's exit, so its
                    # teardown (every unmount) happens in teardown.release(), off
                    # the caller's wait.
                    try:
                        held.append(os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC))
                    except OSError:
                        pass    # the child already failed: its report says why
            pidns = spec.namespace("pid")
            join = -1
            if pidns is not None and pidns.path:      # pid_mode container:<id>
                join = os.open(pidns.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                proc = spawn(plan, spec.process.args, spec.process.env, flags, stdio=stdio,
                             attach=attach, cgroup_fd=cgfd, pdeathsig=pdeathsig,
                             **({"join_pidfd": join, "join_flags": planmod.CLONE_NEWPID}
                                if join >= 0 else {}))
                proc.held_fds = held
            except BaseException:
                for fd in held:
                    os.close(fd)
                raise
            finally:
                if cgfd >= 0:
                    os.close(cgfd)
                if join >= 0:
                    os.close(join)
            undo.pop_all()
        return proc

    def start_monitored(self, cid, spec, name, restart=monitor.NEVER, auto_remove=False,
                        hooks=(), labels=None, stdin_open=False, extra=None,
                        stdin_once=False, companion=None):
        """Start the container under its own monitor; returns the init's pid.

        The monitor owns the container from here: logs, exit status
        (``run.json``), restarts (``restart``, a :class:`monitor.Restart`),
        cgroup removal and auto-remove; it serves the attach socket, and
        runs ``companion`` (``(fd, argv)``: the DNS server) while it lives.
        """
        plan, flags = self._plan(spec, labels)
        stdio = ((monitor.IO_TTY if spec.process.terminal else 0)
                 | (monitor.IO_STDIN if stdin_open else 0)
                 | (monitor.IO_STDIN_ONCE if stdin_open and stdin_once else 0))
        d, rd = self.dir(cid), self.rundir(cid)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.stop_marker(cid))
        rules = spec.linux.device_rules
        _core.cgroup_apply(self._create_steps(cid, spec, rules))
        try:
            self.cg.after_create(cid, rules)
            attach = [p for _, p, _ in self.cg.attach_steps(cid, 0)]   # made: found on disk
            files = (os.path.join(d, "run.json"), os.path.join(d, "container.log"),
                     self.cg.oom_file(cid) or "", self.stop_marker(cid),
                     os.path.join(self.names, name))
            if spec.linux.user_namespace:
                hooks = list(hooks) + [["@umount", spec.linux.user_namespace]]
            pidns = spec.namespace("pid")
            data = monitor.pack(plan, spec.process.args, spec.process.env, flags, attach,
                                self.cg.remove_steps(cid), files, cid, restart, auto_remove,
                                [rd, d] if auto_remove else (), hooks, stdio,
                                self.attach_socket(cid), extra,
                                pidns=pidns.path if pidns is not None else None)
            return monitor.start(self.monitor_input(cid), data, plan, companion)
        except BaseException:
            self.remove_cgroups(cid)
            raise

    def _create_steps(self, cid, spec, rules):
        """The container's cgroups, each marked with its owner (its dirs in the
        store and the run root): :func:`sweep_cgroups` removes a cgroup whose
        owner is gone, which its own store's repair can no longer do."""
        steps = self.cg.create_steps(cid, spec.linux.resources or cgroups.Resources(), rules)
        owner = f"{self.dir(cid)}\t{self.rundir(cid)}"
        if "\n" in owner:
            return steps
        return steps + [("o", p, owner) for k, p, _ in steps
                        if k == "d" and os.path.basename(p) == cid]

    def attach_socket(self, cid):
        """The monitor's attach socket (csrc/monitor/io.h)."""
        return os.path.join(self.rundir(cid), "attach")

    def monitor_input(self, cid):
        """The monitor's input file (csrc/monitor/monitor.h), in the run dir."""
        return os.path.join(self.rundir(cid), "monitor.bin")

    def set_restart(self, cid, restart):
        """The running monitor of ``cid`` restarts its init by ``restart`` from
        its next exit on."""
        monitor.set_restart(self.monitor_input(cid), restart)

    def stop_marker(self, cid):
        """Present while a stop or kill was asked for: the monitor must not restart."""
        return os.path.join(self.rundir(cid), "stopped")

    # -- cleanup ---------------------------------------------------------
    def oom_killed(self, cid):
        return self.cg.oom_kills(cid) > 0

    def remove_cgroups(self, cid):
        _core.cgroup_apply(self.cg.remove_steps(cid))

    def _cgroup_parent_of(self, cid):
        """run(cgroup_parent=): the container's own, "" for the client's, None if unknown."""
        try:
            return read_json(self.config_path(cid))["Runtime"]["Config"].get("cgroup_parent", "")
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def has_config(self, cid):
        """The container exists: its config.json is written (one stat for a
        stored container, two for an ephemeral one)."""
        return os.path.exists(os.path.join(self.dir(cid), "config.json")) or \
            os.path.exists(os.path.join(self.rundir(cid), "config.json"))

    def config_path(self, cid):
        """config.json: in the store, or the run-time dir for an ephemeral one."""
        path = os.path.join(self.dir(cid), "config.json")
        if os.path.exists(path):
            return path
        return os.path.join(self.rundir(cid), "config.json")

    def remove_dir(self, cid):
        """Remove the container's directories; it is gone for every reader as
        soon as its config.json is (a crash later leaves only garbage that
        :meth:`collect_garbage` removes)."""
        for d in (self.dir(cid), self.rundir(cid)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(d, "config.json"))
        self.release_userns(cid)
        fstree.remove(self.dir(cid))
        fstree.remove(self.rundir(cid))

    def collect_garbage(self):
        """Remove what crashed creators or removers left: container dirs with no
        config.json that nobody holds the lock of, their cgroups and names;
        and the empty run roots of stores that were deleted."""
        if self._in_base:
            sweep_run_roots(os.path.dirname(self.run_root), self.run_root,
                            self.cg.default_bases())
        sweep_cgroups(self.cg.default_bases())
        names = os.listdir(self.run_root)
        for n in names:
            if n.endswith(".new") and len(n) == 68:     # a creator died before the rename
                self._remove_if_unlocked(os.path.join(self.run_root, n))
        found = set(os.listdir(self.containers)) | {n for n in names if len(n) == 64}
        for cid in found:
            if self.has_config(cid):
                continue
            lock = os.path.join(self.rundir(cid), "lock")
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                fd = None
            try:
                if fd is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue          # being created or removed right now
                if self.has_config(cid):
                    continue
                with contextlib.suppress(OSError):
                    self.remove_cgroups(cid)
                fstree.remove(self.dir(cid))
                fstree.remove(self.rundir(cid))
            finally:
                if fd is not None:
                    os.close(fd)
        for name in os.listdir(self.names):
            owner = self.name_owner(name)
            if owner and not self._exists_or_in_progress(owner):
                self.release_name(name, owner)


    def _remove_if_unlocked(self, d):
        """A ``<id>.new`` dir a creator left: it is renamed microseconds after
        its mkdir, so one older than a minute whose lock is free is garbage
        (younger ones may be between the mkdir and the flock)."""
        with contextlib.suppress(FileNotFoundError):
            if time.time() - os.stat(d).st_mtime < 60:
                return
        try:
            fd = os.open(os.path.join(d, "lock"), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
            fstree.remove(d)
        finally:
            if fd is not None:
                os.close(fd)


def sweep_run_roots(base, own, cgroup_bases=()):
    """Remove the run roots in ``base`` whose store is gone. A container's dir
    in one goes first when nothing of it can run (:func:`_dead_rundir`), a
    name with it; a run root that still holds a container that may run, or a
    name of one, is left. Returns the run roots removed."""
    gone = []
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return gone
    monitors = None
    for n in names:
        d = os.path.join(base, n)
        if d == own or len(n) != 12:
            continue
        try:
            store = read_json(os.path.join(d, STORE_MARK))["Store"]
            if os.path.exists(store):
                continue
            entries = set(os.listdir(d)) - {"names", STORE_MARK}
            if monitors is None and entries:
                monitors = _monitor_inputs()
            for e in entries:
                if len(e) == 64 and _dead_rundir(os.path.join(d, e), e, cgroup_bases, monitors):
                    fstree.remove(os.path.join(d, e))
            for name in os.listdir(os.path.join(d, "names")):
                link = os.path.join(d, "names", name)
                if not os.path.isdir(os.path.join(d, os.readlink(link))):
                    os.unlink(link)         # its container's dir is gone
            if set(os.listdir(d)) != {"names", STORE_MARK} or os.listdir(os.path.join(d, "names")):
                continue
        except (OSError, ValueError, KeyError, TypeError):
            continue        # no mark (made before marks, or being made): not ours to judge
        with contextlib.suppress(OSError):
            shutil.rmtree(d)
            gone.append(d)
    return gone


def _dead_rundir(d, cid, cgroup_bases, monitors):
    """Nothing of the container of run dir ``d`` (its store deleted) can run
    any more: no monitor reads its input there, and its cgroups (the
    driver's own parent's) are there and empty, or none is there and the
    dir is older than CGROUP_GRACE (a container never started, or one under
    another cgroup parent). What a SIGKILL of a session and its containers
    leaves when the session's store is deleted afterwards."""
    if os.path.join(d, "monitor.bin") in monitors:
        return False
    groups = [os.path.join(b, cid) for b in cgroup_bases if os.path.isdir(os.path.join(b, cid))]
    if groups:
        return all(_empty_procs(g) for g in groups)
    return time.time() - os.stat(d).st_mtime > CGROUP_GRACE


def _monitor_inputs():
    """The input files of the monitors running on the host (their argv[1])."""
    out = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "pyc-monitor":
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if len(argv) > 1:
                out.add(os.fsdecode(argv[1]))
    return out


def sweep_cgroups(bases):
    """Remove containers' cgroups (``<base>/<id>``) that nobody will remove:
    empty, and owned by a container whose dirs are gone (its store was
    deleted, or its owner was killed before it could clean up and the store
    went after). One with no owner recorded (owners are recorded right after
    the mkdir) is taken after CGROUP_GRACE seconds. Returns the ids."""
    found = {}
    for base in bases:
        try:
            names = os.listdir(base)
        except FileNotFoundError:
            continue
        for n in names:
            if len(n) == 64:
                found.setdefault(n, []).append(os.path.join(base, n))
    gone = []
    for cid, paths in found.items():
        with contextlib.suppress(OSError, ValueError):
            if _owned(paths) or not all(_empty(p) for p in paths):
                continue
            _core.cgroup_apply([("r", p, "") for p in paths])
            gone.append(cid)
    return gone


def _owned(paths):
    """Someone may still use or remove these: the owner's dirs exist, or the
    cgroup is too young to judge."""
    age = time.time() - os.stat(paths[0]).st_mtime
    for p in paths:
        try:
            owner = os.getxattr(p, "trusted.pyc.owner").decode()
        except OSError:
            continue
        return age < CGROUP_MIN_AGE or any(os.path.exists(d) for d in owner.split("\t"))
    return age < CGROUP_GRACE


def _empty_procs(path):
    with open(os.path.join(path, "cgroup.procs")) as f:
        return not f.read().strip()


def _empty(path):
    """No process and no child cgroup in it."""
    return _empty_procs(path) and not any(e.is_dir() for e in os.scandir(path))


def default_run_root(root):
    """Run-time state lives on a tmpfs, one dir per store: ``/run/pycontainer``
    where /run is a tmpfs, else ``/dev/shm/pycontainer`` (checked to be ours).
    ``$PYCONTAINER_RUN_ROOT`` overrides both."""
    digest = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:12]
    env = os.environ.get("PYCONTAINER_RUN_ROOT")
    if env:
        return os.path.join(env, digest)
    base = "/run/pycontainer" if _is_tmpfs("/run") else "/dev/shm/pycontainer"
    os.makedirs(base, mode=0o700, exist_ok=True)
    st = os.lstat(base)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise PermissionError(f"run-time dir {base} is not a private directory owned by us; "
                              "remove it or set PYCONTAINER_RUN_ROOT")
    return os.path.join(base, digest)


def _is_tmpfs(path):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if left.split()[4] == path:
                return right.split()[0] == "tmpfs"
    return False


def host_resources(res):
    """docker's HostConfig fields for these limits."""
    quota, period = res.cfs()
    return {"Memory": res.mem_limit, "MemorySwap": res.swap_total(),
            "PidsLimit": res.pids_limit or None, "NanoCpus": res.nano_cpus,
            "CpuShares": res.cpu_shares, "CpuQuota": quota, "CpuPeriod": period,
            "CpusetCpus": res.cpuset_cpus}


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"
