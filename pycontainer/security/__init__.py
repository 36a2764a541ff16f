"""Security defaults as docker's: capabilities, seccomp, masked and
read-only paths, no_new_privs, the devices cgroup, sysctls, ulimits.

:func:`build` validates the run() keywords (before anything is created) and
returns plain data kept in the container's config; :func:`plan_ops` and
:func:`device_rules` turn it into op-plan steps and cgroup writes.
"""
import functools
import os
import resource
import stat

from ..errors import InvalidArgument
from . import caps as _caps
from . import seccomp as _seccomp

# Docker's defaults (moby daemon/pkg/oci/defaults.go), in its order.
MASKED = ("/proc/acpi", "/proc/asound",
          "/proc/interrupts",                   # GHSA-6fw5-f8r9-fgfm: per-CPU counters
          "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
          "/proc/timer_list", "/proc/timer_stats",
          "/sys/devices/virtual/powercap",      # GHSA-jq35-85cj-fj4p: energy counters
          "/sys/firmware")
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
# The standard nodes plus pts/ptmx; mknod of anything is allowed, opening is not.
DEVICE_RULES = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm")
NAMESPACED_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                      "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")
# RLIMIT_* numbers on Linux (the resource module lacks some of them)
ULIMITS = {"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6,
           "nofile": 7, "memlock": 8, "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12,
           "nice": 13, "rtprio": 14, "rttime": 15}


@functools.lru_cache(maxsize=1)
def _masked_paths():
    """Docker's list, skipping what this kernel lacks; (path, is_dir)."""
    out = []
    paths = list(MASKED)
    cpu = "/sys/devices/system/cpu"
    if os.path.isdir(cpu):       # thermal throttle counters too (GHSA-6fw5-f8r9-fgfm)
        for name in sorted(os.listdir(cpu)):
            p = os.path.join(cpu, name, "thermal_throttle")
            if name.startswith("cpu") and name[3:].isdigit() and os.path.isdir(p):
                paths.append(p)
    for p in paths:
        try:
            st = os.lstat(p)
        except OSError:
            continue
        out.append((p, stat.S_ISDIR(st.st_mode)))
    return out


def _parse_device(spec):
    """``/dev/fuse[:/dev/fuse[:rwm]]`` -> (host, container, perms, kind, major, minor)."""
    if isinstance(spec, dict):
        host, inside, perms = spec.get("PathOnHost"), spec.get("PathInContainer"), spec.get(
            "CgroupPermissions", "rwm")
    else:
        parts = str(spec).split(":")
        if not 1 <= len(parts) <= 3:
            raise InvalidArgument(f"invalid device {spec!r}")
        host = parts[0]
        inside = parts[1] if len(parts) > 1 and parts[1] else host
        perms = parts[2] if len(parts) > 2 else "rwm"
    if not host or not host.startswith("/") or not inside.startswith("/"):
        raise InvalidArgument(f"invalid device {spec!r}: paths must be absolute")
    if not perms or set(perms) - set("rwm"):
        raise InvalidArgument(f"invalid device permissions {perms!r} (use r, w, m)")
    try:
        st = os.stat(host)
    except OSError as err:
        raise InvalidArgument(f"device {host}: {err.strerror}") from err
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise InvalidArgument(f"{host} is not a device node")
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
    return [host, inside, perms, kind, os.major(st.st_rdev), os.minor(st.st_rdev),
            stat.S_IMODE(st.st_mode)]


def _sysctls(sysctls, network_mode):
    out = {}
    for key, value in (sysctls or {}).items():
        k = str(key).replace("/", ".")
        ok = k in NAMESPACED_SYSCTLS or k.startswith("fs.mqueue.") or (
            k.startswith("net.") and network_mode != "host")
        if not ok:
            raise InvalidArgument(f"sysctl {key!r} is not namespaced (or needs a private "
                                  "network namespace): refused")
        if "\n" in str(value) or "\0" in str(value):
            raise InvalidArgument(f"sysctl {key!r}: bad value")
        out[k] = str(value)
    return out


def _ulimits(ulimits):
    out = []
    for u in ulimits or []:
        if isinstance(u, dict):
            name, soft, hard = u.get("Name") or u.get("name"), u.get("Soft", u.get("soft")), \
                u.get("Hard", u.get("hard"))
        else:
            name, soft, hard = getattr(u, "name", None), getattr(u, "soft", None), \
                getattr(u, "hard", None)
        if name not in ULIMITS:
            raise InvalidArgument(f"unknown ulimit {name!r}")
        res = ULIMITS[name]
        cur_soft, cur_hard = resource.getrlimit(res)
        hard = soft if hard is None else hard
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 63
                   for v in (soft, hard)):
            raise InvalidArgument(f"ulimit {name}: soft and hard must be integers within "
                                  f"0..{(1 << 63) - 1}, got {soft!r}:{hard!r}")
        if soft > hard:
            raise InvalidArgument(f"ulimit {name}: soft {soft} is above hard {hard}")
        if cur_hard != resource.RLIM_INFINITY and hard > cur_hard:
            # Raising a hard limit needs CAP_SYS_RESOURCE, which root may not have.
            raise InvalidArgument(f"ulimit {name}: hard {hard} is above this process's hard "
                                  f"limit {cur_hard}")
        out.append([res, soft, hard])
    return out


def build(cap_add=None, cap_drop=None, privileged=False, security_opt=None, devices=None,
          sysctls=None, ulimits=None, network_mode="none"):
    """Validate the security keywords; returns plain data for the config."""
    seccomp, nnp = "default", False
    for opt in security_opt or []:
        key, sep, val = str(opt).partition("=")
        if key == "no-new-privileges" or key == "no-new-privileges:true":
            nnp = val in ("", "true")
        elif key == "seccomp" and sep:
            if val != "unconfined":
                _seccomp.resolve(_seccomp.load(val), [])      # refuse bad files now
            seccomp = val
        elif key in ("apparmor", "label"):
            continue            # no AppArmor or SELinux on these hosts: accepted, no effect
        else:
            raise InvalidArgument(f"unknown security_opt {opt!r}")
    mask = _caps.mask(cap_add, cap_drop, privileged)
    return {"caps": mask, "privileged": bool(privileged),
            "seccomp": "unconfined" if privileged else seccomp, "no_new_privs": nnp,
            "devices": [_parse_device(d) for d in devices or []],
            "sysctls": _sysctls(sysctls, network_mode), "ulimits": _ulimits(ulimits)}


def device_rules(sec):
    """devices cgroup (v1) writes: deny all, then allow the list."""
    if sec is None:
        return None
    if sec["privileged"]:
        return ["a *:* rwm"]
    return list(DEVICE_RULES) + [f"{d[3]} {d[4]}:{d[5]} {d[2]}" for d in sec["devices"]]


def seccomp_bpf(sec):
    """The compiled filter for this container, or None (unconfined)."""
    spec = sec["seccomp"]
    if spec == "unconfined":
        return None
    key = spec if spec == "default" else f"{spec}:{os.stat(spec).st_mtime_ns}"
    return _seccomp.compile_cached(key, lambda: _seccomp.load(spec), _caps.names(sec["caps"]))
