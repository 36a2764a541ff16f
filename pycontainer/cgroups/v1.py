"""cgroup v1: one directory per controller hierarchy (also the v1 half of hybrid)."""
import os

from .. import _core

# Controllers a container gets a cgroup in, when the host mounts them.
CONTAINER_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "cpuset", "freezer", "devices")


class V1Driver:
    """Plans cgroup v1 steps for ``<mount>/<parent>/pycontainer/<id>``."""

    kind = "v1"

    def __init__(self, layout, parent="/"):
        self.layout = layout
        self.parent = parent.strip("/")
        # One directory per hierarchy (cpu and cpuacct may share one).
        self.bases, seen = {}, set()
        for ctrl in CONTAINER_CONTROLLERS:
            mnt = layout.v1.get(ctrl)
            if mnt and mnt not in seen:
                seen.add(mnt)
                self.bases[ctrl] = os.path.join(mnt, self.parent, "pycontainer")
        self._ready = False

    def _ensure_base(self):
        """Create the shared ``pycontainer`` parents once per process."""
        steps = []
        for ctrl, base in self.bases.items():
            if os.path.isdir(base):
                continue
            parent, chain = os.path.dirname(base), []
            while not os.path.isdir(parent):     # cgroup_parent may not exist yet
                chain.append(("d", parent, ""))
                parent = os.path.dirname(parent)
            steps += list(reversed(chain))
            steps.append(("d", base, ""))
            if ctrl == "cpuset":
                # A new v1 cpuset starts empty: copy the parent's, let children inherit.
                up = os.path.dirname(base)
                for name in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(up, name)) as f:
                        steps.append(("w", os.path.join(base, name), f.read().strip()))
                steps.append(("w", os.path.join(base, "cgroup.clone_children"), "1"))
        _core.cgroup_apply(steps)
        self._ready = True

    def dirs(self, cid):
        """controller -> the container's cgroup directory."""
        return {ctrl: f"{base}/{cid}" for ctrl, base in self.bases.items()}

    def create_steps(self, cid, res, devices=None):
        """mkdir the container's cgroups and write its limits; ``devices``:
        the allow list for the devices controller (deny all first)."""
        if not self._ready:
            self._ensure_base()
        d = self.dirs(cid)
        steps = [("d", p, "") for p in d.values()]
        if "memory" in d:
            m = d["memory"]
            if res.mem_limit:
                steps.append(("w", f"{m}/memory.limit_in_bytes", str(res.mem_limit)))
                swap = res.swap_total()
                if os.path.exists(f"{m}/memory.memsw.limit_in_bytes"):
                    steps.append(("w", f"{m}/memory.memsw.limit_in_bytes", str(swap)))
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
        if "cpuset" in d and res.cpuset_cpus:
            steps.append(("w", f"{d['cpuset']}/cpuset.cpus", res.cpuset_cpus))
        if "devices" in d and devices is not None:
            steps.append(("w", f"{d['devices']}/devices.deny", "a"))
            steps += [("w", f"{d['devices']}/devices.allow", rule) for rule in devices]
        return steps

    def after_create(self, cid, devices):
        """Nothing: v1 devices rules are file writes in create_steps."""

    def attach_steps(self, cid, pid):
        """Move ``pid`` into every one of the container's cgroups."""
        return [("w", f"{p}/cgroup.procs", str(pid)) for p in self.dirs(cid).values()]

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
            with open(f"{path}/freezer.state") as f:
                return f.read().strip() in ("FROZEN", "FREEZING")
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
