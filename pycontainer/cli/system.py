"""``inspect`` (any object), ``system df|prune``, ``info`` and ``version``."""
import json
import os
import platform
import sys

from . import output
from .common import add_filter, add_format, confirm

KINDS = ("container", "image", "network", "volume")


def _lookup(ctx, kind, name):
    """docker's inspect dict of one object (NotFound when missing)."""
    e = ctx.engine
    if kind == "container":
        return e.containers.inspect(name)
    if kind == "image":
        from .common import face
        from ..models.images import Image
        return Image(face(ctx), e.images.get(name)).attrs
    if kind == "network":
        return e.networks.get(name)
    return e.volumes.get(name)


def print_inspect(ctx, names, fmt, kinds):
    """docker's inspect output: a JSON array, or ``fmt`` once per object.
    An object of none of ``kinds`` is an error, the others are still shown."""
    from ..errors import InvalidArgument, NotFound
    found, failed = [], False
    for name in names:
        for kind in kinds:
            try:
                found.append(_lookup(ctx, kind, name))
                break
            except (NotFound, InvalidArgument):
                continue
        else:
            failed = True
            what = kinds[0] if len(kinds) == 1 else "object"
            sys.stderr.write(f"pycontainer {ctx.display}: no such {what}: {name}\n")
    if fmt is None:
        ctx.out.write(json.dumps(found, indent=4, ensure_ascii=False) + "\n")
    else:
        from .template import Template
        tmpl = Template(output.fix_escapes("{{json .}}" if fmt == "json" else fmt))
        ctx.out.write("".join(tmpl.execute(obj) + "\n" for obj in found))
    return 1 if failed else 0


def args_inspect(p):
    add_format(p, short=True, what="JSON")
    p.add_argument("-s", "--size", action="store_true", help="(accepted; sizes are not "
                   "computed)")
    p.add_argument("--type", choices=KINDS, help="Return JSON for specified type")
    p.add_argument("names", nargs="+", metavar="NAME|ID")


def cmd_inspect(ctx, args):
    kinds = (args.type,) if args.type else KINDS
    return print_inspect(ctx, args.names, args.format, kinds)


def args_container_inspect(p):
    add_format(p, short=True, what="JSON")
    p.add_argument("-s", "--size", action="store_true", help="(accepted; sizes are not "
                   "computed)")
    p.add_argument("names", nargs="+", metavar="CONTAINER")


def cmd_container_inspect(ctx, args):
    return print_inspect(ctx, args.names, args.format, ("container",))


def args_image_inspect(p):
    add_format(p, short=True, what="JSON")
    p.add_argument("names", nargs="+", metavar="IMAGE")


def cmd_image_inspect(ctx, args):
    return print_inspect(ctx, args.names, args.format, ("image",))


# -- disk usage -----------------------------------------------------------------------

def _du(path):
    """Bytes of the files under ``path`` (hard links once), not following links."""
    total, seen = 0, set()
    for dirpath, dirs, files in os.walk(path):
        for n in files:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def _usage(ctx):
    e = ctx.engine
    images = e.images.list()
    containers = e.containers.list(all=True)
    volumes = e.volumes.list()
    used_images = {c.get("Image") for c in containers}
    csize = {c["Id"]: _du(os.path.join(c.get("Runtime", {}).get("LayerDir", ""), "upper"))
             if c.get("Runtime", {}).get("LayerDir") else 0 for c in containers}
    users = {}
    for c in containers:
        from .listing import mounts_of
        for m in mounts_of(c):
            if m.get("Type") == "volume":
                users.setdefault(m.get("Name"), 0)
                users[m.get("Name")] += 1
    vsize = {v["Name"]: _du(v["Mountpoint"]) if v.get("Mountpoint") else 0 for v in volumes}
    return images, used_images, containers, csize, volumes, vsize, users


def _pct(part, whole):
    return f" ({int(part * 100 / whole) if whole else 0}%)"


def args_system_df(p):
    add_format(p)
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on "
                   "space usage")


def cmd_system_df(ctx, args):
    images, used, containers, csize, volumes, vsize, users = _usage(ctx)
    isize = sum(r.size for r in images)
    ireclaim = sum(r.size for r in images if r.id not in used)
    running = [c for c in containers if c["State"]["Running"]]
    ctotal = sum(csize.values())
    creclaim = sum(s for cid, s in csize.items()
                   if cid not in {c["Id"] for c in running})
    vtotal = sum(vsize.values())
    vreclaim = sum(s for n, s in vsize.items() if not users.get(n))
    rows = [
        {"Type": "Images", "TotalCount": str(len(images)),
         "Active": str(sum(1 for r in images if r.id in used)), "Size": output.human_size(isize),
         "Reclaimable": output.human_size(ireclaim) + _pct(ireclaim, isize)},
        {"Type": "Containers", "TotalCount": str(len(containers)), "Active": str(len(running)),
         "Size": output.human_size(ctotal),
         "Reclaimable": output.human_size(creclaim) + _pct(creclaim, ctotal)},
        {"Type": "Local Volumes", "TotalCount": str(len(volumes)),
         "Active": str(sum(1 for v in volumes if users.get(v["Name"]))),
         "Size": output.human_size(vtotal),
         "Reclaimable": output.human_size(vreclaim) + _pct(vreclaim, vtotal)},
        {"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B",
         "Reclaimable": "0B"},
    ]
    output.render(args.format, rows, "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t"
                  "{{.Reclaimable}}", {"Type": "TYPE", "TotalCount": "TOTAL",
                                        "Active": "ACTIVE", "Size": "SIZE",
                                        "Reclaimable": "RECLAIMABLE"}, ctx.out)
    if args.verbose:
        from .listing import ContainerRow
        ctx.out.write("\nContainers space usage:\n\n")
        lines = ["CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES"]
        for c in containers:
            r = ContainerRow(c)
            lines.append("\t".join((r.ID, r.Image, r.Command, r.LocalVolumes,
                                    output.human_size(csize[c["Id"]]), r.RunningFor, r.Status,
                                    r.Names)))
        ctx.out.write(output.tabwrite(lines))
        ctx.out.write("\nLocal Volumes space usage:\n\n")
        lines = ["VOLUME NAME\tLINKS\tSIZE"] + [
            f"{v['Name']}\t{users.get(v['Name'], 0)}\t{output.human_size(vsize[v['Name']])}"
            for v in volumes]
        ctx.out.write(output.tabwrite(lines))
    return 0


def args_system_prune(p):
    p.add_argument("-a", "--all", action="store_true",
                   help="Remove all unused images not just dangling ones")
    add_filter(p, short=False)
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="Prune anonymous volumes")


def cmd_system_prune(ctx, args):
    from .common import filters
    items = ["all stopped containers", "all networks not used by at least one container"]
    if args.volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append("all images without at least one container associated to them"
                 if args.all else "all dangling images")
    question = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
    if not confirm(ctx, question.rstrip("\n"), args.force):
        return 0
    f = filters(args.filter)
    e = ctx.engine
    deleted = e.containers.prune(f or None).get("ContainersDeleted") or []
    nets = e.networks.prune({k: v for k, v in f.items() if k != "until"} or None
                            ).get("NetworksDeleted") or []
    reclaimed = 0
    vols = []
    if args.volumes:
        res = e.volumes.prune({k: v for k, v in f.items() if k.startswith("label")} or None)
        vols, reclaimed = res.get("VolumesDeleted") or [], res.get("SpaceReclaimed") or 0
    imgf = dict(f)
    if args.all:
        imgf["dangling"] = ["false"]
    res = e.images.prune(imgf or None)
    reclaimed += res.get("SpaceReclaimed") or 0
    for title, items in (("Deleted Containers", deleted), ("Deleted Networks", nets),
                         ("Deleted Volumes", vols)):
        if items:
            ctx.out.write(f"{title}:\n" + "".join(f"{i}\n" for i in items) + "\n")
    imgs = res.get("ImagesDeleted") or []
    if imgs:
        ctx.out.write("Deleted Images:\n" + "".join(
            "".join(f"{k.lower()}: {v}\n" for k, v in d.items()) for d in imgs) + "\n")
    ctx.out.write(f"Total reclaimed space: {output.human_size(reclaimed)}\n")
    return 0


# -- info, version --------------------------------------------------------------------

def _os_name():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _arch():
    """Go's name of this machine's architecture, as docker prints it."""
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)


def _info(ctx):
    from .. import __version__
    from .containers import _mem_total
    e = ctx.engine
    cs = e.containers.list(all=True)
    states = [c["State"] for c in cs]
    rt = getattr(e, "runtime", None)
    kind = getattr(getattr(rt, "cg", None), "kind", "")
    layout = getattr(getattr(rt, "cgroup_layout", None), "mode", kind)
    return {
        "ID": "", "Containers": len(cs),
        "ContainersRunning": sum(1 for s in states if s["Running"] and not s["Paused"]),
        "ContainersPaused": sum(1 for s in states if s["Paused"]),
        "ContainersStopped": sum(1 for s in states if not s["Running"]),
        "Images": len(e.images.list()),
        "Driver": "overlay", "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if kind == "v2" else "1",
        "CgroupLayout": layout, "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(), "OSType": "linux", "Architecture": _arch(),
        "NCPU": os.cpu_count(), "MemTotal": _mem_total(), "Name": platform.node(),
        "ServerVersion": __version__, "DockerRootDir": getattr(e, "root", ctx.root),
        "RunRoot": getattr(rt, "run_root", ""), "Daemonless": True,
    }


INFO_TEXT = """\
Client:
 Version:    {v}
 Context:    local (daemonless: the engine runs in this process)

Server:
 Containers: {i[Containers]}
  Running: {i[ContainersRunning]}
  Paused: {i[ContainersPaused]}
  Stopped: {i[ContainersStopped]}
 Images: {i[Images]}
 Server Version: {i[ServerVersion]}
 Storage Driver: {i[Driver]}
 Cgroup Driver: {i[CgroupDriver]}
 Cgroup Version: {i[CgroupVersion]} ({i[CgroupLayout]})
 Kernel Version: {i[KernelVersion]}
 Operating System: {i[OperatingSystem]}
 OSType: {i[OSType]}
 Architecture: {i[Architecture]}
 CPUs: {i[NCPU]}
 Total Memory: {mem}
 Name: {i[Name]}
 Root Dir: {i[DockerRootDir]}
 Run Root: {i[RunRoot]}
"""


def args_info(p):
    add_format(p, short=True, what="text")


def cmd_info(ctx, args):
    from .. import __version__
    info = _info(ctx)
    if args.format is not None:
        from .template import Template
        fmt = "{{json .}}" if args.format == "json" else output.fix_escapes(args.format)
        ctx.out.write(Template(fmt).execute(info) + "\n")
        return 0
    ctx.out.write(INFO_TEXT.format(v=__version__, i=info, mem=output.bytes_size(info["MemTotal"])))
    return 0


def args_version(p):
    add_format(p, short=True, what="text")


def cmd_version(ctx, args):
    from .. import __version__
    v = {"Client": {"Version": __version__, "PythonVersion": platform.python_version(),
                    "Os": "linux", "Arch": _arch()},
         "Server": {"Version": __version__, "Daemonless": True,
                    "KernelVersion": platform.release()}}
    if ctx.hosts:
        name, daemon = ctx.hosts[0][0], ctx.backend()
        server = daemon.version()
        v["Server"] = {"Version": server.get("Version", ""), "Daemonless": False,
                       "ApiVersion": server.get("ApiVersion", ""),
                       "KernelVersion": server.get("KernelVersion", ""), "Host": name}
    if args.format is not None:
        from .template import Template
        fmt = "{{json .}}" if args.format == "json" else output.fix_escapes(args.format)
        ctx.out.write(Template(fmt).execute(v) + "\n")
        return 0
    c, s = v["Client"], v["Server"]
    ctx.out.write(f"Client:\n Version:           {c['Version']}\n"
                  f" Python version:    {c['PythonVersion']}\n"
                  f" OS/Arch:           {c['Os']}/{c['Arch']}\n\n"
                  + ("Server: pycontainer (daemonless: the engine runs in this process)\n"
                     if s["Daemonless"] else f"Server: {s['Host']}\n")
                  + f" Engine:\n  Version:          {s['Version']}\n"
                  + (f"  API version:      {s['ApiVersion']}\n" if not s["Daemonless"] else "")
                  + f"  Kernel version:   {s['KernelVersion']}\n")
    return 0
