"""The runtime spec: what one container is, shaped like the OCI runtime spec.

``runtime/`` is a low-level runtime in the sense of runc: it knows nothing of
docker keywords, images or networks. The engine (``engine/config.py``)
turns a docker-style configuration into a :class:`Spec`, choosing every
policy (capabilities, masked paths, devices, seccomp profile); the OCI face
(``oci/``) turns a bundle's ``config.json`` into one. ``runtime/plan.py``
compiles a Spec into the child op plan.

Where the OCI spec has a field we keep its name (``process.args``,
``linux.masked_paths`` ...); where we do something the OCI spec leaves to
the runtime, the field says so:

* ``root`` is an overlay of read-only ``lowers`` plus a writable ``upper``
  (or a plain directory when ``lowers`` has one entry and ``upper`` is None);
* the standard mounts (``/proc``, ``/dev`` with its nodes, ``/dev/pts``,
  ``/dev/shm``, ``/dev/mqueue``, ``/sys``, ``/sys/fs/cgroup``) are in
  ``mounts`` like any other and are recognised by type;
* ``linux.seccomp`` is a compiled BPF program (bytes), not a profile;
* ``process.capabilities`` is one bit mask for the bounding, permitted and
  effective sets of root (other users get none, as docker does).

Example (a container by hand, no docker keywords)::

    spec = Spec(process=Process(args=["/bin/true"]),
                root=Root(lowers=["/srv/rootfs"], mountpoint="/run/x/rootfs"),
                mounts=standard_mounts())
"""
from dataclasses import dataclass, field

# Namespace types as the OCI spec names them.
NAMESPACES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup")
MOUNT_OPTIONS = frozenset(("ro", "rw", "nosuid", "nodev", "noexec", "suid", "dev", "exec",
                           "bind", "rbind", "strictatime"))


@dataclass
class User:
    uid: int = 0
    gid: int = 0
    additional_gids: tuple = ()


@dataclass
class Process:
    args: list
    env: list = field(default_factory=list)
    cwd: str = "/"
    user: User = field(default_factory=User)
    capabilities: int = None          # bit mask; None keeps every capability
    no_new_privileges: bool = False
    rlimits: list = field(default_factory=list)   # (resource number, soft, hard)
    search_path: str = None           # where execve looks for args[0] (PATH)
    terminal: bool = False            # stdio is a new pty of the container's /dev/ptmx
    oom_score_adj: int = None         # OCI process.oomScoreAdj; None leaves it
    # OCI bundles: (effective, permitted, inheritable, ambient) masks set after
    # setuid; None leaves only the bounding set (``capabilities``).
    cap_sets: tuple = None
    # exec with every signal blocked: an init that takes them over (pyc-init)
    # then gets those sent before it was ready (pid 1 drops unhandled ones)
    signals_blocked: bool = False


@dataclass
class Root:
    lowers: list                      # read-only layers, top-most first
    mountpoint: str                   # empty host dir where the root is assembled
    upper: str = None                 # writable layer and its overlay work dir
    work: str = None
    readonly: bool = False
    volatile: bool = False            # overlay "volatile": no syncs
    idmapped: list = field(default_factory=list)   # mount points for idmapped lowers
    # OCI bundles (oci/): the root is ``lowers[0]`` itself, bound onto itself
    # (``mountpoint``), so the container's writes land in the bundle's rootfs.
    bind: bool = False


@dataclass(eq=False)
class Mount:
    destination: str
    type: str                         # bind, tmpfs, proc, sysfs, devpts, mqueue, cgroup...
    source: str = ""
    options: list = field(default_factory=list)   # MOUNT_OPTIONS, plus fs data ("size=64m")
    is_file: bool = False             # a bind of a file: the target is made as a file
    propagation: str = ""             # a bind's: rprivate (""), private, rslave, slave

    def flag(self, name):
        return name in self.options

    def data(self):
        """Filesystem options (``key=value`` and bare words the kernel parses)."""
        return ",".join(o for o in self.options if o not in MOUNT_OPTIONS)


@dataclass
class Namespace:
    type: str
    path: str = None                  # join this one instead of making a new one
    # (network, ipc, uts: joined by an op after SYNC; pid: entered for the clone)


@dataclass
class Device:
    path: str                         # in the container
    type: str                         # "c", "b" or "p" (a FIFO)
    major: int
    minor: int
    file_mode: int = 0o666
    host_path: str = None             # for labels only


@dataclass
class Linux:
    namespaces: list = field(default_factory=list)
    devices: list = field(default_factory=list)   # beyond the standard nodes
    sysctl: dict = field(default_factory=dict)
    masked_paths: list = field(default_factory=list)     # (path, is_dir)
    readonly_paths: list = field(default_factory=list)
    seccomp: bytes = None
    user_namespace: str = None        # a prepared user namespace file, joined last
    cgroupns: bool = True             # a private cgroup namespace after the attach
    loopback: bool = False            # bring lo up in a new network namespace
    resources: object = None          # cgroups.Resources (limits); None: no limits
    device_rules: list = None         # devices cgroup allow list ("c 1:3 rwm"); None: all
    rootfs_propagation: str = ""      # the mount namespace's base: rprivate (""), or rslave


@dataclass
class Spec:
    process: Process
    root: Root
    hostname: str = ""
    mounts: list = field(default_factory=list)
    linux: Linux = field(default_factory=Linux)
    domainname: str = ""              # the UTS namespace's NIS domain name

    def namespace(self, kind):
        """The Namespace entry of ``kind``, or None (the host's is kept)."""
        return next((n for n in self.linux.namespaces if n.type == kind), None)


def standard_mounts(sysfs_readonly=True):
    """The mounts every container gets, as docker and the OCI default spec
    have them; ``/sys/fs/cgroup`` is added by the runtime for its driver."""
    return [
        Mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        Mount("/dev/pts", "devpts", "devpts",
              ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        Mount("/dev/shm", "tmpfs", "shm",
              ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        Mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        Mount("/sys", "sysfs", "sysfs",
              ["nosuid", "noexec", "nodev"] + (["ro"] if sysfs_readonly else [])),
    ]


def default_namespaces(network=True):
    kinds = ["pid", "mount", "uts", "ipc", "cgroup"] + (["network"] if network else [])
    return [Namespace(k) for k in kinds]
