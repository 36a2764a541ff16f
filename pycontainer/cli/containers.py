"""Container verbs other than run/create/ps/cp: lifecycle, logs, exec, and
what a container looks like from outside (top, stats, port, diff, export)."""
import contextlib
import os
import sys
import time

from . import CLIError, UsageError, output
from .common import add_format, container_id, each, refuse_terminal


def _targets(p, what="CONTAINER"):
    p.add_argument("containers", nargs="+", metavar=what)


# -- lifecycle ------------------------------------------------------------------------

def _detach_keys(p):
    p.add_argument("--detach-keys", metavar="string",
                   help='Override the key sequence for detaching (default "ctrl-p,ctrl-q")')


def args_start(p):
    p.add_argument("-a", "--attach", action="store_true",
                   help="Attach STDOUT/STDERR and forward signals")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    _detach_keys(p)
    _targets(p)


def cmd_start(ctx, args):
    c = ctx.engine.containers
    if not (args.attach or args.interactive):
        return each(ctx, args.containers, lambda k: c.start(container_id(ctx, k)))
    if len(args.containers) > 1:
        raise UsageError("you cannot start and attach multiple containers at once")
    from . import session
    from ..engine.attach import parse_detach_keys
    parse_detach_keys(args.detach_keys)
    cid = container_id(ctx, args.containers[0])
    cfg = c.inspect(cid)["Config"]
    stdin = args.interactive and bool(cfg.get("OpenStdin"))
    tty = bool(cfg.get("Tty"))
    session.require_terminal(tty, stdin, ctx.display)
    since = time.time_ns()
    with session.open_log(ctx.engine, cid) as log:
        offset = os.fstat(log.fileno()).st_size
        c.start(cid)
        return session.run_session(ctx.engine, cid, stdin=stdin, tty=tty,
                                   detach_keys=args.detach_keys, sig_proxy=True, log=log,
                                   offset=offset, since_ns=since)


def args_attach(p):
    _detach_keys(p)
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    from .run import boolean
    p.add_argument("--sig-proxy", type=boolean, default=True, metavar="bool",
                   help="Proxy all received signals to the process (default true)")
    p.add_argument("container", metavar="CONTAINER")


def cmd_attach(ctx, args):
    """docker's attach: output from now on, this terminal's keys to its stdin."""
    from . import session
    c = ctx.engine.containers
    cid = container_id(ctx, args.container)
    attrs = c.inspect(cid)
    if not attrs["State"]["Running"]:
        raise CLIError(f"pycontainer attach: container {args.container} is not running "
                       "(start it with 'pycontainer start -a')")
    tty, stdin = bool(attrs["Config"].get("Tty")), bool(attrs["Config"].get("OpenStdin"))
    stdin = stdin and not args.no_stdin
    session.require_terminal(tty, stdin, ctx.display)
    since = time.time_ns()
    sock = c.attach_socket(cid, stdin=stdin, detach_keys=args.detach_keys)
    kill = (lambda sig: c.kill(cid, sig)) if args.sig_proxy and not tty else None
    code = session.Session(sock, stdin=stdin, kill=kill).run()
    if sock.detached:
        sys.stderr.write("\r\nread escape sequence\r\n" if tty else "read escape sequence\n")
        return 0
    return session.exit_code(ctx.engine, cid, since) if code is None else code


def _time(p):
    p.add_argument("-t", "--time", "--timeout", dest="time", type=int, default=None,
                   metavar="int", help="Seconds to wait before killing the container "
                                       "(default: its stop timeout, else 10)")


def args_stop(p):
    _time(p)
    _targets(p)


def cmd_stop(ctx, args):
    c = ctx.engine.containers
    return each(ctx, args.containers, lambda k: c.stop(container_id(ctx, k), args.time))


def args_restart(p):
    _time(p)
    _targets(p)


def cmd_restart(ctx, args):
    c = ctx.engine.containers

    def restart(key):
        cid = container_id(ctx, key)
        c.stop(cid, args.time)
        c.start(cid)
    return each(ctx, args.containers, restart)


def args_kill(p):
    p.add_argument("-s", "--signal", default="KILL", metavar="string",
                   help='Signal to send to the container (default "KILL")')
    _targets(p)


def cmd_kill(ctx, args):
    c = ctx.engine.containers
    return each(ctx, args.containers, lambda k: c.kill(container_id(ctx, k), args.signal))


def args_rm(p):
    p.add_argument("-f", "--force", action="store_true",
                   help="Force the removal of a running container (uses SIGKILL)")
    p.add_argument("-l", "--link", action="store_true", help="Remove the specified link")
    p.add_argument("-v", "--volumes", action="store_true",
                   help="Remove anonymous volumes associated with the container")
    _targets(p)


def cmd_rm(ctx, args):
    if ctx.hosts:
        daemon = ctx.backend()
        if args.link:
            return each(ctx, args.containers, daemon.remove_link)
        return each(ctx, args.containers, lambda k: daemon.remove(k, args.force, args.volumes))
    c = ctx.engine.containers
    if args.link:
        return each(ctx, args.containers, c.remove_link)
    return each(ctx, args.containers,
                lambda k: c.remove(container_id(ctx, k), args.force, args.volumes))


def args_pause(p):
    _targets(p)


def cmd_pause(ctx, args):
    c = ctx.engine.containers
    return each(ctx, args.containers, lambda k: c.pause(container_id(ctx, k), True))


args_unpause = args_pause


def cmd_unpause(ctx, args):
    c = ctx.engine.containers
    return each(ctx, args.containers, lambda k: c.pause(container_id(ctx, k), False))


def args_wait(p):
    _targets(p)


def cmd_wait(ctx, args):
    c = ctx.engine.containers
    return each(ctx, args.containers, lambda k: c.wait(container_id(ctx, k)), echo=False)


def args_rename(p):
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")


def cmd_rename(ctx, args):
    ctx.engine.containers.rename(container_id(ctx, args.container), args.new_name)


UPDATE_FLAGS = (("memory", "mem_limit"), ("memory_swap", "memswap_limit"),
                ("pids_limit", "pids_limit"), ("cpu_shares", "cpu_shares"),
                ("cpu_quota", "cpu_quota"), ("cpu_period", "cpu_period"),
                ("cpuset_cpus", "cpuset_cpus"))


def args_update(p):
    a = p.add_argument
    from .run import add_limits
    add_limits(a)
    a("--restart", metavar="string", help="(not supported yet)")
    _targets(p)


def cmd_update(ctx, args):
    from .run import cpus
    res = {key: getattr(args, dest) for dest, key in UPDATE_FLAGS
           if getattr(args, dest) is not None}
    if args.memory_swap == "-1":
        res["memswap_limit"] = -1
    if args.cpus is not None:
        res["nano_cpus"] = cpus(args.cpus)
    if args.restart is not None:
        res["restart_policy"] = args.restart       # "on-failure:3": parsed by the engine
    if not res:
        raise UsageError("you must provide one or more flags when using this command")
    c = ctx.engine.containers
    return each(ctx, args.containers, lambda k: c.update(container_id(ctx, k), **res))


# -- output ---------------------------------------------------------------------------

def _time_arg(text, what):
    from ..engine.filters import parse_time
    return None if text is None else parse_time(text, what=what)


def args_logs(p):
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("--since", metavar="string",
                   help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative "
                        "(e.g. 42m for 42 minutes)")
    p.add_argument("--until", metavar="string",
                   help="Show logs before a timestamp or relative time")
    p.add_argument("-n", "--tail", default="all", metavar="string",
                   help='Number of lines to show from the end of the logs (default "all")')
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--details", action="store_true", help="(accepted; there are no details)")
    p.add_argument("container", metavar="CONTAINER")


def cmd_logs(ctx, args):
    if args.tail != "all" and not args.tail.lstrip("-").isdigit():
        raise UsageError(f"invalid --tail {args.tail!r}: use a number or all")
    since, until = _time_arg(args.since, "--since"), _time_arg(args.until, "--until")
    if ctx.hosts:
        streams = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
        for stream, data in ctx.backend().logs(args.container, args.follow, args.tail,
                                               args.timestamps, since, until):
            streams[stream].write(data)
            streams[stream].flush()
        return 0
    cid = container_id(ctx, args.container)
    out = sys.stdout.buffer
    for chunk in ctx.engine.containers.logs(cid, True, True, args.timestamps, args.tail,
                                            since, until, args.follow):
        out.write(chunk)
        if args.follow:
            out.flush()
    out.flush()


def _env_flags(p):
    p.add_argument("-e", "--env", action="append", default=[], metavar="list",
                   help="Set environment variables")
    p.add_argument("--env-file", action="append", default=[], metavar="list",
                   help="Read in a file of environment variables")


def args_exec(p):
    p.add_argument("-d", "--detach", action="store_true",
                   help="Detached mode: run command in the background")
    _env_flags(p)
    p.add_argument("-u", "--user", default="", metavar="string",
                   help="Username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("-w", "--workdir", metavar="string",
                   help="Working directory inside the container")
    p.add_argument("--privileged", action="store_true",
                   help="Give extended privileges to the command")
    p.add_argument("-i", "--interactive", action="store_true",
                   help="Keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("--detach-keys", metavar="string",
                   help="Override the key sequence for detaching a container (default: none, "
                        "the command lives as long as this one)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs="...", metavar="COMMAND")


def cmd_exec(ctx, args):
    from ..errors import SetupError, UnknownUser
    from .run import environment
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        raise UsageError("requires at least 2 arguments: CONTAINER COMMAND [ARG...]")
    env = environment(args.env, args.env_file) or None
    cid = container_id(ctx, args.container)
    served = (args.interactive or args.tty) and not args.detach
    if served:
        from . import session
        session.require_terminal(args.tty, args.interactive, ctx.display)
    try:
        res = ctx.engine.containers.exec_run(
            cid, cmd, True, True, bool(args.interactive), bool(args.tty), args.privileged,
            args.user, args.detach, not args.detach and not served, bool(served), env,
            args.workdir, True, detach_keys=args.detach_keys or "")      # demux: two streams
    except (SetupError, UnknownUser) as err:       # dockerd's exec: 126 for any of them
        from .errors import message
        raise CLIError(f"pycontainer exec: {message(err)}", 126) from err
    if args.detach:
        return 0
    if served:
        code = session.Session(res.output, stdin=bool(args.interactive)).run()
        return 0 if code is None else code
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for o, e in res.output:
        if o:
            out.write(o)
            out.flush()
        if e:
            err.write(e)
            err.flush()
    return res.exit_code or 0


def args_top(p):
    p.add_argument("container", metavar="CONTAINER")


def cmd_top(ctx, args):
    top = ctx.engine.containers.top(container_id(ctx, args.container))
    lines = ["\t".join(top["Titles"])] + ["\t".join(p) for p in top["Processes"]]
    ctx.out.write(output.tabwrite(lines, minwidth=20))


STATS_TABLE = ("{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t"
               "{{.BlockIO}}\t{{.PIDs}}")
STATS_TITLES = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME",
                "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
                "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
STATS_INTERVAL = 0.5        # seconds between the two samples of CPU %


def _mem_total():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class StatsRow:
    """One container's usage as ``stats --format`` sees it."""

    def __init__(self, key, first, second, dt, trunc=True):
        mem = second.get("memory_stats") or {}
        stats = mem.get("stats") or {}
        usage = mem.get("usage", 0) - stats.get("total_inactive_file",
                                                stats.get("inactive_file", 0))
        total = _mem_total()
        limit = mem.get("limit") or total
        if total and limit > total:
            limit = total
        cpu = lambda s: ((s.get("cpu_stats") or {}).get("cpu_usage") or {}).get(  # noqa: E731
            "total_usage", 0)
        cpu_pct = (cpu(second) - cpu(first)) / (dt * 1e9) * 100 if dt > 0 else 0.0
        running = second.get("running")
        self.Container = key
        self.ID = second["id"][:12] if trunc else second["id"]
        self.Name = second.get("name", "").lstrip("/")
        self.CPUPerc = f"{max(cpu_pct, 0.0):.2f}%" if running else "0.00%"
        self.MemUsage = (f"{output.bytes_size(max(usage, 0))} / {output.bytes_size(limit)}"
                         if running else "0B / 0B")
        self.MemPerc = f"{max(usage, 0) / limit * 100:.2f}%" if running and limit else "0.00%"
        self.NetIO = "--"        # not measured by the engine yet
        self.BlockIO = "--"
        self.PIDs = str((second.get("pids_stats") or {}).get("current", 0))

    def as_dict(self):
        return dict(self.__dict__)


def args_stats(p):
    p.add_argument("-a", "--all", action="store_true",
                   help="Show all containers (default shows just running)")
    add_format(p)
    p.add_argument("--no-stream", action="store_true",
                   help="Disable streaming stats and only pull the first result")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def _sample(c, ids):
    return {cid: c.stats(cid) for cid in ids}, time.monotonic()


def cmd_stats(ctx, args):
    c = ctx.engine.containers
    if args.containers:
        keys = args.containers
        ids = [container_id(ctx, k) for k in keys]
    else:
        found = c.list(all=args.all)
        ids = [a["Id"] for a in found]
        keys = [i[:12] for i in ids]
    first, t0 = _sample(c, ids)
    while True:
        time.sleep(STATS_INTERVAL)
        second, t1 = _sample(c, ids)
        rows = [StatsRow(k, first[i], second[i], t1 - t0, not args.no_trunc)
                for k, i in zip(keys, ids)]
        if not args.no_stream and ctx.out.isatty():
            ctx.out.write("\033[2J\033[H")
        output.render(args.format, rows, STATS_TABLE, STATS_TITLES, ctx.out)
        ctx.out.flush()
        if args.no_stream or not any(s.get("running") for s in second.values()):
            return 0
        first, t0 = second, t1


def args_port(p):
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


def cmd_port(ctx, args):
    attrs = ctx.engine.containers.inspect(args.container)
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    if args.port:
        key = args.port if "/" in args.port else args.port + "/tcp"
        binds = ports.get(key)
        if not binds:
            raise CLIError(f"pycontainer port: no public port '{key}' published for "
                           f"{args.container}")
        ctx.out.write("".join(f"{b.get('HostIp') or '0.0.0.0'}:{b['HostPort']}\n"
                              for b in binds))
        return 0
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        for b in ports[key] or ():
            ctx.out.write(f"{key} -> {b.get('HostIp') or '0.0.0.0'}:{b['HostPort']}\n")
    return 0


def args_diff(p):
    p.add_argument("container", metavar="CONTAINER")


def cmd_diff(ctx, args):
    changes = ctx.engine.containers.diff(container_id(ctx, args.container))
    ctx.out.write("".join(f"{'CAD'[c['Kind']]} {c['Path']}\n" for c in changes))


def write_stream(chunks, path, what):
    """Write an iterator of bytes to ``path`` (``-`` or None: stdout)."""
    if path in (None, "-"):
        refuse_terminal(sys.stdout, what)
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        return
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def args_export(p):
    p.add_argument("-o", "--output", metavar="string", help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")


def cmd_export(ctx, args):
    cid = container_id(ctx, args.container)
    if args.output is None:
        refuse_terminal(sys.stdout, "the export")
    write_stream(ctx.engine.containers.export(cid, 1 << 20), args.output, "the export")


def split_ref(ref):
    """``repo[:tag]`` -> (repo, tag or None); a ``:`` in a registry host is not a tag."""
    if not ref:
        return None, None
    repo, colon, tag = ref.rpartition(":")
    if not colon or "/" in tag:
        return ref, None
    return repo, tag


def args_commit(p):
    p.add_argument("-a", "--author", metavar="string",
                   help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    p.add_argument("-c", "--change", action="append", default=[], metavar="list",
                   help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", metavar="string", help="Commit message")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")


def cmd_commit(ctx, args):
    cid = container_id(ctx, args.container)
    repo, tag = split_ref(args.repository)
    rec = ctx.engine.images.commit(cid, repo, tag, args.message, args.author,
                                   args.change or None)
    ctx.out.write(rec.id + "\n")
