"""The child op plan: a flat list of setup steps the C core runs between
clone() and execve().

Python decides every path, flag and option here; the C core only executes.
Each op carries a label so a failure can say which step and path broke.
See docs/op-plan.md.
"""
import os
import struct
from dataclasses import dataclass, field

from .._core import lib
from . import mounts as _mounts

# MOUNT_ATTR_* (linux/mount.h) and MS_* (sys/mount.h)
RDONLY, NOSUID, NODEV, NOEXEC, STRICTATIME = 0x1, 0x2, 0x4, 0x8, 0x20
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
CLONE_NEWCGROUP, CLONE_NEWUSER = 0x02000000, 0x10000000
CLONE_NEWNET = 0x40000000

_OP = struct.Struct("=6I3q")
_NOSTR = 0xFFFFFFFF

# (name in /dev, mode, major, minor): docker's standard nodes
DEVICES = (("null", 0o666, 1, 3), ("zero", 0o666, 1, 5), ("full", 0o666, 1, 7),
           ("random", 0o666, 1, 8), ("urandom", 0o666, 1, 9), ("tty", 0o666, 5, 0))
DEV_LINKS = (("/proc/self/fd", "dev/fd"), ("/proc/self/fd/0", "dev/stdin"),
             ("/proc/self/fd/1", "dev/stdout"), ("/proc/self/fd/2", "dev/stderr"),
             ("pts/ptmx", "dev/ptmx"))
S_IFCHR, S_IFBLK = 0o020000, 0o060000


def makedev(major, minor):
    return os.makedev(major, minor)


@dataclass
class Plan:
    """A compiled plan: packed ops, the string table and a label per op."""
    ops: bytes
    strs: bytes
    labels: list
    nops: int


@dataclass
class PlanBuilder:
    """Collects ops; strings are interned into one NUL-separated table."""
    _ops: list = field(default_factory=list)
    _labels: list = field(default_factory=list)
    _strs: bytearray = field(default_factory=bytearray)
    _index: dict = field(default_factory=dict)

    def _s(self, text):
        if text is None:
            return _NOSTR
        if isinstance(text, int):      # an offset from blob()
            return text
        off = self._index.get(text)
        if off is None:
            off = self._index[text] = len(self._strs)
            self._strs += os.fsencode(text) + b"\0"
        return off

    def op(self, kind, label, s1=None, s2=None, s3=None, s4=None, a=0, b=0, c=0):
        self._ops.append(_OP.pack(kind, self._s(s1), self._s(s2), self._s(s3), self._s(s4),
                                  0, a, b, c))
        self._labels.append(label)

    def blob(self, data):
        """Raw bytes (a BPF program) in the table, 8-byte aligned; returns the offset."""
        self._strs += b"\0" * (-len(self._strs) % 8)
        off = len(self._strs)
        self._strs += data
        return off

    def build(self):
        return Plan(b"".join(self._ops), bytes(self._strs), self._labels, len(self._ops))


@dataclass
class Layout:
    """Host paths the plan refers to (all made by the caller beforehand)."""
    rootfs: str            # empty dir: the overlay's mount point
    lowers: list           # image layer dirs, top-most first
    upper: str = None
    work: str = None
    binds: list = field(default_factory=list)  # (host path, path in container, attrs, is_file)
    mounts: list = field(default_factory=list)  # user mounts: runtime/mounts.py specs, resolved
    userns: str = None     # user namespace file to join last (userns_mode="auto")
    netns: str = None      # network namespace file to join after SYNC (networks, container:)
    idmapped: list = field(default_factory=list)  # mount points for the idmapped lowers


def mount_fs(pb, fstype, target, attrs, options="", source=None, flags=lib.PYC_MNT_MKDIR):
    pb.op(lib.PYC_OP_MOUNT_IN, f"mount {fstype} on /{target}", s1=source, s2=target,
          s3=fstype, s4=options, a=attrs, b=flags)


def add_dev(pb):
    """/dev as a small tmpfs with the standard nodes, pts, shm and mqueue."""
    nosym = lib.PYC_MNT_NO_SYMLINKS | lib.PYC_MNT_MKDIR
    mount_fs(pb, "tmpfs", "dev", NOSUID | STRICTATIME, "mode=755,size=65536k", "tmpfs", nosym)
    for name, mode, major, minor in DEVICES:
        pb.op(lib.PYC_OP_MKNOD_IN, f"mknod /dev/{name}", s1=f"/dev/{name}", s2=f"dev/{name}",
              a=S_IFCHR | mode, b=makedev(major, minor))
    mount_fs(pb, "devpts", "dev/pts", NOSUID | NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5", "devpts", nosym)
    mount_fs(pb, "tmpfs", "dev/shm", NOSUID | NODEV | NOEXEC, "mode=1777,size=65536k", "shm", nosym)
    mount_fs(pb, "mqueue", "dev/mqueue", NOSUID | NODEV | NOEXEC, "", "mqueue", nosym)
    for text, path in DEV_LINKS:
        pb.op(lib.PYC_OP_SYMLINK_IN, f"symlink /{path}", s1=text, s2=path)


def add_cgroupfs(pb, cgroup_mounts):
    """/sys/fs/cgroup: the container's own cgroups, read-only (cgroup namespace)."""
    if not cgroup_mounts:
        return
    nosym = lib.PYC_MNT_NO_SYMLINKS | lib.PYC_MNT_MKDIR
    ro = RDONLY | NOSUID | NODEV | NOEXEC
    if cgroup_mounts == [("", "cgroup2")]:
        mount_fs(pb, "cgroup2", "sys/fs/cgroup", ro, "", "cgroup2", nosym)
        return
    mount_fs(pb, "tmpfs", "sys/fs/cgroup", NOSUID | NODEV | NOEXEC, "mode=755", "tmpfs", nosym)
    for name, opts in cgroup_mounts:
        mount_fs(pb, "cgroup", f"sys/fs/cgroup/{name}", ro, opts, "cgroup", nosym)
    pb.op(lib.PYC_OP_REMOUNT_IN, "remount /sys/fs/cgroup read-only", s2="sys/fs/cgroup", a=RDONLY)


def compile_plan(cfg, layout, cgroup_mounts, cgroupns=True, bpf=None):
    """Compile a container's config into the child op plan.

    Args:
        cfg: a :class:`pycontainer.runtime.config.ContainerConfig`.
        layout: host paths (:class:`Layout`).
        cgroup_mounts: what the cgroup driver wants under /sys/fs/cgroup.
        cgroupns: whether the child enters a new cgroup namespace after the
            parent has moved it into its cgroups.
        bpf: the compiled seccomp filter, or None.
    """
    pb = PlanBuilder()
    pb.op(lib.PYC_OP_MOUNT, "make mounts private", s2="/", a=MS_REC | MS_PRIVATE)
    if cfg.network_mode == "none":
        pb.op(lib.PYC_OP_LOOPBACK, "bring lo up")
    lowers = layout.lowers
    if layout.userns:
        # Shared layers seen through the container's id map: no copy, no chown.
        for src, dst in zip(layout.lowers, layout.idmapped):
            pb.op(lib.PYC_OP_IDMAP_LAYER, f"idmap layer {src}", s1=src, s2=dst, s3=layout.userns)
        lowers = layout.idmapped
    pb.op(lib.PYC_OP_OVERLAY, f"mount overlay rootfs on {layout.rootfs}",
          s1="\n".join(lowers), s2=layout.upper, s3=layout.work, s4=layout.rootfs,
          c=1 if cfg.volatile else 0)
    pb.op(lib.PYC_OP_ROOTFS, f"open rootfs {layout.rootfs}", s2=layout.rootfs)
    mount_fs(pb, "proc", "proc", NOSUID | NODEV | NOEXEC, "", "proc",
             lib.PYC_MNT_NO_SYMLINKS | lib.PYC_MNT_MKDIR)
    if not _mounts.replaces_dev(layout.mounts):     # a user mount on /dev: theirs (docker)
        add_dev(pb)
        add_devices(pb, (cfg.security or {}).get("devices", []))
    _mounts.emit(pb, layout.binds, layout.mounts)   # binds, volumes, tmpfs: shallow first
    if cfg.working_dir:
        pb.op(lib.PYC_OP_MKDIR_IN, f"mkdir working dir {cfg.working_dir}",
              s2=cfg.working_dir.lstrip("/") or ".", a=0o755)
    # The parent moves us into our cgroups while the mounts above run.
    pb.op(lib.PYC_OP_SYNC, "wait for the cgroup attach")
    if layout.netns:
        # After SYNC, before /sys: the parent may finish the namespace while we
        # mount (attached runs hand it over as /proc/<parent>/fd/<n>).
        pb.op(lib.PYC_OP_SETNS, f"join the network namespace {layout.netns}", s1=layout.netns,
              a=CLONE_NEWNET)
    if cgroupns:
        pb.op(lib.PYC_OP_UNSHARE, "unshare the cgroup namespace", a=CLONE_NEWCGROUP)
    sec = cfg.security or {}
    privileged = sec.get("privileged", False)
    mount_fs(pb, "sysfs", "sys", (0 if privileged else RDONLY) | NOSUID | NODEV | NOEXEC, "",
             "sysfs", lib.PYC_MNT_NO_SYMLINKS | lib.PYC_MNT_MKDIR)
    add_cgroupfs(pb, cgroup_mounts)
    if layout.userns:
        pb.op(lib.PYC_OP_SETNS, f"open the user namespace {layout.userns}", s1=layout.userns,
              a=CLONE_NEWUSER, b=1)
    if not privileged:
        add_masks(pb)
    pb.op(lib.PYC_OP_PIVOT_ROOT, f"pivot_root into {layout.rootfs}")
    # From here paths are the container's own: nothing can lead back to the host.
    for key, value in sorted(sec.get("sysctls", {}).items()):
        path = "/proc/sys/" + key.replace(".", "/")
        pb.op(lib.PYC_OP_WRITE, f"sysctl {key}={value}", s1=path, s2=value)
    if not privileged:
        add_readonly(pb)
    if cfg.read_only:
        pb.op(lib.PYC_OP_REMOUNT_ROOT, "remount / read-only", a=RDONLY)
    if cfg.hostname:
        pb.op(lib.PYC_OP_HOSTNAME, f"sethostname {cfg.hostname!r}", s1=cfg.hostname)
    for res, soft, hard in list(cfg.rlimits) + list(sec.get("ulimits", [])):
        pb.op(lib.PYC_OP_RLIMIT, f"setrlimit {res} {soft}:{hard}", a=res, b=soft, c=hard)
    if layout.userns:
        pb.op(lib.PYC_OP_SETNS, "join the user namespace", a=CLONE_NEWUSER, b=2)
    add_process(pb, cfg.uid, cfg.gid, cfg.groups, cfg.working_dir or "/", sec, bpf)
    pb.op(lib.PYC_OP_EXEC, f"exec {cfg.argv[0]!r}", s1=cfg.argv[0], s2=cfg.path_env())
    return pb.build()


def add_devices(pb, devices):
    """The nodes of run(devices=...), in the runtime's /dev."""
    for host, inside, _perms, kind, major, minor, mode in devices:
        parent = os.path.dirname(inside.rstrip("/"))
        if parent not in ("/", "/dev"):
            pb.op(lib.PYC_OP_MKDIR_IN, f"mkdir {parent}", s2=parent.lstrip("/"), a=0o755)
        pb.op(lib.PYC_OP_MKNOD_IN, f"mknod {inside}", s1=host, s2=inside.lstrip("/"),
              a=(S_IFCHR if kind == "c" else S_IFBLK) | mode, b=makedev(major, minor))


def add_masks(pb):
    """Docker's masked paths: files -> /dev/null, dirs -> empty read-only tmpfs.

    Done before pivot_root, so ``/dev/null`` is the host's: a user mount on
    /dev (which may hold no null at all) cannot unmask anything. Targets
    are still opened inside the container's root, through no symlink.
    """
    from .. import security
    for path, is_dir in security._masked_paths():
        rel = path.lstrip("/")
        if is_dir:
            mount_fs(pb, "tmpfs", rel, RDONLY | NOSUID | NODEV | NOEXEC, "size=0", "tmpfs",
                     lib.PYC_MNT_OPTIONAL | lib.PYC_MNT_NO_SYMLINKS)
        else:
            pb.op(lib.PYC_OP_MOUNT_IN, f"mask {path}", s1="/dev/null", s2=rel,
                  b=lib.PYC_MNT_BIND_SRC | lib.PYC_MNT_OPTIONAL | lib.PYC_MNT_NO_SYMLINKS)


def add_readonly(pb):
    """Docker's read-only /proc entries; after pivot_root and the sysctls."""
    from .. import security
    for path in security.READONLY:
        pb.op(lib.PYC_OP_MOUNT_IN, f"make {path} read-only", s2=path.lstrip("/"),
              a=RDONLY | NOSUID | NODEV | NOEXEC,
              b=lib.PYC_MNT_BIND_SELF | lib.PYC_MNT_RECURSIVE | lib.PYC_MNT_OPTIONAL |
              lib.PYC_MNT_NO_SYMLINKS)


def add_process(pb, uid, gid, groups, workdir, sec, bpf):
    """ids, capabilities, no_new_privs and seccomp, in the order that works:
    the filter goes in last, or before dropping to a non-root uid when
    no_new_privs is off (installing it then needs CAP_SYS_ADMIN)."""
    nnp = sec.get("no_new_privs", False)
    pb.op(lib.PYC_OP_GROUPS, f"setgroups {list(groups)}", s1=",".join(str(g) for g in groups))
    pb.op(lib.PYC_OP_GID, f"setgid {gid}", a=gid)
    if "caps" in sec:
        from ..security import caps
        pb.op(lib.PYC_OP_CAPS, "drop capabilities", a=sec["caps"], c=caps.last_cap())
    early = bpf is not None and uid != 0 and not nnp
    if early:
        pb.op(lib.PYC_OP_SECCOMP, "install the seccomp filter", s1=pb.blob(bpf), a=len(bpf))
    pb.op(lib.PYC_OP_UID, f"setuid {uid}", a=uid)
    pb.op(lib.PYC_OP_CHDIR, f"chdir {workdir}", s1=workdir)
    if nnp:
        pb.op(lib.PYC_OP_NO_NEW_PRIVS, "set no_new_privs")
    if bpf is not None and not early:
        pb.op(lib.PYC_OP_SECCOMP, "install the seccomp filter", s1=pb.blob(bpf), a=len(bpf))
