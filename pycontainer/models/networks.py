"""Networks, with docker-py's names: ``client.networks.create/get/list/prune``
and :class:`Network` objects (``connect``, ``disconnect``, ``remove``).

The work is done by pycontainer/network/ (docs/networks.md): a Linux bridge
per network, a veth pair per endpoint, leases under the store, published
ports by DNAT, name resolution through hosts files kept current.
"""
import contextlib

from .. import filters as _filters
from ..errors import Conflict, InvalidArgument, NotFound
from ..network import ipam
from ..network.manager import DEFAULT_NAME, Networking, _pseudo_id
from ..engine import config as _config
from ..engine import state as _state
from ..jsonfile import write_json_atomic
from .base import Model

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


class Network(Model):
    """A network: ``id``, ``short_id``, ``name``, ``attrs`` (docker's inspect
    fields, ``Containers`` listing the running endpoints).

    Example:
        >>> net = client.networks.create("app")
        >>> web = client.containers.run("busybox", ["httpd", "-f"], network="app",
        ...                             name="web", detach=True)
        >>> net.reload(); list(net.attrs["Containers"]) == [web.id]
        True
    """

    name = property(lambda self: self.attrs["Name"])

    @property
    def containers(self):
        """The running containers connected to it (as of the last reload)."""
        out = []
        for cid in (self.attrs.get("Containers") or {}):
            with contextlib.suppress(NotFound):
                out.append(self.client.containers.get(cid))
        return out

    def reload(self):
        """Refresh ``attrs`` from the store."""
        self.attrs = self.client.networks.get(self.id).attrs

    def connect(self, container, aliases=None, links=None, ipv4_address=None,
                ipv6_address=None, link_local_ips=None, driver_opt=None, mac_address=None):
        """Connect a container (object, id or name): at once when it runs, at
        its next start otherwise.

        Args:
            aliases: more names it answers to on this network.
            ipv4_address: a static address inside the network's subnet.

        Raises:
            InvalidArgument: ``ipv4_address`` outside the subnet, unsupported options.
            Conflict: already connected, the address is taken, or the container
                shares another namespace (network_mode host/none/container:).
        """
        if links or ipv6_address or link_local_ips or driver_opt or mac_address:
            raise InvalidArgument("connect(): links, IPv6, link-local addresses, driver "
                                  "options and MAC addresses are not supported")
        self.client.networks._connect(self, container, aliases, ipv4_address)
        self.reload()

    def disconnect(self, container, force=False):
        """Disconnect a container (at once when it runs)."""
        self.client.networks._disconnect(self, container, force)
        self.reload()

    def remove(self):
        """Remove the network; Conflict while a running container uses it."""
        self.client.networks._remove(self.id)


class NetworkCollection:
    """``client.networks``."""

    def __init__(self, client):
        self.client = client
        rt = client._runtime
        self._net = Networking(client.root, rt.run_root, rt)
        self._net.resolve_container = lambda key: client.containers._lc.resolve(key)

    def _attrs(self, rec):
        attrs = {k: v for k, v in rec.items() if k not in _INTERNAL}
        attrs["Containers"] = self._net.containers_of(rec["Id"])
        return attrs

    def _record(self, key):
        if isinstance(key, Network):
            key = key.id
        key = str(key)
        for p in PSEUDO.values():
            if key in (p["Name"], p["Id"]):
                return p
        return self._net.get(key)

    # -- docker-py API ----------------------------------------------------------
    def create(self, name, driver=None, options=None, ipam=None, check_duplicate=None,
               internal=False, labels=None, enable_ipv6=False, attachable=None, scope=None,
               ingress=None):
        """Create a bridge network (its bridge, addresses and firewall rules).

        Args:
            name: unique; ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``.
            driver: ``bridge`` (the only driver).
            options: ``com.docker.network.bridge.name`` (must start with ``pyc``),
                ``com.docker.network.driver.mtu``,
                ``com.docker.network.bridge.enable_ip_masquerade``; others are kept
                in ``attrs`` and ignored.
            ipam: a :class:`pycontainer.types.IPAMConfig` with at most one
                :class:`~pycontainer.types.IPAMPool`; default a free /16 (or /20)
                from docker's pools that overlaps no host route and no network.
            check_duplicate: accepted; names are always unique.
            internal: no traffic in or out of the network, only between its
                containers.
            labels: dict of labels.

        Raises:
            Conflict: the name is taken, the subnet overlaps another network or
                a host route.
            InvalidArgument: a bad name, pool, option or unsupported driver.

        Example:
            >>> from pycontainer.types import IPAMConfig, IPAMPool
            >>> client.networks.create("db", internal=True, ipam=IPAMConfig(
            ...     pool_configs=[IPAMPool(subnet="10.20.0.0/24")])).attrs["IPAM"]["Config"]
            [{'Subnet': '10.20.0.0/24', 'Gateway': '10.20.0.1'}]
        """
        if ipam is not None and not isinstance(ipam, dict):
            raise InvalidArgument("ipam must be an IPAMConfig (a dict)")
        rec = self._net.create(name, driver=driver, options=options, ipam_config=ipam,
                               internal=internal, labels=labels, enable_ipv6=enable_ipv6,
                               attachable=attachable, scope=scope, ingress=ingress)
        return Network(self.client, self._attrs(rec))

    def get(self, network_id, verbose=None, scope=None):
        """By name, id or unique id prefix; ``bridge`` is the default network.
        Raises NotFound."""
        rec = self._record(network_id)
        return Network(self.client, dict(rec) if _is_pseudo(rec) else self._attrs(rec))

    def list(self, names=None, ids=None, filters=None, greedy=False):
        """Every network (``bridge``, ``host``, ``none`` and user networks).

        Args:
            names: keep those with one of these names.
            ids: keep those with one of these ids.
            filters: ``name`` (substring), ``id`` (prefix), ``driver``, ``label``
                (``key`` or ``key=value``), ``type`` (``custom``/``builtin``),
                ``dangling`` (no running container), ``scope`` (``local``).
                Any other key raises InvalidArgument.
        """
        f = _filters.Filters(filters, NETWORK_FILTERS, "networks.list()")
        dangling = f.flag("dangling")
        bad = [t for t in f.values("type") if t not in ("custom", "builtin")]
        if bad:
            raise InvalidArgument(f"invalid filter 'type={bad[0]}': use custom or builtin")
        self._net.default()
        nets = [Network(self.client, self._attrs(r)) for r in self._net.store.records()]
        nets += [Network(self.client, dict(p)) for p in PSEUDO.values()]
        out = []
        for n in nets:
            if names is not None and n.name not in names:
                continue
            if ids is not None and n.id not in ids:
                continue
            if not _matches(n, f, dangling):
                continue
            out.append(n)
        out.sort(key=lambda n: n.name)
        return out

    def prune(self, filters=None):
        """Remove every user network no running container uses.

        ``filters``: ``until`` (created before: unix seconds, RFC 3339 or a
        duration such as ``"24h"``), ``label`` / ``label!`` (``key`` or
        ``key=value``). Any other key raises InvalidArgument.
        """
        f = _filters.Filters(filters, ("until", "label", "label!"), "networks.prune()")
        until = f.until()
        deleted = []
        for n in self.list():
            if _builtin(n) or not f.labels(n.attrs.get("Labels")):
                continue
            if until is not None and (_filters.timestamp(n.attrs.get("Created")) or 0) > until:
                continue
            with contextlib.suppress(Conflict, NotFound):
                self._net.remove(n.id)
                deleted.append(n.name)
        return {"NetworksDeleted": deleted}

    # -- behind Network ----------------------------------------------------------
    def _remove(self, nid):
        rec = self._record(nid)
        if _is_pseudo(rec):
            raise Conflict(f"{rec['Name']} is a pre-defined network and cannot be removed")
        self._net.remove(rec["Id"])

    def _container_id(self, container):
        key = getattr(container, "id", container)
        return self.client.containers._lc.resolve(key)

    def _connect(self, network, container, aliases, ipv4_address):
        rec = self._record(network.id)
        if _is_pseudo(rec):
            raise Conflict(f"container cannot be connected to the {rec['Name']} network")
        if aliases is not None and (isinstance(aliases, str) or
                                    not all(isinstance(a, str) for a in aliases)):
            raise InvalidArgument("aliases must be a list of names")
        static = None
        if ipv4_address:
            static = ipam.Pool(rec["IPAM"]["Config"][0]).check_static(ipv4_address)
        cid = self._container_id(container)
        rt = self.client._runtime
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
                     "NetworkID": rec["Id"]}
            if attrs["State"]["Running"]:
                cfg = _config.ContainerConfig.from_dict(cfgd)
                self._net.connect_running(cid, cfg, rec, epcfg)
            nets[rec["Name"]] = epcfg
            attrs.pop("State", None)
            attrs.pop("RestartCount", None)
            self._net.describe(attrs, cid)
            write_json_atomic(files.config, attrs)

    def _disconnect(self, network, container, force):
        rec = self._record(network.id)
        if _is_pseudo(rec):
            raise Conflict(f"container cannot be disconnected from the {rec['Name']} network")
        cid = self._container_id(container)
        rt = self.client._runtime
        with _state.locked(rt, cid) as files:
            attrs = _state.load(rt, cid)
            nets = attrs["Runtime"]["Config"].setdefault("networks", {})
            name = next((n for n, e in nets.items()
                         if n == rec["Name"] or e.get("NetworkID") == rec["Id"]), None)
            leased = cid in self._net.store.read_leases(rec["Id"])
            if name is None and not (force and leased):
                raise NotFound(f"container {cid[:12]} is not connected to network {rec['Name']}")
            if attrs["State"]["Running"] or leased:
                self._net.disconnect_running(cid, rec["Id"])
            if name is not None:
                del nets[name]
            attrs.pop("State", None)
            attrs.pop("RestartCount", None)
            self._net.describe(attrs, cid)
            write_json_atomic(files.config, attrs)


def _is_pseudo(rec):
    return any(rec is p for p in PSEUDO.values())


def _builtin(n):
    return n.name in ("host", "none") or n.name == DEFAULT_NAME or \
        (n.attrs.get("Options") or {}).get("com.docker.network.bridge.default_bridge") == "true"


NETWORK_FILTERS = ("name", "id", "driver", "label", "type", "dangling", "scope")


def _matches(n, f, dangling):
    builtin = _builtin(n)
    return (f.any("name", lambda w: w in n.name)
            and f.any("id", lambda w: n.id.startswith(w))
            and f.any("driver", lambda w: n.attrs.get("Driver") == w)
            and f.any("type", lambda w: w == ("builtin" if builtin else "custom"))
            and f.any("scope", lambda w: w == n.attrs.get("Scope", "local"))
            and (dangling is None or dangling == (not n.attrs.get("Containers") and not builtin))
            and f.labels(n.attrs.get("Labels")))
