"""``run`` and ``create``: docker's flags, as the engine's run() keywords.

``run`` without ``-d`` runs the container as a child of this process (the
engine's fast attached path, no monitor) and exits with its exit code; its
stdout and stderr reach ours as they come, as docker's do. SIGINT, SIGTERM and SIGHUP are passed
on to the container; a third Ctrl-C kills it. With ``--restart`` the
container runs under its monitor instead, and the command follows its logs.
"""
import os
import signal
import sys
import threading

from . import CLIError, UsageError

# engine keyword <- flag dest, for the flags that need no translation
_PLAIN = {"name": "name", "user": "user", "workdir": "working_dir", "hostname": "hostname",
          "read_only": "read_only", "cap_add": "cap_add", "cap_drop": "cap_drop",
          "security_opt": "security_opt", "userns": "userns_mode", "privileged": "privileged",
          "devices": "devices", "publish_all": "publish_all_ports", "cpuset_cpus": "cpuset_cpus",
          "memory": "mem_limit", "memory_swap": "memswap_limit", "pids_limit": "pids_limit",
          "cpu_shares": "cpu_shares", "cpu_quota": "cpu_quota", "cpu_period": "cpu_period",
          "stop_timeout": "stop_timeout", "volumes": "volumes"}


def _common(p):
    """The flags run and create share."""
    a = p.add_argument
    a("--name", help="Assign a name to the container")
    a("-e", "--env", action="append", default=[], metavar="list",
      help="Set environment variables (KEY=VALUE, or KEY to pass this one's)")
    a("--env-file", action="append", default=[], metavar="list",
      help="Read in a file of environment variables")
    a("-v", "--volume", dest="volumes", action="append", metavar="list",
      help="Bind mount a volume (SRC:DST[:ro], NAME:DST or DST)")
    a("--mount", action="append", default=[], metavar="mount",
      help="Attach a filesystem mount (type=bind|volume|tmpfs,source=...,target=...)")
    a("--tmpfs", action="append", default=[], metavar="list",
      help="Mount a tmpfs directory (/run[:size=64m,mode=1777])")
    a("-p", "--publish", action="append", default=[], metavar="list",
      help="Publish a container's port(s) to the host ([IP:][HOSTPORT:]PORT[/PROTO])")
    a("-P", "--publish-all", action="store_true",
      help="Publish all exposed ports to random ports")
    a("--network", "--net", dest="network", metavar="network",
      help="Connect a container to a network (bridge, none, host, container:NAME or a "
           "network's name)")
    a("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    a("-w", "--workdir", help="Working directory inside the container")
    a("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    a("-h", "--hostname", help="Container host name")
    add_limits(a)
    a("--restart", default=None, metavar="string",
      help="Restart policy to apply when a container exits (no, always, on-failure[:N], "
           "unless-stopped)")
    a("--rm", action="store_true", help="Automatically remove the container when it exits")
    a("--read-only", action="store_true", help="Mount the container's root filesystem as "
      "read only")
    a("--cap-add", action="append", metavar="list", help="Add Linux capabilities")
    a("--cap-drop", action="append", metavar="list", help="Drop Linux capabilities")
    a("--security-opt", action="append", metavar="list", help="Security Options")
    a("--privileged", action="store_true", help="Give extended privileges to this container")
    a("--device", dest="devices", action="append", metavar="list",
      help="Add a host device to the container")
    a("--sysctl", action="append", default=[], metavar="map", help="Sysctl options")
    a("--ulimit", action="append", default=[], metavar="ulimit",
      help="Ulimit options (name=soft[:hard])")
    a("--userns", metavar="string", help="User namespace to use (auto, or host)")
    a("-l", "--label", action="append", default=[], metavar="list",
      help="Set meta data on a container")
    a("--label-file", action="append", default=[], metavar="list",
      help="Read in a line delimited file of labels")
    a("--stop-timeout", type=int, metavar="int",
      help="Timeout (in seconds) to stop a container")
    a("-i", "--interactive", action="store_true",
      help="Keep STDIN open even if not attached")
    a("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    a("--pull", choices=("missing", "always", "never"), default="missing",
      help='Pull image before running ("always", "missing", "never") (default "missing")')
    a("--platform", metavar="string", help="Set platform if server is multi-platform capable")
    a("image", help="the image (name[:tag], id or id prefix)")
    a("command", nargs="...", help="the command and its arguments (default: the image's)")


RUN_NOTES = """\
Without -d the container runs as a child of this command, which exits with
its exit code (125: the engine refused, 126: the command cannot be invoked,
127: it is not found). Its output is shown when it exits, stderr merged into
stdout. SIGINT, SIGTERM and SIGHUP are passed on to it; a third Ctrl-C kills
it. With --restart it runs under its monitor and the command follows its
output until it stops for good.
"""


def args_run(p):
    p.add_argument("-d", "--detach", action="store_true",
                   help="Run container in background and print container ID")
    p.add_argument("--detach-keys", metavar="string",
                   help="Override the key sequence for detaching a container (default "
                        '"ctrl-p,ctrl-q")')
    p.add_argument("--sig-proxy", type=boolean, default=True, metavar="bool",
                   help="Proxy received signals to the process (non-TTY mode only) "
                        "(default true)")
    _common(p)
    p.epilog = RUN_NOTES


def args_create(p):
    _common(p)


args_run.own_help = args_create.own_help = True


# -- flags -> keywords ----------------------------------------------------------------

def _lines(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return [ln.rstrip("\n") for ln in f]
    except OSError as err:
        raise CLIError(f"{what}: cannot read {path}: {err.strerror}") from err


def environment(env, env_files):
    """``-e``/``--env-file`` as a list of ``KEY=VALUE``; ``KEY`` alone takes
    this process's value and is dropped when unset (docker's rule)."""
    items = []
    for path in env_files:
        for line in _lines(path, "--env-file"):
            text = line.lstrip()
            if text and not text.startswith("#"):
                items.append(text)
    items += env
    out = []
    for item in items:
        key, eq, _ = item.partition("=")
        if not key:
            raise UsageError(f"invalid environment variable {item!r}: the name is empty")
        if eq:
            out.append(item)
        elif key in os.environ:
            out.append(f"{key}={os.environ[key]}")
    return out


def labels(label, label_files):
    """``-l``/``--label-file`` as a dict; flags win over files."""
    items = []
    for path in label_files:
        items += [ln.strip() for ln in _lines(path, "--label-file")
                  if ln.strip() and not ln.lstrip().startswith("#")]
    out = {}
    for item in items + list(label):
        key, _, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid label {item!r}: the key is empty")
        out[key] = value
    return out


def ports(publish):
    """``-p [IP:][HOSTPORT:]PORT[/PROTO]`` -> the engine's ports dict
    (a port published twice gets a list of bindings)."""
    out = {}
    for spec in publish:
        rest, slash, proto = spec.partition("/")
        parts = rest.split(":")
        if len(parts) > 3 or not parts[-1] or (len(parts) > 1 and parts[-2]
                                               and not parts[-2].isdigit()):
            raise UsageError(f"invalid --publish {spec!r}: use [IP:][HOSTPORT:]PORT[/PROTO]")
        key = parts[-1] + (f"/{proto}" if slash else "")
        host_port = int(parts[-2]) if len(parts) > 1 and parts[-2] else None
        value = (parts[0], host_port) if len(parts) == 3 else host_port
        if key in out:
            prev = out[key]
            out[key] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[key] = value
    return out


def _bool(text):
    return text.lower() in ("", "1", "true", "yes")


def mount(spec):
    """``--mount type=bind,source=/a,target=/b,readonly`` -> a types.Mount."""
    from ..types import Mount
    fields = {}
    for part in spec.split(","):
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        fields[key] = value if eq else ""
    kind = fields.pop("type", "volume")
    source = fields.pop("source", fields.pop("src", None))
    target = fields.pop("target", fields.pop("destination", fields.pop("dst", None)))
    if not target:
        raise UsageError(f"invalid --mount {spec!r}: target= is required")
    ro = fields.pop("readonly", fields.pop("ro", None))
    kw = {"read_only": ro is not None and _bool(ro)}
    if "bind-propagation" in fields:
        kw["propagation"] = fields.pop("bind-propagation")
    if "volume-nocopy" in fields:
        kw["no_copy"] = _bool(fields.pop("volume-nocopy"))
    vlabels = [fields.pop(k) for k in list(fields) if k == "volume-label"]
    if vlabels:
        kw["labels"] = dict(v.partition("=")[::2] for v in vlabels)
    if "tmpfs-size" in fields:
        kw["tmpfs_size"] = fields.pop("tmpfs-size")
    if "tmpfs-mode" in fields:
        try:
            kw["tmpfs_mode"] = int(fields.pop("tmpfs-mode"), 8)
        except ValueError:
            raise UsageError(f"invalid --mount {spec!r}: tmpfs-mode is octal") from None
    fields.pop("consistency", None)
    if fields:
        raise UsageError(f"invalid --mount {spec!r}: unknown field(s) {', '.join(fields)}")
    return Mount(target, source or None, type=kind, **kw)


def tmpfs(specs):
    out = {}
    for spec in specs:
        path, _, opts = spec.partition(":")
        out[path] = opts
    return out


def ulimits(specs):
    out = []
    for spec in specs:
        name, eq, values = spec.partition("=")
        soft, _, hard = values.partition(":")
        try:
            out.append({"Name": name, "Soft": int(soft), "Hard": int(hard or soft)})
        except ValueError:
            raise UsageError(f"invalid --ulimit {spec!r}: use name=soft[:hard]") from None
    return out


def cpus(text):
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"invalid --cpus {text!r}: use a number such as 1.5") from None
    return int(round(value * 1e9))


def boolean(text):
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise ValueError(text)


def keywords(args):
    """The engine's run() keywords for the parsed flags."""
    kw = {}
    if args.tty:
        kw["tty"] = True
    if args.interactive:
        kw["stdin_open"] = True
    for dest, key in _PLAIN.items():
        value = getattr(args, dest)
        if value not in (None, False, []):
            kw[key] = value
    if args.cpus is not None:
        kw["nano_cpus"] = cpus(args.cpus)
    env = environment(args.env, args.env_file)
    if env:
        kw["environment"] = env
    lab = labels(args.label, args.label_file)
    if lab:
        kw["labels"] = lab
    if args.mount:
        kw["mounts"] = [mount(m) for m in args.mount]
    if args.tmpfs:
        kw["tmpfs"] = tmpfs(args.tmpfs)
    if args.publish:
        kw["ports"] = ports(args.publish)
    if args.sysctl:
        kw["sysctls"] = dict(s.partition("=")[::2] for s in args.sysctl)
    if args.ulimit:
        kw["ulimits"] = ulimits(args.ulimit)
    if args.network is not None:
        kw["network_mode"] = args.network
    if args.restart is not None:
        kw["restart_policy"] = args.restart
    if args.entrypoint is not None:
        kw["entrypoint"] = [args.entrypoint] if args.entrypoint else []
    if args.userns == "host":
        kw.pop("userns_mode")
    return kw


def _command(args):
    cmd = list(args.command)
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    return cmd or None


EMBEDDED = ("busybox", "busybox:latest", "docker.io/library/busybox:latest")


def _image(ctx, ref, pull="missing", platform=None):
    """The image's reference, pulled as ``--pull`` says (docker's: missing,
    always, never); a missing busybox is the embedded one, made here."""
    from ..errors import ImageNotFound
    images = ctx.engine.images
    if pull == "always" and ref not in EMBEDDED:
        from .distribution import pull as pull_image
        pull_image(ctx, ref, platform)
        return ref
    try:
        images.get(ref)
    except ImageNotFound:
        if ref in EMBEDDED:
            sys.stderr.write(f"Unable to find image '{ref}' locally: making the embedded "
                             "busybox image\n")
            images.busybox()
            return ref
        if pull == "never":
            raise ImageNotFound(f"No such image: {ref} (--pull=never: pull it first, or "
                                "use --pull=missing)") from None
        sys.stderr.write(f"Unable to find image '{ref}' locally\n")
        from .distribution import pull as pull_image
        pull_image(ctx, ref, platform)
    return ref


def cmd_create(ctx, args):
    kw = keywords(args)
    ref = _image(ctx, args.image, args.pull, args.platform)
    cid = ctx.engine.containers.create(ref, _command(args), kw, auto_remove=args.rm)
    ctx.out.write(cid + "\n")


def cmd_run(ctx, args):
    from ..errors import OperationError
    kw = keywords(args)
    if args.rm and kw.get("restart_policy") not in (None, "no"):
        raise UsageError("conflicting options: --restart and --rm")
    if ctx.hosts:
        return _run_remote(ctx, args, kw)
    ref = _image(ctx, args.image, args.pull, args.platform)
    cmd = _command(args)
    try:
        if args.detach:
            return _run_detached(ctx, ref, cmd, kw, args.rm)
        if args.tty or args.interactive:
            return run_interactive(ctx, ref, cmd, kw, args)
        if kw.get("restart_policy") not in (None, "no"):
            return _run_monitored(ctx, ref, cmd, kw)
        return _run_attached(ctx, ref, cmd, kw, args.rm)
    except OperationError as err:
        code = exit_code_of(err)
        if code is None:
            raise
        from .errors import message
        why = "not found in the image" if code == 127 else "cannot be invoked"
        raise CLIError(f"pycontainer run: {message(err)} (the command {why})", code) from err


def _run_detached(ctx, ref, cmd, kw, remove):
    containers = ctx.engine.containers
    cid = containers.create(ref, cmd, kw, auto_remove=remove)
    try:
        containers.start(cid)
    except BaseException:
        _remove_quietly(containers, cid)
        raise
    ctx.out.write(cid + "\n")
    return 0


def _run_remote(ctx, args, kw):
    """``run`` against a daemon: docker's create and start over its API."""
    from .daemons import create_body
    if args.tty or args.interactive:
        raise UsageError("-i/-t are not available against a daemon yet: run it locally")
    if args.pull != "missing":
        raise UsageError("--pull is not sent to a daemon yet: pull there first")
    daemon = ctx.backend()
    body = create_body(args.image, _command(args), kw)
    if args.rm and args.detach:
        body.setdefault("HostConfig", {})["AutoRemove"] = True
    if args.detach:
        cid = daemon.create(body, args.name)
        daemon.start(cid)
        ctx.out.write(cid + "\n")
        return 0
    return daemon.run(body, args.name, remove=args.rm)


def run_interactive(ctx, ref, cmd, kw, args):
    """``run -i``/``-t``/``-it``: docker's create, attach, start, under the
    monitor (so ctrl-p ctrl-q can leave it running); the exit code is the
    container's."""
    import time

    from . import session
    from ..engine.attach import parse_detach_keys
    session.require_terminal(args.tty, args.interactive, ctx.display)
    parse_detach_keys(args.detach_keys)              # a bad one fails before anything exists
    containers = ctx.engine.containers
    cid = containers.create(ref, cmd, kw, auto_remove=args.rm)
    since = time.time_ns()
    try:
        log = session.open_log(ctx.engine, cid)
        with log:
            containers.start(cid)
            code = session.run_session(ctx.engine, cid, stdin=args.interactive, tty=args.tty,
                                       detach_keys=args.detach_keys, sig_proxy=args.sig_proxy,
                                       log=log, offset=0, since_ns=since)
        if args.rm and not _running(containers, cid):   # ended, not detached
            _await_removal(containers, cid)
        return code
    except BaseException:
        if args.rm and not _running(containers, cid):     # start failed: nothing to keep
            _remove_quietly(containers, cid)
        raise


def _await_removal(containers, cid):
    """As docker's: ``run --rm`` returns once the container is gone (its
    monitor removes it just after the exit), so no script sees it listed."""
    from ..errors import NotFound
    try:
        containers.wait(cid, timeout=10, condition="removed")
    except NotFound:
        pass
    except TimeoutError:
        _remove_quietly(containers, cid)


def _running(containers, cid):
    from ..errors import NotFound
    try:
        return containers.inspect(cid)["State"]["Running"]
    except NotFound:
        return False


def _remove_quietly(containers, cid):
    from ..errors import NotFound
    try:
        containers.remove(cid, force=True)
    except NotFound:
        pass


def exit_code_of(err):
    """docker's: 126 when the command cannot be invoked, 127 when it is not
    found; None when ``err`` is not the failure of the container's execve."""
    import errno
    if not (getattr(err, "strerror", None) or "").startswith("exec "):
        return None
    code = getattr(err, "errno", None)
    if code in (errno.ENOENT, errno.ENOTDIR):
        return 127
    if code in (errno.EACCES, errno.EPERM, errno.ENOEXEC, errno.EISDIR):
        return 126
    return None


class _SignalProxy:
    """Pass SIGINT/SIGTERM/SIGHUP on to the attached container; a third
    SIGINT kills it (its PID 1 may ignore the others, as docker's do)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, containers):
        self.containers = containers
        self.interrupts = 0
        self.old = {}

    def __enter__(self):
        for s in self.SIGNALS:
            self.old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)

    def _mine(self):
        for attrs in self.containers.list(all=False):
            st = attrs["State"]
            if st.get("Attached") and st.get("MonitorPid") == os.getpid():
                return attrs["Id"]
        return None

    def _handle(self, signum, frame):
        if signum == signal.SIGINT:
            self.interrupts += 1
        sig = signal.SIGKILL if self.interrupts >= 3 else signum
        # From a thread: kill(SIGKILL) waits for the exit to be recorded, which
        # this (main) thread does once the handler has returned.
        threading.Thread(target=self._send, args=(sig,), daemon=True,
                         name="pyc-signal-proxy").start()

    def _send(self, sig):
        try:
            cid = self._mine()
            if cid is not None:         # else: not running yet, or already gone
                self.containers.kill(cid, sig)
        except Exception:       # noqa: BLE001  it exited meanwhile
            pass


def _run_attached(ctx, ref, cmd, kw, remove):
    """docker's attached run: the container's stdout and stderr on ours, as
    they come; the exit code is the container's."""
    from ..errors import ContainerError
    containers = ctx.engine.containers
    files = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    sys.stdout.flush()

    def echo(stream, chunk):
        files[stream].write(chunk)
        files[stream].flush()
    with _SignalProxy(containers):
        try:
            containers.run_attached(ref, cmd, kw, True, True, remove, echo=echo)
        except ContainerError as err:
            return err.exit_status
    return 0


def _run_monitored(ctx, ref, cmd, kw):
    """``run --restart ...`` without ``-d``: under the monitor, following the logs
    until the container stops for good (docker shows the first run's output)."""
    containers = ctx.engine.containers
    cid = containers.create(ref, cmd, kw)
    containers.start(cid)
    out = sys.stdout.buffer
    for chunk in containers.logs(cid, True, True, False, "all", None, None, True):
        out.write(chunk)
        out.flush()
    return containers.wait(cid)


def add_limits(a):
    """The resource flags ``run``/``create`` and ``update`` share."""
    a("-m", "--memory", metavar="bytes", help="Memory limit (e.g. 64m)")
    a("--memory-swap", metavar="bytes",
      help="Swap limit equal to memory plus swap: -1 to enable unlimited swap")
    a("--cpus", metavar="decimal", help="Number of CPUs")
    a("-c", "--cpu-shares", type=int, metavar="int", help="CPU shares (relative weight)")
    a("--cpu-quota", type=int, metavar="int", help="Limit CPU CFS quota")
    a("--cpu-period", type=int, metavar="int", help="Limit CPU CFS period")
    a("--cpuset-cpus", metavar="string", help="CPUs in which to allow execution (0-3, 0,1)")
    a("--pids-limit", type=int, metavar="int", help="Tune container pids limit (-1 for "
      "unlimited)")
