"""A container's configuration: run() keywords merged with the image config
by docker's rules, validated before anything is created."""
import dataclasses
import ipaddress
import os
import re
import shlex
from dataclasses import dataclass, field

from ..cgroups import Resources
from ..errors import InvalidArgument
from . import health as _health
from . import logs as _logs
from . import mounts as _mounts
from . import options as _options
from . import users
from .. import security
from ..security import userns as _userns
from ..network import ports as _ports

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_HOSTNAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$")
_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# network_mode: these, "container:<id|name>", or a network's name (default "bridge";
# $PYCONTAINER_DEFAULT_NETWORK overrides the default, e.g. "none" in the test suite).
NETWORK_MODES = ("bridge", "none", "host")
_NETWORK = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclass
class ContainerConfig:
    """Everything the runtime needs to start one container."""
    image: str
    image_id: str
    argv: list
    env: list
    hostname: str
    working_dir: str = ""
    uid: int = 0
    gid: int = 0
    groups: tuple = ()
    user: str = ""
    resources: Resources = field(default_factory=Resources)
    read_only: bool = False
    network_mode: str = "none"
    labels: dict = field(default_factory=dict)
    name: str = ""
    rlimits: list = field(default_factory=list)
    volatile: bool = False
    stop_signal: str = "SIGTERM"
    stop_timeout: int = None                     # seconds stop() waits; None: docker's 10
    mounts: list = field(default_factory=list)   # runtime/mounts.py specs (plain dicts)
    security: dict = None                        # security.build(): caps, seccomp, devices...
    userns: str = None                           # "auto": a private uid range
    userns_host: int = None                      # first host id of that range (set at create)
    networks: dict = field(default_factory=dict)  # name -> {"Aliases", "IPv4Address", "NetworkID"}
    ports: list = field(default_factory=list)     # network/ports.py bindings
    publish_all_ports: bool = False
    exposed_ports: list = field(default_factory=list)   # "80/tcp", image's and ports'
    tty: bool = False                            # stdio is a pty of the container's devpts
    stdin_open: bool = False                     # the monitor keeps a stdin for attach
    stdin_once: bool = False                     # closed once the first attacher leaves
    # healthcheck and logging (engine/health.py, engine/logs.py)
    healthcheck: dict = None                     # docker's Config.Healthcheck, merged
    log_config: dict = None                      # docker's HostConfig.LogConfig
    # docker-py's other keywords (engine/options.py validates them)
    domainname: str = ""
    mac_address: str = ""
    dns: list = field(default_factory=list)
    dns_search: list = field(default_factory=list)
    dns_opt: list = field(default_factory=list)
    extra_hosts: list = field(default_factory=list)     # [name, ip]
    links: list = field(default_factory=list)           # [container id, alias]
    init: bool = False                                  # our reaping init as pid 1
    ipc_mode: str = ""          # "", private, shareable, host, none, container:<id>
    pid_mode: str = ""          # "", host, container:<id>
    uts_mode: str = ""          # "", host
    cgroupns: str = "private"
    cgroup_parent: str = ""
    shm_size: int = 0           # bytes of /dev/shm; 0: 64 MiB
    oom_score_adj: int = None
    network_disabled: bool = False
    device_cgroup_rules: list = field(default_factory=list)
    volumes_from: list = field(default_factory=list)    # as given; resolved into mounts
    runtime: str = ""           # the name it was asked for (all are ours); "": the default
    isolation: str = ""         # "" or "default", shown as given
    volume_driver: str = ""     # shown; a volume it would have to make is refused

    def to_dict(self):
        # Shallow: every field is plain data already (asdict deep-copies, slowly).
        d = dict(self.__dict__)
        d["resources"] = dict(self.resources.__dict__)
        d["groups"] = list(self.groups)
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["resources"] = Resources.from_stored(d["resources"])
        d["groups"] = tuple(d["groups"])
        return cls(**d)

    def path_env(self):
        for item in self.env:
            if item.startswith("PATH="):
                return item[5:]
        return DEFAULT_PATH


def _as_list(value, what):
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidArgument(f"{what} must be a string or a list of strings, got {value!r}")


def _env_list(environment):
    if environment is None:
        return []
    if isinstance(environment, dict):
        out = []
        for key, value in environment.items():
            # "A=B": 1 would silently become A=B=1 (docker-py's bug too)
            if not isinstance(key, str) or not key or "=" in key or "\0" in key:
                raise InvalidArgument(f"environment key {key!r} is not a variable name: it must "
                                      "be a non-empty string without '=' or NUL")
            if value is not None and "\0" in str(value):
                raise InvalidArgument(f"environment value of {key!r} contains a NUL byte")
            out.append(key if value is None else f"{key}={value}")
        return out
    if isinstance(environment, (list, tuple)):
        return [str(e) for e in environment]
    raise InvalidArgument(f"environment must be a dict or a list, got {type(environment).__name__}")


def merge_env(*lists):
    """Later lists win, keeping first-seen order (docker's rule). A name
    without ``=`` stays in the config, as docker keeps it, and is left out of
    the process's environment (:func:`process_env`): the engine never hands
    its own variables to a container (a CLI resolves ``-e NAME`` itself)."""
    out = {}
    for items in lists:
        for item in items:
            key, sep, _ = item.partition("=")
            if not key:
                raise InvalidArgument(f"environment entry {item!r} has no name")
            if "\0" in item:
                raise InvalidArgument(f"environment entry {key!r} contains a NUL byte")
            out[key] = item
    return list(out.values())


def process_env(env):
    """The environment a container's process gets from its config's ``Env``."""
    return [e for e in env if "=" in e]


def validate_name(name):
    if name is None:
        return ""
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 253:
        raise InvalidArgument(
            f"invalid container name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    return name.lstrip("/")


def build_config(image, image_record, cid, command=None, entrypoint=None, environment=None,
                 hostname=None, working_dir=None, user=None, read_only=False,
                 network_mode=None, labels=None, name=None, volatile=False, volumes=None,
                 mounts=None, tmpfs=None, cap_add=None, cap_drop=None, privileged=False,
                 security_opt=None, devices=None, sysctls=None, ulimits=None, userns_mode=None,
                 network=None, ports=None, publish_all_ports=False, stop_timeout=None,
                 tty=False, stdin_open=False, stdin_once=False, healthcheck=None,
                 log_config=None,
                 networking_config=None, **resources):
    """Merge run() keywords with the image config (docker's rules).

    ``tty``/``stdin_open`` as docker's: a pty for stdio (``TERM=xterm`` unless
    set), a stdin kept open for attach; ``stdin_once``: that stdin is closed
    when the first client that attached it leaves (docker's StdinOnce: pipes
    only, as docker ignores it with a tty).
    ``command`` replaces the image's Cmd; ``entrypoint`` replaces its Entrypoint
    and then drops its Cmd unless ``command`` is given; ``environment`` is laid
    over the image's Env; ``working_dir``/``user`` override WorkingDir/User.
    """
    icfg = (image_record.config or {}).get("config") or {}
    cmd = _as_list(command, "command")
    ep = _as_list(entrypoint, "entrypoint")
    if ep is None:
        ep = list(icfg.get("Entrypoint") or [])
        if cmd is None:
            cmd = list(icfg.get("Cmd") or [])
    elif cmd is None:
        cmd = []
    argv = ep + cmd
    if not argv:
        raise InvalidArgument(f"no command given and image {image!r} has no Cmd or Entrypoint")
    if any("\0" in a for a in argv):
        raise InvalidArgument("command arguments must not contain NUL bytes")
    if hostname is not None and (str(network_mode or network or "").startswith("container:")
                                 or resources.get("uts_mode") == "host"):
        raise InvalidArgument("conflicting options: hostname and the network mode "
                              f"{network_mode or network!r}" if resources.get("uts_mode") != "host"
                              else "conflicting options: hostname and uts_mode 'host'")
    if hostname is None:
        hostname = (os.uname().nodename if (network_mode or network) == "host" or
                    resources.get("uts_mode") == "host" else cid[:12])
    if not _HOSTNAME.match(hostname):
        raise InvalidArgument(f"invalid hostname {hostname!r}")
    workdir = working_dir if working_dir is not None else (icfg.get("WorkingDir") or "")
    if workdir and not workdir.startswith("/"):
        raise InvalidArgument(f"working_dir must be absolute, got {workdir!r}")
    mode, networks = network_config(network, network_mode)
    _endpoint_configs(networks, networking_config, network)
    bindings, exposed = _ports.parse(ports, publish_all_ports, icfg.get("ExposedPorts"))
    if mode in ("none", "host") or mode.startswith("container:"):
        if ports and mode != "host":      # docker drops them silently in host mode
            raise InvalidArgument(f"ports cannot be published with network_mode {mode!r}")
        bindings = []
    if labels is not None and not isinstance(labels, dict):
        if isinstance(labels, (list, tuple)):
            labels = {k: "" for k in labels}
        else:
            raise InvalidArgument("labels must be a dict or a list")
    merged_labels = dict(icfg.get("Labels") or {})
    merged_labels.update(labels or {})
    opts = _options.parse(**{k: resources.pop(k) for k in list(resources)
                             if k in _options.KEYS})
    group_add = opts.pop("group_add")
    proxy = _options.proxy_env() if opts.pop("use_config_proxy") else []
    stop_signal = opts.pop("stop_signal", None)
    if opts["network_disabled"]:
        if network_mode not in (None, "none") or network not in (None, "none"):
            raise InvalidArgument("network_disabled conflicts with network/network_mode")
        network_mode = "none"
    res = Resources.from_kwargs(**resources)
    if stop_timeout is not None and (isinstance(stop_timeout, bool)
                                     or not isinstance(stop_timeout, int)):
        raise InvalidArgument(f"stop_timeout must be whole seconds, got {stop_timeout!r}")
    spec = user if user not in (None, "") else (icfg.get("User") or "")
    who = users.resolve(spec, image_record.layer_dirs)
    for key, v in (("tty", tty), ("stdin_open", stdin_open), ("stdin_once", stdin_once)):
        if not isinstance(v, bool):
            raise InvalidArgument(f"{key} must be True or False, got {v!r}")
    who = _options_groups(who, group_add, image_record.layer_dirs)
    env = merge_env([f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}", f"HOME={who.home}"]
                    + (["TERM=xterm"] if tty else []),
                    icfg.get("Env") or [], proxy, _env_list(environment))
    specs = _mounts.parse(volumes, mounts, tmpfs, icfg.get("Volumes"))
    _options.volume_driver_for(opts.get("volume_driver"), specs)
    sec = security.build(cap_add, cap_drop, privileged, security_opt, devices, sysctls, ulimits,
                         mode)
    health = _health.merge(healthcheck, icfg.get("Healthcheck"))
    logging = _logs.parse_config(log_config)
    return ContainerConfig(
        image=image, image_id=image_record.id, argv=argv, env=env, hostname=hostname,
        working_dir=workdir, uid=who.uid, gid=who.gid, groups=who.groups, user=spec,
        resources=res, read_only=bool(read_only), network_mode=mode,
        labels=merged_labels, name=validate_name(name), volatile=volatile,
        stop_signal=stop_signal or icfg.get("StopSignal") or "SIGTERM",
        stop_timeout=stop_timeout,
        mounts=specs, security=sec,
        userns=_userns.validate(userns_mode), networks=networks, ports=bindings,
        publish_all_ports=bool(publish_all_ports), exposed_ports=exposed, tty=tty,
        stdin_open=stdin_open, stdin_once=stdin_once, healthcheck=health, log_config=logging, **opts)


def _options_groups(who, group_add, layer_dirs):
    """``group_add``: more supplementary groups, by gid or by a name in the
    image's /etc/group."""
    if not group_add:
        return who
    gids = list(who.groups)
    for g in group_add:
        gid = users.group_id(g, layer_dirs)
        if gid not in gids:
            gids.append(gid)
    return dataclasses.replace(who, groups=tuple(gids))


def network_config(network, network_mode):
    """``network=`` / ``network_mode=`` -> (mode, {network name: endpoint config})."""
    if network is not None and network_mode is not None and network != network_mode:
        raise InvalidArgument("the options network and network_mode cannot be used together")
    mode = network_mode or network or os.environ.get("PYCONTAINER_DEFAULT_NETWORK") or "bridge"
    if not isinstance(mode, str):
        raise InvalidArgument(f"network_mode must be a string, got {mode!r}")
    mode = "bridge" if mode == "default" else mode
    if mode in ("none", "host"):
        return mode, {}
    if mode.startswith("container:"):
        if not mode[10:]:
            raise InvalidArgument("network_mode container: needs a container id or name")
        return mode, {}
    if not _NETWORK.match(mode):
        raise InvalidArgument(f"invalid network_mode {mode!r}: use bridge, host, none, "
                              "container:<id|name> or a network's name")
    return mode, {mode: {"Aliases": [], "IPv4Address": None}}


def _endpoint_configs(networks, networking_config, network):
    """docker-py's ``networking_config={name: EndpointConfig}``: aliases,
    a static ``IPv4Address``, links and a MAC per network; ``network``
    must be one of them (the first), the others are joined too."""
    if not networking_config:
        return
    if not isinstance(networking_config, dict):
        raise InvalidArgument("networking_config must be a dict {network: EndpointConfig}")
    conf = networking_config.get("EndpointsConfig", networking_config)
    if network is None or network not in conf or network not in networks:
        raise InvalidArgument("networking_config needs network= naming one of its networks "
                              f"(got network={network!r}, networking_config for "
                              f"{sorted(conf)})")
    for name, ep in conf.items():
        default = name == "bridge" and network == "bridge"     # docker's default network
        if not default and (not _NETWORK.match(str(name)) or name in NETWORK_MODES):
            raise InvalidArgument(f"networking_config: {name!r} is not a user network")
        networks[name] = endpoint_config(name, ep, default)


def endpoint_config(name, ep, default=False):
    """One EndpointConfig (docker's keys) as the engine keeps it; on the
    default bridge only what dockerd takes there (a MAC, DriverOpts,
    link-local addresses)."""
    what = f"networking_config[{name!r}]"
    ep = dict(ep or {})
    unknown = set(ep) - {"Aliases", "Links", "IPAMConfig", "MacAddress", "DriverOpts"}
    if unknown:
        raise InvalidArgument(f"{what}: unsupported {sorted(unknown)}")
    opts = ep.get("DriverOpts") or {}
    if not isinstance(opts, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in opts.items()):
        raise InvalidArgument(f"{what}: DriverOpts must be a dict of strings, got {opts!r}")
    ipam = dict(ep.get("IPAMConfig") or {})
    if set(ipam) - {"IPv4Address", "LinkLocalIPs"}:
        raise InvalidArgument(f"{what}: only an IPv4Address and LinkLocalIPs are supported "
                              f"in IPAMConfig, got {sorted(ipam)}")
    aliases = ep.get("Aliases") or []
    if not isinstance(aliases, (list, tuple)) or not all(
            isinstance(a, str) and _HOSTNAME.match(a) for a in aliases):
        raise InvalidArgument(f"{what}: invalid Aliases {aliases!r}")
    if default and (aliases or ep.get("Links") or ipam.get("IPv4Address")):
        raise InvalidArgument(f"{what}: aliases, links and a static address are supported "
                              "on user-defined networks only")
    return {"Aliases": list(aliases), "IPv4Address": ipam.get("IPv4Address"),
            "Links": _options._links(ep.get("Links")),
            "MacAddress": _options.mac(ep["MacAddress"]) if ep.get("MacAddress") else None,
            "LinkLocalIPs": link_local_ips(ipam.get("LinkLocalIPs"), what) or None,
            # kept and shown, as dockerd does; the bridge driver reads none
            "DriverOpts": dict(opts) or None}


def link_local_ips(ips, what):
    """IPv4 addresses an endpoint also gets (IPv6 is not served)."""
    if not ips:
        return []
    if isinstance(ips, str) or not isinstance(ips, (list, tuple)):
        raise InvalidArgument(f"{what}: LinkLocalIPs must be a list of addresses")
    out = []
    for ip in ips:
        try:
            out.append(str(ipaddress.IPv4Address(ip)))
        except (ipaddress.AddressValueError, ValueError, TypeError):
            raise InvalidArgument(f"{what}: link-local address {ip!r} is not an IPv4 "
                                  "address (IPv6 is not supported)") from None
    return out
