"""What a new container takes from others, resolved at create: the mounts
of ``volumes_from``, the targets of ``links``, the ipc/pid namespaces of
``container:<name>`` modes, the hostname of a ``container:`` network, and
``host-gateway`` in ``extra_hosts``. Also refuses the limits this host's
cgroups cannot set, before anything exists.
"""
import os

from ..errors import Conflict, InvalidArgument


def resolve(containers, cfg):
    """Fill ``cfg`` (a ContainerConfig) in place; ``containers``: the engine's verbs."""
    _volumes_from(containers, cfg)
    _network_rules(containers, cfg)
    for kind in ("ipc_mode", "pid_mode"):
        mode = getattr(cfg, kind)
        if mode.startswith("container:"):
            target = containers.inspect(mode[10:])
            if kind == "ipc_mode":
                donor = target["Runtime"]["Config"].get("ipc_mode") or "private"
                if donor not in ("shareable", "host"):
                    raise Conflict(f"cannot join the IPC namespace of container "
                                   f"{target['Id'][:12]}: its ipc_mode is {donor!r}; "
                                   "create it with ipc_mode='shareable'")
            setattr(cfg, kind, "container:" + target["Id"])
    missing = containers.rt.cg.unsupported(cfg.resources)
    if missing:
        raise InvalidArgument("; ".join(missing))
    if cfg.device_cgroup_rules and (cfg.security or {}).get("privileged"):
        cfg.device_cgroup_rules = []     # privileged: every device already
    if cfg.ipc_mode == "shareable" and cfg.shm_size:
        raise InvalidArgument("shm_size cannot be enforced with ipc_mode 'shareable' (its "
                              "/dev/shm is shared from the run directory's tmpfs)")
    if cfg.userns and (cfg.pid_mode == "host" or cfg.ipc_mode == "host"):
        raise InvalidArgument("pid_mode/ipc_mode 'host' conflict with userns_mode 'auto'")
    if cfg.cgroupns == "host" and cfg.userns:
        raise InvalidArgument("cgroupns='host' conflicts with userns_mode 'auto'")


def _volumes_from(containers, cfg):
    """``["name", "name:ro"]``: the other container's mounts at the same
    paths (read-only with ``:ro``); a mount of our own on a path wins."""
    taken = {m["Destination"] for m in cfg.mounts}
    for item in cfg.volumes_from:
        name, _, mode = item.partition(":")
        if mode not in ("", "ro", "rw"):
            raise InvalidArgument(f"volumes_from {item!r}: the mode must be 'ro' or 'rw'")
        other = containers.inspect(name)["Runtime"]["Config"]
        for m in other.get("mounts") or ():
            if m["Destination"] in taken or m["Type"] == "tmpfs":
                continue
            taken.add(m["Destination"])
            cfg.mounts.append(dict(m, RW=m.get("RW", True) if not mode else mode == "rw"))


def _network_rules(containers, cfg):
    """docker's rules for names and addresses against the network mode."""
    mode = cfg.network_mode
    joined = mode.startswith("container:")
    eps = cfg.networks.values()
    if joined or mode in ("host", "none"):
        for what, given in (("mac_address", cfg.mac_address),
                            ("links", cfg.links or any(e.get("Links") for e in eps))):
            if given:
                raise InvalidArgument(f"conflicting options: {what} and network_mode {mode!r}")
    if joined:
        for what in ("dns", "dns_search", "dns_opt", "extra_hosts"):
            if getattr(cfg, what):
                raise InvalidArgument(f"conflicting options: {what} and network_mode "
                                      f"{mode!r} (the container shares the other's files)")
        target = containers.inspect(mode[10:])
        cfg.hostname = target["Config"].get("Hostname") or cfg.hostname
        cfg.env = [f"HOSTNAME={cfg.hostname}" if e.startswith("HOSTNAME=") else e
                   for e in cfg.env]
    cfg.links = [[containers.resolve(t), a] for t, a in cfg.links]
    _link_env(containers, cfg)
    for i, ep in enumerate(eps):
        if ep.get("Links"):     # shown as given ("name:alias"), as docker does
            ep["LinkNames"] = [f"{t}:{a}" for t, a in ep["Links"]]
        # a user network's links are names this container alone resolves: the
        # targets need not exist yet (the hosts files follow them)
        ep["Links"] = [list(link) for link in ep.get("Links") or ()]
        if i == 0 and cfg.mac_address and not ep.get("MacAddress"):
            ep["MacAddress"] = cfg.mac_address      # the first network's, as docker
    if any(ip == "host-gateway" for _, ip in cfg.extra_hosts):
        gateway = containers.engine.net.default()["IPAM"]["Config"][0]["Gateway"]
        cfg.extra_hosts = [[n, gateway if ip == "host-gateway" else ip]
                           for n, ip in cfg.extra_hosts]


def _link_env(containers, cfg):
    """docker's variables for legacy links (``<ALIAS>_PORT_80_TCP_ADDR``,
    ``<ALIAS>_NAME``, ``<ALIAS>_ENV_<var>``...), from each running target's
    bridge address, exposed ports and environment; run()'s own ``environment``
    wins over them, as docker's does."""
    have = {e.partition("=")[0] for e in cfg.env}
    extra = []
    for target, alias in cfg.links:
        attrs = containers.inspect(target)
        ip = (((attrs.get("NetworkSettings") or {}).get("Networks") or {}).get("bridge")
              or {}).get("IPAddress")
        if not ip:
            continue            # not running: /etc/hosts gets it at start, no variables
        extra += link_variables(alias, ip, (attrs["Config"].get("ExposedPorts") or {}),
                                attrs["Config"].get("Env") or [], f"/{cfg.name}/{alias}")
    cfg.env = [e for e in extra if e.partition("=")[0] not in have] + cfg.env


def link_variables(alias, ip, exposed, env, name):
    """docker's link variables (moby daemon/links): the lowest port as
    ``_PORT``, each port's four variables, the link's name, the target's env."""
    prefix = alias.upper().replace("-", "_")
    ports = sorted((int(k.partition("/")[0]), k.partition("/")[2] or "tcp") for k in exposed)
    out = []
    if ports:
        port, proto = ports[0]
        out.append(f"{prefix}_PORT={proto}://{ip}:{port}")
    for port, proto in ports:
        key = f"{prefix}_PORT_{port}_{proto.upper()}"
        out += [f"{key}={proto}://{ip}:{port}", f"{key}_ADDR={ip}", f"{key}_PORT={port}",
                f"{key}_PROTO={proto}"]
    out.append(f"{prefix}_NAME={name}")
    for item in env:
        var, sep, value = item.partition("=")
        if sep and var not in ("HOME", "PATH", "HOSTNAME"):   # HOSTNAME: not in docker's Env
            out.append(f"{prefix}_ENV_{var}={value}")
    return out


def joined_pids(containers, cid, cfg):
    """At start: ``{"ipc" | "pid": init pid}`` of the running containers
    whose namespaces ``ipc_mode`` / ``pid_mode`` ``container:`` join."""
    from . import spec as _spec
    from . import state as _state
    out = {}
    for kind, mode in (("ipc", cfg.ipc_mode), ("pid", cfg.pid_mode)):
        if mode.startswith("container:"):
            st = _state.load(containers.rt, mode[10:])["State"]
            if not st["Running"] or not _state.alive(st["Pid"], st.get("PidStartTime")):
                raise Conflict(f"cannot join the {kind} namespace of container "
                               f"{mode[10:22]}: it is not running")
            out[kind] = st["Pid"]
            if kind == "ipc":
                out["ipc_shm"] = _spec.shareable_shm(containers.rt.rundir(mode[10:]))
    if cfg.ipc_mode == "shareable":
        path = _spec.shareable_shm(containers.rt.rundir(cid))
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o1777)
    return out


def host_resolv_conf(path, cfg):
    """network_mode host: the host's resolv.conf (loopback resolvers work
    there) with run()'s dns, dns_search and dns_opt lines."""
    from ..network import hosts
    try:
        with open("/etc/resolv.conf") as f:
            text = f.read()
    except OSError:
        text = ""
    with open(path, "w") as f:
        f.write(hosts.with_dns(text, cfg.dns, cfg.dns_search, cfg.dns_opt))


def top_with_ps(pids, ps_args):
    """docker's ``top`` with ``ps_args``: the host's ``ps`` with them, only
    the rows of the container's processes (found by the PID column)."""
    import shlex
    import subprocess
    args = shlex.split(ps_args) if isinstance(ps_args, str) else list(ps_args)
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, check=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise InvalidArgument(f"top(ps_args={ps_args!r}): ps failed: "
                              f"{getattr(err, 'stderr', '') or err}") from None
    lines = out.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise InvalidArgument(f"top(ps_args={ps_args!r}): ps printed no PID column")
    col, want = titles.index("PID"), {str(p) for p in pids}
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > col and fields[col] in want:
            rows.append(fields)
    return {"Titles": titles, "Processes": rows}
