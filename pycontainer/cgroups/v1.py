"""cgroup v1: one directory per controller hierarchy (also the v1 half of hybrid)."""
import contextlib
import os

from .. import _core
from ..jsonfile import read_bytes
from .parents import Parents

# Controllers a container gets a cgroup in, when the host mounts them.
CONTAINER_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "cpuset", "freezer", "devices")
# Only for containers that ask for blkio limits (one attach less for the others).
ON_DEMAND = ("blkio",)
# keyword -> (controller, file) it is written to
FILES = {"mem_reservation": ("memory", "memory.soft_limit_in_bytes"),
         "mem_swappiness": ("memory", "memory.swappiness"),
         "oom_kill_disable": ("memory", "memory.oom_control"),
         "cpuset_mems": ("cpuset", "cpuset.mems"),
         "cpu_rt_period": ("cpu", "cpu.rt_period_us"),
         "cpu_rt_runtime": ("cpu", "cpu.rt_runtime_us"),
         "blkio_weight": ("blkio", "blkio.weight"),
         "blkio_weight_device": ("blkio", "blkio.weight_device"),
         "device_read_bps": ("blkio", "blkio.throttle.read_bps_device"),
         "device_write_bps": ("blkio", "blkio.throttle.write_bps_device"),
         "device_read_iops": ("blkio", "blkio.throttle.read_iops_device"),
         "device_write_iops": ("blkio", "blkio.throttle.write_iops_device")}


class V1Driver(Parents):
    """Plans cgroup v1 steps for ``<mount>/<parent>/pycontainer/<id>``."""

    kind = "v1"

    def __init__(self, layout, parent="/"):
        self.layout = layout
        self.parent = parent.strip("/")
        # One directory per hierarchy (cpu and cpuacct may share one).
        self.bases, seen = {}, set()
        for ctrl in CONTAINER_CONTROLLERS + ON_DEMAND:
            mnt = layout.v1.get(ctrl)
            if mnt and mnt not in seen:
                seen.add(mnt)
                self.bases[ctrl] = os.path.join(mnt, self.parent, "pycontainer")
        self._ready = False
        self._ready_parents = set()

    def _bases(self, cid):
        """controller -> ``pycontainer/`` under the container's cgroup_parent."""
        parent = self._parent(cid)
        if parent is None:
            return self.bases
        return {ctrl: os.path.join(self.layout.v1[ctrl], parent, "pycontainer")
                for ctrl in self.bases}

    def _ready_for(self, cid):
        parent = self._parent(cid)
        if parent is None:
            if not self._ready:
                self._ensure_base(self.bases)
                self._ready = True
        elif parent not in self._ready_parents:
            self._ensure_base(self._bases(cid))
            self._ready_parents.add(parent)

    def _ensure_base(self, bases):
        """Create the shared ``pycontainer`` parents once per process."""
        steps = []
        for ctrl, base in bases.items():
            if os.path.isdir(base):
                continue
            parent, chain = os.path.dirname(base), []
            while not os.path.isdir(parent):     # cgroup_parent may not exist yet
                chain.append(("d", parent, ""))
                parent = os.path.dirname(parent)
            steps += list(reversed(chain))
            steps.append(("d", base, ""))
            if ctrl == "cpuset":
                # A new v1 cpuset starts empty: copy the nearest existing one's
                # down the new chain, and let the containers inherit.
                for name in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(parent, name)) as f:
                        value = f.read().strip()
                    steps += [("w", os.path.join(d, name), value)
                              for d in [p for _, p, _ in reversed(chain)] + [base]]
                steps.append(("w", os.path.join(base, "cgroup.clone_children"), "1"))
        _core.cgroup_apply(steps)

    def default_bases(self):
        """The ``pycontainer/`` directories of the driver's own parent."""
        return list(self.bases.values())

    def dirs(self, cid):
        """controller -> the container's cgroup directory (blkio's may not exist)."""
        return {ctrl: f"{base}/{cid}" for ctrl, base in self._bases(cid).items()}

    def _used(self, cid, res):
        """The dirs a container has: blkio only when its limits need it
        (``res`` None: when the directory exists)."""
        d = self.dirs(cid)
        for ctrl in ON_DEMAND:
            if ctrl in d and not (res.blkio() if res is not None else os.path.isdir(d[ctrl])):
                del d[ctrl]
        return d

    def unsupported(self, res):
        """Messages for each limit in ``res`` this host cannot set (its
        controller or file is missing), so create() refuses it up front."""
        out = []
        for key, (ctrl, name) in FILES.items():
            if getattr(res, key) in (0, -1, False, "", ()):
                continue
            mnt = self.layout.v1.get(ctrl)
            if not mnt or not os.path.exists(os.path.join(mnt, name)):
                out.append(f"{key}: this host's cgroups have no {ctrl} {name} "
                           f"({'the controller is not mounted' if not mnt else 'file missing'})")
        return out

    def create_steps(self, cid, res, devices=None):
        """mkdir the container's cgroups and write its limits; ``devices``:
        the allow list for the devices controller (deny all first)."""
        self._ready_for(cid)
        d = self._used(cid, res)
        steps = [("d", p, "") for p in d.values()]
        if "memory" in d:
            m = d["memory"]
            if res.mem_limit:
                steps.append(("w", f"{m}/memory.limit_in_bytes", str(res.mem_limit)))
                swap = res.swap_total()
                if os.path.exists(f"{m}/memory.memsw.limit_in_bytes"):
                    steps.append(("w", f"{m}/memory.memsw.limit_in_bytes", str(swap)))
            if res.mem_reservation:
                steps.append(("w", f"{m}/memory.soft_limit_in_bytes", str(res.mem_reservation)))
            if res.mem_swappiness != -1:
                steps.append(("w", f"{m}/memory.swappiness", str(res.mem_swappiness)))
            if res.oom_kill_disable:
                steps.append(("w", f"{m}/memory.oom_control", "1"))
        if "pids" in d and res.pids_limit:
            steps.append(("w", f"{d['pids']}/pids.max", str(res.pids_limit)))
        if "cpu" in d:
            c = d["cpu"]
            if res.cpu_shares:
                steps.append(("w", f"{c}/cpu.shares", str(res.cpu_shares)))
            quota, period = res.cfs()
            if period:
                steps.append(("w", f"{c}/cpu.cfs_period_us", str(period)))
            if quota:
                steps.append(("w", f"{c}/cpu.cfs_quota_us", str(quota)))
            if res.cpu_rt_period:
                steps.append(("w", f"{c}/cpu.rt_period_us", str(res.cpu_rt_period)))
            if res.cpu_rt_runtime:
                steps[:0] = self._rt_budget(res, cid)
                steps.append(("w", f"{c}/cpu.rt_runtime_us", str(res.cpu_rt_runtime)))
        if "cpuset" in d and res.cpuset_cpus:
            steps.append(("w", f"{d['cpuset']}/cpuset.cpus", res.cpuset_cpus))
        if "cpuset" in d and res.cpuset_mems:
            steps.append(("w", f"{d['cpuset']}/cpuset.mems", res.cpuset_mems))
        if "blkio" in d:
            b = d["blkio"]
            if res.blkio_weight:
                steps.append(("w", f"{b}/blkio.weight", str(res.blkio_weight)))
            for key, name in (("blkio_weight_device", "blkio.weight_device"),
                              ("device_read_bps", "blkio.throttle.read_bps_device"),
                              ("device_write_bps", "blkio.throttle.write_bps_device"),
                              ("device_read_iops", "blkio.throttle.read_iops_device"),
                              ("device_write_iops", "blkio.throttle.write_iops_device")):
                steps += [("w", f"{b}/{name}", f"{dev} {n}") for dev, n in getattr(res, key)]
        if "devices" in d and devices is not None:
            steps.append(("w", f"{d['devices']}/devices.deny", "a"))
            steps += [("w", f"{d['devices']}/devices.allow", rule) for rule in devices]
        return steps

    def after_create(self, cid, devices):
        """Nothing: v1 devices rules are file writes in create_steps."""

    def _rt_budget(self, res, cid):
        """A realtime budget for ``pycontainer/`` (it starts with none, so no
        child could get any): the bandwidth its other children hold plus
        this one's, written to every level from cgroup_parent down (parents
        first). The kernel compares runtime/period ratios."""
        base, top = self._bases(cid)["cpu"], self.layout.v1["cpu"]
        period = res.cpu_rt_period or _read_int(os.path.join(base, "cpu.rt_period_us")) or 1000000
        share = res.cpu_rt_runtime / period
        with contextlib.suppress(OSError):
            for name in os.listdir(base):
                child = os.path.join(base, name)
                if name != cid and os.path.isdir(child):
                    p = _read_int(os.path.join(child, "cpu.rt_period_us")) or 1
                    share += _read_int(os.path.join(child, "cpu.rt_runtime_us")) / p
        steps, level = [], base
        while len(level) > len(top):
            p = _read_int(os.path.join(level, "cpu.rt_period_us")) or 1000000
            want = -(-int(share * p * 1000) // 1000)       # round up
            if _read_int(os.path.join(level, "cpu.rt_runtime_us")) < want:
                steps.insert(0, ("w", os.path.join(level, "cpu.rt_runtime_us"), str(want)))
            level = os.path.dirname(level)
        return steps

    def attach_steps(self, cid, pid, res=None):
        """Move ``pid`` into every one of the container's cgroups."""
        return [("w", f"{p}/cgroup.procs", str(pid)) for p in self._used(cid, res).values()]

    def remove_steps(self, cid):
        return [("R", p, "") for p in self.dirs(cid).values()]

    def clone_into(self, cid):
        """A cgroup2 dir for CLONE_INTO_CGROUP: none on v1."""
        return None

    def oom_kills(self, cid):
        """How many processes the memory limit killed."""
        path = self.dirs(cid).get("memory")
        if not path:
            return 0
        try:
            with open(f"{path}/memory.oom_control") as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def oom_file(self, cid):
        path = self.dirs(cid).get("memory")
        return f"{path}/memory.oom_control" if path else None

    def freeze_steps(self, cid, frozen):
        path = self.dirs(cid).get("freezer")
        if not path:
            return []
        return [("w", f"{path}/freezer.state", "FROZEN" if frozen else "THAWED")]

    def frozen(self, cid):
        """True once every task is frozen (not merely FREEZING)."""
        path = self.dirs(cid).get("freezer")
        try:
            with open(f"{path}/freezer.state") as f:
                return f.read().strip() == "FROZEN"
        except (OSError, TypeError):
            return False

    def is_frozen(self, cid):
        path = self.dirs(cid).get("freezer")
        try:
            return read_bytes(f"{path}/freezer.state").strip() in (b"FROZEN", b"FREEZING")
        except (OSError, TypeError):
            return False

    def procs(self, cid):
        """pids in the container's cgroup (any controller will do)."""
        for path in self.dirs(cid).values():
            try:
                with open(f"{path}/cgroup.procs") as f:
                    return [int(x) for x in f.read().split()]
            except OSError:
                continue
        return []

    def container_mounts(self):
        """(mount point name under /sys/fs/cgroup, v1 options) for each hierarchy,
        so the container sees its own cgroups (read-only, cgroup namespace)."""
        owned = {os.path.dirname(os.path.dirname(b)) if self.parent else os.path.dirname(b)
                 for b in self.bases.values()}
        return [(os.path.basename(point), opts)
                for point, opts in sorted(self.layout.v1_mounts.items()) if point in owned]


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0
