"""docker-py's ``docker.types``: :class:`Mount`, :class:`DriverConfig`, the IPAM and
endpoint types, :class:`Healthcheck`, :class:`LogConfig`, :class:`Ulimit`,
:class:`DeviceRequest`, :class:`RestartPolicy`.

All are dicts with docker's API keys, so code written for docker-py works
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
        if ipv6_address or link_local_ips:
            from .errors import InvalidArgument
            raise InvalidArgument("EndpointConfig: ipv6_address and link_local_ips are not "
                                  "supported")
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
        if driver_opt:
            self["DriverOpts"] = dict(driver_opt)


# -- container settings (run(healthcheck=, log_config=, ulimits=, device_requests=)) --------


class _Keyed(dict):
    """A dict with docker's keys whose lower-case attributes read and write them."""

    _keys = {}

    def __getattr__(self, name):
        if name in self._keys:
            return self.get(self._keys[name])
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name not in self._keys:
            raise AttributeError(name)
        self[self._keys[name]] = value


class Healthcheck(_Keyed):
    """A container's healthcheck, as ``docker.types.Healthcheck``: ``test``
    (``["CMD", ...]``, ``["CMD-SHELL", "cmd"]``, a string for the shell, or
    ``["NONE"]``), ``interval``, ``timeout``, ``start_period`` in
    nanoseconds, ``retries``.

    Example:
        >>> Healthcheck(test="test -f /ready", interval=500_000_000)["Test"]
        ['CMD-SHELL', 'test -f /ready']
    """

    _keys = {"test": "Test", "interval": "Interval", "timeout": "Timeout",
             "retries": "Retries", "start_period": "StartPeriod"}

    def __init__(self, **kwargs):
        test = kwargs.get("test", kwargs.get("Test"))
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        for name, key in self._keys.items():
            value = test if name == "test" else kwargs.get(name, kwargs.get(key))
            if value is not None:
                self[key] = value


class LogConfig(_Keyed):
    """A log driver and its options, as ``docker.types.LogConfig``
    (``json-file``, ``local`` and ``none`` work here).

    Example:
        >>> LogConfig(type=LogConfig.types.JSON, config={"max-size": "1m"})
        {'Type': 'json-file', 'Config': {'max-size': '1m'}}
    """

    class types:
        JSON = "json-file"
        LOCAL = "local"
        NONE = "none"
        SYSLOG = "syslog"
        JOURNALD = "journald"
        GELF = "gelf"
        FLUENTD = "fluentd"

    _keys = {"type": "Type", "config": "Config"}

    def __init__(self, **kwargs):
        self["Type"] = kwargs.get("type", kwargs.get("Type"))
        config = kwargs.get("config", kwargs.get("Config")) or {}
        if not isinstance(config, dict):
            raise InvalidArgument("LogConfig config must be a dict")
        self["Config"] = config

    def set_config_value(self, key, value):
        self["Config"][key] = value

    def unset_config(self, key):
        self["Config"].pop(key, None)


class Ulimit(_Keyed):
    """One resource limit, as ``docker.types.Ulimit``.

    Example:
        >>> Ulimit(name="nofile", soft=1024, hard=2048)
        {'Name': 'nofile', 'Soft': 1024, 'Hard': 2048}
    """

    _keys = {"name": "Name", "soft": "Soft", "hard": "Hard"}

    def __init__(self, **kwargs):
        name = kwargs.get("name", kwargs.get("Name"))
        if not isinstance(name, str):
            raise InvalidArgument("Ulimit.name must be a string")
        self["Name"] = name
        for key in ("soft", "hard"):
            value = kwargs.get(key, kwargs.get(key.capitalize()))
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise InvalidArgument(f"Ulimit.{key} must be an integer")
                self[key.capitalize()] = value


class DeviceRequest(_Keyed):
    """A request for devices of a driver (GPUs), as ``docker.types.DeviceRequest``.
    It builds; ``run(device_requests=...)`` refuses it: there is no device
    driver here."""

    _keys = {"driver": "Driver", "count": "Count", "device_ids": "DeviceIDs",
             "capabilities": "Capabilities", "options": "Options"}

    def __init__(self, **kwargs):
        self.update({"Driver": kwargs.get("driver", ""), "Count": kwargs.get("count", 0),
                     "DeviceIDs": kwargs.get("device_ids") or [],
                     "Capabilities": kwargs.get("capabilities") or [],
                     "Options": kwargs.get("options") or {}})


class RestartPolicy(_Keyed):
    """docker's (swarm) ``RestartPolicy`` object, for code that imports it.
    Containers take docker's dict: ``restart_policy={"Name": "on-failure",
    "MaximumRetryCount": 3}``.
    """

    class condition_types:
        NONE = "none"
        ON_FAILURE = "on-failure"
        ANY = "any"

    _keys = {"condition": "Condition", "delay": "Delay", "max_attempts": "MaxAttempts",
             "window": "Window"}

    def __init__(self, condition="none", delay=0, max_attempts=0, window=0):
        if condition not in ("none", "on-failure", "any"):
            raise InvalidArgument(f"RestartPolicy condition must be none, on-failure or any, "
                                  f"not {condition!r}")
        self.update({"Condition": condition, "Delay": delay, "MaxAttempts": max_attempts,
                     "Window": window})
