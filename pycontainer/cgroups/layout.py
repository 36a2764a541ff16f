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
