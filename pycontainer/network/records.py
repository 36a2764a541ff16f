"""Network records: docker's networks as the store keeps them.

:class:`Networks` creates (options checked, a subnet chosen that overlaps
no other network and no route), finds (name, id, id prefix; the default
``bridge`` recorded on first use) and removes them. The kernel side of a
network (its bridge, sysctls and firewall chains) is :mod:`.bridge`'s.
"""
import ipaddress
import os
import re
import time

from ..errors import Conflict, InvalidArgument
from . import bridge, ipam
from .store import DEFAULT_NAME, OPT_DEFAULT, is_default

DEFAULT_BRIDGE = "pyc0"
PREDEFINED = ("bridge", "host", "none")
OPT_NAME = "com.docker.network.bridge.name"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_MASQ = "com.docker.network.bridge.enable_ip_masquerade"
DEFAULT_MTU = bridge.DEFAULT_MTU
_IFNAME = re.compile(r"^[a-zA-Z0-9_.-]{1,15}$")
# as dockerd: any name (spaces too) but a path separator or a control character
NET_NAME = re.compile(r"^[^\x00-\x1f\x7f/]{1,255}$")


def pseudo_id(name):
    """The id of the ``host`` / ``none`` pseudo networks."""
    import hashlib          # here: the release hook never needs it
    return hashlib.sha256(f"pycontainer-{name}".encode()).hexdigest()


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _subnet(rec):
    cfg = rec["IPAM"]["Config"]
    return ipaddress.IPv4Network(cfg[0]["Subnet"]) if cfg else None


def _check(name, driver, options, ipam_config, labels, enable_ipv6, scope, ingress, default):
    """Refuse what create() cannot make; returns ``(options, mtu, masquerade,
    bridge name or None, pool or None)``."""
    if not isinstance(name, str) or not NET_NAME.match(name):
        raise InvalidArgument(f"invalid network name {name!r}: 1 to 255 characters, "
                              "no '/' and no control character")
    if driver not in (None, "bridge"):
        raise InvalidArgument(f"network driver {driver!r} is not supported: use bridge")
    if enable_ipv6:
        raise InvalidArgument("IPv6 networks are not supported")
    if ingress:
        raise InvalidArgument("ingress networks need swarm; not supported")
    if scope not in (None, "local"):
        raise InvalidArgument(f"network scope {scope!r} is not supported: use local")
    if name in PREDEFINED and not default:
        raise Conflict(f"network with name {name} already exists (pre-defined)")
    if labels is not None and not isinstance(labels, dict):
        raise InvalidArgument("labels must be a dict")
    opts = {str(k): str(v) for k, v in (options or {}).items()}
    mtu = DEFAULT_MTU
    if OPT_MTU in opts:
        try:
            mtu = int(opts[OPT_MTU])
        except ValueError:
            mtu = 0
        if not 68 <= mtu <= 65535:
            raise InvalidArgument(f"invalid MTU {opts[OPT_MTU]!r}: use 68-65535")
    masq = opts.get(OPT_MASQ, "true").lower() not in ("false", "0", "no")
    br = opts.get(OPT_NAME)
    if br is not None and (not _IFNAME.match(br) or not br.startswith("pyc")):
        raise InvalidArgument(f"invalid bridge name {br!r}: pyc and at most 12 more of "
                              "[a-zA-Z0-9_.-] (everything pycontainer makes is named pyc...)")
    if ipam_config.get("Driver") not in (None, "", "default"):
        raise InvalidArgument(f"IPAM driver {ipam_config['Driver']!r} is not supported")
    pools = ipam_config.get("Config") or []
    if len(pools) > 1:
        raise InvalidArgument("only one IPv4 pool per network is supported")
    return opts, mtu, masq, br, ipam.normalize_pool(pools[0]) if pools else None


class Networks:
    """The network records of one store (:class:`.store.NetworkStore`)."""

    def __init__(self, store):
        self.store = store

    def get(self, key):
        """A network record by name, id or id prefix (``bridge``: the default,
        recorded on first use)."""
        if key == DEFAULT_NAME:
            return self.default()
        return self.store.find(key)

    def default(self):
        """The default network's record, made on first use (store only: its
        bridge is made when a container first needs it)."""
        for rec in self.store.records():
            if rec["Name"] == DEFAULT_NAME:
                return rec
        try:
            return self.create(DEFAULT_NAME, default=True)
        except Conflict:                # another process made it first
            return self.store.find(DEFAULT_NAME)

    def create(self, name, driver=None, options=None, ipam_config=None, internal=False,
               labels=None, enable_ipv6=False, attachable=None, scope=None, ingress=None,
               default=False):
        """Record a bridge network and set it up in the kernel; returns the record."""
        ipam_config = dict(ipam_config or {})
        opts, mtu, masq, br, pool = _check(name, driver, options, ipam_config, labels,
                                           enable_ipv6, scope, ingress, default)
        routes = bridge.routes()
        with self.store.lock():
            recs = self.store.records()
            if any(r["Name"] == name for r in recs):
                raise Conflict(f"network with name {name} already exists")
            taken = [s for s in map(_subnet, recs) if s is not None]
            if pool:
                sub = ipaddress.IPv4Network(pool["Subnet"])
                for t in taken:
                    if sub.overlaps(t):
                        raise Conflict(f"subnet {sub} overlaps the subnet {t} of another network")
                for r in routes:
                    if sub.overlaps(r):
                        raise Conflict(f"subnet {sub} overlaps the host route to {r}")
            else:
                pool = ipam.normalize_pool({"Subnet": str(ipam.pick_subnet(taken + routes))})
            nid = os.urandom(32).hex()
            used = {r.get("Bridge") for r in recs}
            if br is None:
                br = DEFAULT_BRIDGE if default and DEFAULT_BRIDGE not in used and \
                    not bridge.link_exists(DEFAULT_BRIDGE) else f"pyc-br-{nid[:8]}"
            elif br in used:
                raise Conflict(f"bridge {br} is used by another network")
            if default:
                opts = {OPT_DEFAULT: "true", "com.docker.network.bridge.enable_icc": "true",
                        OPT_MASQ: "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                        OPT_NAME: br, OPT_MTU: str(mtu)}
            rec = {"Name": name, "Id": nid, "Created": _now(), "Scope": "local",
                   "Driver": "bridge", "EnableIPv6": False,
                   "IPAM": {"Driver": "default", "Options": ipam_config.get("Options") or None,
                            "Config": [pool]},
                   "Internal": bool(internal), "Attachable": bool(attachable), "Ingress": False,
                   "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Options": opts,
                   "Labels": dict(labels or {}), "Bridge": br, "MTU": mtu,
                   "Masquerade": masq and not internal}
            self.store.add(rec)
        if not default:
            try:
                bridge.ensure(self.store, rec)
            except BaseException:
                self.store.delete(nid)
                raise
        return rec

    def removable(self, key):
        """The record of a network that may be removed (not a pre-defined one)."""
        rec = self.get(key) if key != DEFAULT_NAME else self.store.find(key)
        if is_default(rec):
            raise Conflict(f"{rec['Name']} is a pre-defined network and cannot be removed")
        return rec

    def remove(self, rec):
        """Remove a network no container holds a lease on: record, bridge, chains."""
        with self.store.lock():
            with self.store.leases(rec["Id"]) as leases:
                if leases.used():
                    names = ", ".join(sorted(ep.get("Name", c[:12]) for c, ep in
                                             self.store.read_leases(rec["Id"]).items()))
                    raise Conflict(f"error while removing network: network {rec['Name']} id "
                                   f"{rec['Id']} has active endpoints ({names})")
                try:
                    os.unlink(self.store.path(rec["Id"], "config.json"))
                except FileNotFoundError:
                    pass
            bridge.remove(rec)
            self.store.delete(rec["Id"])
        return rec
