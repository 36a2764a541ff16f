"""docker-py's ``docker.types`` for storage: :class:`Mount` and :class:`DriverConfig`.

Both are dicts with docker's API keys, so code written for docker-py works
unchanged; ``containers.run(mounts=[...])`` also takes plain dicts of the
same shape.

Example:
    >>> from pycontainer.types import Mount
    >>> client.containers.run("busybox", ["ls", "/data"], remove=True,
    ...                       mounts=[Mount("/data", "myvol"),
    ...                               Mount("/tmp", None, type="tmpfs", tmpfs_size="64m")])
    b''
"""
from .errors import InvalidArgument
from .units import parse_bytes  # also imported from here

MOUNT_TYPES = ("bind", "volume", "tmpfs")


class DriverConfig(dict):
    """A volume driver and its options (only ``local`` without options is supported).

    Example:
        >>> DriverConfig("local")
        {'Name': 'local'}
    """

    def __init__(self, name, options=None):
        self["Name"] = name
        if options:
            self["Options"] = options


class Mount(dict):
    """One mount for ``containers.run(mounts=[...])``, as ``docker.types.Mount``.

    Args:
        target: absolute path in the container.
        source: host path (``bind``), volume name (``volume``; None makes an
            anonymous volume) or None (``tmpfs``).
        type: ``volume`` (default), ``bind`` or ``tmpfs``.
        read_only: mount read-only.
        consistency: accepted and ignored (docker for Mac).
        propagation: bind propagation; only ``rprivate``/``private`` work.
        no_copy: accepted; pycontainer never copies image content into volumes.
        labels: labels of a volume created for this mount.
        driver_config: a :class:`DriverConfig` for that volume.
        tmpfs_size: tmpfs size limit, bytes or ``"64m"``, ``"1.5g"``
            (see :func:`pycontainer.units.parse_bytes`).
        tmpfs_mode: tmpfs root mode as an int (``0o1777``).

    Raises:
        InvalidArgument: unknown type or options that do not fit the type.

    Example:
        >>> Mount("/srv", "/home/me/site", type="bind", read_only=True)["ReadOnly"]
        True
    """

    def __init__(self, target, source, type="volume", read_only=False, consistency=None,
                 propagation=None, no_copy=False, labels=None, driver_config=None,
                 tmpfs_size=None, tmpfs_mode=None):
        if type not in MOUNT_TYPES:
            raise InvalidArgument(f'unsupported mount type "{type}": use one of {MOUNT_TYPES}')
        self["Target"] = target
        self["Source"] = source
        self["Type"] = type
        self["ReadOnly"] = bool(read_only)
        if consistency:
            self["Consistency"] = consistency
        if type == "bind":
            if propagation is not None:
                self["BindOptions"] = {"Propagation": propagation}
            if any([labels, driver_config, no_copy, tmpfs_size, tmpfs_mode]):
                raise InvalidArgument("incompatible options for a bind mount")
        elif type == "volume":
            opts = {}
            if no_copy:
                opts["NoCopy"] = True
            if labels:
                opts["Labels"] = labels
            if driver_config:
                opts["DriverConfig"] = driver_config
            if opts:
                self["VolumeOptions"] = opts
            if any([propagation, tmpfs_size, tmpfs_mode]):
                raise InvalidArgument("incompatible options for a volume mount")
        else:
            opts = {}
            if tmpfs_mode:
                if not isinstance(tmpfs_mode, int):
                    raise InvalidArgument("tmpfs_mode must be an integer")
                opts["Mode"] = tmpfs_mode
            if tmpfs_size:
                opts["SizeBytes"] = parse_bytes(tmpfs_size, "tmpfs_size")
            if opts:
                self["TmpfsOptions"] = opts
            if any([propagation, labels, driver_config, no_copy]):
                raise InvalidArgument("incompatible options for a tmpfs mount")

    target = property(lambda self: self["Target"])
    source = property(lambda self: self["Source"])
    type = property(lambda self: self["Type"])
    read_only = property(lambda self: self["ReadOnly"])

    @classmethod
    def parse_mount_string(cls, string):
        """``"src:dst[:mode]"`` or ``"dst"`` (anonymous volume) as a Mount.

        A ``src`` starting with ``/`` is a bind, anything else a volume name.

        Example:
            >>> Mount.parse_mount_string("/etc/hosts:/h:ro").type
            'bind'
        """
        parts = string.split(":")
        if len(parts) > 3 or not all(parts):
            raise InvalidArgument(f'invalid mount string "{string}"')
        if len(parts) == 1:
            return cls(target=parts[0], source=None)
        mode = parts[2] if len(parts) == 3 else "rw"
        if mode not in ("ro", "rw"):
            raise InvalidArgument(
                f'invalid mode "{mode}" in mount string "{string}": use ro or rw')
        kind = "bind" if parts[0].startswith("/") else "volume"
        return cls(target=parts[1], source=parts[0], type=kind, read_only=mode == "ro")


# -- networks (client.networks.create(ipam=...)) ------------------------------------


class IPAMPool(dict):
    """One address pool of a network, as ``docker.types.IPAMPool``.

    Args:
        subnet: ``"172.28.0.0/16"`` (IPv4 only).
        iprange: the sub-range container addresses are handed out from.
        gateway: the bridge's address (default: the subnet's first host address).
        aux_addresses: ``{name: address}`` never handed out.

    Example:
        >>> IPAMPool(subnet="10.10.0.0/24", gateway="10.10.0.254")["Gateway"]
        '10.10.0.254'
    """

    def __init__(self, subnet=None, iprange=None, gateway=None, aux_addresses=None):
        self.update({"Subnet": subnet, "IPRange": iprange, "Gateway": gateway,
                     "AuxiliaryAddresses": aux_addresses})


class IPAMConfig(dict):
    """A network's IPAM configuration, as ``docker.types.IPAMConfig``.

    Args:
        driver: ``default`` (the only one).
        pool_configs: a list with at most one :class:`IPAMPool`.
        options: driver options (recorded, unused).

    Example:
        >>> client.networks.create("app", ipam=IPAMConfig(
        ...     pool_configs=[IPAMPool(subnet="10.10.0.0/24")]))
        <Network: ...>
    """

    def __init__(self, driver="default", pool_configs=None, options=None):
        self.update({"Driver": driver, "Config": list(pool_configs or [])})
        if options:
            if not isinstance(options, dict):
                raise InvalidArgument("IPAMConfig options must be a dict")
            self["Options"] = options


class EndpointConfig(dict):
    """A container's endpoint on one network, for ``networking_config=``
    (docker-py's, without the API ``version`` argument).

    Example:
        >>> client.containers.run("busybox", "ip addr", network="backend",
        ...     networking_config={"backend": EndpointConfig(
        ...         aliases=["db"], ipv4_address="10.9.0.5", links={"cache": "redis"})})
    """

    def __init__(self, version=None, aliases=None, links=None, ipv4_address=None,
                 ipv6_address=None, link_local_ips=None, driver_opt=None, mac_address=None):
        if ipv6_address or link_local_ips or driver_opt:
            from .errors import InvalidArgument
            raise InvalidArgument("EndpointConfig: ipv6_address, link_local_ips and "
                                  "driver_opt are not supported")
        if aliases:
            self["Aliases"] = list(aliases)
        if links:
            items = links.items() if isinstance(links, dict) else (
                (k.split(":", 1) + [None])[:2] for k in links)
            self["Links"] = [f"{k}:{v}" if v else k for k, v in sorted(items)]
        if ipv4_address:
            self["IPAMConfig"] = {"IPv4Address": ipv4_address}
        if mac_address:
            self["MacAddress"] = mac_address
