"""``ps`` and ``container prune``, and the row of ``ps``'s ``--format``
(docker's fields: .ID .Image .Command .CreatedAt .RunningFor .Ports .State
.Status .Size .Names .Labels .Label .Mounts .Networks .LocalVolumes)."""
import time

from . import output
from .common import add_filter, add_format, confirm, filters

PS_TABLE = ("{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t"
            "{{.Names}}")
PS_TITLES = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
             "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS",
             "State": "STATE", "Status": "STATUS", "Size": "SIZE", "Names": "NAMES",
             "Labels": "LABELS", "Label": lambda *a: "LABEL", "Mounts": "MOUNTS",
             "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Daemon": "DAEMON"}


def status(state, now=None):
    """docker's STATUS column: ``Up 3 minutes``, ``Exited (0) 2 hours ago``."""
    now = now or time.time()
    s = state.get("Status")
    if s in ("running", "paused"):
        started = output.epoch(state.get("StartedAt"))
        up = "Up " + output.human_duration(now - started if started else 0)
        return up + " (Paused)" if state.get("Paused") else up
    if s in ("exited", "restarting"):
        word = "Exited" if s == "exited" else "Restarting"
        when = output.ago(state.get("FinishedAt"), now)
        return f"{word} ({state.get('ExitCode', 0)}) {when}".rstrip()
    return {"created": "Created", "dead": "Dead", "removing": "Removal In Progress"}.get(
        s, str(s).capitalize())


def ports_text(attrs):
    """``0.0.0.0:8080->80/tcp, 81/tcp`` from NetworkSettings.Ports."""
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    out = []
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        binds = ports[key]
        if not binds:
            out.append(key)
            continue
        for b in binds:
            out.append(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}->{key}")
    return ", ".join(out)


def mounts_of(attrs):
    """The container's mount specs (docker's ``Mounts``, else the engine's record)."""
    if attrs.get("Mounts") is not None:
        return [{"Type": m.get("Type"), "Name": m.get("Name", ""), "Source": m.get("Source", ""),
                 "Destination": m.get("Destination", "")} for m in attrs["Mounts"]]
    return ((attrs.get("Runtime") or {}).get("Config") or {}).get("mounts") or []


def command_of(attrs):
    argv = ((attrs.get("Runtime") or {}).get("Config") or {}).get("argv")
    if argv is None:
        cfg = attrs.get("Config") or {}
        argv = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
    return " ".join(argv)


class ContainerRow:
    """One container as ``ps --format`` sees it."""

    FIELDS = ("Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts",
              "Names", "Networks", "Ports", "RunningFor", "Size", "State", "Status")

    def __init__(self, attrs, trunc=True, now=None, daemon=None):
        self._a = attrs
        self._trunc = trunc
        self._now = now or time.time()
        self.Daemon = daemon or ""      # the daemon it lives on (-H given more than once)

    ID = property(lambda self: self._a["Id"][:12] if self._trunc else self._a["Id"])
    Names = property(lambda self: self._a["Name"].lstrip("/"))
    Image = property(lambda self: (self._a.get("Config") or {}).get("Image")
                     or self._a.get("Image", ""))
    CreatedAt = property(lambda self: output.go_time(self._a.get("Created")))
    RunningFor = property(lambda self: output.ago(self._a.get("Created"), self._now))
    Ports = property(lambda self: ports_text(self._a))
    State = property(lambda self: self._a["State"]["Status"])
    Status = property(lambda self: status(self._a["State"], self._now))
    Size = property(lambda self: "N/A")

    @property
    def Command(self):
        cmd = command_of(self._a)
        return '"' + (output.ellipsis(cmd, 20) if self._trunc else cmd) + '"'

    @property
    def _labels(self):
        return (self._a.get("Config") or {}).get("Labels") or {}

    @property
    def Labels(self):
        return ",".join(f"{k}={v}" for k, v in sorted(self._labels.items()))

    def Label(self, name):
        return self._labels.get(name, "")

    @property
    def Mounts(self):
        names = []
        for m in mounts_of(self._a):
            if m.get("Type") not in ("volume", "bind"):
                continue
            name = m.get("Name") if m.get("Type") == "volume" else m.get("Source")
            names.append(output.ellipsis(name or "", 15) if self._trunc else name or "")
        return ",".join(names)

    @property
    def Networks(self):
        nets = (self._a.get("NetworkSettings") or {}).get("Networks") or {}
        return ",".join(sorted(nets))

    @property
    def LocalVolumes(self):
        return str(sum(1 for m in mounts_of(self._a) if m.get("Type") == "volume"))

    def as_dict(self):
        d = {f: getattr(self, f) for f in self.FIELDS}
        if self.Daemon:
            d["Daemon"] = self.Daemon
        return d


def args_ps(p):
    p.add_argument("-a", "--all", action="store_true",
                   help="Show all containers (default shows just running)")
    add_filter(p)
    add_format(p)
    p.add_argument("-n", "--last", type=int, default=-1, metavar="int",
                   help="Show n last created containers (includes all states)")
    p.add_argument("-l", "--latest", action="store_true",
                   help="Show the latest created container (includes all states)")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")


def cmd_ps(ctx, args):
    limit = 1 if args.latest else args.last
    backends = ctx.backends()
    found = [(name, a) for name, b in backends
             for a in b.containers(all=args.all, filters=filters(args.filter) or None,
                                   limit=limit)]
    trunc = not args.no_trunc
    if args.quiet:
        ctx.out.write("".join((a["Id"][:12] if trunc else a["Id"]) + "\n" for _, a in found))
        return 0
    now = time.time()
    table = PS_TABLE if len(backends) == 1 else "{{.Daemon}}\t" + PS_TABLE
    output.render(args.format, [ContainerRow(a, trunc, now, name) for name, a in found],
                  table, PS_TITLES, ctx.out)
    return 0


def args_container_prune(p):
    add_filter(p, short=False)
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def cmd_container_prune(ctx, args):
    if not confirm(ctx, "WARNING! This will remove all stopped containers.", args.force):
        return 0
    res = ctx.engine.containers.prune(filters(args.filter) or None)
    deleted = res.get("ContainersDeleted") or []
    if deleted:
        ctx.out.write("Deleted Containers:\n" + "".join(f"{c}\n" for c in deleted) + "\n")
    ctx.out.write(f"Total reclaimed space: {output.human_size(res.get('SpaceReclaimed'))}\n")
    return 0
