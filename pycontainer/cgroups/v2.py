"""cgroup v2: one directory in the unified tree; limits in its interface files."""
import os

from .. import _core

WANTED = ("cpu", "cpuset", "memory", "pids")


def shares_to_weight(shares):
    """cpu.shares (2..262144) -> cpu.weight (1..10000), as runc converts."""
    return 1 + ((shares - 2) * 9999) // 262142


class V2Driver:
    """Plans cgroup v2 steps for ``<root>/<parent>/pycontainer/<id>``.

    ``root`` is the cgroup2 mount point; tests pass a temporary directory.
    """

    kind = "v2"

    def __init__(self, root, parent="/"):
        self.root = root
        self.base = os.path.join(root, parent.strip("/"), "pycontainer")
        self._ready = False

    def _available(self, path):
        try:
            with open(os.path.join(path, "cgroup.controllers")) as f:
                return [c for c in f.read().split() if c in WANTED]
        except OSError:
            return []

    def _ensure_base(self):
        # cgroup_parent may not exist yet (docker creates it too)
        parent, chain = os.path.dirname(self.base), []
        while parent != self.root and not os.path.isdir(parent):
            chain.append(("d", parent, ""))
            parent = os.path.dirname(parent)
        _core.cgroup_apply(list(reversed(chain)))
        steps = []
        # Enable the controllers down to pycontainer/ so each container can use them.
        up = os.path.dirname(self.base)
        ctrls = self._available(up)
        if ctrls:
            steps.append(("w", os.path.join(up, "cgroup.subtree_control"),
                          " ".join("+" + c for c in ctrls)))
        steps.append(("d", self.base, ""))
        _core.cgroup_apply(steps)
        ctrls = self._available(self.base)
        if ctrls:
            _core.cgroup_apply([("w", os.path.join(self.base, "cgroup.subtree_control"),
                                 " ".join("+" + c for c in ctrls))])
        self._ready = True

    def dirs(self, cid):
        return {"unified": os.path.join(self.base, cid)}

    def after_create(self, cid, devices):
        """v2 has no devices files: attach the allow list as an eBPF program."""
        if devices is not None:
            from . import devices as _devices
            _devices.attach(os.path.join(self.base, cid), devices)

    def create_steps(self, cid, res, devices=None):
        if not self._ready:
            self._ensure_base()
        d = os.path.join(self.base, cid)
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
        return steps

    def attach_steps(self, cid, pid):
        return [("w", os.path.join(self.base, cid, "cgroup.procs"), str(pid))]

    def remove_steps(self, cid):
        return [("R", os.path.join(self.base, cid), "")]

    def clone_into(self, cid):
        """The directory to open for CLONE_INTO_CGROUP."""
        return os.path.join(self.base, cid)

    def oom_kills(self, cid):
        try:
            with open(os.path.join(self.base, cid, "memory.events")) as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def oom_file(self, cid):
        return os.path.join(self.base, cid, "memory.events")

    def freeze_steps(self, cid, frozen):
        return [("w", os.path.join(self.base, cid, "cgroup.freeze"), "1" if frozen else "0")]

    def frozen(self, cid):
        """True once every task is frozen (cgroup.events says ``frozen 1``)."""
        try:
            with open(os.path.join(self.base, cid, "cgroup.events")) as f:
                return "frozen 1" in f.read().splitlines()
        except OSError:
            return False

    def is_frozen(self, cid):
        try:
            with open(os.path.join(self.base, cid, "cgroup.freeze")) as f:
                return f.read().strip() == "1"
        except OSError:
            return False

    def procs(self, cid):
        try:
            with open(os.path.join(self.base, cid, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def container_mounts(self):
        return [("", "cgroup2")]
