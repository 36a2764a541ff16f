"""Resource limits: validated once, before anything is created."""
import functools
import os
import re
from dataclasses import dataclass

from ..errors import InvalidArgument

MIN_MEMORY = 6 * 1024 * 1024      # docker's floor
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(value, what):
    """``64m``, ``"1g"``, ``1048576`` -> bytes."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{what}: expected a size, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)b?\s*", value.lower())
        if m:
            return int(float(m.group(1)) * _UNITS[m.group(2)])
    raise InvalidArgument(f"{what}: {value!r} is not a size (e.g. 64m, 1g, 1048576)")


@functools.lru_cache(maxsize=1)
def _cpus_online():
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return _parse_cpuset(f.read().strip(), "online cpus")
    except OSError:
        return set(range(os.cpu_count() or 1))


def _parse_cpuset(text, what):
    cpus = set()
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:-(\d+))?\s*", part)
        if not m:
            raise InvalidArgument(f"{what}: {text!r} is not a cpu list like '0-1,3'")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise InvalidArgument(f"{what}: range {part!r} is reversed")
        cpus.update(range(lo, hi + 1))
    return cpus


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
        """Validate docker-py style keywords; raises InvalidArgument."""
        mem = parse_bytes(mem_limit, "mem_limit") if mem_limit not in (None, 0, "") else 0
        if mem < 0:
            raise InvalidArgument(f"mem_limit must not be negative, got {mem_limit!r}")
        if 0 < mem < MIN_MEMORY:
            raise InvalidArgument(f"mem_limit {mem} bytes is below the minimum of 6 MiB")
        swap = 0
        if memswap_limit not in (None, 0, ""):
            swap = -1 if memswap_limit == -1 else parse_bytes(memswap_limit, "memswap_limit")
            if swap != -1 and swap < 0:
                raise InvalidArgument(f"memswap_limit must not be negative, got {memswap_limit!r}")
            if swap != -1 and not mem:
                raise InvalidArgument("memswap_limit needs mem_limit as well")
            if swap != -1 and swap < mem:
                raise InvalidArgument(
                    f"memswap_limit ({swap}) must be at least mem_limit ({mem})")
        pids = _int(pids_limit, "pids_limit", minimum=-1)
        if pids == -1:
            pids = 0
        shares = _int(cpu_shares, "cpu_shares")
        if shares and not 2 <= shares <= 262144:
            raise InvalidArgument(f"cpu_shares must be within 2..262144, got {shares}")
        period = _int(cpu_period, "cpu_period")
        if period and not 1000 <= period <= 1000000:
            raise InvalidArgument(f"cpu_period must be within 1000..1000000 µs, got {period}")
        quota = _int(cpu_quota, "cpu_quota", minimum=-1)
        if quota > 0 and quota < 1000:
            raise InvalidArgument(f"cpu_quota must be at least 1000 µs, got {quota}")
        ncpu = len(_cpus_online())
        nano = _int(nano_cpus, "nano_cpus")
        if nano and nano > ncpu * 10**9:
            raise InvalidArgument(
                f"nano_cpus {nano} asks for {nano / 1e9:g} cpus; this machine has {ncpu}")
        if nano and nano < 10**9 // 100:
            raise InvalidArgument(f"nano_cpus {nano} is below 0.01 cpu")
        if nano and (quota or period):
            raise InvalidArgument("nano_cpus conflicts with cpu_quota/cpu_period; use one")
        cpuset = (cpuset_cpus or "").strip()
        if cpuset:
            missing = _parse_cpuset(cpuset, "cpuset_cpus") - _cpus_online()
            if missing:
                raise InvalidArgument(
                    f"cpuset_cpus {cpuset!r} names cpus this machine lacks: {sorted(missing)}")
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
        return 2 * self.mem_limit


def _int(value, what, minimum=0):
    if value in (None, ""):
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{what} must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidArgument(f"{what} must not be negative, got {value}")
    return value
