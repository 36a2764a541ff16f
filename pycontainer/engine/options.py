"""The rest of docker-py's ``run()``/``create()`` keywords: names, DNS, hosts,
namespaces, init, and the ones refused on purpose.

:func:`parse` validates them (``InvalidArgument`` before anything exists)
and returns fields of :class:`~.config.ContainerConfig`; :data:`REFUSED`
says why each keyword without a meaning here is refused, so no keyword is
ever silently ignored.
"""
import ipaddress
import os
import re
import signal as _signal

from ..errors import InvalidArgument
from ..units import parse_bytes
from ..volumes import check_driver

# every name is our own runtime; "runc" is docker's default's name, which
# scripts written for docker pass
RUNTIME_NAMES = ("pycontainer", "pyc", "runc")
# keyword -> why it is refused (a value other than its "off" one)
REFUSED = {
    "cpu_count": "cpu_count is a Windows-only option: use nano_cpus or cpuset_cpus",
    "cpu_percent": "cpu_percent is a Windows-only option: use nano_cpus",
    "isolation": "isolation is a Windows-only option",
    "kernel_memory": "kernel_memory: this kernel has no kmem accounting (removed in Linux 6.x)",
    "lxc_conf": "lxc_conf: there is no LXC driver",
    "device_requests": "device_requests: no GPU or other device driver is available here",
    "init_path": "init_path: the init is pycontainer's own (init=True), not a path",
}
_OFF = (None, False, 0, "", [], {}, ())
KEYS = frozenset(("detach", "domainname", "mac_address", "dns", "dns_opt", "dns_search",
                  "extra_hosts", "links", "init", "ipc_mode", "pid_mode", "uts_mode",
                  "cgroupns", "cgroup_parent", "shm_size", "group_add", "stop_signal",
                  "oom_score_adj", "platform", "storage_opt", "use_config_proxy",
                  "network_disabled", "runtime", "volumes_from", "device_cgroup_rules",
                  "volume_driver", "version")) | frozenset(REFUSED)
IPC_MODES = ("", "private", "shareable", "host", "none")
_MAC = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
_DOMAIN = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,252})$")
_HOST = re.compile(r"^[a-zA-Z0-9_]([a-zA-Z0-9_.-]{0,252})$")


def parse(detach=None, domainname=None, mac_address=None, dns=None, dns_opt=None,
          dns_search=None, extra_hosts=None, links=None, init=None, ipc_mode=None,
          pid_mode=None, uts_mode=None, cgroupns=None, cgroup_parent=None, shm_size=None,
          group_add=None, stop_signal=None, oom_score_adj=None, platform=None,
          storage_opt=None, use_config_proxy=None, network_disabled=None, runtime=None,
          volumes_from=None, device_cgroup_rules=None, volume_driver=None, version=None,
          **refused):
    """Validate these keywords; returns a dict of ContainerConfig fields."""
    for key, value in refused.items():
        if key not in REFUSED:
            raise TypeError(f"parse() got an unexpected keyword argument {key!r}")
        if value not in _OFF and not (key == "isolation" and value == "default"):
            raise InvalidArgument(REFUSED[key])
    out = {"isolation": refused.get("isolation") or ""}
    if detach is not None and not isinstance(detach, bool):
        raise InvalidArgument(f"detach must be True or False, got {detach!r}")
    if domainname not in (None, ""):
        if not isinstance(domainname, str) or not _DOMAIN.match(domainname):
            raise InvalidArgument(f"invalid domainname {domainname!r}")
        out["domainname"] = domainname
    if mac_address not in (None, ""):
        out["mac_address"] = mac(mac_address)
    out["dns"] = [_ip(s, "dns") for s in _strings(dns, "dns")]
    out["dns_search"] = _strings(dns_search, "dns_search")
    out["dns_opt"] = _strings(dns_opt, "dns_opt")
    out["extra_hosts"] = _extra_hosts(extra_hosts)
    out["links"] = _links(links)
    if init not in (None, False):
        if init is not True:
            raise InvalidArgument(f"init must be True or False, got {init!r}")
        out["init"] = True
    out["ipc_mode"] = _ns_mode(ipc_mode, "ipc_mode", IPC_MODES)
    out["pid_mode"] = _ns_mode(pid_mode, "pid_mode", ("", "host"))
    out["uts_mode"] = _ns_mode(uts_mode, "uts_mode", ("", "host"), joinable=False)
    if cgroupns not in (None, "", "private", "host"):
        raise InvalidArgument(f"cgroupns {cgroupns!r}: use 'private' or 'host'")
    out["cgroupns"] = cgroupns or "private"
    if cgroup_parent not in (None, ""):
        if not isinstance(cgroup_parent, str) or ".." in cgroup_parent.split("/") or \
                not re.fullmatch(r"[a-zA-Z0-9_./-]+", cgroup_parent):
            raise InvalidArgument(f"invalid cgroup_parent {cgroup_parent!r}: a path of "
                                  "cgroup names, e.g. '/ci/jobs'")
        out["cgroup_parent"] = "/" + cgroup_parent.strip("/")
    if shm_size not in (None, 0, ""):
        size = parse_bytes(shm_size, "shm_size")
        if size <= 0:
            raise InvalidArgument(f"shm_size must be positive, got {shm_size!r}")
        out["shm_size"] = size
    out["group_add"] = _strings(group_add, "group_add", ints=True)
    if stop_signal not in (None, ""):
        out["stop_signal"] = _signal_name(stop_signal)
    if oom_score_adj not in (None,):
        if isinstance(oom_score_adj, bool) or not isinstance(oom_score_adj, int) or \
                not -1000 <= oom_score_adj <= 1000:
            raise InvalidArgument(f"oom_score_adj must be within -1000..1000, got "
                                  f"{oom_score_adj!r}")
        out["oom_score_adj"] = oom_score_adj
    if platform not in (None, ""):
        _platform(platform)
    if storage_opt:
        # overlay's size= needs xfs with project quotas under the store
        raise InvalidArgument(f"storage_opt {storage_opt!r}: the overlay store cannot limit "
                              "a container's size on this filesystem (needs xfs with pquota)")
    if use_config_proxy not in (None, False, True):
        raise InvalidArgument(f"use_config_proxy must be True or False, got {use_config_proxy!r}")
    out["use_config_proxy"] = use_config_proxy is not False
    if network_disabled not in (None, False, True):
        raise InvalidArgument(f"network_disabled must be True or False, got {network_disabled!r}")
    out["network_disabled"] = bool(network_disabled)
    if runtime not in (None, "") and runtime not in RUNTIME_NAMES:
        raise InvalidArgument(f"runtime {runtime!r} is not available: containers run on "
                              f"pycontainer's own runtime ({' or '.join(RUNTIME_NAMES)})")
    out["runtime"] = runtime or ""
    out["volumes_from"] = _strings(volumes_from, "volumes_from")
    out["device_cgroup_rules"] = [device_rule(r) for r in _strings(device_cgroup_rules,
                                                                   "device_cgroup_rules")]
    if volume_driver not in (None, "") and not isinstance(volume_driver, str):
        raise InvalidArgument(f"volume_driver must be a name, got {volume_driver!r}")
    out["volume_driver"] = volume_driver or ""
    if version not in (None, ""):
        raise InvalidArgument("version: the API version is a docker client setting; "
                              "pycontainer has no API versions to choose from")
    return out


def volume_driver_for(driver, specs):
    """As dockerd: a driver other than ``local`` is refused (404, no such
    plugin) only when the container has volumes it would make."""
    if any(s["Type"] == "volume" for s in specs):
        check_driver(driver)


def _strings(value, what, ints=False):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    ok = (str, int) if ints else (str,)
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, ok) and not isinstance(v, bool) for v in value):
        raise InvalidArgument(f"{what} must be a list of strings, got {value!r}")
    return [str(v) for v in value]


def _ip(text, what):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidArgument(f"{what}: {text!r} is not an IP address") from None


def mac(text):
    if not isinstance(text, str) or not _MAC.match(text):
        raise InvalidArgument(f"invalid mac_address {text!r}: use six hex pairs like "
                              "02:42:ac:11:00:02")
    if int(text[:2], 16) & 1:
        raise InvalidArgument(f"mac_address {text!r} is a multicast address")
    return text.lower()


def _extra_hosts(value):
    """``{"name": "ip"}`` or ``["name:ip"]`` -> [[name, ip]]; ip may be
    ``host-gateway`` (resolved at create to the default bridge's gateway)."""
    if value is None:
        return []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        items = []
        for v in value:
            if not isinstance(v, str) or ":" not in v:
                raise InvalidArgument(f"extra_hosts entry {v!r}: use 'name:ip'")
            name, _, ip = v.partition(":")       # ip may be IPv6 (more colons)
            items.append((name, ip))
    else:
        raise InvalidArgument(f"extra_hosts must be a dict or a list, got {value!r}")
    out = []
    for name, ip in items:
        if not isinstance(name, str) or not _HOST.match(name):
            raise InvalidArgument(f"extra_hosts: invalid host name {name!r}")
        ip = str(ip).strip("[]")
        out.append([name, ip if ip == "host-gateway" else _ip(ip, "extra_hosts")])
    return out


def _links(value):
    """``{"target": "alias"}`` or ``["target:alias"]`` -> [[target, alias]]."""
    if value is None:
        return []
    if isinstance(value, dict):
        items = [(k, v or k) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        pairs = [tuple(v) for v in value if isinstance(v, (list, tuple)) and len(v) == 2]
        if len(pairs) == len(value) and value:      # [(target, alias)], docker-py's form
            items = [(t, a or t) for t, a in pairs]
        else:
            items = [tuple(v.split(":", 1)) if ":" in v else (v, v)
                     for v in _strings(value, "links")]
    else:
        raise InvalidArgument(f"links must be a dict or a list, got {value!r}")
    for target, alias in items:
        if not isinstance(alias, str) or not _HOST.match(alias) or not target:
            raise InvalidArgument(f"invalid link {target!r}: {alias!r}")
    return [[str(t).lstrip("/"), a] for t, a in items]


def _ns_mode(value, what, modes, joinable=True):
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a string, got {value!r}")
    if joinable and value.startswith("container:"):
        if not value[10:]:
            raise InvalidArgument(f"{what} container: needs a container id or name")
        return value
    if value not in modes:
        extra = ", 'container:<id|name>'" if joinable else ""
        raise InvalidArgument(f"invalid {what} {value!r}: use "
                              f"{', '.join(repr(m) for m in modes if m)}{extra}")
    return value


def _signal_name(sig):
    try:
        if isinstance(sig, int) or (isinstance(sig, str) and sig.isdigit()):
            return _signal.Signals(int(sig)).name
        name = str(sig).upper()
        return _signal.Signals[name if name.startswith("SIG") else "SIG" + name].name
    except (KeyError, ValueError):
        raise InvalidArgument(f"unknown stop_signal {sig!r}") from None


_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64", "i686": "386"}


def host_arch():
    return _ARCH.get(os.uname().machine, os.uname().machine)


def _platform(text):
    """``os[/arch[/variant]]``: only this host's platform runs here (no emulation)."""
    parts = str(text).lower().split("/")
    if parts[0] != "linux" or (len(parts) > 1 and parts[1] != host_arch()):
        raise InvalidArgument(f"platform {text!r} cannot run here: this host runs "
                              f"linux/{host_arch()} and there is no emulation")


_RULE = re.compile(r"^([abc]) (\*|\d+):(\*|\d+) ([rwm]{1,3})$")


def device_rule(text):
    """A devices cgroup rule as docker takes it: ``"c 1:3 mr"``, ``"b *:* m"``."""
    m = _RULE.match(text.strip())
    if not m or len(set(m.group(4))) != len(m.group(4)):
        raise InvalidArgument(f"invalid device_cgroup_rules entry {text!r}: use "
                              "'<a|b|c> <major|*>:<minor|*> <r|w|m...>'")
    return text.strip()


def proxy_env():
    """docker-py's ``use_config_proxy``: the proxies of the docker client's
    config (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``,
    ``proxies.default``) as environment variables."""
    import json
    d = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    try:
        with open(os.path.join(d, "config.json")) as f:
            conf = (json.load(f).get("proxies") or {}).get("default") or {}
    except (OSError, ValueError, AttributeError):
        return []
    out = []
    for key, var in (("httpProxy", "http_proxy"), ("httpsProxy", "https_proxy"),
                     ("ftpProxy", "ftp_proxy"), ("noProxy", "no_proxy")):
        if isinstance(conf, dict) and conf.get(key):
            out += [f"{var}={conf[key]}", f"{var.upper()}={conf[key]}"]
    return out


def inspect_fields(cfg):
    """docker's inspect fields for these keywords: (Config, HostConfig) updates."""
    res = cfg.resources
    config = {"Domainname": cfg.domainname, "MacAddress": cfg.mac_address,
              "NetworkDisabled": cfg.network_disabled}
    host = {"Dns": list(cfg.dns), "DnsOptions": list(cfg.dns_opt),
            "DnsSearch": list(cfg.dns_search),
            "ExtraHosts": [f"{n}:{ip}" for n, ip in cfg.extra_hosts],
            "Links": [f"{t}:{a}" for t, a in cfg.links], "Init": cfg.init,
            "IpcMode": cfg.ipc_mode or "private", "PidMode": cfg.pid_mode,
            "UTSMode": cfg.uts_mode, "CgroupnsMode": cfg.cgroupns,
            "CgroupParent": cfg.cgroup_parent, "ShmSize": cfg.shm_size or 64 << 20,
            "GroupAdd": [str(g) for g in cfg.groups[1:]], "OomScoreAdj": cfg.oom_score_adj or 0,
            "VolumesFrom": list(cfg.volumes_from), "DeviceCgroupRules": list(
                cfg.device_cgroup_rules), "Runtime": cfg.runtime or RUNTIME_NAMES[0],
            "Isolation": cfg.isolation, "VolumeDriver": cfg.volume_driver,
            "MemoryReservation": res.mem_reservation,
            "MemorySwappiness": None if res.mem_swappiness == -1 else res.mem_swappiness,
            "OomKillDisable": res.oom_kill_disable, "CpusetMems": res.cpuset_mems,
            "CpuRealtimePeriod": res.cpu_rt_period, "CpuRealtimeRuntime": res.cpu_rt_runtime,
            "BlkioWeight": res.blkio_weight,
            "Tmpfs": {m["Destination"]: m.get("Options") or "" for m in cfg.mounts
                      if m.get("Type") == "tmpfs"} or None}
    for key, name in (("blkio_weight_device", "BlkioWeightDevice"),
                      ("device_read_bps", "BlkioDeviceReadBps"),
                      ("device_write_bps", "BlkioDeviceWriteBps"),
                      ("device_read_iops", "BlkioDeviceReadIOps"),
                      ("device_write_iops", "BlkioDeviceWriteIOps")):
        field_ = "Weight" if key == "blkio_weight_device" else "Rate"
        host[name] = [{"Path": dev, field_: n} for dev, n in getattr(res, key)]
    return config, host
