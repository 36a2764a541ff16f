"""The lifecycle verbs, one method each with the same shape:
lock -> load state -> check it allows the verb -> act -> record.

Detached containers run under a monitor process (runtime/monitor.py);
``run()`` without ``detach`` runs the init from this process for speed.
"""
import contextlib
import os
import secrets
import select
import signal as _signal
import threading
import time

from .. import _core, fstree
from ..cgroups import Resources, warm as _cgroup_warm
from ..errors import Conflict, ContainerError, ContainerNotFound, InvalidArgument, NotFound
from . import archive as _archive
from . import attach as _attach
from . import config as _config
from . import listing as _listing
from . import spec as _spec
from . import health as _health
from . import logs as _logs
from . import options as _options
from . import sharing as _sharing
from . import state as _state
from ..runtime import monitor, teardown
from ..jsonfile import write_json_atomic
from ..runtime.runtime import _now, host_resources
from ..runtime.timing import mark

RUN_KEYS = {"command", "entrypoint", "environment", "hostname", "working_dir", "user",
            "read_only", "network_mode", "labels", "name", "volatile", "mem_limit",
            "memswap_limit", "pids_limit", "nano_cpus", "cpu_shares", "cpu_quota",
            "cpu_period", "cpuset_cpus", "restart_policy", "cap_add", "cap_drop", "privileged",
            "security_opt", "devices", "sysctls", "ulimits", "userns_mode", "volumes", "mounts", "tmpfs",
            "network", "ports", "publish_all_ports", "stop_timeout", "tty", "stdin_open",
            "stdin_once"}
# docker-py's other keywords (engine/options.py) and limits (cgroups/resources.py)
RUN_KEYS |= _options.KEYS | {"networking_config", "mem_reservation", "mem_swappiness",
                             "oom_kill_disable", "cpuset_mems", "cpu_rt_period",
                             "cpu_rt_runtime", "blkio_weight", "blkio_weight_device",
                             "device_read_bps", "device_write_bps", "device_read_iops",
                             "device_write_iops"}
RUN_KEYS |= {"healthcheck", "log_config"}      # engine/health.py, engine/logs.py
WAIT_CONDITIONS = ("not-running", "next-exit", "removed", "healthy")
WAIT_POLL = (0.002, 0.05)   # seconds between looks at a waited state: after a change, at most
DEFAULT_STOP_TIMEOUT = 10      # seconds, docker's


def _me():
    """(pid, start time) of this process: the owner of its attached runs."""
    pid = os.getpid()
    if _ME_CACHE.get("pid") != pid:      # not inherited across fork
        _ME_CACHE.update(pid=pid, start=_state.proc_start_time(pid))
    return pid, _ME_CACHE["start"]


_ME_CACHE = {}
STOP_SIGNALS = {_signal.SIGKILL, _signal.SIGTERM, _signal.SIGINT, _signal.SIGQUIT}


class ExecResult(tuple):
    """``(exit_code, output)`` like docker-py's; with ``stream=True`` the output
    is an iterator and ``exit_code`` is filled in once it is exhausted."""

    def __new__(cls, exit_code, output):
        self = super().__new__(cls, (exit_code, output))
        return self

    @property
    def exit_code(self):
        code = tuple.__getitem__(self, 0)
        return code if code is not None else getattr(self.output, "exit_code", None)

    @property
    def output(self):
        return tuple.__getitem__(self, 1)

    def __getitem__(self, i):
        return (self.exit_code, self.output)[i]

    def __iter__(self):
        return iter((self.exit_code, self.output))


def parse_signal(sig):
    if isinstance(sig, str):
        name = sig.upper()
        if name.isdigit():
            return _signal.Signals(int(name))
        try:
            return _signal.Signals[name if name.startswith("SIG") else "SIG" + name]
        except KeyError:
            raise InvalidArgument(f"unknown signal {sig!r}") from None
    try:
        return _signal.Signals(int(sig))
    except (ValueError, TypeError):
        raise InvalidArgument(f"unknown signal {sig!r}") from None


def stop_timeout(attrs, timeout):
    """Seconds before SIGKILL: ``timeout``, else the container's ``StopTimeout``,
    else docker's 10; negative means wait for ever (None)."""
    if timeout is None:
        timeout = attrs["Config"].get("StopTimeout")
    if timeout is None:
        return DEFAULT_STOP_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidArgument(f"timeout must be a number of seconds, got {timeout!r}")
    return None if timeout < 0 else timeout


def parse_restart(policy):
    """docker-py's ``{"Name": "on-failure", "MaximumRetryCount": 3}`` or ``"on-failure:3"``."""
    if not policy:
        return ("no", 0)
    if isinstance(policy, str):
        name, _, count = policy.partition(":")
        policy = {"Name": name, "MaximumRetryCount": count}
    name = policy.get("Name") or "no"
    count = policy.get("MaximumRetryCount") or 0
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    # the monitor keeps it in an int32
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < 1 << 31:
        raise InvalidArgument(f"MaximumRetryCount must be an integer within 0..{(1 << 31) - 1},"
                              f" got {count!r}")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise InvalidArgument(f"unknown restart policy {name!r}")
    if count and name != "on-failure":
        raise InvalidArgument("MaximumRetryCount only applies to the on-failure policy")
    return (name, count)


# docker's restart back-off: 100 ms, doubling up to 1 min, back to 100 ms
# after a run of more than 10 s
_BACKOFF = {"backoff_ms": 100, "backoff_factor": 2, "backoff_max_ms": 60_000,
            "reset_after_ms": 10_000}
_ANY_EXIT, _FAILURE = frozenset(range(256)), frozenset(range(1, 256))


def restart_rule(policy):
    """What the monitor does on exit under a stored ``RestartPolicy``, as
    docker does it: ``always`` and ``unless-stopped`` restart on any exit,
    ``on-failure`` on a non-zero one, at most MaximumRetryCount times (0: no
    limit); a stop or kill asked for is never restarted (the stop marker)."""
    name = (policy or {}).get("Name") or "no"
    if name in ("always", "unless-stopped"):
        return monitor.Restart(_ANY_EXIT, **_BACKOFF)
    if name == "on-failure":
        return monitor.Restart(_FAILURE, policy.get("MaximumRetryCount") or 0, **_BACKOFF)
    return monitor.NEVER


class Containers:
    """``engine.containers``: the container verbs, on ids and attrs dicts."""

    def __init__(self, engine):
        self.engine = engine
        self.rt = engine.runtime
        self.at_rest = {}       # cid -> (top, dir's key, record): list(shared=True)
        self.closing = threading.Event()    # set by a daemon on its way out: waits end

    # -- lookup ------------------------------------------------------------
    def ids(self):
        """Ids of every container that exists (its config.json is written)."""
        return self._dirs(self.rt.containers, True) | self._dirs(self.rt.run_root, True)

    @staticmethod
    def _dirs(top, configured=False):
        return {n for n in os.listdir(top) if len(n) == 64 and
                (not configured or os.path.exists(os.path.join(top, n, "config.json")))}

    def recover(self):
        """Repair the store after crashes or a reboot: drop half-made or
        half-removed containers, record exits whose monitor died (and restart
        those whose policy says so), release what stopped containers held.

        A container whose lock another process holds is being created or
        acted on right now: it is left alone.
        """
        ids = self.ids()
        suspects = set()
        with contextlib.suppress(OSError):
            # leases, ports, netns of removed containers; ours are released below
            suspects = self.engine.net.recover(exists=ids.__contains__)
        self.rt.collect_garbage()
        for cid in ids:
            with contextlib.suppress(NotFound, OSError, ValueError, KeyError):
                self._repair(cid, net=cid in suspects)

    def _repair(self, cid, net=False):
        if _state.monitor_alive(self.rt, cid):
            return          # the common case: no lock, no load (Engine() with many running)
        with _state.locked(self.rt, cid, wait=False) as files:
            if files is None:
                return
            attrs = _state.load(self.rt, cid)
            st = attrs["State"]
            if st["Running"] or st["Restarting"] or _state.alive(st.get("MonitorPid"),
                                                                  st.get("MonitorStartTime")):
                return          # a live monitor (or attached owner) cleans up itself
            if net:
                self.engine.net.release(cid, thorough=True)
            if any(os.path.isdir(p) for p in self.rt.cg.dirs(cid).values()):
                self.rt.remove_cgroups(cid)
            self.rt.release_userns(cid)
            if files.repaired and self._restarts_after_crash(cid, attrs):
                self._start_locked(cid, files, attrs)

    def _restarts_after_crash(self, cid, attrs):
        """A container whose monitor died is restarted as dockerd restarts its
        containers when it starts: by its restart policy, unless stopped."""
        policy = attrs["HostConfig"].get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if name == "no" or os.path.exists(self.rt.stop_marker(cid)):
            return False
        if name == "on-failure":
            most = policy.get("MaximumRetryCount") or 0
            return not most or attrs["State"]["RestartCount"] < most
        return True

    def resolve(self, key):
        key = str(key).lstrip("/")
        if len(key) == 64 and not key.strip("0123456789abcdef") and \
                self.rt.has_config(key):
            return key          # a whole id first, as dockerd: no listing of the store
        owner = self.rt.name_owner(key)
        if owner and self.rt.has_config(owner):
            return owner
        ids = self.ids()
        if key in ids:
            return key
        matches = [c for c in ids if c.startswith(key)] if key else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ContainerNotFound(f"container id prefix {key!r} is ambiguous ({len(matches)} matches)")
        raise ContainerNotFound(f"No such container: {key}")

    def inspect(self, key):
        """The container's attrs (docker's inspect fields) by id, prefix or name."""
        return _state.load(self.rt, self.resolve(key))

    def list(self, all=False, before=None, filters=None, limit=-1, since=None, shared=False):
        return _listing.list_containers(self, all, before, filters, limit, since, shared)

    def prune(self, filters=None):
        return _listing.prune(self, filters)

    # -- files -----------------------------------------------------------------
    def put_archive(self, cid, path, data):
        return _archive.put_archive(self.rt, cid, path, data)

    def get_archive(self, cid, path, chunk_size=_archive.CHUNK_SIZE):
        return _archive.get_archive(self.rt, cid, path, chunk_size)

    def put_file(self, cid, path, data, mode=0o644):
        return _archive.put_file(self.rt, cid, path, data, mode)

    def get_file(self, cid, path):
        return _archive.get_file(self.rt, cid, path)

    def diff(self, cid):
        return _archive.diff(self.rt, cid)

    def export(self, cid, chunk_size=_archive.CHUNK_SIZE):
        stream = _archive.export(self.rt, cid, chunk_size)
        self._event("export", cid)
        return stream

    # -- events --------------------------------------------------------------
    def _event(self, action, cid, attrs=None, **extra):
        """Record a container event in the store's journal (engine/events.py)."""
        if attrs is None:
            try:
                attrs = _state.load(self.rt, cid)
            except NotFound:
                attrs = {}
        self.engine.events.emit_container(action, cid, attrs, **extra)

    def _volume_events(self, cid, cfg, action):
        for name, attrs in _volume_attrs(cid, cfg, action == "mount"):
            self.engine.events.emit("volume", action, name, attrs)

    # -- create / run ------------------------------------------------------
    def _prepare(self, image, command, kwargs):
        unknown = set(kwargs) - RUN_KEYS
        if unknown:
            raise InvalidArgument(f"unsupported keyword(s) for run(): {sorted(unknown)}")
        kwargs = dict(kwargs)
        if "userns_mode" not in kwargs and self.engine.userns_mode:
            kwargs["userns_mode"] = self.engine.userns_mode
        restart = parse_restart(kwargs.pop("restart_policy", None))
        record = self.engine.images.record(image)
        cid = secrets.token_hex(32)
        if not kwargs.get("name"):
            kwargs["name"] = f"pyc_{cid[:12]}"
        cfg = _config.build_config(image, record, cid, command=command, **kwargs)
        self.engine.net.resolve(cfg)      # networks exist, container:<name> -> id
        _sharing.resolve(self, cfg)       # volumes_from, links, ipc/pid container:, limits
        return cid, cfg, record, restart

    def create(self, image, command, kwargs, auto_remove=False):
        _cgroup_warm.ahead(self.rt.cgroup_layout)      # a start most often follows
        cid, cfg, record, restart = self._prepare(image, command, kwargs)
        if auto_remove and restart[0] != "no":
            raise InvalidArgument("remove=True (auto-remove) conflicts with a restart policy")
        attrs, lock = self.rt.create(cid, cfg, record, hold=True)
        try:
            attrs["HostConfig"].update(RestartPolicy={"Name": restart[0],
                                                      "MaximumRetryCount": restart[1]},
                                       AutoRemove=bool(auto_remove))
            _describe_health_and_logs(attrs, cfg)
            more_config, more_host = _options.inspect_fields(cfg)
            attrs["Config"].update(more_config)
            attrs["HostConfig"].update(more_host)
            self.engine.net.describe(attrs, cid)
            attrs["Mounts"] = _docker_mounts(attrs, self.engine.volumes.store)
            write_json_atomic(self.rt.config_path(cid), attrs)
        finally:
            os.close(lock)
        self._event("create", cid, attrs)
        return cid

    def run_attached(self, image, command, kwargs, want_out, want_err, remove, echo=None):
        """run() without detach: the init is our child; returns its output.
        ``echo(stream, chunk)`` (``"stdout"``/``"stderr"``) sees the output as
        it comes, each stream on its own pipe (the command streams it, as
        docker's does)."""
        _cgroup_warm.ahead(self.rt.cgroup_layout)
        cid, cfg, record, restart = self._prepare(image, command, kwargs)
        ephemeral = bool(remove)
        # The lock is held until run.json says running: repair in another
        # process must not take the container for a stopped one meanwhile.
        attrs, lock = self.rt.create(cid, cfg, record, ephemeral=ephemeral, hold=True)
        self._event("create", cid, attrs)
        mark("prepare")
        try:
            try:
                net = self.engine.net.start(cid, cfg, attached=True)
            except BaseException:
                os.close(lock)
                raise
            try:
                status, out, err, oom = self._attached(cid, cfg, record, want_out, want_err,
                                                       ephemeral, net, lock, echo)
            finally:
                net.release()
                if not ephemeral:
                    self.engine.net.record(self.rt.config_path(cid), cid)
        finally:
            if remove:
                self._event("destroy", cid, attrs)
                self.rt.remove_dir(cid)
                self.rt.release_name(cfg.name, cid)
                if cfg.userns_host is not None:
                    self.rt.userns.release(cid)
                if any(m.get("Anonymous") for m in cfg.mounts or ()):
                    self.engine.volumes.remove_anonymous(cfg.mounts)
                mark("cleanup")
        both = want_out and want_err
        if status != 0:
            record = {"Id": cid, "Name": "/" + cfg.name, "Config": {},
                      "State": {"Status": "exited", "ExitCode": status}}
            raise ContainerError(record, status, cfg.argv, cfg.image, out if both else err,
                                 oom_killed=oom)
        return out if want_out else (err if want_err else b"")

    def _attached(self, cid, cfg, record, want_out, want_err, ephemeral, net, lock, echo=None):
        """Start the init as our child and wait for it; ``lock`` (the
        container's) is closed once run.json says running, or on failure."""
        rt = self.rt
        term = _attach.caller_terminal() if cfg.tty or cfg.stdin_open else False
        in_r, in_w = os.pipe2(os.O_CLOEXEC) if term and cfg.stdin_open and not cfg.tty \
            else (None, None)
        if cfg.tty:           # one pty stream: the plan's PTY op sets 0, 1 and 2
            out_r = out_w = err_r = err_w = None
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC) if not (want_out and want_err) or echo \
                else (None, out_w)
        stdio = (-1 if in_r is None else in_r, -1 if out_w is None else out_w,
                 -1 if err_w is None else err_w)
        run_path = os.path.join(rt.layer_dir(cid, ephemeral), "run.json")
        try:
            try:
                spec, labels = self._spec(cid, cfg, rt.lowers(record), ephemeral,
                                           netns=net and net.netns)
                proc = rt.start(cid, spec, stdio, pdeathsig=_signal.SIGKILL,
                                hold_mntns=True, on_spawn=net and net.on_spawn, labels=labels)
                started = _now()
                write_json_atomic(run_path, {
                    "Status": "running", "Pid": proc.pid,
                    "PidStartTime": _state.proc_start_time(proc.pid), "MonitorPid": _me()[0],
                    "MonitorStartTime": _me()[1], "Attached": True, "StartedAt": started})
                self._volume_events(cid, cfg, "mount")
                self._event("start", cid, _event_attrs(cfg))
            finally:
                os.close(lock)
                for fd in (in_r, out_w, err_w if err_r is not None else None):
                    if fd is not None:
                        os.close(fd)
            if cfg.tty:
                out_r = proc.pty
            try:
                if term:
                    stdin = in_w if not cfg.tty else (out_r if cfg.stdin_open else None)
                    in_w = None       # the session closes it
                    out, err = _attach.terminal_session(out_r, err_r, stdin, cfg.tty)
                else:
                    out, err = _drain(out_r, err_r, echo)
                status = proc.wait()
            finally:
                teardown.release(proc.held_fds)
            mark("wait")
            oom = rt.oom_killed(cid)
        finally:
            for fd in (out_r, err_r, in_w):
                if fd is not None and fd >= 0:
                    os.close(fd)
            rt.remove_cgroups(cid)
            if cfg.userns_host is not None:
                rt.release_userns(cid)
        if not ephemeral:     # an ephemeral one is removed at once: no record to keep
            write_json_atomic(run_path, {"Status": "exited", "Pid": 0, "ExitCode": status,
                                         "OOMKilled": oom, "StartedAt": started,
                                         "FinishedAt": _now(), "RestartCount": 0})
            if (cfg.log_config or {}).get("Type") != "none":
                with open(os.path.join(rt.dir(cid), "container.log"), "ab") as f:
                    f.write(_logs.encode(b"stdout", out) + _logs.encode(b"stderr", err))
        who = _event_attrs(cfg)              # after run.json: a reader of "die" sees it exited
        if oom:
            self._event("oom", cid, who)
        self._event("die", cid, who, exitCode=status)
        self._volume_events(cid, cfg, "unmount")
        return status, out, err, oom

    # -- verbs -------------------------------------------------------------
    def start(self, cid):
        _cgroup_warm.ahead(self.rt.cgroup_layout)
        with _state.locked(self.rt, cid) as files:
            attrs = _state.load(self.rt, cid)
            st = attrs["State"]
            if st["Running"] or st["Restarting"]:
                raise Conflict(f"container {cid[:12]} is already running")
            self._start_locked(cid, files, attrs)

    def _start_locked(self, cid, files, attrs):
        """start(), with the container's lock held by the caller."""
        st = attrs["State"]
        rtc = attrs["Runtime"]
        if rtc.get("Ephemeral"):
            raise Conflict(f"container {cid[:12]} was run attached with remove=True")
        cfg = _config.ContainerConfig.from_dict(rtc["Config"])
        self.rt.ensure_rundir(cid, cfg)
        hc = attrs["HostConfig"]
        policy = hc.get("RestartPolicy") or {}
        if st.get("MonitorPid"):       # the last monitor may still run its hooks
            self._await_monitor(cid, st, 10)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(files.run)
        with contextlib.suppress(FileNotFoundError):     # the last run's health: not ours
            os.unlink(_health.state_path(self.rt, cid))
        net = self.engine.net.start(cid, cfg)
        try:
            spec, labels = self._spec(cid, cfg, rtc["Lowers"], False, netns=net.netns)
            self.rt.start_monitored(cid, spec, cfg.name, restart_rule(policy),
                                    auto_remove=hc.get("AutoRemove", False),
                                    hooks=net.hooks, labels=labels, stdin_open=cfg.stdin_open,
                                    stdin_once=cfg.stdin_once,
                                    extra=self._monitor_extra(cid, cfg, attrs),
                                    companion=net.dns and (net.dns.socks, net.dns.argv))
        except BaseException:
            net.release()
            raise
        net.handed_over()
        if net.netns:
            self.engine.net.record(files.config, cid)
        # the monitor records the volumes' mount and "start" (before its "die",
        # then the unmounts: the init may exit at once), at every start

    def _monitor_extra(self, cid, cfg, attrs):
        """What the monitor needs for log rotation, events and the healthcheck."""
        log = cfg.log_config or {"Type": "json-file", "Config": {}}
        max_size, max_files = _logs.rotation(log["Config"], log["Type"])
        probe = _health.probe(self.rt, cid, attrs)
        who = _event_attrs(cfg)
        a = dict(who["Config"]["Labels"] or {})
        a.update(image=cfg.image, name=cfg.name)
        journal = self.engine.events
        return monitor.Extra(log_max_size=max_size, log_max_files=max_files,
                             log_none=log["Type"] == "none", journal=journal.path,
                             journal_max_size=journal.max_size, event_from=cfg.image,
                             event_attrs=_json_members(a), probe=probe,
                             volume_events=_volume_lines(cid, cfg),
                             health_path=_health.state_path(self.rt, cid))

    def _spec(self, cid, cfg, lowers, ephemeral, netns=None):
        """The runtime Spec of one start of ``cfg``: paths, volumes made, the
        user namespace prepared (engine/spec.py chooses the policy)."""
        rt = self.rt
        rd, ld = rt.rundir(cid), rt.layer_dir(cid, ephemeral)
        if cfg.volatile:
            # After a volatile mount the kernel refuses the old work dir
            # ("incompat/volatile"); it holds nothing we need between starts.
            fstree.remove(os.path.join(ld, "work", "work"))
        if cfg.network_mode == "host" and (cfg.dns or cfg.dns_search or cfg.dns_opt):
            _sharing.host_resolv_conf(os.path.join(rd, "resolv.conf"), cfg)
        userns_path = rt.prepare_userns(cid, cfg) if cfg.userns_host is not None else None
        spec, labels = _spec.build(cfg, rd, ld, lowers, rt.root, netns=netns,
                                   userns_path=userns_path,
                                   joined=_sharing.joined_pids(self, cid, cfg))
        for d in spec.root.idmapped:
            os.makedirs(d, 0o755, exist_ok=True)
        return spec, labels

    def _send(self, cid, st, sig):
        if sig in STOP_SIGNALS:
            open(self.rt.stop_marker(cid), "w").close()
        return _state.signal_pid(st["Pid"], st.get("PidStartTime"), sig)

    def kill(self, cid, sig=_signal.SIGKILL):
        sig = parse_signal(sig)
        with _state.locked(self.rt, cid):
            st = _state.load(self.rt, cid)["State"]
            if not st["Running"]:
                raise Conflict(f"container {cid[:12]} is not running")
            if st["Paused"] and sig != _signal.SIGKILL:
                raise Conflict(f"container {cid[:12]} is paused: unpause it first")
            self._event("kill", cid, signal=int(sig))     # before: the monitor's die follows
            self._send(cid, st, sig)
            self._thaw_killed(cid, st)
            if sig == _signal.SIGKILL:
                self._await_monitor(cid, st, None)
                self.engine.net.record(self.rt.config_path(cid), cid)

    def stop(self, cid, timeout=None):
        with _state.locked(self.rt, cid):
            attrs = _state.load(self.rt, cid)
            timeout = stop_timeout(attrs, timeout)
            st = attrs["State"]
            if st["Restarting"]:
                open(self.rt.stop_marker(cid), "w").close()
                self._await_monitor(cid, st, None)
                self._event("stop", cid, attrs)
                return
            if not st["Running"]:
                return
            sig = parse_signal(attrs["Config"].get("StopSignal") or "SIGTERM")
            if st["Paused"]:
                sig = _signal.SIGKILL
            self._event("kill", cid, attrs, signal=int(sig))
            self._send(cid, st, sig)
            self._thaw_killed(cid, st)
            if not self._await_exit(st, timeout):
                self._event("kill", cid, attrs, signal=int(_signal.SIGKILL))
                self._send(cid, st, _signal.SIGKILL)
            self._await_monitor(cid, st, None)
            self._event("stop", cid, attrs)
            self.engine.net.record(self.rt.config_path(cid), cid, attrs)

    def _thaw_killed(self, cid, st):
        """A paused container just sent SIGKILL: thaw it, since a frozen task
        dies only once thawed (cgroup v1); waiting first would wait for ever."""
        if st["Paused"]:
            _core.cgroup_apply(self.rt.cg.freeze_steps(cid, False))

    def pause(self, cid, frozen):
        with _state.locked(self.rt, cid):
            st = _state.load(self.rt, cid)["State"]
            if not st["Running"]:
                raise Conflict(f"container {cid[:12]} is not running")
            if st["Paused"] == frozen:
                raise Conflict(f"container {cid[:12]} is {'already' if frozen else 'not'} paused")
            _core.cgroup_apply(self.rt.cg.freeze_steps(cid, frozen))
            if frozen:
                self._await_frozen(cid)
            self._event("pause" if frozen else "unpause", cid)

    def _await_frozen(self, cid, timeout=10.0):
        """pause() returns once every process is frozen, as runc's does: the
        kernel may take a while (FREEZING) and, on v1, asks for the write
        again while a task is in a syscall that does not freeze."""
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while not self.rt.cg.frozen(cid):
            if time.monotonic() > deadline:
                _core.cgroup_apply(self.rt.cg.freeze_steps(cid, False))
                raise Conflict(f"container {cid[:12]} did not freeze within {timeout:g}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            _core.cgroup_apply(self.rt.cg.freeze_steps(cid, True))

    def _await_exit(self, st, timeout):
        return _state.gone_within(st["Pid"], st.get("PidStartTime"), timeout) is not False

    def _monitor_left(self, st, timeout):
        """True when the container's monitor was alive and left within ``timeout``."""
        return _state.gone_within(st.get("MonitorPid"), st.get("MonitorStartTime"),
                                  timeout) is True

    def _await_monitor(self, cid, st, timeout):
        """Wait until the monitor has recorded the exit (it exits unless it restarts)."""
        if st.get("Attached"):
            return self._await_owner(cid, st, timeout)
        return _state.gone_within(st.get("MonitorPid"), st.get("MonitorStartTime"),
                                  timeout) is not False

    def _await_owner(self, cid, st, timeout):
        """An attached run's owner is the process that ran it, which goes on
        after the exit: wait for its record of the exit instead."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._await_exit(st, timeout):
            return False
        while True:
            try:
                if not _state.load(self.rt, cid)["State"]["Running"]:
                    return True
            except NotFound:
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.002)

    def restart(self, cid, timeout=None):
        """stop() then start(), and docker's restart event."""
        self.stop(cid, timeout)
        self.start(cid)
        self._event("restart", cid)

    def wait_healthy(self, cid, timeout=None):
        """Return once the healthcheck says healthy (podman's ``wait
        --condition=healthy``): raises Conflict when it says unhealthy or
        the container stops first, InvalidArgument without a healthcheck,
        TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            attrs = _state.load(self.rt, cid)
            st = attrs["State"]
            if _health.probe_argv(attrs["Config"].get("Healthcheck")) is None:
                raise InvalidArgument(f"container {cid[:12]} has no healthcheck")
            health = (st.get("Health") or {}).get("Status")
            if st["Running"] and health == "healthy":
                return 0
            if health == "unhealthy":
                last = (st["Health"].get("Log") or [{}])[-1]
                raise Conflict(f"container {cid[:12]} is unhealthy (last probe: exit "
                               f"{last.get('ExitCode')}, {last.get('Output', '')!r:.200})")
            if not (st["Running"] or st["Restarting"]):
                raise Conflict(f"container {cid[:12]} stopped before it was healthy "
                               f"(exit code {st['ExitCode']})")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"container {cid[:12]} was not healthy within {timeout}s")
            time.sleep(0.01)

    def wait(self, cid, timeout=None, condition="not-running"):
        if condition not in WAIT_CONDITIONS:
            raise InvalidArgument(f"unknown wait condition {condition!r}; use one of "
                                  f"{WAIT_CONDITIONS}")
        if condition == "healthy":
            return self.wait_healthy(cid, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        first, status, pause = True, None, WAIT_POLL[0]
        while True:
            try:
                st = _state.load(self.rt, cid)["State"]
            except NotFound:
                if condition == "removed" or not first:
                    return 0
                raise
            if first:
                restarts = st["RestartCount"]
            elif condition != "removed" and (st["RestartCount"] != restarts or (
                    st["Restarting"] and status == "running")):
                return st["ExitCode"]      # it exited and its policy restarts it, as docker's
            first = False
            if st["Status"] != status:      # a change: the next one (start, removal) is near
                status, pause = st["Status"], WAIT_POLL[0]
            done = not (st["Running"] or st["Restarting"]) and st["Status"] != "created"
            if condition == "not-running" and st["Status"] == "created":
                done = True
            if done and condition != "removed":
                return st["ExitCode"]
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"container {cid[:12]} did not stop within {timeout}s")
            step = pause if left is None else min(pause, left)
            pause = min(pause * 2, WAIT_POLL[1])
            if self.closing.is_set():
                raise Conflict(f"waiting for container {cid[:12]} ended: the engine is closing")
            if condition == "removed" and self._monitor_left(st, step):
                continue        # an auto-removing monitor leaves once the files are gone
            if st["Running"]:
                # a look at ``closing`` at least once a second
                self._await_exit(st, min(step if condition == "removed" else left or 1.0, 1.0))
                time.sleep(0.002)     # let the monitor record the exit
            else:
                self.closing.wait(step)

    def remove_link(self, path):
        """Remove the legacy link ``parent/alias`` (docker rm --link): the
        parent keeps running, the linked container stays; the parent's
        /etc/hosts keeps the name until its next start, as dockerd's."""
        parent, _, alias = str(path).strip("/").partition("/")
        if not parent or not alias or "/" in alias:
            raise InvalidArgument(f"link {path!r}: use the form parent/alias")
        cid = self.resolve(parent)
        with _state.locked(self.rt, cid) as files:
            attrs = _state.load(self.rt, cid)
            cfg = attrs["Runtime"]["Config"]
            links = cfg.get("links") or []
            kept = [link for link in links if link[1] != alias]
            if len(kept) == len(links):
                raise NotFound(f"Could not find entity for /{parent}/{alias}")
            cfg["links"] = kept
            attrs["HostConfig"]["Links"] = [f"{t}:{a}" for t, a in kept]
            attrs.pop("State", None)
            write_json_atomic(files.config, attrs)

    def remove(self, cid, force=False, v=False):
        with _state.locked(self.rt, cid):
            attrs = _state.load(self.rt, cid)
            st = attrs["State"]
            if st["Running"] or st["Restarting"]:
                if not force:
                    raise Conflict(f"cannot remove container {attrs['Name']}: container is "
                                   "running: stop the container before removing or force "
                                   "remove (remove(force=True))")
                open(self.rt.stop_marker(cid), "w").close()
                if st["Paused"]:
                    _core.cgroup_apply(self.rt.cg.freeze_steps(cid, False))
                _state.signal_pid(st["Pid"], st.get("PidStartTime"), _signal.SIGKILL)
                self._await_monitor(cid, st, None)
            elif st.get("MonitorPid"):     # exited: its monitor may still run its hooks
                self._await_monitor(cid, st, 10)
            self.engine.net.release(cid)
            with contextlib.suppress(OSError):
                self.rt.remove_cgroups(cid)
            self.rt.release_userns(cid)
            self.rt.userns.release(cid)
            name = attrs["Name"].lstrip("/")
            self.rt.remove_dir(cid)
            self.rt.release_name(name, cid)
            self._event("destroy", cid, attrs)
        if v:
            self.engine.volumes.remove_anonymous(attrs["Runtime"]["Config"].get("mounts"))

    def rename(self, cid, new):
        new = _config.validate_name(new)
        if not new:
            raise InvalidArgument("a new name is required")
        with _state.locked(self.rt, cid) as files:
            attrs = _state.load(self.rt, cid)
            old = attrs["Name"].lstrip("/")
            if old == new:
                return
            self.rt.claim_name(new, cid)
            attrs.pop("State", None)
            attrs["Name"] = "/" + new
            attrs["Runtime"]["Config"]["name"] = new
            write_json_atomic(files.config, attrs)
            self.rt.release_name(old, cid)
            self._event("rename", cid, attrs, oldName="/" + old)

    def top(self, cid, ps_args=None):
        if ps_args:
            return _sharing.top_with_ps(self.rt.cg.procs(cid), ps_args)
        titles = ["PID", "PPID", "USER", "TIME", "CMD"]
        procs = []
        for pid in self.rt.cg.procs(cid):
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{pid}/stat", "rb") as f:
                    stat = f.read()
                fields = stat[stat.rindex(b")") + 2:].split()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").strip().decode(errors="replace")
                uid = os.stat(f"/proc/{pid}").st_uid
                secs = (int(fields[11]) + int(fields[12])) // os.sysconf("SC_CLK_TCK")
                procs.append([str(pid), fields[1].decode(), str(uid),
                              time.strftime("%H:%M:%S", time.gmtime(secs)), cmd])
        return {"Titles": titles, "Processes": procs}

    def stats(self, cid, stream=False, one_shot=True):
        """docker's stats documents (engine/stats.py): one sample; two a second
        apart (``precpu_stats`` filled) with ``one_shot=False``; with
        ``stream``, an iterator of one a second until the container stops."""
        from . import stats as _stats

        def one():
            return _stats.sample(self.rt.cg.kind, self.rt.cg.dirs(cid), cid,
                                 _state.load(self.rt, cid))
        if not stream:
            first = one()
            if one_shot or not first["running"]:
                return first
            time.sleep(1)           # docker's interval between the two samples
            return _stats.follow(first, one())

        def gen():
            prev = None
            while True:
                s = one()
                yield s if prev is None else _stats.follow(prev, s)
                if not s["running"]:
                    return
                prev = s
                time.sleep(1)
        return gen()

    def update(self, cid, restart_policy=None, **kwargs):
        with _state.locked(self.rt, cid) as files:
            attrs = _state.load(self.rt, cid)
            running = attrs["State"]["Running"]
            hc = attrs["HostConfig"]
            if restart_policy is not None:
                name, count = parse_restart(restart_policy)
                if hc.get("AutoRemove") and name != "no":
                    raise InvalidArgument("Restart policy cannot be updated because AutoRemove "
                                          "is enabled for the container")
                hc["RestartPolicy"] = {"Name": name, "MaximumRetryCount": count}
            if kwargs:
                cfg = attrs["Runtime"]["Config"]
                merged = dict(cfg["resources"])
                for k, v in kwargs.items():
                    if k not in merged:
                        raise InvalidArgument(f"update() does not take {k!r}")
                    merged[k] = v
                res = Resources.from_kwargs(**merged)
                if running:
                    steps = [s for s in self.rt.cg.create_steps(cid, res) if s[0] == "w"]
                    _core.cgroup_apply(steps)
                cfg["resources"] = Resources(**{k: getattr(res, k) for k in merged}).__dict__
                hc.update(host_resources(res))     # inspect shows the new limits
            if restart_policy is not None and (running or attrs["State"]["Restarting"]):
                with contextlib.suppress(FileNotFoundError):    # it left meanwhile
                    self.rt.set_restart(cid, restart_rule(hc["RestartPolicy"]))
            attrs.pop("State", None)
            write_json_atomic(files.config, attrs)

    def exec_run(self, cid, cmd, stdout=True, stderr=True, stdin=False, tty=False,
                 privileged=False, user="", detach=False, stream=False, socket=False,
                 environment=None, workdir=None, demux=False, timeout=None, detach_keys=None):
        """docker-py's exec_run. With ``socket`` the output is an
        :class:`~pycontainer.engine.attach.AttachSocket` (raw with a tty,
        docker's 8-byte frames without) whose ``exit_code`` is set once the
        stream ends, as is the result's; with ``tty``/``stdin`` and no socket
        stdin gets EOF at once and the output is the pty stream."""
        from . import exec as _exec
        from .attach import AttachSocket, parse_detach_keys
        parse_detach_keys(detach_keys)
        attrs = _state.load(self.rt, cid)
        st = attrs["State"]
        if not st["Running"]:
            raise Conflict(f"container {cid[:12]} is not running")
        if st["Paused"]:
            raise Conflict(f"container {cid[:12]} is paused: unpause it first")
        served = (tty or stdin or socket) and not detach
        exec_id = secrets.token_hex(32)
        text = " ".join(_config._as_list(cmd, "cmd") or [])
        self._event("exec_create: " + text, cid, attrs, execID=exec_id)
        proc, output = _exec.start_exec(self.rt, cid, attrs, cmd, user=user,
                                        environment=environment, workdir=workdir,
                                        stdout=stdout, stderr=stderr, detach=detach,
                                        stream=stream, demux=demux, timeout=timeout,
                                        privileged=privileged, tty=bool(tty),
                                        stdin=bool(stdin) and not detach, socket=bool(socket))
        self._event("exec_start: " + text, cid, attrs, execID=exec_id)

        def died(code):
            self._event("exec_die", cid, attrs, execID=exec_id, exitCode=code)
        if detach:
            if output is None:        # (a tty's pump reaps it itself)
                threading.Thread(target=lambda: died(proc.wait()), daemon=True,
                                 name="pyc-exec-reaper").start()
            return ExecResult(None, None)
        if served:
            try:
                sock = AttachSocket(output.client, tty, stdin=bool(stdin), stdout=stdout,
                                    stderr=stderr, detach_keys=detach_keys)
            except BaseException:
                output.client.close()
                raise
            if socket:
                sock.pid = proc.pid         # the daemon's exec inspect reports it
                sock.on_exit = died         # exec_die once the stream reports the end
                if sock.exit_code is not None:  # it ended during the handshake already
                    died(sock.exit_code)
                return ExecResult(None, sock)
            sock.shutdown()
            output = _ServedOutput(sock, demux, deadline=None if timeout is None
                                   else time.monotonic() + timeout, proc=proc)
        if stream:
            return ExecResult(None, _Announced(output, died))
        chunks = list(output)
        died(output.exit_code)
        if demux:
            out = b"".join(c[0] for c in chunks if c[0] is not None) if stdout else None
            err = b"".join(c[1] for c in chunks if c[1] is not None) if stderr else None
            return ExecResult(output.exit_code, (out or None, err or None))
        return ExecResult(output.exit_code, b"".join(chunks))

    # -- attach --------------------------------------------------------------
    def _attach_to(self, cid, event="attach"):
        attrs = _state.load(self.rt, cid)
        if not attrs["State"]["Running"]:
            raise Conflict(f"container {cid[:12]} is not running")
        if attrs["State"].get("Attached"):
            raise Conflict(f"container {cid[:12]} runs attached to its creator: no attach socket")
        from .attach import connect
        sock = connect(self.rt.attach_socket(cid))
        if event:          # the monitor records the "detach"
            self._event(event, cid, attrs)
        return sock, attrs["Runtime"]["Config"].get("tty", False)

    def attach_socket(self, cid, stdin=True, stdout=True, stderr=True, detach_keys=None,
                      logs=False, stream=True):
        """A socket-like :class:`~pycontainer.engine.attach.AttachSocket` on the
        container's stdio, served by its monitor (stdin only with stdin_open).
        ``logs``: the log first (nothing lost between the two); ``stream``
        False: only that, then the end (docker's attach parameters)."""
        from .attach import AttachSocket
        sock, tty = self._attach_to(cid)
        try:
            s = AttachSocket(sock, tty, stdin, stdout, stderr, detach_keys)
        except BaseException:
            sock.close()
            raise
        try:
            if logs or not stream:
                old = self.logs(cid, stdout, stderr, False, "all", None, None, False,
                                tagged=True) if logs else ()
                s.prepend([(1 if name == "stdout" else 2, c) for name, c in old],
                          end=not stream)
        except BaseException:
            s.close()
            raise
        return s

    def attach(self, cid, stdout=True, stderr=True, stream=False, logs=False, demux=False):
        """docker-py's attach: the output from now on (``logs``: the log first),
        as bytes once the container exits, or chunks with ``stream``. With
        ``logs`` nothing is lost between the two; a chunk written just as the
        attach begins may come twice (in the log and on the stream)."""
        sock = self.attach_socket(cid, stdin=False, stdout=stdout, stderr=stderr)
        try:
            old = []
            if logs and demux:      # the log's chunks do not say their stream: read each
                old = [(c, None) for c in self.logs(cid, stdout, False, False, "all", None,
                                                    None, False)]
                old += [(None, c) for c in self.logs(cid, False, stderr, False, "all", None,
                                                     None, False)]
            elif logs:
                old = list(self.logs(cid, stdout, stderr, False, "all", None, None, False))
        except BaseException:
            sock.close()
            raise
        out = _ServedOutput(sock, demux, before=old)
        if stream:
            return out
        chunks = list(out)
        if demux:
            return (b"".join(c[0] for c in chunks if c[0]) or None,
                    b"".join(c[1] for c in chunks if c[1]) or None)
        return b"".join(chunks)

    def resize(self, cid, height, width):
        """The pty's window size (a tty container; the process gets SIGWINCH)."""
        from .attach import check_size, resize_on
        check_size(height, width)
        resize_on(self._attach_to(cid, event=None)[0], height, width)
        self._event("resize", cid, height=height, width=width)      # docker's, not an attach

    def logs(self, cid, stdout, stderr, timestamps, tail, since, until, follow, tagged=False):
        files = _state.Files(self.rt, cid)
        try:
            cfg = _state.load(self.rt, cid)["Runtime"]["Config"]
        except NotFound:                          # removed: no log, not an empty one
            raise ContainerNotFound(f"No such container: {cid}") from None
        if (cfg.get("log_config") or {}).get("Type") == "none":
            raise InvalidArgument(f"container {cid[:12]} uses the none log driver: "
                                  "it keeps no logs to read")
        path = os.path.join(files.dir, "container.log")

        def running():
            with contextlib.suppress(NotFound):
                st = _state.load(self.rt, cid)["State"]
                return st["Running"] or st["Restarting"]
            return False
        return _logs.read(path, stdout, stderr, timestamps, tail, since, until,
                          running if follow else None, tagged=tagged)


class _ServedOutput:
    """Chunks of an attach (or a served exec) until it ends; ``exit_code`` then.
    ``before``: items to give first (an attach's ``logs=True``)."""

    def __init__(self, sock, demux, before=(), deadline=None, proc=None):
        self._sock, self._demux, self._before = sock, demux, before
        self._deadline, self._proc = deadline, proc     # an exec's timeout kills it
        self._it = self._run()

    @property
    def exit_code(self):
        return self._sock.exit_code

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def close(self):
        self._sock.close()

    def _run(self):
        try:
            yield from self._before
            if self._deadline is not None:
                self._sock.settimeout(max(self._deadline - time.monotonic(), 0.001))
            for stream, data in self._sock.packets():
                if self._demux:
                    yield (data, None) if stream == 1 else (None, data)
                else:
                    yield data
                if self._deadline is not None:
                    self._sock.settimeout(max(self._deadline - time.monotonic(), 0.001))
        except TimeoutError:
            self._proc.kill()          # its pump reaps it
            raise TimeoutError("exec did not finish within its timeout (killed)") from None
        finally:
            self._sock.close()


def _drain(out_r, err_r, echo=None):
    """Read stdout/stderr pipes to EOF without deadlocking on either;
    ``echo(stream, chunk)`` sees each chunk as it comes (the first error it
    raises ends the echo, never the read: the init must still be waited for)."""
    bufs = {out_r: [], err_r: []}
    names = {out_r: "stdout", err_r: "stderr"}
    fds = [fd for fd in (out_r, err_r) if fd is not None]
    while fds:
        ready, _, _ = select.select(fds, [], [])
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:        # a pty's EIO: every holder of its slave is gone
                chunk = b""
            if chunk:
                bufs[fd].append(chunk)
                if echo is not None:
                    try:
                        echo(names[fd], chunk)
                    except Exception:     # noqa: BLE001  e.g. the reader went away
                        echo = None
            else:
                fds.remove(fd)
    return b"".join(bufs[out_r]), b"".join(bufs.get(err_r) or [])


class _Announced:
    """A streamed exec's output that records its exec_die once it ends."""

    def __init__(self, output, died):
        self._output, self._died = output, died

    exit_code = property(lambda self: self._output.exit_code)

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._output)
        except StopIteration:
            if self._died is not None:
                self._died, died = None, self._died
                died(self._output.exit_code)
            raise


def _event_attrs(cfg):
    """Just what a container's events need (no config.json read on run()'s path)."""
    return {"Name": "/" + cfg.name, "Config": {"Image": cfg.image, "Labels": cfg.labels}}


def _volume_attrs(cid, cfg, mount):
    """(name, attributes) of docker's volume mount (or unmount) events, one
    per named or anonymous volume (moby: daemon/volumes.go, container.UnmountVolumes)."""
    for m in cfg.mounts or ():
        if m.get("Type") != "volume" or not m.get("Name"):
            continue
        attrs = {"driver": "local", "container": cid}
        if mount:       # a volume's propagation is docker's "" (binds have rprivate)
            attrs.update({"destination": m.get("Destination") or "",
                          "read/write": str(bool(m.get("RW", True))).lower(),
                          "propagation": ""})
        yield m["Name"], attrs


def _volume_lines(cid, cfg):
    """The monitor's copy (csrc/monitor/extra.h: PYC_MON_X_VOLUMES): a line a
    volume, its name, the mount's and the unmount's attributes (a JSON
    object's inside: tabs and newlines escaped), tab-separated; a
    destination too long for the monitor's line is left out of it."""
    import json
    ups = dict(_volume_attrs(cid, cfg, False))
    lines = []
    for name, attrs in _volume_attrs(cid, cfg, True):
        inside = json.dumps(attrs)[1:-1]
        if len(inside) > 1500:
            inside = json.dumps(dict(attrs, destination=""))[1:-1]
        lines.append(f"{name}\t{inside}\t{json.dumps(ups[name])[1:-1]}\n")
    return "".join(lines)


def _json_members(attrs, limit=1200):
    """The inside of a JSON object of string attributes, for the monitor's
    events; labels are dropped first when it would be too long for them."""
    import json
    text = json.dumps({str(k): str(v) for k, v in attrs.items()})[1:-1]
    if len(text) > limit:
        text = json.dumps({k: str(attrs[k]) for k in ("image", "name")})[1:-1][:limit]
    return text


def _docker_mounts(attrs, volumes):
    """docker's inspect ``Mounts``: each bind, volume and tmpfs mount of the
    container, with the host path a volume's data lives at."""
    out = []
    for m in attrs["Runtime"]["Config"].get("mounts") or []:
        kind, rw = m.get("Type"), bool(m.get("RW"))
        doc = {"Type": kind, "Source": m.get("Source") or "", "Destination": m["Destination"],
               "Mode": "" if rw else "ro", "RW": rw, "Propagation": ""}
        if kind == "bind":
            doc["Propagation"] = m.get("Propagation") or "rprivate"
        elif kind == "volume":
            doc.update(Name=m.get("Name"), Source=volumes.data_path(m.get("Name")),
                       Driver="local", Mode="z" if rw else "ro")
        elif kind == "tmpfs":
            doc["Source"] = ""
        out.append(doc)
    return out


def _describe_health_and_logs(attrs, cfg):
    """docker's inspect fields: Config.Healthcheck, HostConfig.LogConfig."""
    if cfg.healthcheck is not None:
        attrs["Config"]["Healthcheck"] = cfg.healthcheck
    attrs["HostConfig"]["LogConfig"] = cfg.log_config or {"Type": "json-file", "Config": {}}
