"""Capabilities: Docker's default 14, ``cap_add``/``cap_drop`` by name."""
import functools

from ..errors import InvalidArgument

NAMES = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
]
NUMBER = {name: i for i, name in enumerate(NAMES)}
DEFAULT = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
           "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")


@functools.lru_cache(maxsize=1)
def last_cap():
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


@functools.lru_cache(maxsize=1)
def host_mask():
    """The caps our own bounding set still has (root may lack some, e.g. SYS_RESOURCE)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return (1 << (last_cap() + 1)) - 1


def _name(cap):
    if not isinstance(cap, str):
        raise InvalidArgument(f"capability names are strings, got {cap!r}")
    name = cap.upper()
    name = name[4:] if name.startswith("CAP_") else name
    if name != "ALL" and name not in NUMBER:
        raise InvalidArgument(f"unknown capability {cap!r}")
    return name


def mask(cap_add=None, cap_drop=None, privileged=False):
    """The bounding set as a bit mask, docker's rules: start from the default,
    drop, then add (``ALL`` works in both); privileged gets all the host has."""
    if privileged:
        return host_mask()
    adds = [_name(c) for c in cap_add or []]
    drops = [_name(c) for c in cap_drop or []]
    keep = set(DEFAULT)
    if "ALL" in drops:
        keep.clear()
    keep -= set(drops)
    if "ALL" in adds:
        keep |= set(NAMES)
    keep |= {a for a in adds if a != "ALL"}
    return sum(1 << NUMBER[n] for n in keep) & host_mask()


def names(m):
    return ["CAP_" + n for i, n in enumerate(NAMES) if m >> i & 1]
