"""The bridge driver's kernel objects, over netlink: a network's bridge, a
container's network namespace and the veth pairs plugged into it.

Everything is made in the network namespace of the calling thread and named
``pyc...``. A bridge is made once (under the store's lock), then found by
name; a veth's container end is created directly inside the container's
namespace (``IFLA_NET_NS_FD``), so it never appears on the host.

A bridge's alias names its owner (``pyc <network id> <subnet> <networks
dir>``): a store deleted with its networks leaves bridges and chains that
no record stands for, and :func:`sweep` (run when a Client starts, from any
store) removes them.
"""
import contextlib
import ipaddress
import os
import socket

from . import firewall, netlink

DEFAULT_MTU = 1500


def _sysctl(path, value):
    """Write a sysctl of the calling thread's network namespace if it differs."""
    try:
        with open(path) as f:
            if f.read().strip() == value:
                return
        with open(path, "w") as f:
            f.write(value)
    except FileNotFoundError:
        pass


def link_exists(name):
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def routes():
    """The namespace's routes (any table) but the default ones: subnets to avoid."""
    with netlink.local() as nl:
        return [r for r in nl.routes() if r.prefixlen > 0]


def ensure(store, rec):
    """The network's bridge (address, up), sysctls and firewall chains in
    the calling thread's namespace; made once, found by name later.
    Returns the bridge's index."""
    br = rec["Bridge"]
    with contextlib.suppress(OSError):
        return socket.if_nametoindex(br)
    with store.lock():
        with contextlib.suppress(OSError):
            return socket.if_nametoindex(br)
        pool = rec["IPAM"]["Config"][0]
        sub = ipaddress.IPv4Network(pool["Subnet"])
        with netlink.local() as nl:
            nl.add_bridge(br, mtu=rec.get("MTU") or DEFAULT_MTU)
            try:
                index = socket.if_nametoindex(br)
                owner = owner_alias(store, rec)
                if owner:
                    nl.set_link(index, alias=owner)
                nl.add_addr(index, f"{pool['Gateway']}/{sub.prefixlen}")
                # published ports answer on 127.0.0.1: DNAT from loopback onto the bridge
                _sysctl(f"/proc/sys/net/ipv4/conf/{br}/route_localnet", "1")
                if not rec.get("Internal"):
                    _sysctl("/proc/sys/net/ipv4/ip_forward", "1")
                firewall.add_network(rec["Id"][:12], br, str(sub), rec.get("Internal"),
                                     rec.get("Masquerade", True))
            except BaseException:
                nl.del_link(br)
                raise
        return index


def remove(rec):
    """Delete the network's firewall chains and its bridge."""
    firewall.remove_network(rec["Id"][:12], rec["Bridge"], rec["IPAM"]["Config"][0]["Subnet"])
    with netlink.local() as nl:
        nl.del_link(rec["Bridge"])


def owner_alias(store, rec):
    """The alias that names a bridge's network record; None when too long to keep."""
    text = f"pyc {rec['Id']} {rec['IPAM']['Config'][0]['Subnet']} {store.dir}"
    return text if len(text.encode()) <= netlink.IFALIAS_MAX else None


def sweep():
    """Remove the bridges (and their chains) whose owner record is gone: its
    store was deleted with networks still in it. Returns their names.

    A record is written before its bridge is made and deleted after it is
    removed, so a bridge seen without its record is one nobody will use."""
    gone = []
    with netlink.local() as nl:
        for name, alias in nl.aliases("bridge").items():
            parts = alias.split(" ", 3)
            if not name.startswith("pyc") or len(parts) != 4 or parts[0] != "pyc":
                continue
            _, nid, subnet, netdir = parts
            if os.path.exists(os.path.join(netdir, nid, "config.json")):
                continue
            with contextlib.suppress(OSError):
                firewall.remove_network(nid[:12], name, subnet)
            nl.del_link(name)
            gone.append(name)
    return gone


def new_namespace(path=None, slot=None):
    """A new network namespace with ``lo`` up: pinned on the file ``path``, or
    held by an fd dup2()ed onto ``slot``. Returns ``(Netlink socket in it, fd)``."""
    if slot is None:
        nsnl = netlink.new_netns(path)
        try:
            return nsnl, os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except BaseException:
            nsnl.close()
            raise
    nsnl, fd = netlink.new_netns_fd()
    try:
        nsnl.set_link(1, up=True)            # lo
        os.dup2(fd, slot, inheritable=False)
    except BaseException:
        os.close(fd)
        nsnl.close()
        raise
    return nsnl, fd


def plug(host, nsnl, nsfd, ep, br_index, mtu, route, extra=()):
    """The veth pair of endpoint ``ep``: its host end on the bridge, its other
    end ``ep["IfName"]`` in the namespace (``nsnl``, ``nsfd``) with the
    endpoint's MAC and address (and the CIDRs of ``extra``: link-local
    addresses), and the default route when ``route``."""
    ifname = ep["IfName"]
    host.add_veth(ep["Veth"], ifname, nsfd, master=br_index, mtu=mtu or DEFAULT_MTU,
                  peer_mac=ep["MacAddress"])
    idx = nsnl.ifindex(ifname)
    nsnl.set_link(idx, up=True)
    nsnl.add_addr(idx, f"{ep['IPAddress']}/{ep['IPPrefixLen']}")
    for cidr in extra:
        nsnl.add_addr(idx, cidr)
    if route:
        nsnl.add_default_route(ep["Gateway"])


def unplug(veth):
    """Delete a veth pair by its host end (both ends go)."""
    with netlink.local() as nl:
        nl.del_link(veth)
