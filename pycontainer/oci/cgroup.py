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
    drv = cgroups.driver_for(cgroups.detect(), "/")
    mounts = drv.container_mounts()       # from the hierarchies, before the bases move
    if drv.kind == "v1":
        drv.bases = {ctrl: os.path.join(os.path.dirname(base), parent.lstrip("/"))
                     for ctrl, base in drv.bases.items()}
    else:
        drv.base = os.path.join(drv.root, parent.lstrip("/"))
    return drv, name, mounts


def extra_steps(drv, name, extra):
    """Writes for the fields Resources has no name for (reservation, swappiness...)."""
    dirs = drv.dirs(name)
    steps = []
    for ctrl, file, value in extra:
        d = dirs.get(ctrl) if drv.kind == "v1" else None
        if d is None:
            raise InvalidArgument(f"linux.resources: {file} needs the {ctrl} controller, "
                                  "which this host does not give containers")
        steps.append(("w", os.path.join(d, file), value))
    return steps
