"""The child op plan: a flat list of setup steps the C core runs between
clone() and execve().

Python decides every path, flag and option here; the C core only executes.
Each op carries a label so a failure can say which step and path broke.
See docs/op-plan.md.
"""
import os
import struct
from dataclasses import dataclass, field

from .._core import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID,
                     CLONE_NEWUSER, CLONE_NEWUTS, lib)

# MOUNT_ATTR_* (linux/mount.h) and MS_* (sys/mount.h)
RDONLY, NOSUID, NODEV, NOEXEC, STRICTATIME = 0x1, 0x2, 0x4, 0x8, 0x20
MS_BIND, MS_REC, MS_PRIVATE, MS_SLAVE = 0x1000, 0x4000, 1 << 18, 1 << 19
PROPAGATION = {"rprivate": MS_PRIVATE | MS_REC, "private": MS_PRIVATE,
               "rslave": MS_SLAVE | MS_REC, "slave": MS_SLAVE}
NAMESPACE_FLAGS = {"mount": CLONE_NEWNS, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC,
                   "pid": CLONE_NEWPID, "network": CLONE_NEWNET}

# Namespaces joined by path at the start of the plan (the network one is
# joined after SYNC, see compile_plan).
JOIN_EARLY = ("uts", "ipc")

_OP = struct.Struct("=6I3q")
_NOSTR = 0xFFFFFFFF

# (name in /dev, mode, major, minor): docker's standard nodes
DEVICES = (("null", 0o666, 1, 3), ("zero", 0o666, 1, 5), ("full", 0o666, 1, 7),
           ("random", 0o666, 1, 8), ("urandom", 0o666, 1, 9), ("tty", 0o666, 5, 0))
DEV_LINKS = (("/proc/self/fd", "dev/fd"), ("/proc/self/fd/0", "dev/stdin"),
             ("/proc/self/fd/1", "dev/stdout"), ("/proc/self/fd/2", "dev/stderr"),
             ("pts/ptmx", "dev/ptmx"))
S_IFCHR, S_IFBLK, S_IFIFO = 0o020000, 0o060000, 0o010000
NODE_TYPES = {"c": S_IFCHR, "b": S_IFBLK, "p": S_IFIFO}


def makedev(major, minor):
    return os.makedev(major, minor)


@dataclass
class Plan:
    """A compiled plan: packed ops, the string table and a label per op."""
    ops: bytes
    strs: bytes
    labels: list
    nops: int


class PlanBuilder:
    """Collects ops; strings are interned into one NUL-separated table.

    On the start path of every container: kept to a dict hit per string."""

    def __init__(self):
        self._ops, self._labels = [], []
        self._strs = bytearray()
        self._index = {None: _NOSTR}

    def _s(self, text):
        off = self._index.get(text)
        if off is None:
            if isinstance(text, int):      # an offset from blob()
                return text
            off = self._index[text] = len(self._strs)
            self._strs += text.encode("utf-8", "surrogateescape") + b"\0"   # os.fsencode
        return off

    def op(self, kind, label, s1=None, s2=None, s3=None, s4=None, a=0, b=0, c=0):
        s = self._s
        self._ops.append(_OP.pack(kind, s(s1), s(s2), s(s3), s(s4), 0, a, b, c))
        self._labels.append(label)

    def blob(self, data):
        """Raw bytes (a BPF program) in the table, 8-byte aligned; returns the offset."""
        self._strs += b"\0" * (-len(self._strs) % 8)
        off = len(self._strs)
        self._strs += data
        return off

    def build(self):
        return Plan(b"".join(self._ops), bytes(self._strs), self._labels, len(self._ops))


def mount_fs(pb, fstype, target, attrs, options="", source=None, flags=lib.PYC_MNT_MKDIR):
    pb.op(lib.PYC_OP_MOUNT_IN, f"mount {fstype} on /{target}", s1=source, s2=target,
          s3=fstype, s4=options, a=attrs, b=flags)


def add_dev_nodes(pb):
    """The standard nodes in /dev (the OCI spec's default devices)."""
    for name, mode, major, minor in DEVICES:
        pb.op(lib.PYC_OP_MKNOD_IN, f"mknod /dev/{name}", s1=f"/dev/{name}", s2=f"dev/{name}",
              a=S_IFCHR | mode, b=makedev(major, minor))


def add_dev_links(pb):
    """/dev/fd, stdin, stdout, stderr and ptmx."""
    for text, path in DEV_LINKS:
        pb.op(lib.PYC_OP_SYMLINK_IN, f"symlink /{path}", s1=text, s2=path)


def add_devices(pb, devices):
    for d in devices:
        parent = os.path.dirname(d.path.rstrip("/"))
        if parent not in ("/", "/dev"):
            pb.op(lib.PYC_OP_MKDIR_IN, f"mkdir {parent}", s2=parent.lstrip("/"), a=0o755)
        pb.op(lib.PYC_OP_MKNOD_IN, f"mknod {d.path}", s1=d.host_path or d.path,
              s2=d.path.lstrip("/"), a=NODE_TYPES[d.type] | d.file_mode,
              b=makedev(d.major, d.minor) if d.type != "p" else 0)


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


ATTR_BITS = {"ro": RDONLY, "nosuid": NOSUID, "nodev": NODEV, "noexec": NOEXEC,
             "strictatime": STRICTATIME}
# Kernel filesystems: their mount points are never reached through a symlink.
PSEUDO = ("/proc", "/dev", "/sys")
DEFERRED = ("sysfs", "cgroup", "cgroup2")    # mounted after SYNC and the cgroup namespace


def _attrs(m):
    bits = 0
    for o in m.options:
        bits |= ATTR_BITS.get(o, 0)
    return bits


def _pseudo(dest):
    return any(dest == p or dest.startswith(p + "/") for p in PSEUDO)


def _depth(m):
    return m.destination.strip("/").count("/")


def emit_mount(pb, m, label=None, base=""):
    """One ``MOUNT_IN`` op for a spec Mount; ``base``: the namespace's root
    propagation (a bind clones its source's: on an rslave base each bind
    is made rprivate unless it asks for more)."""
    dest = m.destination.lstrip("/")
    flags = lib.PYC_MNT_MKFILE if m.is_file else lib.PYC_MNT_MKDIR
    if _pseudo(m.destination):
        flags |= lib.PYC_MNT_NO_SYMLINKS
    if m.type == "bind":
        flags |= lib.PYC_MNT_BIND_SRC | lib.PYC_MNT_RECURSIVE
        prop = m.propagation or ("rprivate" if base not in ("", "rprivate") else "")
        pb.op(lib.PYC_OP_MOUNT_IN, label or f"bind {m.source} on {m.destination}",
              s1=m.source, s2=dest, a=_attrs(m), b=flags, c=PROPAGATION.get(prop, 0))
    else:
        pb.op(lib.PYC_OP_MOUNT_IN, label or f"mount {m.type} on {m.destination}",
              s1=m.source or m.type, s2=dest, s3=m.type, s4=m.data() or None, a=_attrs(m),
              b=flags)


def compile_plan(spec, cgroup_mounts, labels=None, before_pivot=None, after_pivot=None,
                 before_process=None, in_order=False):
    """Compile a runtime :class:`~pycontainer.runtime.spec.Spec` into the child op plan.

    Args:
        spec: the container, OCI-shaped (runtime/spec.py).
        cgroup_mounts: what the cgroup driver wants under /sys/fs/cgroup.
        labels: optional {destination: label} for error messages (e.g. a
            volume's name), so a failure names what the user asked for.
        before_pivot: optional ``f(builder)`` adding ops just before
            pivot_root, with the host's paths still in reach (the OCI
            runtime waits there for ``start``).
        after_pivot: optional ``f(builder)`` adding ops right after
            pivot_root, in the container's own paths (the OCI runtime's
            propagation of / and of mounts).
        before_process: optional ``f(builder)`` adding ops once the
            namespaces are all entered, before ids, capabilities and
            seccomp (the OCI runtime waits there for ``start``).
        in_order: mount in the spec's order (the OCI runtime spec's rule),
            a network namespace path joined before them; else the engine's
            order (kernel filesystems, then shallow first, /sys once the
            network namespace handed over after SYNC is entered).
    """
    labels = labels or {}
    pb = PlanBuilder()
    root, proc, lx = spec.root, spec.process, spec.linux
    early = JOIN_EARLY + (("network",) if in_order else ())
    for n in spec.linux.namespaces:
        if n.path and n.type in early:
            pb.op(lib.PYC_OP_SETNS, f"join the {n.type} namespace {n.path}", s1=n.path,
                  a=NAMESPACE_FLAGS[n.type])
    mntns = spec.namespace("mount")
    if mntns is not None and mntns.path:
        # (the OCI runtime) the host's paths may not exist in the joined one
        if lx.user_namespace:
            pb.op(lib.PYC_OP_SETNS, f"open the user namespace {lx.user_namespace}",
                  s1=lx.user_namespace, a=CLONE_NEWUSER, b=1)
        pb.op(lib.PYC_OP_SETNS, f"join the mount namespace {mntns.path}", s1=mntns.path,
              a=CLONE_NEWNS)
    # (the OCI runtime) without a mount namespace of its own the container's
    # mounts are made in the caller's, under its root, and it chroots there
    own_mnt = mntns is not None
    if own_mnt:
        base = lx.rootfs_propagation or "rprivate"
        pb.op(lib.PYC_OP_MOUNT, f"make mounts {base[1:]}", s2="/", a=PROPAGATION[base])
    if lx.loopback:
        pb.op(lib.PYC_OP_LOOPBACK, "bring lo up")
    lowers = root.lowers
    if lx.user_namespace and root.idmapped:
        # Shared layers seen through the container's id map: no copy, no chown.
        for src, dst in zip(root.lowers, root.idmapped):
            pb.op(lib.PYC_OP_IDMAP_LAYER, f"idmap layer {src}", s1=src, s2=dst,
                  s3=lx.user_namespace)
        lowers = root.idmapped
    if root.bind:
        pb.op(lib.PYC_OP_MOUNT, f"bind rootfs {lowers[0]} on {root.mountpoint}",
              s1=lowers[0], s2=root.mountpoint, a=MS_BIND | MS_REC)
    else:
        pb.op(lib.PYC_OP_OVERLAY, f"mount overlay rootfs on {root.mountpoint}",
              s1="\n".join(lowers), s2=root.upper, s3=root.work, s4=root.mountpoint,
              c=1 if root.volatile else 0)
    pb.op(lib.PYC_OP_ROOTFS, f"open rootfs {root.mountpoint}", s2=root.mountpoint)
    kernel, rest = [], []
    for m in spec.mounts:
        if in_order:
            kernel.append(m)
        elif m.type not in DEFERRED:
            (kernel if m.type != "bind" and _pseudo(m.destination) else rest).append(m)
    rest.sort(key=_depth)           # shallow first (stable: the spec's order otherwise)
    dev = False
    for m in kernel:
        emit_mount(pb, m, labels.get(m.destination), lx.rootfs_propagation)
        if m.destination == "/dev":
            add_dev_nodes(pb)
            dev = True
    if dev:                     # after pts, shm and mqueue, as it always was
        add_dev_links(pb)
    add_devices(pb, lx.devices)
    for m in rest:
        emit_mount(pb, m, labels.get(m.destination), lx.rootfs_propagation)
    if proc.cwd and proc.cwd != "/":
        pb.op(lib.PYC_OP_MKDIR_IN, f"mkdir working dir {proc.cwd}",
              s2=proc.cwd.lstrip("/") or ".", a=0o755)
    # The parent moves us into our cgroups while the mounts above run.
    pb.op(lib.PYC_OP_SYNC, "wait for the cgroup attach")
    netns = spec.namespace("network")
    if netns is not None and netns.path and not in_order:
        # After SYNC, before /sys: the parent may finish the namespace while we
        # mount (attached runs hand it over as /proc/<parent>/fd/<n>).
        pb.op(lib.PYC_OP_SETNS, f"join the network namespace {netns.path}", s1=netns.path,
              a=CLONE_NEWNET)
    cgns = spec.namespace("cgroup")
    if cgns is not None and cgns.path:
        pb.op(lib.PYC_OP_SETNS, f"join the cgroup namespace {cgns.path}", s1=cgns.path,
              a=CLONE_NEWCGROUP)
    elif lx.cgroupns and cgns is not None:
        pb.op(lib.PYC_OP_UNSHARE, "unshare the cgroup namespace", a=CLONE_NEWCGROUP)
    for m in spec.mounts:
        if m.type in DEFERRED and not in_order:
            emit_mount(pb, m, labels.get(m.destination), lx.rootfs_propagation)
    add_cgroupfs(pb, cgroup_mounts)
    if lx.user_namespace and not (mntns is not None and mntns.path):
        pb.op(lib.PYC_OP_SETNS, f"open the user namespace {lx.user_namespace}",
              s1=lx.user_namespace, a=CLONE_NEWUSER, b=1)
    add_masks(pb, lx.masked_paths)
    if proc.oom_score_adj is not None:
        pb.op(lib.PYC_OP_WRITE, f"oom_score_adj {proc.oom_score_adj}",
              s1="/proc/self/oom_score_adj", s2=str(proc.oom_score_adj))
    if before_pivot is not None:
        before_pivot(pb)
    pb.op(lib.PYC_OP_PIVOT_ROOT, f"{'pivot_root' if own_mnt else 'chroot'} into "
          f"{root.mountpoint}", a=0 if own_mnt else 1)
    if after_pivot is not None:
        after_pivot(pb)
    # From here paths are the container's own: nothing can lead back to the host.
    for key, value in sorted(lx.sysctl.items()):
        path = "/proc/sys/" + key.replace(".", "/")
        pb.op(lib.PYC_OP_WRITE, f"sysctl {key}={value}", s1=path, s2=value)
    uts = spec.namespace("uts")
    own_uts = uts is not None and uts.path is None         # never the host's
    if spec.domainname and own_uts:
        pb.op(lib.PYC_OP_WRITE, f"set domainname {spec.domainname!r}",
              s1="/proc/sys/kernel/domainname", s2=spec.domainname)
    add_readonly(pb, lx.readonly_paths)
    if root.readonly:
        pb.op(lib.PYC_OP_REMOUNT_ROOT, "remount / read-only", a=RDONLY)
    if spec.hostname and own_uts:
        pb.op(lib.PYC_OP_HOSTNAME, f"sethostname {spec.hostname!r}", s1=spec.hostname)
    for res, soft, hard in proc.rlimits:
        pb.op(lib.PYC_OP_RLIMIT, f"setrlimit {res} {soft}:{hard}", a=res, b=soft, c=hard)
    if lx.user_namespace:
        pb.op(lib.PYC_OP_SETNS, "join the user namespace", a=CLONE_NEWUSER, b=2)
    if before_process is not None:
        before_process(pb)
    add_process(pb, proc, lx.seccomp)
    pb.op(lib.PYC_OP_EXEC, f"exec {proc.args[0]!r}", s1=proc.args[0], s2=proc.search_path,
          a=int(proc.signals_blocked))
    return pb.build()


def clone_flags(spec):
    """CLONE_NEW* for the namespaces the init is cloned into (the user
    namespace and joined ones are entered later, by ops)."""
    flags = 0
    for n in spec.linux.namespaces:
        if n.path is None and n.type in NAMESPACE_FLAGS:
            flags |= NAMESPACE_FLAGS[n.type]
    return flags


def add_masks(pb, masked):
    """Masked paths: files -> /dev/null, dirs -> empty read-only tmpfs.

    Done before pivot_root, so ``/dev/null`` is the host's: a user mount on
    /dev (which may hold no null at all) cannot unmask anything. Targets
    are still opened inside the container's root, through no symlink;
    missing ones are skipped.
    """
    for path, is_dir in masked:
        rel = path.lstrip("/")
        if is_dir:
            mount_fs(pb, "tmpfs", rel, RDONLY | NOSUID | NODEV | NOEXEC, "size=0", "tmpfs",
                     lib.PYC_MNT_OPTIONAL | lib.PYC_MNT_NO_SYMLINKS)
        else:
            pb.op(lib.PYC_OP_MOUNT_IN, f"mask {path}", s1="/dev/null", s2=rel,
                  b=lib.PYC_MNT_BIND_SRC | lib.PYC_MNT_OPTIONAL | lib.PYC_MNT_NO_SYMLINKS)


def add_readonly(pb, readonly):
    """Read-only paths (docker's /proc entries); after pivot_root and the sysctls."""
    for path in readonly:
        pb.op(lib.PYC_OP_MOUNT_IN, f"make {path} read-only", s2=path.lstrip("/"),
              a=RDONLY | NOSUID | NODEV | NOEXEC,
              b=lib.PYC_MNT_BIND_SELF | lib.PYC_MNT_RECURSIVE | lib.PYC_MNT_OPTIONAL |
              lib.PYC_MNT_NO_SYMLINKS)


def add_process(pb, proc, bpf):
    """ids, capabilities, no_new_privs and seccomp, in the order that works:
    the filter goes in last, or, when no_new_privs is off (installing it then
    needs CAP_SYS_ADMIN), before dropping to a non-root uid or to the OCI
    process's capability sets."""
    user, nnp = proc.user, proc.no_new_privileges
    if proc.terminal:       # still root: the slave is root's, as runc leaves it
        pb.op(lib.PYC_OP_PTY, "open a pty (/dev/ptmx)", s1="/dev/ptmx")
    groups = list(user.additional_gids)
    pb.op(lib.PYC_OP_GROUPS, f"setgroups {groups}", s1=",".join(str(g) for g in groups))
    pb.op(lib.PYC_OP_GID, f"setgid {user.gid}", a=user.gid)
    if proc.capabilities is not None:
        from ..security import caps
        pb.op(lib.PYC_OP_CAPS, "drop capabilities", a=proc.capabilities, c=caps.last_cap(),
              b=1 if proc.cap_sets is not None else 0)
    # Without no_new_privs the filter needs CAP_SYS_ADMIN, which the OCI
    # process's own sets (cap_sets, after setuid) may not have: before them.
    early = bpf is not None and not nnp and (user.uid != 0 or proc.cap_sets is not None)
    if early:
        pb.op(lib.PYC_OP_SECCOMP, "install the seccomp filter", s1=pb.blob(bpf), a=len(bpf))
    pb.op(lib.PYC_OP_UID, f"setuid {user.uid}", a=user.uid)
    if proc.capabilities is not None and proc.cap_sets is not None:
        e, p, i, amb = proc.cap_sets
        pb.op(lib.PYC_OP_CAPSET, "set the process's capabilities", a=e, b=p, c=i, s1=str(amb))
    pb.op(lib.PYC_OP_CHDIR, f"chdir {proc.cwd}", s1=proc.cwd or "/")
    if nnp:
        pb.op(lib.PYC_OP_NO_NEW_PRIVS, "set no_new_privs")
    if bpf is not None and not early:
        pb.op(lib.PYC_OP_SECCOMP, "install the seccomp filter", s1=pb.blob(bpf), a=len(bpf))
