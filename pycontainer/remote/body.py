"""docker-py's ``containers.run/create`` keywords -> ``POST /containers/create``'s body.

The inverse of the daemon's codec: the keywords the daemon understands,
in docker's JSON; any other keyword raises InvalidArgument here, before a
request is sent, as the local engine refuses it.
"""
from ..errors import InvalidArgument
from ..units import parse_bytes

_CONFIG = {"hostname": "Hostname", "user": "User", "working_dir": "WorkingDir",
           "labels": "Labels", "stop_timeout": "StopTimeout", "domainname": "Domainname",
           "stop_signal": "StopSignal", "tty": "Tty", "stdin_open": "OpenStdin"}
_HOST = {"nano_cpus": "NanoCpus", "cpu_shares": "CpuShares", "cpu_quota": "CpuQuota",
         "cpu_period": "CpuPeriod", "cpuset_cpus": "CpusetCpus", "pids_limit": "PidsLimit",
         "privileged": "Privileged", "read_only": "ReadonlyRootfs", "cap_add": "CapAdd",
         "cap_drop": "CapDrop", "security_opt": "SecurityOpt", "tmpfs": "Tmpfs",
         "sysctls": "Sysctls", "publish_all_ports": "PublishAllPorts",
         "userns_mode": "UsernsMode", "ulimits": "Ulimits"}
_BYTES = {"mem_limit": "Memory", "memswap_limit": "MemorySwap"}


def _list(v):
    if v is None:
        return None
    if isinstance(v, str):
        import shlex
        return shlex.split(v)
    return list(v)


def _env(v):
    if isinstance(v, dict):
        return [f"{k}={val}" for k, val in v.items()]
    return list(v)


def _binds(volumes):
    if isinstance(volumes, dict):
        out = []
        for src, spec in volumes.items():
            if isinstance(spec, dict):
                out.append(f"{src}:{spec['bind']}:{spec.get('mode', 'rw')}")
            else:
                out.append(f"{src}:{spec}")
        return out
    return list(volumes)


def _ports(ports):
    """docker-py's ``ports={"80/tcp": 8080 | None | ("127.0.0.1", 8080) | [..]}``."""
    out = {}
    for key, spec in ports.items():
        key = str(key) if "/" in str(key) else f"{key}/tcp"
        specs = spec if isinstance(spec, list) else [spec]
        binds = []
        for s in specs:
            if isinstance(s, tuple):
                binds.append({"HostIp": s[0], "HostPort": str(s[1]) if len(s) > 1 and
                              s[1] is not None else ""})
            else:
                binds.append({"HostIp": "", "HostPort": "" if s is None else str(s)})
        out[key] = binds
    return out


def create_body(image, command, kwargs, auto_remove=False):
    """``(body, name)`` for ``POST /containers/create?name=``."""
    kw = dict(kwargs)
    name = kw.pop("name", None)
    body = {"Image": image}
    host = {}
    if command is not None:
        body["Cmd"] = _list(command)
    if "entrypoint" in kw:
        body["Entrypoint"] = _list(kw.pop("entrypoint"))
    if "environment" in kw:
        body["Env"] = _env(kw.pop("environment") or [])
    for k, key in _CONFIG.items():
        if k in kw:
            body[key] = kw.pop(k)
    for k, key in _HOST.items():
        if k in kw:
            host[key] = kw.pop(k)
    for k, key in _BYTES.items():
        if k in kw:
            v = kw.pop(k)
            host[key] = parse_bytes(v) if isinstance(v, str) else v
    if "volumes" in kw:
        host["Binds"] = _binds(kw.pop("volumes"))
    if "ports" in kw:
        ports = kw.pop("ports") or {}
        host["PortBindings"] = _ports(ports)
        body["ExposedPorts"] = {k: {} for k in host["PortBindings"]}
    net = kw.pop("network", None) or kw.pop("network_mode", None)
    if net:
        host["NetworkMode"] = net
    if "restart_policy" in kw:
        host["RestartPolicy"] = kw.pop("restart_policy")
    for k in ("detach", "remove", "stream"):
        kw.pop(k, None)
    if kw:
        raise InvalidArgument(f"this keyword is not supported over the API yet: "
                              f"{sorted(kw)[0]!r}")
    if auto_remove:
        host["AutoRemove"] = True
    body["HostConfig"] = host
    return body, name
