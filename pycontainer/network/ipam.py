"""IPv4 address management: pools, subnet choice and address allocation.

Pure functions on ``ipaddress`` objects; the leases they hand out are stored
and locked by :mod:`pycontainer.network.store`.

A pool is docker's: ``Subnet``, ``Gateway`` (default: the first host address),
``IPRange`` (the sub-range addresses are handed out from, default the whole
subnet) and ``AuxiliaryAddresses`` (``{name: ip}``, never handed out).
"""
import ipaddress

from ..errors import Conflict, InvalidArgument

# docker's default address pools: the default bridge gets the first free one.
DEFAULT_POOLS = [ipaddress.IPv4Network(f"172.{n}.0.0/16") for n in range(17, 32)] + \
    [ipaddress.IPv4Network(f"192.168.{n}.0/20") for n in range(0, 256, 16)]


class AddressesExhausted(Conflict):
    """No free address is left in the network's pool."""


class AddressInUse(Conflict):
    """A requested static address is already leased."""


def _net(value, what):
    """A network as written; host bits set are refused, as docker does."""
    try:
        if "/" not in str(value):
            raise ValueError(value)
        net = ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid {what} {value!r}: invalid CIDR block notation, "
                              "use a.b.c.d/len") from None
    if net.version != 4:
        raise InvalidArgument(f"{what} {value!r}: only IPv4 is supported")
    if ipaddress.ip_interface(str(value)).ip != net.network_address:
        raise InvalidArgument(f"invalid {what} {value}: it should be {net}")
    return net


def _addr(value, what):
    try:
        ip = ipaddress.ip_address(str(value).split("/")[0])
    except ValueError:
        raise InvalidArgument(f"invalid {what} {value!r}") from None
    if ip.version != 4:
        raise InvalidArgument(f"{what} {value!r}: only IPv4 is supported")
    return ip


def normalize_pool(pool):
    """Check one docker-style pool dict and return it completed.

    Raises InvalidArgument (with docker's wording) for a malformed pool, a
    subnet or range with host bits set, a gateway, range or auxiliary address
    outside the subnet, or a subnet too small for a gateway and one container.
    """
    pool = dict(pool or {})
    unknown = set(pool) - {"Subnet", "Gateway", "IPRange", "AuxiliaryAddresses"}
    if unknown:
        raise InvalidArgument(f"unknown IPAM pool keys {sorted(unknown)}")
    if not pool.get("Subnet"):
        raise InvalidArgument("an IPAM pool needs a Subnet")
    subnet = _net(pool["Subnet"], "subnet")
    if subnet.prefixlen > 30:
        raise InvalidArgument(f"subnet {subnet} is too small: at least a /30 is needed "
                              "(network, gateway, one container, broadcast)")
    hosts_lo = int(subnet.network_address) + 1
    hosts_hi = int(subnet.broadcast_address) - 1
    if pool.get("Gateway"):
        gw = _addr(pool["Gateway"], "gateway")
        if gw not in subnet:
            raise InvalidArgument(f"invalid gateway {gw}: parent subnet {subnet} doesn't "
                                  "contain this address")
        if not hosts_lo <= int(gw) <= hosts_hi:
            raise InvalidArgument(f"invalid gateway {gw}: it is the network or broadcast "
                                  f"address of subnet {subnet}")
    else:
        gw = ipaddress.IPv4Address(hosts_lo)
    out = {"Subnet": str(subnet), "Gateway": str(gw)}
    if pool.get("IPRange"):
        rng = _net(pool["IPRange"], "ip-range")
        if rng.prefixlen < subnet.prefixlen:
            raise InvalidArgument(f"invalid ip-range {rng}: CIDR block is bigger than its "
                                  f"parent subnet {subnet}")
        if not rng.subnet_of(subnet):
            raise InvalidArgument(f"invalid ip-range {rng}: parent subnet {subnet} doesn't "
                                  "contain ip-range")
        out["IPRange"] = str(rng)
    aux = pool.get("AuxiliaryAddresses") or {}
    if not isinstance(aux, dict):
        raise InvalidArgument("AuxiliaryAddresses must be a dict of name: address")
    clean = {}
    for name, ip in aux.items():
        a = _addr(ip, f"auxiliary address {name!r}")
        if a not in subnet:
            raise InvalidArgument(f"invalid auxiliary address {name}: parent subnet {subnet} "
                                  "doesn't contain this address")
        clean[str(name)] = str(a)
    if clean:
        out["AuxiliaryAddresses"] = clean
    return out


def overlaps(a, b):
    return a.overlaps(b)


def pick_subnet(taken, candidates=DEFAULT_POOLS):
    """The first candidate that overlaps none of ``taken`` (networks)."""
    for cand in candidates:
        if not any(cand.overlaps(t) for t in taken):
            return cand
    raise AddressesExhausted("all predefined address pools have been fully subnetted "
                             "(every candidate overlaps a route or another network)")


class Pool:
    """Allocation over one normalized pool."""

    def __init__(self, cfg):
        self.subnet = ipaddress.IPv4Network(cfg["Subnet"])
        self.gateway = ipaddress.IPv4Address(cfg["Gateway"])
        rng = ipaddress.IPv4Network(cfg["IPRange"]) if cfg.get("IPRange") else self.subnet
        lo = max(int(rng.network_address), int(self.subnet.network_address) + 1)
        hi = min(int(rng.broadcast_address), int(self.subnet.broadcast_address) - 1)
        self.lo, self.hi = lo, hi
        self.reserved = {int(self.gateway)} | {
            int(ipaddress.IPv4Address(a)) for a in (cfg.get("AuxiliaryAddresses") or {}).values()}

    @property
    def prefixlen(self):
        return self.subnet.prefixlen

    def check_static(self, ip):
        """Refuse a static address the pool could never hand out."""
        a = _addr(ip, "ipv4_address")
        if a not in self.subnet:
            raise InvalidArgument(f"ipv4_address {a} is not inside the network's subnet "
                                  f"{self.subnet}")
        n = int(a)
        if n in (int(self.subnet.network_address), int(self.subnet.broadcast_address)):
            raise InvalidArgument(f"ipv4_address {a} is the subnet's network or broadcast "
                                  "address")
        if n in self.reserved:
            raise InvalidArgument(f"ipv4_address {a} is reserved (gateway or auxiliary "
                                  "address)")
        return str(a)

    def allocate(self, used, last=None, want=None, label="this network"):
        """An address not in ``used`` (ints), after ``last`` (docker hands
        addresses out in order and wraps), or exactly ``want``."""
        if want:
            ip = self.check_static(want)
            if int(ipaddress.IPv4Address(ip)) in used:
                raise AddressInUse(f"address {ip} is already in use on {label}")
            return ip
        size = self.hi - self.lo + 1
        if size <= 0:
            raise AddressesExhausted(f"no available IPv4 addresses on {label}: "
                                     "its range is empty")
        start = last + 1 if last is not None and self.lo <= last < self.hi else self.lo
        n = start
        for _ in range(size):
            if n not in used and n not in self.reserved:
                return str(ipaddress.IPv4Address(n))
            n = n + 1 if n < self.hi else self.lo
        raise AddressesExhausted(f"no available IPv4 addresses on {label} "
                                 f"({self.subnet}): all {len(used)} in use")


def mac_for(ip):
    """docker's MAC for an address: 02:42 and the four address bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)
