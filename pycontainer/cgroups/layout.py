"""Where the cgroup hierarchies are mounted: v1, v2 or hybrid."""
import os
from dataclasses import dataclass, field

V1_WANTED = ("memory", "pids", "cpu", "cpuacct", "cpuset", "freezer", "devices", "blkio")


@dataclass
class Layout:
    """Mount points of the cgroup hierarchies.

    Attributes:
        v1: controller name -> mount point of its v1 hierarchy (``cpu`` and
            ``cpuacct`` may share one).
        v1_mounts: mount point -> comma-joined options (for mounting them again
            inside a container).
        v2: mount point of the cgroup2 tree, or None.
        v2_controllers: controllers available in the cgroup2 root.
    """
    v1: dict = field(default_factory=dict)
    v1_mounts: dict = field(default_factory=dict)
    v2: str = None
    v2_controllers: tuple = ()

    @property
    def mode(self):
        if self.v1 and self.v2:
            return "hybrid"
        return "v1" if self.v1 else "v2"


def _parse_mountinfo(text):
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        yield fields[4].replace("\\040", " "), rfields[0], rfields[2]


def favor_dynmods(layout, mountinfo="/proc/self/mountinfo"):
    """Remount the cgroup2 tree with ``favordynmods``.

    Moving a task between cgroups takes a global rwsem whose write side waits
    for an RCU grace period (~5 ms) when the machine has been idle; with this
    option the kernel keeps it in its slow-reader mode instead, so an attach
    costs microseconds at a small price on fork and exit. The setting is
    host-wide (it covers v1 hierarchies too) and lasts until the next remount.
    Returns True when it is (now) set.
    """
    if not layout.v2:
        return False
    with open(mountinfo) as f:
        for point, fstype, opts in _parse_mountinfo(f.read()):
            if point == layout.v2 and fstype == "cgroup2":
                break
        else:
            return False
    keep = [o for o in opts.split(",") if o not in ("rw", "ro")]
    if "favordynmods" in keep:
        return True
    from .. import _core
    ms_remount = 32
    _core.check(_core.lib.pyc_mount(b"cgroup2", layout.v2.encode(), b"cgroup2", ms_remount,
                                    ",".join(keep + ["favordynmods"]).encode()),
                "remount cgroup2 with favordynmods", layout.v2)
    return True


def detect(mountinfo="/proc/self/mountinfo"):
    """Read the mount table and describe the cgroup layout."""
    with open(mountinfo) as f:
        text = f.read()
    layout = Layout()
    for point, fstype, opts in _parse_mountinfo(text):
        if fstype == "cgroup":
            names = [o for o in opts.split(",") if o in V1_WANTED]
            if names:
                layout.v1_mounts[point] = ",".join(names)
            for name in names:
                layout.v1.setdefault(name, point)
        elif fstype == "cgroup2" and layout.v2 is None:
            layout.v2 = point
            try:
                with open(os.path.join(point, "cgroup.controllers")) as f:
                    layout.v2_controllers = tuple(f.read().split())
            except OSError:
                layout.v2_controllers = ()
    return layout
