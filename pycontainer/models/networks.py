"""Networks, with docker-py's names: ``client.networks.create/get/list/prune``
and :class:`Network` objects (``connect``, ``disconnect``, ``remove``).

The work is done by pycontainer/network/ (docs/networks.md): a Linux bridge
per network, a veth pair per endpoint, leases under the store, published
ports by DNAT, name resolution through hosts files kept current.
"""
from ..errors import InvalidArgument, NotFound
from .base import Collection, Model


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
            try:
                out.append(self.client.containers.get(cid))
            except NotFound:
                pass
        return out

    def reload(self):
        """Refresh ``attrs`` from the store."""
        self.attrs = self.client._backend.networks.get(self.id)

    def connect(self, container, aliases=None, links=None, ipv4_address=None,
                ipv6_address=None, link_local_ips=None, driver_opt=None, mac_address=None):
        """Connect a container (object, id or name): at once when it runs, at
        its next start otherwise.

        Args:
            aliases: more names it answers to on this network.
            links: ``{"name": "alias"}`` or ``[("name", "alias")]``: names only
                this container resolves on this network, to containers that
                need not exist yet.
            ipv4_address: a static address inside the network's subnet.
            link_local_ips: more IPv4 addresses for its interface.
            driver_opt: options kept and shown with the endpoint (as dockerd).
            mac_address: the interface's MAC address.

        Raises:
            InvalidArgument: ``ipv4_address`` outside the subnet, unsupported options.
            Conflict: already connected, the address is taken, or the container
                shares another namespace (network_mode host/none/container:).
        """
        if ipv6_address:
            raise InvalidArgument("connect(): IPv6 addresses are not supported")
        self.client._backend.networks.connect(self.id, _id(container), aliases, ipv4_address,
                                              link_local_ips, driver_opt, mac_address,
                                              links=links)
        self.reload()

    def disconnect(self, container, force=False):
        """Disconnect a container (at once when it runs)."""
        self.client._backend.networks.disconnect(self.id, _id(container), force)
        self.reload()

    def remove(self):
        """Remove the network; Conflict while a running container uses it."""
        self.client._backend.networks.remove(self.id)


class NetworkCollection(Collection):
    """``client.networks``."""

    model = Network

    @property
    def _engine(self):
        return self.client._backend.networks

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
        return Network(self.client, self._engine.create(
            name, driver=driver, options=options, ipam=ipam, internal=internal, labels=labels,
            enable_ipv6=enable_ipv6, attachable=attachable, scope=scope, ingress=ingress))

    def get(self, network_id, verbose=None, scope=None):
        """By name, id or unique id prefix; ``bridge`` is the default network.
        Raises NotFound."""
        return Network(self.client, self._engine.get(_id(network_id)))

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
        return [Network(self.client, n) for n in self._engine.list(names, ids, filters)]

    def prune(self, filters=None):
        """Remove every user network no running container uses.

        ``filters``: ``until`` (created before: unix seconds, RFC 3339 or a
        duration such as ``"24h"``), ``label`` / ``label!`` (``key`` or
        ``key=value``). Any other key raises InvalidArgument.
        """
        return self._engine.prune(filters)


def _id(obj):
    """A model or a key: the id or name to pass on."""
    return getattr(obj, "id", obj)
