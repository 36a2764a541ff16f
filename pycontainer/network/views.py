"""Docker's views of networking: a container's ``NetworkSettings`` and the
network parts of its ``HostConfig``, and a network's ``Containers``.

Read from the container's config and what runs now (``network.json``, the
leases); nothing here changes the kernel.
"""
from . import ports
from .records import DEFAULT_NAME, pseudo_id
from .store import read_json, write_json


def describe(files, attrs, cid):
    """Fill ``NetworkSettings`` and the network parts of ``HostConfig`` in a
    container's attrs (from its config and what runs now)."""
    cfg = attrs["Runtime"]["Config"]
    attrs["NetworkSettings"] = settings(files, cid, cfg)
    hc = attrs.setdefault("HostConfig", {})
    hc["NetworkMode"] = cfg.get("network_mode", "none")
    hc["PortBindings"] = ports.port_bindings(cfg.get("ports") or [])
    hc["PublishAllPorts"] = bool(cfg.get("publish_all_ports"))
    ecfg = attrs.setdefault("Config", {})
    if cfg.get("exposed_ports"):
        ecfg["ExposedPorts"] = {k: {} for k in cfg["exposed_ports"]}
    return attrs


def record(files, config_path, cid, attrs=None):
    """Rewrite ``NetworkSettings`` in config.json (caller holds the
    container's lock); a no-op for containers without networks."""
    mode = (attrs or {}).get("HostConfig", {}).get("NetworkMode")
    if mode in ("none", "host"):
        return
    data = read_json(config_path)
    if data is None or data.get("HostConfig", {}).get("NetworkMode") in ("none", "host"):
        return
    data.pop("State", None)
    data.pop("RestartCount", None)
    write_json(config_path, describe(files, data, cid))


def containers_of(store, nid):
    """docker's ``Network.attrs["Containers"]``."""
    out = {}
    for cid, ep in store.read_leases(nid).items():
        out[cid] = {"Name": ep["Name"], "EndpointID": ep["EndpointID"],
                    "MacAddress": ep["MacAddress"],
                    "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}",
                    "IPv6Address": ""}
    return out


def _pseudo_endpoint(mode):
    return {"IPAMConfig": None, "Links": None, "Aliases": None,
            "NetworkID": pseudo_id(mode), "EndpointID": "", "Gateway": "",
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": "", "DriverOpts": None, "DNSNames": None}


def settings(files, cid, cfg):
    """``NetworkSettings`` of a container (``cfg``: its ContainerConfig dict)."""
    state = files.read_state(cid) or {}
    eps = state.get("Endpoints") or {}
    by_name = {ep["Network"]: ep for ep in eps.values()}
    nets = {}
    for name, want in (cfg.get("networks") or {}).items():
        ep = by_name.get(name) or {}
        user = name != DEFAULT_NAME
        aliases = list(want.get("Aliases") or [])
        ipam = {k: want[k] for k in ("IPv4Address", "LinkLocalIPs") if want.get(k)}
        nets[name] = {
            "IPAMConfig": ipam or None,
            "Links": list(want.get("LinkNames") or []) or None,
            "Aliases": (aliases + [cid[:12]]) if user else (aliases or None),
            "NetworkID": want.get("NetworkID", ""), "EndpointID": ep.get("EndpointID", ""),
            "Gateway": ep.get("Gateway", ""), "IPAddress": ep.get("IPAddress", ""),
            "IPPrefixLen": ep.get("IPPrefixLen", 0), "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": ep.get("MacAddress") or want.get("MacAddress") or "",
            "DriverOpts": want.get("DriverOpts"),
            "DNSNames": ([cfg.get("name", ""), cid[:12]] + aliases) if user else None}
    mode = cfg.get("network_mode", "none")
    if mode in ("none", "host"):          # docker lists the pseudo network
        nets = {mode: _pseudo_endpoint(mode)}
    exposed = cfg.get("exposed_ports") or []
    out = {"Bridge": "", "SandboxID": cid if state.get("Netns") else "",
           "SandboxKey": state.get("Netns", ""), "HairpinMode": False,
           "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
           "Ports": ports.docker_ports(exposed, state.get("Ports") or []) if state else {},
           "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
           "Networks": nets}
    primary = nets.get(DEFAULT_NAME, {})
    for k in ("EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress",
              "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen"):
        out[k] = primary.get(k, 0 if k.endswith("Len") else "")
    return out
