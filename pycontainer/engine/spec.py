"""Docker's policy as a runtime Spec: a container's config (docker keywords
merged with the image config) becomes the OCI-shaped spec the runtime runs,
the way moby turns a container config into an OCI spec at start.

Everything docker decides by default is chosen here, not in ``runtime/``:
the 14 capabilities, masked and read-only paths, the devices allow list,
the seccomp profile, a read-only ``/sys``, ``lo`` up in a private network.
"""
import os

from .. import security
from . import mounts as _mounts
from .config import process_env
from ..runtime.spec import (Device, Linux, Mount, Namespace, Process, Root, Spec, User,
                            default_namespaces, standard_mounts)

ETC_FILES = ("hostname", "hosts", "resolv.conf")
INIT_PATH = "/sbin/pyc-init"      # where run(init=True) binds our init


def init_binary():
    """The static init built beside the C core (setup.py), or $PYCONTAINER_INIT."""
    from .. import _core
    return os.environ.get("PYCONTAINER_INIT") or os.path.join(
        os.path.dirname(os.path.abspath(_core.__file__)), "pyc-init")


def _namespaces(cfg, ns, joined):
    """ipc_mode, pid_mode, uts_mode, cgroupns: drop the new namespace for
    ``host``, join another container's for ``container:``."""
    drop, join = set(), {}
    for kind, mode in (("ipc", cfg.ipc_mode), ("pid", cfg.pid_mode), ("uts", cfg.uts_mode)):
        if mode == "host":
            drop.add(kind)
        elif mode.startswith("container:"):
            join[kind] = f"/proc/{joined[kind]}/ns/{kind}"
    if cfg.cgroupns == "host":
        drop.add("cgroup")
    out = [n for n in ns if n.type not in drop and n.type not in join]
    return out + [Namespace(kind, path) for kind, path in join.items()]


def spec_has_uts(ns):
    return any(n.type == "uts" and n.path is None for n in ns)


def shareable_shm(rundir):
    return os.path.join(rundir, "shm")


def _shm(cfg, standard, joined, rundir):
    """/dev/shm by ipc_mode: private (size shm_size), none (no mount), the
    host's, shareable (a run dir), or the other container's."""
    out = []
    for m in standard:
        if m.destination != "/dev/shm":
            out.append(m)
        elif cfg.ipc_mode == "none":
            continue
        elif cfg.ipc_mode == "host":
            out.append(Mount("/dev/shm", "bind", "/dev/shm", []))
        elif cfg.ipc_mode.startswith("container:"):
            out.append(Mount("/dev/shm", "bind", joined["ipc_shm"], []))
        elif cfg.ipc_mode == "shareable":
            # a directory on the run root's tmpfs, so joiners can bind it too
            # (a tmpfs inside the donor's mount namespace cannot be bound elsewhere)
            out.append(Mount("/dev/shm", "bind", shareable_shm(rundir), []))
        elif cfg.shm_size:
            out.append(Mount(m.destination, m.type, m.source,
                             [o for o in m.options if not o.startswith("size=")] +
                             [f"size={cfg.shm_size}"]))
        else:
            out.append(m)
    return out


def build(cfg, rundir, layer_dir, lowers, store_root, netns=None, userns_path=None,
          joined=None):
    """The Spec of ``cfg`` (a ContainerConfig) for one start.

    Args:
        rundir: the container's run dir (rootfs mount point, /etc files).
        layer_dir: where its ``upper/`` and ``work/`` are.
        lowers: image layers, top-most first (the init layer first).
        store_root: the store (volumes are made there on first use).
        netns: a prepared network namespace file to join, or None.
        userns_path: a prepared user namespace file to join, or None.
        joined: ``{"ipc" | "pid": pid}`` of the containers whose namespace
            ``ipc_mode`` / ``pid_mode`` ``container:`` joins.
    Returns ``(spec, labels)``: labels name user mounts for error messages.
    """
    sec = cfg.security or {}
    privileged = sec.get("privileged", False)
    mounts, labels = _user_mounts(cfg, rundir, store_root)
    ns = default_namespaces(network=cfg.network_mode != "host")
    if netns:
        ns = [n for n in ns if n.type != "network"] + [Namespace("network", netns)]
    ns = _namespaces(cfg, ns, joined or {})
    root = Root(lowers=list(lowers), mountpoint=os.path.join(rundir, "rootfs"),
                upper=os.path.join(layer_dir, "upper"), work=os.path.join(layer_dir, "work"),
                readonly=cfg.read_only, volatile=cfg.volatile)
    if userns_path:
        root.idmapped = [os.path.join(rundir, "layers", str(i)) for i in range(len(lowers))]
    process = Process(
        args=list(cfg.argv), env=process_env(cfg.env), cwd=cfg.working_dir or "/",
        user=User(cfg.uid, cfg.gid, tuple(cfg.groups)),
        capabilities=sec.get("caps"), no_new_privileges=sec.get("no_new_privs", False),
        rlimits=[tuple(r) for r in list(cfg.rlimits) + list(sec.get("ulimits", []))],
        search_path=cfg.path_env(), terminal=cfg.tty, oom_score_adj=cfg.oom_score_adj)
    if cfg.init:
        process.args = [INIT_PATH, "--"] + process.args
        process.signals_blocked = True
    linux = Linux(
        namespaces=ns,
        devices=[Device(inside, kind, major, minor, mode, host)
                 for host, inside, _perms, kind, major, minor, mode in sec.get("devices", [])],
        sysctl=dict(sec.get("sysctls", {})),
        masked_paths=[] if privileged else security._masked_paths(),
        readonly_paths=[] if privileged else list(security.READONLY),
        seccomp=security.seccomp_bpf(sec) if sec else None,
        user_namespace=userns_path,
        loopback=cfg.network_mode == "none",
        resources=cfg.resources, device_rules=security.device_rules(cfg.security),
        # a slave bind needs the namespace's copies kept slaves of the host's (docker's rule)
        rootfs_propagation="rslave" if any(m.propagation in ("rslave", "slave")
                                           for m in mounts) else "")
    standard = standard_mounts(sysfs_readonly=not privileged)
    if any(m.destination == "/dev" for m in mounts):
        # a user mount on /dev is the container's /dev, as docker does for
        # ``-v /dev:/dev``: no tmpfs, nodes, pts, shm or mqueue of ours
        standard = [m for m in standard if not _under(m.destination, "/dev")]
        linux.devices = []
    standard = _shm(cfg, standard, joined or {}, rundir)
    if cfg.init:
        mounts.append(Mount(INIT_PATH, "bind", init_binary(), ["ro"], is_file=True))
    if cfg.device_cgroup_rules and linux.device_rules is not None:
        linux.device_rules = linux.device_rules + list(cfg.device_cgroup_rules)
    spec = Spec(process=process, root=root,
                hostname=cfg.hostname if spec_has_uts(ns) else "",
                domainname=cfg.domainname if spec_has_uts(ns) else "",
                mounts=standard + mounts, linux=linux)
    return spec, labels


def _user_mounts(cfg, rundir, store_root):
    """The /etc files we write, then the user's binds, volumes and tmpfs;
    a user mount on the same path replaces ours (e.g. ``/etc/hosts``)."""
    user = _mounts.resolve(cfg.mounts, store_root)
    taken = {s["Destination"] for s in user}
    out, labels = [], {}
    for name in ETC_FILES:
        host, dest = os.path.join(rundir, name), "/etc/" + name
        if dest not in taken and (name != "resolv.conf" or os.path.exists(host)):
            out.append(Mount(dest, "bind", host, [], is_file=True))
    for s in user:
        opts = [] if s.get("RW", True) else ["ro"]
        opts += list(s.get("Flags") or ())
        if s["Type"] == "tmpfs":
            if s.get("Options"):
                opts += s["Options"].split(",")
            out.append(Mount(s["Destination"], "tmpfs", "tmpfs", opts))
            continue
        out.append(Mount(s["Destination"], "bind", s["Source"], opts, is_file=s["IsFile"],
                         propagation=s.get("Propagation", "")))
        if s["Type"] == "volume":
            labels[s["Destination"]] = (f"bind volume {s['Name']} ({s['Source']}) "
                                        f"on {s['Destination']}")
    return out, labels


def _under(path, top):
    return path == top or path.startswith(top + "/")
