"""IPAM leases: one address of a network for one container endpoint.

A lease is a file under the network (:class:`.store.Leases`), created with
``O_EXCL`` while the network's flock is held, so no two processes ever get
one address. It holds the endpoint: address, MAC, veth name, the names the
hosts files give it.
"""
import contextlib
import os

from .store import NetworkNotFound


def lease(store, rec, cid, name="", hostname="", aliases=None, static=None, ifname="eth0",
          index=0, mac=None, links=None):
    """Lease an address on network ``rec`` for container ``cid``: the next
    free one after the last handed out, or ``static``. Returns the endpoint
    record (address, MAC, veth name...; ``links``: [target, alias], names
only this container's hosts file gives the target). Safe across processes.

    Raises AddressesExhausted, AddressInUse, InvalidArgument (static
    address outside the subnet), NetworkNotFound (removed meanwhile).
    """
    import ipaddress        # here: the release hook only drops leases
    from . import ipam
    pool = ipam.Pool(rec["IPAM"]["Config"][0])
    label = f"network {rec['Name']} ({rec['Id'][:12]})"
    with store.leases(rec["Id"]) as leases:
        used = {int(ipaddress.IPv4Address(n)) for n in leases.used()}
        last = leases.last
        while True:
            ip = pool.allocate(used, last, static, label=label)
            ep = {"Container": cid, "Name": name, "Hostname": hostname,
                  "Aliases": list(aliases or []), "Links": [list(v) for v in links or ()],
                  "IPAddress": ip,
                  "MacAddress": mac or ipam.mac_for(ip), "EndpointID": os.urandom(32).hex(),
                  "Veth": "pyc" + os.urandom(4).hex(), "IfName": ifname, "Index": index,
                  "NetworkID": rec["Id"], "Network": rec["Name"],
                  "Gateway": str(pool.gateway), "IPPrefixLen": pool.prefixlen,
                  "IPAMConfig": {"IPv4Address": static} if static else None}
            try:
                leases.claim(ip, ep)
                break
            except FileExistsError:      # a file the lock did not cover: the next one
                if static:
                    raise ipam.AddressInUse(f"address {ip} is already in use on {label}")
                used.add(int(ipaddress.IPv4Address(ip)))
        if not static:
            leases.last = int(ipaddress.IPv4Address(ip))
    return ep


def unlease(store, nid, cid, ip=None):
    """Drop ``cid``'s lease on network ``nid``; returns it (or None)."""
    with contextlib.suppress(NetworkNotFound):
        with store.leases(nid) as leases:
            return leases.drop(cid, ip)
    return None
