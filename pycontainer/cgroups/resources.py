"""Resource limits: validated once, before anything is created.

Every bound is one the kernel (or docker) enforces, so a value accepted here
is written without error when the container starts: sizes and counts fit a
signed 64-bit integer (the cgroup files parse them so; docker's API is
int64), pids stay below the kernel's PID_MAX_LIMIT, CFS quota and period
within what ``tg_set_cfs_bandwidth`` takes.
"""
import functools
import os
import re
from dataclasses import dataclass

from ..errors import InvalidArgument
from ..units import parse_bytes

INT64_MAX = (1 << 63) - 1
MIN_MEMORY = 6 * 1024 * 1024      # docker's floor
CPU_RANGE = re.compile(r"(\d+)(?:-(\d+))?", re.ASCII)
MAX_PIDS = 4 * 1024 * 1024        # PID_MAX_LIMIT: pids.max refuses anything larger
MIN_CFS_US, MAX_CFS_PERIOD_US = 1000, 1000000
MAX_CFS_QUOTA_US = (1 << 44) - 1  # the kernel's max_cfs_runtime, in µs
MIN_SHARES, MAX_SHARES = 2, 262144


def _within(value, what, lo, hi, unit="", extra="", given=None):
    if not lo <= value <= hi:
        raise InvalidArgument(f"{what} must be within {lo}..{hi}{unit}{extra}, "
                              f"got {value if given is None else repr(given)}")
    return value


@functools.lru_cache(maxsize=1)
def _cpus_online():
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return _parse_cpuset(f.read().strip(), "online cpus")
    except OSError:
        return set(range(os.cpu_count() or 1))


def _parse_cpuset(text, what, highest=None):
    """``"0-2,5"`` -> {0, 1, 2, 5}; numbers above ``highest`` are refused
    before any range is expanded."""
    cpus = set()
    for part in text.split(","):
        m = CPU_RANGE.fullmatch(part)
        if not m:
            raise InvalidArgument(f"{what}: {text!r} is not a cpu list like '0-1,3'")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise InvalidArgument(f"{what}: range {part!r} is reversed")
        if highest is not None and hi > highest:
            raise InvalidArgument(f"{what} {text!r} names cpu {hi}; this machine's cpus are "
                                  f"{_cpu_list(_cpus_online())}")
        cpus.update(range(lo, hi + 1))
    return cpus


def _cpu_list(cpus):
    """{0, 1, 2, 5} -> ``"0-2,5"``."""
    runs = []
    for c in sorted(cpus):
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in runs)


@dataclass(frozen=True)
class Resources:
    """Limits for one container, as docker-py names them."""
    mem_limit: int = 0          # bytes, 0 = none
    memswap_limit: int = 0      # bytes of memory+swap; -1 = unlimited swap; 0 = default
    pids_limit: int = 0         # 0 = none (docker: 0 or -1 unlimited)
    nano_cpus: int = 0
    cpu_shares: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    cpuset_cpus: str = ""
    # the rest of docker-py's limits (validated by _more below)
    mem_reservation: int = 0    # bytes, 0 = none (v1 soft limit, v2 memory.low)
    mem_swappiness: int = -1    # 0..100, -1 = the kernel's
    oom_kill_disable: bool = False
    cpuset_mems: str = ""
    cpu_rt_period: int = 0      # µs
    cpu_rt_runtime: int = 0     # µs
    blkio_weight: int = 0       # 10..1000
    blkio_weight_device: tuple = ()   # ("major:minor", weight)
    device_read_bps: tuple = ()       # ("major:minor", bytes or ops per second)
    device_write_bps: tuple = ()
    device_read_iops: tuple = ()
    device_write_iops: tuple = ()

    @classmethod
    def from_stored(cls, d):
        """From ``__dict__`` after a JSON round trip (lists back to tuples)."""
        d = dict(d)
        for key in _PAIRS:
            if key in d:
                d[key] = tuple(tuple(p) for p in d[key])
        return cls(**d)

    def blkio(self):
        """True when the container needs a blkio (v1) / io (v2) cgroup."""
        return bool(self.blkio_weight or self.blkio_weight_device or self.device_read_bps or
                    self.device_write_bps or self.device_read_iops or self.device_write_iops)

    @classmethod
    def from_kwargs(cls, mem_limit=None, memswap_limit=None, pids_limit=None, nano_cpus=None,
                    cpu_shares=None, cpu_quota=None, cpu_period=None, cpuset_cpus=None,
                    **more):
        """Validate docker-py style keywords; raises InvalidArgument naming
        the keyword and the range it takes."""
        mem = 0
        if mem_limit not in (None, 0, ""):
            mem = parse_bytes(mem_limit, "mem_limit")
            if mem:
                _within(mem, "mem_limit", MIN_MEMORY, INT64_MAX, " bytes", " (at least 6 MiB)",
                        mem_limit)
        swap = 0
        if memswap_limit not in (None, 0, ""):
            swap = -1 if memswap_limit == -1 else parse_bytes(memswap_limit, "memswap_limit")
            if swap != -1:
                if not mem:
                    raise InvalidArgument("memswap_limit needs mem_limit as well")
                _within(swap, "memswap_limit", mem, INT64_MAX, " bytes",
                        " (-1 for unlimited swap; at least mem_limit)", memswap_limit)
        pids = _int(pids_limit, "pids_limit")
        if pids in (-1, 0):
            pids = 0
        else:
            _within(pids, "pids_limit", 1, MAX_PIDS, "", " (0 or -1 for no limit)")
        shares = _int(cpu_shares, "cpu_shares")
        if shares:
            _within(shares, "cpu_shares", MIN_SHARES, MAX_SHARES)
        period = _int(cpu_period, "cpu_period")
        if period:
            _within(period, "cpu_period", MIN_CFS_US, MAX_CFS_PERIOD_US, " µs")
        quota = _int(cpu_quota, "cpu_quota")
        if quota not in (-1, 0):
            _within(quota, "cpu_quota", MIN_CFS_US, MAX_CFS_QUOTA_US, " µs", " (-1 for none)")
        ncpu = len(_cpus_online())
        nano = _int(nano_cpus, "nano_cpus")
        if nano:
            _within(nano, "nano_cpus", 10**9 // 100, ncpu * 10**9, "",
                    f" (0.01 to {ncpu} cpus: this machine has {ncpu})")
        if nano and (quota or period):
            raise InvalidArgument("nano_cpus conflicts with cpu_quota/cpu_period; use one")
        if cpuset_cpus is not None and not isinstance(cpuset_cpus, str):
            raise InvalidArgument(f"cpuset_cpus must be a string like '0-1,3', got "
                                  f"{cpuset_cpus!r}")
        cpuset = (cpuset_cpus or "").strip()
        if cpuset:
            online = _cpus_online()
            missing = _parse_cpuset(cpuset, "cpuset_cpus", max(online)) - online
            if missing:
                raise InvalidArgument(f"cpuset_cpus {cpuset!r} names cpus this machine lacks: "
                                      f"{sorted(missing)}; its cpus are {_cpu_list(online)}")
        return cls(mem, swap, pids, nano, shares, quota, period, cpuset, **_more(mem, **more))

    def cfs(self):
        """(quota, period) in µs for the CFS bandwidth controller, 0 = unset."""
        if self.nano_cpus:
            period = 100000
            return self.nano_cpus * period // 10**9, period
        return self.cpu_quota, self.cpu_period

    def swap_total(self):
        """memory+swap in bytes as docker sets it: 2x memory by default, -1 unlimited."""
        if not self.mem_limit:
            return 0
        if self.memswap_limit:
            return self.memswap_limit
        return min(2 * self.mem_limit, INT64_MAX)


def _int(value, what):
    """An integer keyword, None or "" meaning 0; callers check its range."""
    if value in (None, ""):
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{what} must be an integer, got {value!r}")
    return value


def _more(mem, mem_reservation=None, mem_swappiness=None, oom_kill_disable=None,
          cpuset_mems=None, cpu_rt_period=None, cpu_rt_runtime=None, blkio_weight=None,
          blkio_weight_device=None, device_read_bps=None, device_write_bps=None,
          device_read_iops=None, device_write_iops=None):
    out = {}
    if mem_reservation not in (None, 0, ""):
        res = parse_bytes(mem_reservation, "mem_reservation")
        _within(res, "mem_reservation", 0, mem or INT64_MAX, " bytes",
                " (at most mem_limit)" if mem else "", mem_reservation)
        out["mem_reservation"] = res
    if mem_swappiness not in (None, -1):
        out["mem_swappiness"] = _within(_int(mem_swappiness, "mem_swappiness"),
                                        "mem_swappiness", 0, 100, "", " (-1 for the kernel's)")
    if oom_kill_disable is not None:
        if not isinstance(oom_kill_disable, bool):
            raise InvalidArgument(f"oom_kill_disable must be True or False, got "
                                  f"{oom_kill_disable!r}")
        out["oom_kill_disable"] = oom_kill_disable
    if cpuset_mems not in (None, ""):
        if not isinstance(cpuset_mems, str):
            raise InvalidArgument(f"cpuset_mems must be a string like '0-1', got {cpuset_mems!r}")
        mems = _mems_online()
        missing = _parse_cpuset(cpuset_mems.strip(), "cpuset_mems") - mems
        if missing:
            raise InvalidArgument(f"cpuset_mems {cpuset_mems!r} names memory nodes this machine "
                                  f"lacks: {sorted(missing)}; its nodes are {_cpu_list(mems)}")
        out["cpuset_mems"] = cpuset_mems.strip()
    period = _int(cpu_rt_period, "cpu_rt_period")
    runtime = _int(cpu_rt_runtime, "cpu_rt_runtime")
    if period:
        _within(period, "cpu_rt_period", 1, MAX_CFS_PERIOD_US, " µs")
    if runtime:
        _within(runtime, "cpu_rt_runtime", 1, period or MAX_CFS_PERIOD_US, " µs",
                " (at most cpu_rt_period)")
    out.update(cpu_rt_period=period, cpu_rt_runtime=runtime)
    weight = _int(blkio_weight, "blkio_weight")
    if weight:
        out["blkio_weight"] = _within(weight, "blkio_weight", 10, 1000)
    out["blkio_weight_device"] = _throttle(blkio_weight_device, "blkio_weight_device", "Weight")
    for what, value in (("device_read_bps", device_read_bps),
                        ("device_write_bps", device_write_bps),
                        ("device_read_iops", device_read_iops),
                        ("device_write_iops", device_write_iops)):
        out[what] = _throttle(value, what, "Rate")
    return out


_PAIRS = ("blkio_weight_device", "device_read_bps", "device_write_bps", "device_read_iops",
          "device_write_iops")


@functools.lru_cache(maxsize=1)
def _mems_online():
    try:
        with open("/sys/devices/system/node/online") as f:
            return _parse_cpuset(f.read().strip(), "online memory nodes")
    except OSError:
        return {0}


def _throttle(value, what, key):
    """docker-py's ``[{"Path": "/dev/sda", "Rate": 1024}]`` (``Weight`` for
    blkio_weight_device) -> (("8:0", 1024), ...): the device must be a block
    device on this host. Stored pairs (from an earlier create) pass as they are."""
    if not value:
        return ()
    if not isinstance(value, (list, tuple)):
        raise InvalidArgument(f"{what} must be a list of {{'Path': ..., '{key}': ...}}")
    out = []
    for item in value:
        if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            dev, amount = item                       # stored form
        elif isinstance(item, dict) and "Path" in item and key in item:
            dev, amount = _block_device(item["Path"], what), item[key]
        else:
            raise InvalidArgument(f"{what}: {item!r} is not {{'Path': ..., '{key}': ...}}")
        if key == "Weight":
            amount = _within(_int(amount, what), what, 10, 1000)
        elif what.endswith("_bps"):
            amount = _within(parse_bytes(amount, what), what, 1, INT64_MAX, " bytes/s")
        else:
            amount = _within(_int(amount, what), what, 1, INT64_MAX, " ops/s")
        out.append((dev, amount))
    return tuple(out)


def _block_device(path, what):
    import stat
    try:
        st = os.stat(path)
    except OSError as err:
        raise InvalidArgument(f"{what}: cannot use {path!r}: {err.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise InvalidArgument(f"{what}: {path!r} is not a block device")
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
