"""Network verbs: docker's networks (``bridge``, ``host``, ``none`` and user
bridges) over pycontainer/network/, and connecting containers to them,
under each container's lock. They return docker's inspect dicts.
"""
import contextlib

from ..errors import Conflict, InvalidArgument, NotFound
from ..jsonfile import write_json_atomic
from ..network import ipam
from ..network.records import DEFAULT_NAME, pseudo_id as _pseudo_id
from . import config as _config
from . import filters as _filters
from . import state as _state

_INTERNAL = ("Bridge", "MTU", "Masquerade")


def _pseudo(name, driver):
    """``host`` and ``none``: listed like docker's, no kernel object behind."""
    return {"Name": name, "Id": _pseudo_id(name),
            "Created": "0001-01-01T00:00:00Z", "Scope": "local", "Driver": driver,
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": []},
            "Internal": False, "Attachable": False, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
            "Options": {}, "Labels": {}}


PSEUDO = {"host": _pseudo("host", "host"), "none": _pseudo("none", "null")}


class Networks:
    """``engine.networks``."""

    def __init__(self, engine):
        self.engine = engine
        self.net = engine.net

    def _attrs(self, rec):
        attrs = {k: v for k, v in rec.items() if k not in _INTERNAL}
        attrs["Containers"] = self.net.containers_of(rec["Id"])
        return attrs

    def _record(self, key):
        key = str(key)
        for p in PSEUDO.values():
            if key in (p["Name"], p["Id"]):
                return p
        return self.net.get(key)

    def create(self, name, driver=None, options=None, ipam=None, internal=False, labels=None,
               enable_ipv6=False, attachable=None, scope=None, ingress=None):
        if ipam is not None and not isinstance(ipam, dict):
            raise InvalidArgument("ipam must be an IPAMConfig (a dict)")
        rec = self.net.create(name, driver=driver, options=options, ipam_config=ipam,
                              internal=internal, labels=labels, enable_ipv6=enable_ipv6,
                              attachable=attachable, scope=scope, ingress=ingress)
        self.engine.events.emit("network", "create", rec["Id"], {"name": rec["Name"],
                                                                 "type": rec.get("Driver")})
        return self._attrs(rec)

    def get(self, key):
        rec = self._record(key)
        return dict(rec) if _is_pseudo(rec) else self._attrs(rec)

    def list(self, names=None, ids=None, filters=None):
        f = _filters.Filters(filters, NETWORK_FILTERS, "networks.list()")
        dangling = f.flag("dangling")
        bad = [t for t in f.values("type") if t not in ("custom", "builtin")]
        if bad:
            raise InvalidArgument(f"invalid filter 'type={bad[0]}': use custom or builtin")
        self.net.default()
        nets = [self._attrs(r) for r in self.net.store.records()]
        nets += [dict(p) for p in PSEUDO.values()]
        out = [n for n in nets
               if (names is None or n["Name"] in names) and (ids is None or n["Id"] in ids)
               and _matches(n, f, dangling)]
        out.sort(key=lambda n: n["Name"])
        return out

    def prune(self, filters=None):
        f = _filters.Filters(filters, ("until", "label", "label!"), "networks.prune()")
        until = f.until()
        deleted = []
        for n in self.list():
            if _builtin(n) or not f.labels(n.get("Labels")):
                continue
            if until is not None and (_filters.timestamp(n.get("Created")) or 0) > until:
                continue
            with contextlib.suppress(Conflict, NotFound):
                self.net.remove(n["Id"])
                deleted.append(n["Name"])
                self.engine.events.emit("network", "destroy", n["Id"], {"name": n["Name"]})
        return {"NetworksDeleted": deleted}

    def remove(self, key):
        rec = self._record(key)
        if _is_pseudo(rec):
            raise Conflict(f"{rec['Name']} is a pre-defined network and cannot be removed")
        self.net.remove(rec["Id"])
        self.engine.events.emit("network", "destroy", rec["Id"], {"name": rec["Name"]})

    def connect(self, key, container, aliases=None, ipv4_address=None, link_local_ips=None,
                driver_opt=None, mac_address=None, ipv6_address=None, links=None):
        """Connect a container (id or name): at once when it runs, else at its next start.
        ``links``: ``["name:alias"]``, names it alone resolves on this network
        (the containers need not exist yet)."""
        rec = self._record(key)
        if _is_pseudo(rec):
            raise Conflict(f"container cannot be connected to the {rec['Name']} network")
        if aliases is not None and (isinstance(aliases, str) or
                                    not all(isinstance(a, str) for a in aliases)):
            raise InvalidArgument("aliases must be a list of names")
        if ipv6_address:
            raise InvalidArgument("IPv6 addresses are not supported")
        given = _config.endpoint_config(rec["Name"], {
            "MacAddress": mac_address, "DriverOpts": driver_opt, "Links": links,
            "IPAMConfig": {"LinkLocalIPs": link_local_ips} if link_local_ips else None})
        static = None
        if ipv4_address:
            static = ipam.Pool(rec["IPAM"]["Config"][0]).check_static(ipv4_address)
        cid = self.engine.containers.resolve(container)
        rt = self.engine.runtime
        with _state.locked(rt, cid) as files:
            attrs = _state.load(rt, cid)
            cfgd = attrs["Runtime"]["Config"]
            mode = cfgd.get("network_mode", "none")
            if mode in ("none", "host") or mode.startswith("container:"):
                raise Conflict(f"container {cid[:12]} uses network_mode {mode!r}: it shares "
                               "another network namespace and cannot be connected to a network")
            nets = cfgd.setdefault("networks", {})
            if rec["Name"] in nets or any(e.get("NetworkID") == rec["Id"] for e in nets.values()):
                raise Conflict(f"endpoint with name {attrs['Name'].lstrip('/')} already exists "
                               f"in network {rec['Name']}")
            epcfg = {"Aliases": list(aliases or []), "IPv4Address": static,
                     "NetworkID": rec["Id"], **{k: v for k, v in given.items() if k in (
                         "MacAddress", "LinkLocalIPs", "DriverOpts", "Links") and v}}
            if given["Links"]:      # shown as given, as docker does
                epcfg["LinkNames"] = [f"{t}:{a}" for t, a in given["Links"]]
            if attrs["State"]["Running"]:
                cfg = _config.ContainerConfig.from_dict(cfgd)
                self.net.connect_running(cid, cfg, rec, epcfg)
            nets[rec["Name"]] = epcfg
            attrs.pop("State", None)
            attrs.pop("RestartCount", None)
            self.net.describe(attrs, cid)
            write_json_atomic(files.config, attrs)
        self.engine.events.emit("network", "connect", rec["Id"], {"name": rec["Name"],
                                                                  "container": cid})

    def disconnect(self, key, container, force=False):
        rec = self._record(key)
        if _is_pseudo(rec):
            raise Conflict(f"container cannot be disconnected from the {rec['Name']} network")
        cid = self.engine.containers.resolve(container)
        rt = self.engine.runtime
        with _state.locked(rt, cid) as files:
            attrs = _state.load(rt, cid)
            nets = attrs["Runtime"]["Config"].setdefault("networks", {})
            name = next((n for n, e in nets.items()
                         if n == rec["Name"] or e.get("NetworkID") == rec["Id"]), None)
            leased = cid in self.net.store.read_leases(rec["Id"])
            if name is None and not (force and leased):
                raise NotFound(f"container {cid[:12]} is not connected to network {rec['Name']}")
            if attrs["State"]["Running"] or leased:
                self.net.disconnect_running(cid, rec["Id"])
            if name is not None:
                del nets[name]
            attrs.pop("State", None)
            attrs.pop("RestartCount", None)
            self.net.describe(attrs, cid)
            write_json_atomic(files.config, attrs)
        self.engine.events.emit("network", "disconnect", rec["Id"], {"name": rec["Name"],
                                                                     "container": cid})


def _is_pseudo(rec):
    return any(rec is p for p in PSEUDO.values())


def _builtin(n):
    return n["Name"] in ("host", "none") or n["Name"] == DEFAULT_NAME or \
        (n.get("Options") or {}).get("com.docker.network.bridge.default_bridge") == "true"


NETWORK_FILTERS = ("name", "id", "driver", "label", "type", "dangling", "scope")


def _matches(n, f, dangling):
    builtin = _builtin(n)
    return (f.any("name", lambda w: w in n["Name"])
            and f.any("id", lambda w: n["Id"].startswith(w))
            and f.any("driver", lambda w: n.get("Driver") == w)
            and f.any("type", lambda w: w == ("builtin" if builtin else "custom"))
            and f.any("scope", lambda w: w == n.get("Scope", "local"))
            and (dangling is None or dangling == (not n.get("Containers") and not builtin))
            and f.labels(n.get("Labels")))
