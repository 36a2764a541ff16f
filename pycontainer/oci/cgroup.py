"""``linux.cgroupsPath`` -> the container's cgroup directories, through the
cgroups room's drivers (v1, v2 or hybrid as detected).

A driver plans ``<mount>/<parent>/pycontainer/<id>``; an OCI container's
cgroup is ``<mount>/<cgroupsPath>``, so the driver is pointed at the path's
parent and the last component stands for the id. Without a cgroupsPath the
container goes where the engine's do: ``/pycontainer/<id>``.
"""
import os

from .. import cgroups
from ..errors import InvalidArgument

# The host's cgroup mounts, read once by a warm process (oci/warm.py) for
# the creates it serves; None: read per create.
LAYOUT = None


def layout():
    global LAYOUT
    if LAYOUT is None:
        LAYOUT = cgroups.detect()
    return LAYOUT


def driver(cgroups_path, cid):
    """(driver, name, mounts): the driver's ``*_steps(name, ...)`` act on the
    container's cgroups; ``mounts`` is what it wants under /sys/fs/cgroup."""
    path = cgroups_path or f"/pycontainer/{cid}"
    if ":" in path:
        raise InvalidArgument(f"cgroupsPath {path!r} is a systemd slice:unit path; this "
                              "runtime manages cgroupfs only (no --systemd-cgroup)")
    parent, name = os.path.split("/" + path.strip("/"))
    if not name or ".." in path.split("/"):
        raise InvalidArgument(f"cgroupsPath {cgroups_path!r} is not a cgroup path")
    drv = cgroups.driver_for(layout(), "/")
    mounts = drv.container_mounts()       # from the hierarchies, before the bases move
    if drv.kind == "v1":
        drv.bases = {ctrl: os.path.join(os.path.dirname(base), parent.lstrip("/"))
                     for ctrl, base in drv.bases.items()}
    else:
        drv.base = os.path.join(drv.root, parent.lstrip("/"))
    return drv, name, mounts


def cpuset_fill(drv, name, steps):
    """v1 cpuset: a new cgroup starts with no cpus or mems and takes no task, and
    a parent another tool made (podman's ``--cgroup-parent``) may be empty too:
    like runc, give every empty dir on the way down its parent's sets.
    Returns ``steps`` with the writes after the container dir's mkdir."""
    if drv.kind != "v1" or "cpuset" not in drv.dirs(name):
        return steps
    target = drv.dirs(name)["cpuset"]
    mount = drv.layout.v1["cpuset"]
    chain, d = [], target
    while d != mount and d.startswith(mount + "/"):
        chain.append(d)
        d = os.path.dirname(d)
    values = {}
    for key in ("cpuset.cpus", "cpuset.mems"):
        with open(os.path.join(mount, key)) as f:
            values[key] = f.read().strip()
    fill = []
    for d in reversed(chain):           # top-most first
        for key, inherited in values.items():
            try:
                with open(os.path.join(d, key)) as f:
                    own = f.read().strip()
            except FileNotFoundError:
                own = ""                # made by these steps
            if own:
                values[key] = own
            else:
                fill.append(("w", os.path.join(d, key), inherited))
    at = next(i for i, s in enumerate(steps) if s[:2] == ("d", target)) + 1
    return steps[:at] + fill + steps[at:]


def extra_steps(drv, name, extra):
    """Writes for the fields Resources has no name for (reservation, swappiness...)."""
    dirs = drv.dirs(name)
    steps = []
    for ctrl, file, value in extra:
        # v1 file names want their hierarchy; on v2 only "unified" entries apply
        d = dirs.get(ctrl) if (drv.kind == "v1") == (ctrl != "unified") else None
        if d is None:
            raise InvalidArgument(f"linux.resources: {file} needs the {ctrl} controller, "
                                  "which this host does not give containers")
        steps.append(("w", os.path.join(d, file), value))
    return steps
