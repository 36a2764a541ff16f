"""Published ports: docker-py's ``ports=`` and ``publish_all_ports``.

``ports`` maps a container port (``80``, ``"80"``, ``"80/tcp"``, ``"53/udp"``)
to a host port (``8080``), ``None`` (a free port chosen at start), a tuple
``(host_ip, host_port)`` / ``(host_ip,)``, or a list of those (one container
port on several host ports).

At start each binding is checked against the store's port registry (another
container's) and by binding the port on the host (another program's), then
recorded; traffic reaches the container by DNAT (:mod:`.firewall`), from
127.0.0.1 (``route_localnet`` on the bridge), the host's addresses and other
namespaces. :func:`publish`, :func:`forward` and :func:`unpublish` are a
container's whole story: claim, DNAT, release.
"""
import contextlib
import errno

from ..errors import Conflict, InvalidArgument
from . import firewall

PROTOS = ("tcp", "udp")


class PortInUse(Conflict):
    """A host port to publish is taken (by a container or a host program)."""


def _port(value, what):
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"invalid {what} {value!r}") from None
    if isinstance(value, bool) or not 1 <= n <= 65535:
        raise InvalidArgument(f"invalid {what} {value!r}: use 1-65535")
    return n


def parse_key(key):
    """``80`` / ``"80/tcp"`` -> ``(80, "tcp")``."""
    port, _, proto = str(key).partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOS:
        raise InvalidArgument(f"unsupported protocol {proto!r} in port {key!r}: use tcp or udp")
    if "-" in port:
        raise InvalidArgument(f"port ranges are not supported ({key!r})")
    return _port(port, "container port"), proto


def _host_ip(ip):
    if ip in (None, "", "0.0.0.0"):
        return ""
    import ipaddress        # here, as socket below: the release hook only unpublishes
    try:
        a = ipaddress.ip_address(str(ip))
    except ValueError:
        raise InvalidArgument(f"invalid host address {ip!r}") from None
    if a.version != 4:
        raise InvalidArgument(f"host address {ip!r}: only IPv4 is supported")
    return str(a)


def _bindings(value):
    """One value of the ``ports`` dict -> ``[(host_ip, host_port or None)]``."""
    if isinstance(value, list):
        out = []
        for v in value:
            out += _bindings(v)
        return out
    if value is None:
        return [("", None)]
    if isinstance(value, tuple):
        if not 1 <= len(value) <= 2:
            raise InvalidArgument(f"invalid port binding {value!r}: use (host_ip, host_port)")
        hp = value[1] if len(value) == 2 else None
        return [(_host_ip(value[0]), _host_port(hp))]
    if isinstance(value, str) and ":" in value:
        ip, _, hp = value.rpartition(":")
        return [(_host_ip(ip), _host_port(hp))]
    return [("", _host_port(value))]


def _host_port(value):
    """A host port; ``None``, ``""`` or ``0`` mean a free one chosen at start."""
    if value in (None, "") or (not isinstance(value, bool) and value in (0, "0")):
        return None
    return _port(value, "host port")


def parse(ports, publish_all=False, image_exposed=None):
    """Check ``ports`` and return ``(bindings, exposed)``.

    ``bindings``: ``[{"ContainerPort", "Proto", "HostIp", "HostPort"}]``
    (``HostIp`` "" = every address, ``HostPort`` None = chosen at start);
    ``exposed``: sorted ``"80/tcp"`` keys (the image's ExposedPorts and ports').
    """
    if ports is not None and not isinstance(ports, dict):
        raise InvalidArgument("ports must be a dict of container port: host port")
    exposed, bindings = set(), []
    for key in image_exposed or ():
        with_proto = parse_key(key)
        exposed.add(with_proto)
    for key, value in (ports or {}).items():
        cport, proto = parse_key(key)
        exposed.add((cport, proto))
        for ip, hp in _bindings(value):
            bindings.append({"ContainerPort": cport, "Proto": proto, "HostIp": ip, "HostPort": hp})
    if publish_all:
        bound = {(b["ContainerPort"], b["Proto"]) for b in bindings}
        for cport, proto in sorted(exposed - bound):
            bindings.append({"ContainerPort": cport, "Proto": proto, "HostIp": "",
                             "HostPort": None})
    seen = set()
    for b in bindings:
        if b["HostPort"] is None:
            continue
        k = (b["Proto"], b["HostIp"], b["HostPort"])
        if k in seen:
            raise InvalidArgument(f"host port {b['HostIp'] or '0.0.0.0'}:{b['HostPort']}/"
                                  f"{b['Proto']} is bound twice")
        seen.add(k)
    return bindings, [f"{p}/{proto}" for p, proto in sorted(exposed)]


def registry_key(b):
    return f"{b['Proto']}/{b['HostIp'] or '0.0.0.0'}/{b['HostPort']}"


def _clash(a_ip, b_ip):
    return a_ip == b_ip or not a_ip or not b_ip


def _probe(proto, ip, port):
    """Bind the host port to see that no program holds it; returns the port
    (the kernel's choice when ``port`` is 0)."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # TIME_WAIT is no owner
        try:
            s.bind((ip or "0.0.0.0", port))
        except OSError as e:
            where = f"{ip or '0.0.0.0'}:{port}/{proto}"
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(f"cannot publish {where}: the host port is already in use "
                                "by a program on the host") from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise InvalidArgument(f"cannot publish {where}: {ip} is not an address of "
                                      "this host") from None
            raise
        return s.getsockname()[1]
    finally:
        s.close()


def reserve(table, cid, bindings):
    """Claim host ports for ``cid`` in the registry ``table`` (locked by the
    caller). Returns the bindings with every HostPort chosen; raises PortInUse
    with nothing claimed when one is taken."""
    claimed = []

    def taken_by(b):
        for key, owner in table.items():
            proto, ip, port = key.split("/")
            if proto == b["Proto"] and int(port) == b["HostPort"] and \
                    _clash(b["HostIp"], "" if ip == "0.0.0.0" else ip):
                return owner.get("Container")
        for c in claimed:
            if c["Proto"] == b["Proto"] and c["HostPort"] == b["HostPort"] and \
                    _clash(b["HostIp"], c["HostIp"]):
                return cid
        return None

    for b in bindings:
        b = dict(b)
        if b["HostPort"] is None:
            for _ in range(200):
                b["HostPort"] = _probe(b["Proto"], b["HostIp"], 0)
                if taken_by(b) is None:
                    break
            else:
                raise PortInUse(f"no free host port for {b['ContainerPort']}/{b['Proto']}")
        else:
            owner = taken_by(b)
            if owner is not None:
                raise PortInUse(f"Bind for {b['HostIp'] or '0.0.0.0'}:{b['HostPort']} failed: "
                                f"port is already allocated (container {owner[:12]})")
            _probe(b["Proto"], b["HostIp"], b["HostPort"])
        claimed.append(b)
    for b in claimed:
        table[registry_key(b)] = {"Container": cid, "ContainerPort": b["ContainerPort"]}
    return claimed


def release(table, cid):
    """Drop ``cid``'s claims from ``table``; returns the freed bindings."""
    freed = []
    for key in [k for k, v in table.items() if v.get("Container") == cid]:
        proto, ip, port = key.split("/")
        freed.append({"Proto": proto, "HostIp": "" if ip == "0.0.0.0" else ip,
                      "HostPort": int(port), "ContainerPort": table[key]["ContainerPort"]})
        del table[key]
    return freed


def publish(store, cid, bindings):
    """Claim host ports for ``cid`` in the store's registry (:func:`reserve`)."""
    with store.ports() as table:
        return reserve(table, cid, bindings)


def forward(bindings, endpoints):
    """DNAT the claimed ``bindings`` to the first of the container's endpoints."""
    first = next(iter(endpoints), None)
    if first is None:
        raise InvalidArgument("published ports need a network to reach the container on")
    firewall.add_ports(bindings, first["IPAddress"])


def unpublish(store, cid):
    """Drop ``cid``'s claims and their DNAT elements (best effort on the rules)."""
    with store.ports() as table:
        freed = release(table, cid)
    if freed:
        with contextlib.suppress(OSError):
            firewall.remove_ports(freed)


def docker_ports(exposed, bindings):
    """NetworkSettings.Ports: ``{"80/tcp": [{"HostIp", "HostPort"}] or None}``."""
    out = {k: None for k in exposed}
    for b in bindings:
        key = f"{b['ContainerPort']}/{b['Proto']}"
        out.setdefault(key, None)
        if b.get("HostPort"):
            out[key] = (out[key] or []) + [{"HostIp": b["HostIp"] or "0.0.0.0",
                                            "HostPort": str(b["HostPort"])}]
    return out


def port_bindings(bindings):
    """HostConfig.PortBindings as docker reports it (HostPort "" = chosen at start)."""
    out = {}
    for b in bindings:
        out.setdefault(f"{b['ContainerPort']}/{b['Proto']}", []).append(
            {"HostIp": b["HostIp"], "HostPort": str(b["HostPort"] or "")})
    return out
