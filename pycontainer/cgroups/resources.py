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
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part, re.ASCII)
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

    @classmethod
    def from_kwargs(cls, mem_limit=None, memswap_limit=None, pids_limit=None, nano_cpus=None,
                    cpu_shares=None, cpu_quota=None, cpu_period=None, cpuset_cpus=None):
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
        return cls(mem, swap, pids, nano, shares, quota, period, cpuset)

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
