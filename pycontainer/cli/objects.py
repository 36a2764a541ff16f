"""``network ...`` and ``volume ...``."""
from . import UsageError, output
from .common import add_filter, add_format, confirm, container_id, each, filters

NETWORK_TABLE = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
NETWORK_TITLES = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
                  "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
                  "Label": lambda *a: "LABEL", "CreatedAt": "CREATED AT"}
VOLUME_TABLE = "{{.Driver}}\t{{.Name}}"
VOLUME_TITLES = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
                 "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Label": lambda *a: "LABEL",
                 "Links": "LINKS", "Size": "SIZE"}


def _labels_text(labels):
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def _kv(items, what):
    out = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid {what} {item!r}: use key=value")
        out[key] = value
    return out


class NetworkRow:
    FIELDS = ("CreatedAt", "Driver", "ID", "IPv6", "Internal", "Labels", "Name", "Scope")

    def __init__(self, n, trunc=True):
        self._n = n
        self.ID = n["Id"][:12] if trunc else n["Id"]
        self.Name, self.Driver = n["Name"], n.get("Driver", "")
        self.Scope = n.get("Scope", "local")
        self.IPv6 = "true" if n.get("EnableIPv6") else "false"
        self.Internal = "true" if n.get("Internal") else "false"
        self.Labels = _labels_text(n.get("Labels"))
        self.CreatedAt = output.go_time(n.get("Created"))

    def Label(self, name):
        return (self._n.get("Labels") or {}).get(name, "")

    def as_dict(self):
        return {f: getattr(self, f) for f in self.FIELDS}


class VolumeRow:
    FIELDS = ("Driver", "Labels", "Links", "Mountpoint", "Name", "Scope", "Size")

    def __init__(self, v):
        self._v = v
        self.Name, self.Driver = v["Name"], v.get("Driver", "local")
        self.Scope = v.get("Scope", "local")
        self.Mountpoint = v.get("Mountpoint", "")
        self.Labels = _labels_text(v.get("Labels"))
        self.Links = self.Size = "N/A"

    def Label(self, name):
        return (self._v.get("Labels") or {}).get(name, "")

    def as_dict(self):
        return {f: getattr(self, f) for f in self.FIELDS}


# -- networks -------------------------------------------------------------------------

def args_network_create(p):
    a = p.add_argument
    a("-d", "--driver", default="bridge", metavar="string",
      help='Driver to manage the Network (default "bridge")')
    a("--subnet", metavar="string", help="Subnet in CIDR format that represents a network "
      "segment")
    a("--gateway", metavar="string", help="IPv4 Gateway for the master subnet")
    a("--ip-range", metavar="string", help="Allocate container ip from a sub-range")
    a("--aux-address", action="append", default=[], metavar="map",
      help="Auxiliary IPv4 addresses used by Network driver")
    a("--internal", action="store_true", help="Restrict external access to the network")
    a("--attachable", action="store_true", help="Enable manual container attachment")
    a("--ipv6", action="store_true", help="(not supported)")
    a("--label", action="append", default=[], metavar="list", help="Set metadata on a network")
    a("-o", "--opt", action="append", default=[], metavar="map",
      help="Set driver specific options")
    a("name", metavar="NETWORK")


def cmd_network_create(ctx, args):
    ipam = None
    if args.subnet or args.gateway or args.ip_range or args.aux_address:
        if not args.subnet:
            raise UsageError("--gateway, --ip-range and --aux-address need --subnet")
        pool = {"Subnet": args.subnet}
        if args.gateway:
            pool["Gateway"] = args.gateway
        if args.ip_range:
            pool["IPRange"] = args.ip_range
        if args.aux_address:
            pool["AuxiliaryAddresses"] = _kv(args.aux_address, "--aux-address")
        ipam = {"Driver": "default", "Config": [pool]}
    n = ctx.engine.networks.create(args.name, driver=args.driver, options=_kv(args.opt, "--opt"),
                                   ipam=ipam, internal=args.internal,
                                   labels=_kv(args.label, "--label"), enable_ipv6=args.ipv6,
                                   attachable=args.attachable)
    ctx.out.write(n["Id"] + "\n")


def args_network_ls(p):
    add_filter(p)
    add_format(p)
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")


def cmd_network_ls(ctx, args):
    nets = ctx.engine.networks.list(filters=filters(args.filter) or None)
    trunc = not args.no_trunc
    if args.quiet:
        ctx.out.write("".join((n["Id"][:12] if trunc else n["Id"]) + "\n" for n in nets))
        return 0
    output.render(args.format, [NetworkRow(n, trunc) for n in nets], NETWORK_TABLE,
                  NETWORK_TITLES, ctx.out)
    return 0


def args_network_inspect(p):
    add_format(p, short=True, what="JSON")
    p.add_argument("names", nargs="+", metavar="NETWORK")


def cmd_network_inspect(ctx, args):
    from .system import print_inspect
    return print_inspect(ctx, args.names, args.format, ("network",))


def args_network_rm(p):
    p.add_argument("-f", "--force", action="store_true",
                   help="Do not error if the network does not exist")
    p.add_argument("names", nargs="+", metavar="NETWORK")


def cmd_network_rm(ctx, args):
    from ..errors import NotFound
    nets = ctx.engine.networks

    def rm(name):
        try:
            nets.remove(name)
        except NotFound:
            if not args.force:
                raise
    return each(ctx, args.names, rm)


def args_network_prune(p):
    add_filter(p, short=False)
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def cmd_network_prune(ctx, args):
    if not confirm(ctx, "WARNING! This will remove all custom networks not used by at least "
                        "one container.", args.force):
        return 0
    res = ctx.engine.networks.prune(filters(args.filter) or None)
    deleted = res.get("NetworksDeleted") or []
    if deleted:
        ctx.out.write("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted))
    return 0


def args_network_connect(p):
    p.add_argument("--alias", action="append", default=[], metavar="strings",
                   help="Add network-scoped alias for the container")
    p.add_argument("--ip", metavar="string", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--link", action="append", default=[], metavar="list",
                   help="Add link to another container")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")


def cmd_network_connect(ctx, args):
    ctx.engine.networks.connect(args.network, container_id(ctx, args.container),
                                aliases=args.alias or None, ipv4_address=args.ip,
                                links=args.link or None)


def args_network_disconnect(p):
    p.add_argument("-f", "--force", action="store_true",
                   help="Force the container to disconnect from a network")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")


def cmd_network_disconnect(ctx, args):
    ctx.engine.networks.disconnect(args.network, container_id(ctx, args.container),
                                   force=args.force)


# -- volumes --------------------------------------------------------------------------

def args_volume_create(p):
    p.add_argument("-d", "--driver", default="local", metavar="string",
                   help='Specify volume driver name (default "local")')
    p.add_argument("--label", action="append", default=[], metavar="list",
                   help="Set metadata for a volume")
    p.add_argument("-o", "--opt", action="append", default=[], metavar="map",
                   help="Set driver specific options")
    p.add_argument("name", nargs="?", metavar="VOLUME")


def cmd_volume_create(ctx, args):
    kw = {"driver": args.driver}
    if args.opt:
        kw["driver_opts"] = _kv(args.opt, "--opt")
    if args.label:
        kw["labels"] = _kv(args.label, "--label")
    v = ctx.engine.volumes.create(args.name, **kw)
    ctx.out.write(v["Name"] + "\n")


def args_volume_ls(p):
    add_filter(p)
    add_format(p)
    p.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")


def cmd_volume_ls(ctx, args):
    vols = ctx.engine.volumes.list(filters=filters(args.filter) or None)
    if args.quiet:
        ctx.out.write("".join(v["Name"] + "\n" for v in vols))
        return 0
    output.render(args.format, [VolumeRow(v) for v in vols], VOLUME_TABLE, VOLUME_TITLES,
                  ctx.out)
    return 0


def args_volume_inspect(p):
    add_format(p, short=True, what="JSON")
    p.add_argument("names", nargs="+", metavar="VOLUME")


def cmd_volume_inspect(ctx, args):
    from .system import print_inspect
    return print_inspect(ctx, args.names, args.format, ("volume",))


def args_volume_rm(p):
    p.add_argument("-f", "--force", action="store_true",
                   help="Force the removal of one or more volumes")
    p.add_argument("names", nargs="+", metavar="VOLUME")


def cmd_volume_rm(ctx, args):
    vols = ctx.engine.volumes
    return each(ctx, args.names, lambda n: vols.remove(n, force=args.force))


def args_volume_prune(p):
    p.add_argument("-a", "--all", action="store_true",
                   help="Remove all unused volumes, not just anonymous ones")
    add_filter(p, short=False)
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def cmd_volume_prune(ctx, args):
    what = "all local volumes" if args.all else "all anonymous local volumes"
    if not confirm(ctx, f"WARNING! This will remove {what} not used by at least one "
                        "container.", args.force):
        return 0
    f = filters(args.filter)
    if args.all:
        f["all"] = ["true"]
    res = ctx.engine.volumes.prune(f or None)
    deleted = res.get("VolumesDeleted") or []
    if deleted:
        ctx.out.write("Deleted Volumes:\n" + "".join(f"{v}\n" for v in deleted) + "\n")
    ctx.out.write(f"Total reclaimed space: {output.human_size(res.get('SpaceReclaimed'))}\n")
    return 0
