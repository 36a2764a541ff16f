"""Container networking for the engine: one :class:`Networking` per store.

A thin facade over the package's parts, one job each:

* :mod:`.records`   network records (create, get, the default, remove)
* :mod:`.leases`    IPAM leases (one address of a network per endpoint)
* :mod:`.bridge`    bridges, namespaces and veths over netlink
* :mod:`.endpoints` a container's networking at start, connect, disconnect
* :mod:`.ports`     published ports (claims and DNAT, :mod:`.firewall`)
* :mod:`.hosts`     /etc/hosts and resolv.conf of the containers
* :mod:`.recovery`  release at stop or exit, the monitor's hooks, recovery
* :mod:`.views`     docker's NetworkSettings and a network's Containers

Every kernel object lives in the network namespace of the calling thread
and is named ``pyc...``; every lease, port claim and endpoint is recorded
before the kernel object it stands for is made, so that :meth:`release`
(idempotent) and :meth:`recover` can undo any prefix of a start.
"""
import contextlib

from ..errors import InvalidArgument
from . import ipam, views
from . import leases as _leases
from .endpoints import NOTHING, Endpoints, Started
from .records import DEFAULT_NAME, Networks
from .recovery import Recovery
from .store import NetworkStore, RunFiles

__all__ = ["Networking", "Started", "NOTHING", "DEFAULT_NAME"]


class Networking:
    """Networks of one store, and the endpoints of its containers.

    ``state_of(cid)``: docker's State dict of a container (the engine's
    reading), or None when there is no such container.
    """

    def __init__(self, root, run_root, state_of=None):
        self.root = root
        self.run_root = run_root
        self.store = NetworkStore(root)
        self.files = RunFiles(run_root)
        self.networks = Networks(self.store)
        self.recovery = Recovery(self.store, self.files, state_of)
        self.endpoints = Endpoints(self.networks, self.recovery)
        self.resolve_container = None     # name or id -> id (set by the Client)

    # -- paths -------------------------------------------------------------------
    def rundir(self, cid):
        return self.files.rundir(cid)

    def netns_path(self, cid):
        return self.files.netns(cid)

    def state_path(self, cid):
        return self.files.state(cid)

    # -- network records ------------------------------------------------------------
    def get(self, key):
        return self.networks.get(key)

    def default(self):
        return self.networks.default()

    def create(self, name, **kwargs):
        return self.networks.create(name, **kwargs)

    def remove(self, key):
        """Remove a network that no running container uses."""
        rec = self.networks.removable(key)
        self.recovery.drop_stale(rec["Id"])
        return self.networks.remove(rec)

    def lease(self, rec, cid, **kwargs):
        return _leases.lease(self.store, rec, cid, **kwargs)

    def unlease(self, nid, cid, ip=None):
        return _leases.unlease(self.store, nid, cid, ip)

    def containers_of(self, nid):
        return views.containers_of(self.store, nid)

    # -- containers -------------------------------------------------------------------
    def resolve(self, cfg):
        """At create: check the networks a config names exist (the default one is
        recorded on first use) and resolve ``container:<name>`` to an id."""
        mode = cfg.network_mode
        if mode in ("none", "host"):
            return
        if mode.startswith("container:"):
            if self.resolve_container is None:
                raise InvalidArgument("network_mode container: needs a client")
            cfg.network_mode = "container:" + self.resolve_container(mode[10:])
            return
        for name, ep in cfg.networks.items():
            rec = self.get(name)
            ep["NetworkID"] = rec["Id"]
            if ep.get("IPv4Address"):
                ipam.Pool(rec["IPAM"]["Config"][0]).check_static(ep["IPv4Address"])

    def start(self, cid, cfg, attached=False):
        return self.endpoints.start(cid, cfg, attached)

    def connect_running(self, cid, cfg, rec, epcfg):
        return self.endpoints.connect_running(cid, cfg, rec, epcfg)

    def disconnect_running(self, cid, nid):
        self.endpoints.disconnect_running(cid, nid)

    def release(self, cid, thorough=False):
        self.recovery.release(cid, thorough)

    def recover(self, exists=lambda cid: False):
        from . import bridge
        with contextlib.suppress(OSError):
            bridge.sweep()          # what deleted stores left, whichever store we are
        return self.recovery.recover(exists)

    def hook(self, cid):
        return self.recovery.hook(cid)

    def describe(self, attrs, cid):
        return views.describe(self.files, attrs, cid)

    def record(self, config_path, cid, attrs=None):
        views.record(self.files, config_path, cid, attrs)
