"""A minimal rtnetlink client: just the link, address and route requests the
bridge driver needs, packed by hand over a stdlib socket (no dependency, a few
µs per request; pyroute2 costs ~100 ms to import and ~5x per container).
The syscalls around it (setns, unshare, mount) are :mod:`.netns`'s.

Every request is sent with ``NLM_F_ACK`` and answered by an ``NLMSG_ERROR``
message whose error is 0 on success; a negative error becomes a ``HostError``
(an ``OSError``).

A socket belongs to the network namespace its creator was in when it was
created, so :func:`netns_socket` opens one inside a namespace file (the
calling thread switches in and back; other threads never notice).
"""
import contextlib
import errno as _errno
import ipaddress
import os
import socket
import struct

from .._core import CLONE_NEWNET
from ..errors import os_error
from .netns import bind_mount, setns, umount, unshare

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP, NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x300, 0x100, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_F_NESTED = 0x8000

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 18, 20, 28
IFALIAS_MAX = 255       # bytes the kernel keeps of an alias (IFALIASZ - 1)
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1

_NLMSG = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NLA = struct.Struct("=HH")
_ERR = struct.Struct("=i")


def _pad(n):
    return (n + 3) & ~3


def attr(kind, payload):
    if isinstance(payload, str):
        payload = payload.encode() + b"\0"
    size = _NLA.size + len(payload)
    return _NLA.pack(size, kind) + payload + b"\0" * (_pad(size) - size)


def nested(kind, *attrs):
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def u32(v):
    return struct.pack("=I", v)


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def parse_attrs(data, off=0):
    """``{kind: payload}`` of the attributes in ``data[off:]`` (last one wins)."""
    out = {}
    while off + _NLA.size <= len(data):
        size, kind = _NLA.unpack_from(data, off)
        if size < _NLA.size:
            break
        out[kind & ~NLA_F_NESTED] = data[off + _NLA.size:off + size]
        off += _pad(size)
    return out


def _cstr(b):
    return b.split(b"\0", 1)[0].decode()


class Netlink:
    """One NETLINK_ROUTE socket (in the namespace where it was made)."""

    def __init__(self, sock=None):
        self.sock = sock or socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                          NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- transport ---------------------------------------------------------
    def request(self, kind, body, flags=0, what="netlink request"):
        """Send one request and wait for its ack (or raise its error)."""
        self.seq += 1
        seq = self.seq
        msg = _NLMSG.pack(_NLMSG.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                          seq, 0) + body
        self.sock.send(msg)
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + _NLMSG.size <= len(data):
                size, mtype, _, mseq, _ = _NLMSG.unpack_from(data, off)
                if mtype == NLMSG_ERROR and mseq == seq:
                    err = -_ERR.unpack_from(data, off + _NLMSG.size)[0]
                    if err:
                        raise os_error(err, f"{what}: {os.strerror(err)}")
                    return
                off += _pad(size) if size else len(data)

    def dump(self, kind, body):
        """Yield ``(type, payload)`` of every message of a dump request."""
        self.seq += 1
        seq = self.seq
        self.sock.send(_NLMSG.pack(_NLMSG.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP,
                                   seq, 0) + body)
        while True:
            data = self.sock.recv(1 << 16)
            off = 0
            while off + _NLMSG.size <= len(data):
                size, mtype, _, mseq, _ = _NLMSG.unpack_from(data, off)
                if mseq == seq:
                    if mtype == NLMSG_DONE:
                        return
                    if mtype == NLMSG_ERROR:
                        err = -_ERR.unpack_from(data, off + _NLMSG.size)[0]
                        if err:
                            raise os_error(err, f"netlink dump: {os.strerror(err)}")
                        return
                    yield mtype, data[off + _NLMSG.size:off + size]
                off += _pad(size) if size else len(data)

    # -- links -------------------------------------------------------------
    def links(self):
        """``{name: (index, flags, master index or 0, kind or "")}``."""
        out = {}
        for _, payload in self.dump(RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0)):
            _, _, index, flags, _ = _IFINFO.unpack_from(payload)
            a = parse_attrs(payload, _IFINFO.size)
            if IFLA_IFNAME not in a:
                continue
            kind = ""
            if IFLA_LINKINFO in a:
                kind = _cstr(parse_attrs(a[IFLA_LINKINFO]).get(IFLA_INFO_KIND, b""))
            master = struct.unpack("=I", a[IFLA_MASTER])[0] if IFLA_MASTER in a else 0
            out[_cstr(a[IFLA_IFNAME])] = (index, flags, master, kind)
        return out

    def ifindex(self, name):
        """The index of link ``name`` (one GETLINK request, header parsed only)."""
        self.seq += 1
        seq = self.seq
        body = _IFINFO.pack(0, 0, 0, 0, 0) + attr(IFLA_IFNAME, name)
        self.sock.send(_NLMSG.pack(_NLMSG.size + len(body), RTM_GETLINK, NLM_F_REQUEST, seq, 0)
                       + body)
        while True:
            data = self.sock.recv(65536)
            if len(data) < _NLMSG.size + _IFINFO.size:
                continue
            _, mtype, _, mseq, _ = _NLMSG.unpack_from(data)
            if mseq != seq:
                continue
            if mtype == NLMSG_ERROR:
                err = -_ERR.unpack_from(data, _NLMSG.size)[0]
                err = err or _errno.ENODEV
                raise os_error(err, f"link {name}: {os.strerror(err)}")
            return _IFINFO.unpack_from(data, _NLMSG.size)[2]

    def index(self, name):
        """The link's index, or None when there is no such link."""
        try:
            return socket.if_nametoindex(name) if self._local else self._index_nl(name)
        except OSError:
            return None

    _local = False

    def _index_nl(self, name):
        link = self.links().get(name)
        if link is None:
            raise os_error(_errno.ENODEV, name)
        return link[0]

    def add_bridge(self, name, mtu=None, up=True):
        body = _IFINFO.pack(0, 0, 0, IFF_UP if up else 0, IFF_UP) + attr(IFLA_IFNAME, name)
        if mtu:
            body += attr(IFLA_MTU, u32(mtu))
        body += nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, "bridge"))
        self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL, f"create bridge {name}")

    def add_veth(self, name, peer, peer_netns_fd, master=0, mtu=None, peer_mac=None):
        """A veth pair: ``name`` here (attached to ``master``, up) and ``peer``
        made directly in the namespace ``peer_netns_fd`` (with its MAC, still
        down: the kernel refuses to open a peer before the pair exists)."""
        peer_body = _IFINFO.pack(0, 0, 0, 0, 0) + attr(IFLA_IFNAME, peer) + \
            attr(IFLA_NET_NS_FD, u32(peer_netns_fd))
        if peer_mac:
            peer_body += attr(IFLA_ADDRESS, mac_bytes(peer_mac))
        if mtu:
            peer_body += attr(IFLA_MTU, u32(mtu))
        body = _IFINFO.pack(0, 0, 0, IFF_UP, IFF_UP) + attr(IFLA_IFNAME, name)
        if mtu:
            body += attr(IFLA_MTU, u32(mtu))
        if master:
            body += attr(IFLA_MASTER, u32(master))
        body += nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, "veth"),
                       nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_body)))
        self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL, f"create veth {name}")

    def aliases(self, kind):
        """``{name: alias}`` of the links of ``kind`` ("bridge") that have one."""
        out = {}
        for _, payload in self.dump(RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0)):
            a = parse_attrs(payload, _IFINFO.size)
            if IFLA_IFNAME not in a or IFLA_IFALIAS not in a or IFLA_LINKINFO not in a:
                continue
            if _cstr(parse_attrs(a[IFLA_LINKINFO]).get(IFLA_INFO_KIND, b"")) == kind:
                out[_cstr(a[IFLA_IFNAME])] = _cstr(a[IFLA_IFALIAS])
        return out

    def set_link(self, index, up=None, mtu=None, master=None, alias=None):
        flags = change = 0
        if up is not None:
            change, flags = IFF_UP, IFF_UP if up else 0
        body = _IFINFO.pack(0, 0, index, flags, change)
        if mtu:
            body += attr(IFLA_MTU, u32(mtu))
        if master is not None:
            body += attr(IFLA_MASTER, u32(master))
        if alias is not None:       # only a change sets it: a new link's is ignored
            body += attr(IFLA_IFALIAS, alias.encode())
        self.request(RTM_NEWLINK, body, 0, f"configure link {index}")

    def del_link(self, name=None, index=0):
        """Delete a link by name or index; False when it does not exist."""
        body = _IFINFO.pack(0, 0, index, 0, 0)
        if name:
            body += attr(IFLA_IFNAME, name)
        try:
            self.request(RTM_DELLINK, body, 0, f"delete link {name or index}")
        except OSError as e:
            if e.errno in (_errno.ENODEV, _errno.ENOENT, _errno.EINVAL):
                return False
            raise
        return True

    # -- addresses and routes -------------------------------------------------
    def add_addr(self, index, cidr):
        iface = ipaddress.IPv4Interface(cidr)
        body = _IFADDR.pack(socket.AF_INET, iface.network.prefixlen, 0, 0, index) + \
            attr(IFA_LOCAL, iface.ip.packed) + attr(IFA_ADDRESS, iface.ip.packed)
        if iface.network.prefixlen < 31:
            body += attr(IFA_BROADCAST, iface.network.broadcast_address.packed)
        self.request(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_REPLACE, f"add address {cidr}")

    def addrs(self):
        """``[(index, "a.b.c.d/len")]`` of the IPv4 addresses."""
        out = []
        for _, payload in self.dump(RTM_GETADDR, _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)):
            fam, plen, _, _, index = _IFADDR.unpack_from(payload)
            a = parse_attrs(payload, _IFADDR.size)
            ip = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
            if fam == socket.AF_INET and ip:
                out.append((index, f"{ipaddress.IPv4Address(ip)}/{plen}"))
        return out

    def add_default_route(self, gateway, index=0):
        body = _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                           RT_SCOPE_UNIVERSE, RTN_UNICAST, 0) + \
            attr(RTA_GATEWAY, ipaddress.IPv4Address(gateway).packed)
        if index:
            body += attr(RTA_OIF, u32(index))
        self.request(RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_EXCL,
                     f"add default route via {gateway}")

    def routes(self):
        """IPv4 routes of every table as ``ipaddress.IPv4Network`` (the default
        route included as 0.0.0.0/0)."""
        out = []
        for _, payload in self.dump(RTM_GETROUTE, _RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0,
                                                               0, 0)):
            fam, dst_len = payload[0], payload[1]
            if fam != socket.AF_INET:
                continue
            dst = parse_attrs(payload, _RTMSG.size).get(RTA_DST, b"\0\0\0\0")
            out.append(ipaddress.IPv4Network((dst, dst_len), strict=False))
        return out


def local():
    """A socket in the caller's own namespace (names resolve by ioctl)."""
    nl = Netlink()
    nl._local = True
    return nl


@contextlib.contextmanager
def entered(path):
    """Run the block with this thread in the network namespace file ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd)
        try:
            yield
        finally:
            setns(home)
    finally:
        os.close(home)
        os.close(fd)


def netns_socket(path):
    """A :class:`Netlink` socket inside the network namespace file ``path``."""
    with entered(path):
        return Netlink()


def new_netns_fd():
    """Make a network namespace held only by an fd (and the socket): returns
    ``(Netlink socket in it, fd)``. The calling thread unshares, opens both
    and switches back at once."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        unshare(CLONE_NEWNET)
        try:
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                nl = Netlink()
            except BaseException:
                os.close(fd)
                raise
        finally:
            setns(home)
    finally:
        os.close(home)
    return nl, fd


def new_netns(path):
    """Make a network namespace and pin it by bind-mounting it on ``path``
    (created as an empty file); lo is brought up. Returns a Netlink socket in it.

    The calling thread unshares, binds, opens the socket and switches back.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444)
    os.close(fd)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        unshare(CLONE_NEWNET)
        try:
            bind_mount("/proc/thread-self/ns/net", path)
            nl = Netlink()
        finally:
            setns(home)
    finally:
        os.close(home)
    try:
        nl.set_link(1, up=True)          # lo
    except BaseException:
        nl.close()
        umount(path)
        raise
    return nl
