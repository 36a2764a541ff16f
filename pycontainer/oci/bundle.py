"""A bundle's ``config.json`` (runtime-spec 1.0-1.2) -> our typed runtime Spec.

Everything is checked before anything exists: a field this runtime cannot
honour on this host (AppArmor, SELinux, a namespace path it cannot join,
an Intel RDT class...) is refused with :class:`InvalidArgument` naming it,
never silently dropped.
"""
import json
import os
import resource
import sys

from .. import cgroups
from ..errors import InvalidArgument
from ..runtime.spec import (Device, Linux, Mount, Namespace, Process, Root, Spec, User,
                            MOUNT_OPTIONS)
from ..security import caps as capsmod

OCI_VERSION = "1.0.2"
# Propagation and atime words: the host's / is private, so "private"/"rprivate"
# is what every mount gets anyway; the atime words are the kernel's default.
IGNORED_OPTIONS = frozenset(("private", "rprivate", "relatime", "norelatime", "noatime",
                             "nodiratime", "rslave", "slave", "async", "nosymfollow",
                             "shared", "rshared", "unbindable", "runbindable"))
# Set after pivot_root, in the container's own mount namespace (lifecycle.py):
# a new peer group needs no shared host mount.
PROPAGATION = {"shared": 0x100000, "unbindable": 0x20000, "slave": 0x80000,
               "private": 0x40000}          # MS_SHARED, MS_UNBINDABLE, MS_SLAVE, MS_PRIVATE
MS_REC = 0x4000
NS_TYPES = {"pid": "pid", "network": "network", "mount": "mount", "ipc": "ipc", "uts": "uts",
            "user": "user", "cgroup": "cgroup"}
# CLONE_NEW* by type: what ioctl(NS_GET_NSTYPE) says a namespace file is
NS_FLAGS = {"mount": 0x20000, "cgroup": 0x2000000, "uts": 0x4000000, "ipc": 0x8000000,
            "user": 0x10000000, "pid": 0x20000000, "network": 0x40000000}
NS_GET_NSTYPE = 0xB703
# What runc always allows beside the spec's rules (libcontainer's AllowedDevices):
# mknod of anything, the standard nodes, the ptys, /dev/net/tun.
ALLOWED_DEVICES = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                   "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",
                   "c 10:200 rwm")


def load(bundle):
    """The parsed config.json of ``bundle`` (a directory)."""
    return read(bundle)[0]


def read(bundle):
    """(parsed, text) of the config.json of ``bundle``: the state keeps the
    very text that was parsed."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            text = f.read()
        cfg = json.loads(text)
    except FileNotFoundError:
        raise InvalidArgument(f"bundle {bundle}: no config.json") from None
    except ValueError as err:
        raise InvalidArgument(f"{path} is not JSON: {err}") from err
    if not isinstance(cfg, dict):
        raise InvalidArgument(f"{path}: not a JSON object")
    version = str(cfg.get("ociVersion", ""))
    if not version.startswith("1."):
        raise InvalidArgument(f"{path}: ociVersion {version!r} is not 1.x")
    return cfg, text


def _need(obj, key, kind, where):
    value = obj.get(key)
    if not isinstance(value, kind):
        raise InvalidArgument(f"config.json: {where}.{key} is missing or not a "
                              f"{getattr(kind, '__name__', kind)}")
    return value


def rootfs_path(cfg, bundle):
    root = _need(cfg, "root", dict, "")
    path = _need(root, "path", str, "root")
    path = path if os.path.isabs(path) else os.path.join(bundle, path)
    if not os.path.isdir(path):
        raise InvalidArgument(f"config.json: root.path {path} is not a directory")
    return os.path.realpath(path)


def to_spec(cfg, bundle):
    """(Spec, cgroups.Resources, device rules, extra cgroup writes) for ``cfg``."""
    for key in ("solaris", "windows", "vm", "zos"):
        if cfg.get(key):
            raise InvalidArgument(f"config.json: {key} is not for Linux")
    proc = _process(_need(cfg, "process", dict, ""))
    rootfs = rootfs_path(cfg, bundle)
    root = Root(lowers=[rootfs], mountpoint=rootfs, bind=True,
                readonly=bool(cfg["root"].get("readonly")))
    lx = cfg.get("linux") or {}
    linux, res, rules, extra = _linux(lx, rootfs, proc)
    mounts = [m for m in (_mount(m, bundle) for m in cfg.get("mounts") or []) if m is not None]
    spec = Spec(process=proc, root=root, hostname=cfg.get("hostname") or "", mounts=mounts,
                linux=linux)
    if spec.hostname and spec.namespace("uts") is None:
        raise InvalidArgument("config.json: hostname needs a uts namespace")
    return spec, res, rules, extra


def _process(p):
    args = p.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise InvalidArgument("config.json: process.args must be a non-empty list of strings")
    for key in ("apparmorProfile", "selinuxLabel"):
        if p.get(key):
            raise InvalidArgument(f"config.json: process.{key} is set, but this host has "
                                  "neither AppArmor nor SELinux")
    if p.get("commandLine"):
        raise InvalidArgument("config.json: process.commandLine is for Windows")
    env = [e for e in p.get("env") or [] if isinstance(e, str)]
    cwd = p.get("cwd") or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(f"config.json: process.cwd {cwd!r} must be absolute")
    u = p.get("user") or {}
    user = User(int(u.get("uid", 0)), int(u.get("gid", 0)),
                tuple(int(g) for g in u.get("additionalGids") or ()))
    path = next((e[5:] for e in env if e.startswith("PATH=")), "/usr/sbin:/usr/bin:/sbin:/bin")
    proc = Process(args=list(args), env=env, cwd=cwd, user=user,
                   no_new_privileges=bool(p.get("noNewPrivileges")),
                   rlimits=[_rlimit(r) for r in p.get("rlimits") or []], search_path=path)
    c = p.get("capabilities")
    if c is not None:
        proc.capabilities = cap_mask(c.get("bounding") or [])
        # What the process holds: within the bounding set (as the kernel's
        # rules for capset and ambient want), ambient within permitted and
        # inheritable.
        e, pm, i = (cap_mask(c.get(k) or []) & proc.capabilities
                    for k in ("effective", "permitted", "inheritable"))
        proc.cap_sets = (e & pm, pm, i, cap_mask(c.get("ambient") or []) & pm & i)
    if p.get("oomScoreAdj") is not None:
        proc.oom_score_adj = int(p["oomScoreAdj"])
    return proc


def cap_mask(names):
    """OCI names (``CAP_KILL``) -> our bit mask; unknown names are refused."""
    m = 0
    for n in names:
        if not isinstance(n, str) or not n.startswith("CAP_") or n[4:] not in capsmod.NUMBER:
            raise InvalidArgument(f"config.json: unknown capability {n!r}")
        m |= 1 << capsmod.NUMBER[n[4:]]
    missing = m & ~capsmod.host_mask()
    # The host's bounding set may lack some (CAP_SYS_RESOURCE here): they cannot be given.
    return m & capsmod.host_mask() if missing else m


def _rlimit(r):
    name = r.get("type", "")
    number = getattr(resource, name, None) if name.startswith("RLIMIT_") else None
    if number is None:
        raise InvalidArgument(f"config.json: unknown rlimit {name!r}")
    soft, hard = int(r.get("soft", 0)), int(r.get("hard", 0))
    if soft > hard:
        raise InvalidArgument(f"config.json: rlimit {name}: soft {soft} above hard {hard}")
    _, host_hard = resource.getrlimit(number)
    if host_hard != resource.RLIM_INFINITY and hard > host_hard:
        raise InvalidArgument(f"config.json: rlimit {name} hard {hard} is above this host's "
                              f"{host_hard} (raising it needs CAP_SYS_RESOURCE)")
    return number, soft, hard


def _mount(m, bundle):
    dest = _need(m, "destination", str, "mounts[]")
    if not dest.startswith("/"):
        raise InvalidArgument(f"config.json: mount destination {dest!r} must be absolute")
    opts = [o for o in m.get("options") or [] if isinstance(o, str)]
    kind = m.get("type") or ""
    bind = "bind" in opts or "rbind" in opts or kind == "bind"
    if kind in ("cgroup", "cgroup2"):
        return None         # the runtime mounts the container's own cgroups there
    if any(o.startswith(("idmap", "ridmap")) for o in opts):
        raise InvalidArgument(f"config.json: mount {dest}: idmapped mounts are not supported "
                              "by this runtime yet")
    keep = [o for o in opts if o not in IGNORED_OPTIONS and o not in ("bind", "rbind")]
    source = m.get("source") or ""
    if bind:
        if not source:
            raise InvalidArgument(f"config.json: bind mount {dest} has no source")
        source = source if os.path.isabs(source) else os.path.join(bundle, source)
        if not os.path.exists(source):
            raise InvalidArgument(f"config.json: bind mount {dest}: source {source} "
                                  "does not exist")
        keep = [o for o in keep if o in MOUNT_OPTIONS]
        return Mount(dest, "bind", source, keep, is_file=not os.path.isdir(source))
    if not kind:
        raise InvalidArgument(f"config.json: mount {dest} has no type")
    return Mount(dest, kind, source or kind, keep)


def propagation_flags(word):
    """``rshared`` -> MS_SHARED | MS_REC; None for a word that is no propagation."""
    rec = word.startswith("r") and word[1:] in PROPAGATION
    flag = PROPAGATION.get(word[1:] if rec else word)
    return None if flag is None else flag | (MS_REC if rec else 0)


def propagation_ops(cfg):
    """[(path in the container, MS_ flags)]: the propagation of / and of the
    mounts that ask for one, set once pivot_root is done (a mount's order
    after /: / recursive would undo it)."""
    out = []
    prop = (cfg.get("linux") or {}).get("rootfsPropagation")
    if prop and prop not in ("private", "rprivate"):     # every mount here already is
        out.append(("/", propagation_flags(prop)))
    for m in cfg.get("mounts") or []:
        for o in m.get("options") or []:
            flags = propagation_flags(o) if isinstance(o, str) else None
            if flags is not None and not flags & PROPAGATION["private"]:
                out.append((m["destination"], flags))
    return out


def _namespaces(entries):
    out, seen = [], set()
    for n in entries:
        kind = n.get("type")
        if kind not in NS_TYPES:
            raise InvalidArgument(f"config.json: unknown namespace type {kind!r}")
        if kind in seen:
            raise InvalidArgument(f"config.json: namespace {kind} given twice")
        seen.add(kind)
        path = n.get("path") or None
        if path:
            _check_ns_path(kind, path)
        out.append(Namespace(kind, path))
    return out


def _check_ns_path(kind, path):
    """A path to join must be a namespace of that type (the spec: an error otherwise)."""
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise InvalidArgument(f"config.json: {kind} namespace path {path}: "
                              f"{err.strerror}") from None
    try:
        got = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        got = None
    finally:
        os.close(fd)
    if got != NS_FLAGS[kind]:
        what = next((k for k, v in NS_FLAGS.items() if v == got), None)
        raise InvalidArgument(f"config.json: {kind} namespace path {path} is "
                              + (f"a {what} namespace" if what else "not a namespace"))


def _linux(lx, rootfs, proc):
    for key in ("intelRdt", "personality"):
        if lx.get(key):
            raise InvalidArgument(f"config.json: linux.{key} is not supported by this runtime")
    if lx.get("mountLabel"):
        # File labels confine nothing without SELinux: runc ignores them there
        # too. A process label (the confinement) is refused (_process).
        if os.path.exists("/sys/fs/selinux/enforce"):
            raise InvalidArgument("config.json: linux.mountLabel: SELinux labels are not "
                                  "supported by this runtime")
        sys.stderr.write("pycontainer-runtime: linux.mountLabel ignored: this host has no "
                         "SELinux\n")
    prop = lx.get("rootfsPropagation")
    if prop and propagation_flags(prop) is None:
        raise InvalidArgument(f"config.json: rootfsPropagation {prop!r}: one of "
                              "[r]shared, [r]slave, [r]private, [r]unbindable")
    namespaces = _namespaces(lx.get("namespaces") or [])
    kinds = {n.type for n in namespaces}
    _check_sysctls(lx.get("sysctl") or {}, kinds)
    linux = Linux(namespaces=namespaces,
                  sysctl={str(k): str(v) for k, v in (lx.get("sysctl") or {}).items()},
                  masked_paths=[(p, _is_dir(p, rootfs)) for p in lx.get("maskedPaths") or []],
                  readonly_paths=list(lx.get("readonlyPaths") or []),
                  cgroupns="cgroup" in kinds,
                  loopback=any(n.type == "network" and not n.path for n in namespaces))
    linux.devices = [_device(d) for d in lx.get("devices") or []]
    own_user = any(n.type == "user" and not n.path for n in namespaces)
    if own_user and (lx.get("uidMappings") or lx.get("gidMappings")) is None:
        raise InvalidArgument("config.json: a user namespace needs uidMappings/gidMappings")
    if lx.get("seccomp"):
        from . import seccomp
        linux.seccomp = seccomp.compile(lx["seccomp"], proc)
    res, rules, extra = resources(lx.get("resources") or {})
    if rules is not None:
        # the spec's own devices can be opened, as runc allows them; the
        # spec's rules first, in their order (runc's devices.list shape)
        rules = rules + _not_denied(ALLOWED_DEVICES, lx["resources"]["devices"]) + [
            f"{d.type} {d.major}:{d.minor} rwm" for d in linux.devices if d.type != "p"]
    linux.device_rules = rules
    return linux, res, rules, extra


# runc's rule: a sysctl is written only in a namespace of the container's own
IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
               "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def _check_sysctls(sysctls, kinds):
    for key in sysctls:
        need = ("network" if key.startswith("net.") else
                "ipc" if key in IPC_SYSCTLS or key.startswith("fs.mqueue.") else
                "uts" if key in ("kernel.hostname", "kernel.domainname") else None)
        if need and need not in kinds:
            raise InvalidArgument(f"config.json: sysctl {key} needs a {need} namespace "
                                  "(it would change the host's)")


def _is_dir(path, rootfs):
    if path.startswith(("/proc/", "/sys/")):
        return os.path.isdir(path)
    return os.path.isdir(os.path.join(rootfs, path.lstrip("/")))


def _device(d):
    kind = d.get("type")
    if kind not in ("c", "b", "u", "p"):
        raise InvalidArgument(f"config.json: device {d.get('path')!r}: type {kind!r} "
                              "(c, b, u or p)")
    path = _need(d, "path", str, "linux.devices[]")
    return Device(path, "c" if kind == "u" else kind, int(d.get("major", 0)),
                  int(d.get("minor", 0)), int(d.get("fileMode", 0o666)) & 0o7777)


def resources(r):
    """(cgroups.Resources, devices allow list or None, [(file, value)] extra writes)."""
    for key in ("hugepageLimits", "network", "rdma"):
        if r.get(key):
            raise InvalidArgument(f"config.json: linux.resources.{key}: this host has no "
                                  "such controller")
    mem, cpu, pids = r.get("memory") or {}, r.get("cpu") or {}, r.get("pids") or {}
    # memory.kernel is deprecated by the runtime spec and ignored, as runc does:
    # Linux 6.x has no kernel memory limit left to set
    if mem.get("kernelTCP") and not cgroups.detect().v1:
        raise InvalidArgument("config.json: linux.resources.memory.kernelTCP: cgroup v2 has "
                              "no TCP buffer limit")
    for key in ("realtimeRuntime", "realtimePeriod"):
        if cpu.get(key):
            raise InvalidArgument(f"config.json: linux.resources.cpu.{key}: real-time "
                                  "group scheduling is not supported by this runtime")
    unified = r.get("unified") or {}
    if unified and cgroups.detect().v1:
        raise InvalidArgument("config.json: linux.resources.unified needs a cgroup v2 host; "
                              "this one gives containers v1 controllers")
    swap = mem.get("swap")
    res = cgroups.Resources.from_kwargs(
        mem_limit=mem.get("limit") if (mem.get("limit") or 0) > 0 else None,
        memswap_limit=swap if swap and mem.get("limit") else None,
        pids_limit=pids.get("limit"), cpu_shares=cpu.get("shares"),
        cpu_quota=cpu.get("quota"), cpu_period=cpu.get("period"), cpuset_cpus=cpu.get("cpus"))
    extra = []
    if mem.get("reservation"):
        extra.append(("memory", "memory.soft_limit_in_bytes", str(int(mem["reservation"]))))
    if mem.get("swappiness") is not None:
        extra.append(("memory", "memory.swappiness", str(int(mem["swappiness"]))))
    if mem.get("kernelTCP"):
        extra.append(("memory", "memory.kmem.tcp.limit_in_bytes", str(int(mem["kernelTCP"]))))
    if mem.get("disableOOMKiller"):
        extra.append(("memory", "memory.oom_control", "1"))
    if cpu.get("mems"):
        extra.append(("cpuset", "cpuset.mems", str(cpu["mems"])))
    blk = r.get("blockIO") or {}
    if blk.get("weight"):
        extra.append(("blkio", "blkio.weight", str(int(blk["weight"]))))
    for key, value in unified.items():
        if "/" in key or key.startswith("."):
            raise InvalidArgument(f"config.json: linux.resources.unified: bad file {key!r}")
        extra.append(("unified", key, str(value)))
    return res, _device_rules(r.get("devices")), extra


def _device_rules(entries):
    """runc's ordered allow/deny list -> the driver's allow list after deny-all
    (None: every device). A denial after deny-all takes its access away from
    the allows before it of the same device (dockerd's default list has such)."""
    if not entries:
        return None
    rules = []
    for e in entries:
        kind = e.get("type") or "a"
        major = "*" if e.get("major") in (None, -1) else str(e["major"])
        minor = "*" if e.get("minor") in (None, -1) else str(e["minor"])
        access = e.get("access") or "rwm"
        everything = kind == "a" and major == "*" and minor == "*"
        if not e.get("allow"):
            if everything:
                rules = []
                continue
            if rules is None:
                raise InvalidArgument("config.json: linux.resources.devices: a denial is "
                                      "supported after a deny-all entry only")
            rules = _deny(rules, kind, major, minor, access)
            continue
        if everything:
            rules = None
            continue
        if rules is None:
            rules = []
        rules.append(f"{kind} {major}:{minor} {access}")
    return rules


def _not_denied(defaults, entries):
    """runc's always-allowed devices, less those the spec denies by number."""
    denied = {(e.get("type"), str(e.get("major")), str(e.get("minor"))) for e in entries
              if not e.get("allow") and e.get("major") not in (None, -1)}
    out = []
    for r in defaults:
        kind, dev, _ = r.split()
        if (kind, *dev.split(":")) not in denied:
            out.append(r)
    return out


def _deny(rules, kind, major, minor, access):
    out = []
    for r in rules:
        rkind, dev, raccess = r.split()
        rmajor, rminor = dev.split(":")
        if (rkind, rmajor, rminor) == (kind, major, minor):
            raccess = "".join(c for c in raccess if c not in access)
            if raccess:
                out.append(f"{rkind} {dev} {raccess}")
            continue
        # A wildcard allow covering the device stays whole, as with runc on v1:
        # the kernel takes exceptions away by exact match only.
        out.append(r)
    return out
