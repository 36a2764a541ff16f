"""cgroup v2: one directory in the unified tree; limits in its interface files."""
import os

from .. import _core
from ..jsonfile import read_bytes
from .parents import Parents

WANTED = ("cpu", "cpuset", "memory", "pids", "io")
# keyword -> (controller, file); what v2 has no file for is refused
FILES = {"mem_reservation": ("memory", "memory.low"),
         "mem_swappiness": (None, "memory.swappiness"),
         "oom_kill_disable": (None, "memory.oom_control"),
         "cpuset_mems": ("cpuset", "cpuset.mems"),
         "cpu_rt_period": (None, "cpu.rt_period_us"),
         "cpu_rt_runtime": (None, "cpu.rt_runtime_us"),
         "blkio_weight": ("io", "io.weight"),
         "blkio_weight_device": ("io", "io.weight"),
         "device_read_bps": ("io", "io.max"), "device_write_bps": ("io", "io.max"),
         "device_read_iops": ("io", "io.max"), "device_write_iops": ("io", "io.max")}
_IO_MAX = {"device_read_bps": "rbps", "device_write_bps": "wbps",
           "device_read_iops": "riops", "device_write_iops": "wiops"}


def shares_to_weight(shares):
    """cpu.shares (2..262144) -> cpu.weight (1..10000), as runc converts."""
    return 1 + ((shares - 2) * 9999) // 262142


class V2Driver(Parents):
    """Plans cgroup v2 steps for ``<root>/<parent>/pycontainer/<id>``.

    ``root`` is the cgroup2 mount point; tests pass a temporary directory.
    """

    kind = "v2"

    def __init__(self, root, parent="/"):
        self.root = root
        self.parent = parent.strip("/")
        self.base = os.path.join(root, self.parent, "pycontainer")
        self._ready = set()

    def _base(self, cid):
        """``pycontainer/`` under the container's cgroup_parent, or the driver's."""
        parent = self._parent(cid)
        return self.base if parent is None else os.path.join(self.root, parent, "pycontainer")

    def _available(self, path):
        try:
            with open(os.path.join(path, "cgroup.controllers")) as f:
                return [c for c in f.read().split() if c in WANTED]
        except OSError:
            return []

    def _ensure_base(self, base):
        # cgroup_parent may not exist yet (docker creates it too)
        parent, chain = os.path.dirname(base), []
        while parent != self.root and not os.path.isdir(parent):
            chain.append(("d", parent, ""))
            parent = os.path.dirname(parent)
        _core.cgroup_apply(list(reversed(chain)))
        steps = []
        # Enable the controllers down to pycontainer/ so each container can use them.
        up = os.path.dirname(base)
        ctrls = self._available(up)
        if ctrls:
            steps.append(("w", os.path.join(up, "cgroup.subtree_control"),
                          " ".join("+" + c for c in ctrls)))
        steps.append(("d", base, ""))
        _core.cgroup_apply(steps)
        ctrls = self._available(base)
        if ctrls:
            _core.cgroup_apply([("w", os.path.join(base, "cgroup.subtree_control"),
                                 " ".join("+" + c for c in ctrls))])
        self._ready.add(base)

    def default_bases(self):
        """The ``pycontainer/`` directory of the driver's own parent."""
        return [self.base]

    def dirs(self, cid):
        return {"unified": os.path.join(self._base(cid), cid)}

    def unsupported(self, res):
        """Messages for the limits in ``res`` that cgroup v2 (or this host's
        tree) cannot set: v2 has no swappiness, OOM-killer switch or
        realtime budget files."""
        out = []
        have = set(self._available(os.path.dirname(self.base)) or
                   self._available(self.root))
        for key, (ctrl, name) in FILES.items():
            if getattr(res, key) in (0, -1, False, "", ()):
                continue
            if ctrl is None:
                out.append(f"{key}: cgroup v2 has no {name}")
            elif ctrl not in have:
                out.append(f"{key}: the {ctrl} controller is not available in {self.root}")
        return out

    def after_create(self, cid, devices):
        """v2 has no devices files: attach the allow list as an eBPF program."""
        if devices is not None:
            from . import devices as _devices
            _devices.attach(os.path.join(self._base(cid), cid), devices)

    def create_steps(self, cid, res, devices=None):
        base = self._base(cid)
        if base not in self._ready:
            self._ensure_base(base)
        d = os.path.join(base, cid)
        steps = [("d", d, "")]
        if res.mem_limit:
            steps.append(("w", f"{d}/memory.max", str(res.mem_limit)))
            total = res.swap_total()
            swap = "max" if total == -1 else str(max(total - res.mem_limit, 0))
            steps.append(("w", f"{d}/memory.swap.max", swap))
        if res.pids_limit:
            steps.append(("w", f"{d}/pids.max", str(res.pids_limit)))
        if res.cpu_shares:
            steps.append(("w", f"{d}/cpu.weight", str(shares_to_weight(res.cpu_shares))))
        quota, period = res.cfs()
        if quota or period:
            steps.append(("w", f"{d}/cpu.max",
                          f"{quota if quota > 0 else 'max'} {period or 100000}"))
        if res.cpuset_cpus:
            steps.append(("w", f"{d}/cpuset.cpus", res.cpuset_cpus))
        if res.cpuset_mems:
            steps.append(("w", f"{d}/cpuset.mems", res.cpuset_mems))
        if res.mem_reservation:
            steps.append(("w", f"{d}/memory.low", str(res.mem_reservation)))
        if res.blkio_weight:
            steps.append(("w", f"{d}/io.weight", f"default {res.blkio_weight}"))
        steps += [("w", f"{d}/io.weight", f"{dev} {n}") for dev, n in res.blkio_weight_device]
        for key, word in _IO_MAX.items():
            steps += [("w", f"{d}/io.max", f"{dev} {word}={n}") for dev, n in getattr(res, key)]
        return steps

    def attach_steps(self, cid, pid, res=None):
        return [("w", os.path.join(self._base(cid), cid, "cgroup.procs"), str(pid))]

    def remove_steps(self, cid):
        return [("R", os.path.join(self._base(cid), cid), "")]

    def clone_into(self, cid):
        """The directory to open for CLONE_INTO_CGROUP."""
        return os.path.join(self._base(cid), cid)

    def oom_kills(self, cid):
        try:
            with open(os.path.join(self._base(cid), cid, "memory.events")) as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def oom_file(self, cid):
        return os.path.join(self._base(cid), cid, "memory.events")

    def freeze_steps(self, cid, frozen):
        return [("w", os.path.join(self._base(cid), cid, "cgroup.freeze"), "1" if frozen else "0")]

    def frozen(self, cid):
        """True once every task is frozen (cgroup.events says ``frozen 1``)."""
        try:
            with open(os.path.join(self._base(cid), cid, "cgroup.events")) as f:
                return "frozen 1" in f.read().splitlines()
        except OSError:
            return False

    def is_frozen(self, cid):
        try:
            return read_bytes(os.path.join(self._base(cid), cid, "cgroup.freeze")).strip() == b"1"
        except OSError:
            return False

    def procs(self, cid):
        try:
            with open(os.path.join(self._base(cid), cid, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def container_mounts(self):
        return [("", "cgroup2")]
