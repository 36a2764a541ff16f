"""IPAM, leases, port parsing, hosts files and netlink packing: no namespaces,
no kernel objects (leases live in a temp store; port probes are stubbed)."""
import ipaddress
import json
import multiprocessing
import os

import pytest

from pycontainer.errors import Conflict, InvalidArgument
from pycontainer.network import hosts, ipam, netlink, ports
from pycontainer.network.manager import Networking
from pycontainer.network.store import NetworkNotFound
from pycontainer.engine.config import network_config
from pycontainer.types import IPAMConfig, IPAMPool


# --- pools ------------------------------------------------------------------------------

def test_normalize_pool_defaults_and_checks():
    assert ipam.normalize_pool(IPAMPool(subnet="10.1.0.0/24")) == {
        "Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1"}
    p = ipam.normalize_pool(IPAMPool(subnet="10.1.0.0/24", iprange="10.1.0.128/25",
                                     gateway="10.1.0.254", aux_addresses={"r": "10.1.0.3"}))
    assert p == {"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.254", "IPRange": "10.1.0.128/25",
                 "AuxiliaryAddresses": {"r": "10.1.0.3"}}
    for bad, msg in [({"Subnet": "10.1.0.0/31"}, "too small"),
                     ({"Subnet": "fd00::/64"}, "IPv4"),
                     ({"Subnet": "nonsense"}, "invalid subnet"),
                     ({"Subnet": "10.1.0.0/24", "Gateway": "10.2.0.1"}, "gateway"),
                     ({"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.255"}, "gateway"),
                     ({"Subnet": "10.1.0.0/24", "IPRange": "10.1.1.0/25"}, "ip-range"),
                     ({"Subnet": "10.1.0.0/24", "AuxiliaryAddresses": {"x": "10.9.0.1"}},
                      "auxiliary"),
                     ({}, "needs a Subnet"), ({"Subnet": "10.1.0.0/24", "Foo": 1}, "unknown")]:
        with pytest.raises(InvalidArgument, match=msg):
            ipam.normalize_pool(bad)


@pytest.mark.parametrize("pool, msg", [
    ({"Subnet": "10.1.2.3/24"}, "invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24"),
    ({"Subnet": "10.1.2.0"}, "invalid subnet '10.1.2.0': invalid CIDR block notation"),
    ({"Subnet": "10.1.2.0/24", "IPRange": "10.1.2.130/25"},
     "invalid ip-range 10.1.2.130/25: it should be 10.1.2.128/25"),
    ({"Subnet": "10.1.2.0/24", "IPRange": "10.1.0.0/16"},
     "invalid ip-range 10.1.0.0/16: CIDR block is bigger than its parent subnet 10.1.2.0/24"),
    ({"Subnet": "10.1.2.0/24", "IPRange": "10.1.3.0/25"},
     "invalid ip-range 10.1.3.0/25: parent subnet 10.1.2.0/24 doesn't contain ip-range"),
    ({"Subnet": "10.1.2.0/24", "Gateway": "10.1.3.1"},
     "invalid gateway 10.1.3.1: parent subnet 10.1.2.0/24 doesn't contain this address"),
    ({"Subnet": "10.1.2.0/24", "AuxiliaryAddresses": {"r": "10.1.3.1"}},
     "invalid auxiliary address r: parent subnet 10.1.2.0/24 doesn't contain this address"),
])
def test_pool_refused_as_docker_words_it(pool, msg):
    # docker refuses host bits in a subnet or range instead of masking them away
    with pytest.raises(InvalidArgument) as ei:
        ipam.normalize_pool(pool)
    assert str(ei.value) == msg or str(ei.value).startswith(msg)


def test_allocation_is_sequential_wraps_and_skips_reserved():
    pool = ipam.Pool(ipam.normalize_pool({"Subnet": "10.0.0.0/29", "AuxiliaryAddresses":
                                          {"a": "10.0.0.4"}}))
    n = lambda s: int(ipaddress.IPv4Address(s))   # noqa: E731
    assert pool.allocate(set()) == "10.0.0.2"              # .1 is the gateway
    assert pool.allocate({n("10.0.0.2")}, n("10.0.0.2")) == "10.0.0.3"
    assert pool.allocate(set(), n("10.0.0.3")) == "10.0.0.5"      # .4 auxiliary
    assert pool.allocate(set(), n("10.0.0.6")) == "10.0.0.2"      # wraps, no .7 broadcast
    with pytest.raises(ipam.AddressesExhausted, match="no available IPv4 addresses"):
        pool.allocate({n(f"10.0.0.{i}") for i in (2, 3, 5, 6)})
    assert pool.allocate(set(), want="10.0.0.6") == "10.0.0.6"
    with pytest.raises(ipam.AddressInUse):
        pool.allocate({n("10.0.0.6")}, want="10.0.0.6")
    with pytest.raises(InvalidArgument, match="not inside"):
        pool.allocate(set(), want="10.0.1.6")
    with pytest.raises(InvalidArgument, match="reserved"):
        pool.check_static("10.0.0.4")
    with pytest.raises(InvalidArgument, match="broadcast"):
        pool.check_static("10.0.0.7")


def test_slash_30_has_room_for_one():
    pool = ipam.Pool(ipam.normalize_pool({"Subnet": "10.0.0.0/30"}))
    assert pool.allocate(set()) == "10.0.0.2"
    with pytest.raises(ipam.AddressesExhausted):
        pool.allocate({int(ipaddress.IPv4Address("10.0.0.2"))})


def test_iprange_limits_the_addresses():
    pool = ipam.Pool(ipam.normalize_pool({"Subnet": "10.0.0.0/24", "IPRange": "10.0.0.16/30"}))
    got, used = [], set()
    for _ in range(4):
        ip = pool.allocate(used)
        used.add(int(ipaddress.IPv4Address(ip)))
        got.append(ip)
    assert got == ["10.0.0.16", "10.0.0.17", "10.0.0.18", "10.0.0.19"]
    with pytest.raises(ipam.AddressesExhausted):
        pool.allocate(used)


def test_pick_subnet_avoids_routes_and_networks():
    taken = [ipaddress.IPv4Network("172.17.5.0/24"), ipaddress.IPv4Network("172.16.0.0/12")]
    assert str(ipam.pick_subnet(taken)) == "192.168.0.0/20"
    assert str(ipam.pick_subnet([ipaddress.IPv4Network("172.17.0.0/16")])) == "172.18.0.0/16"
    with pytest.raises(ipam.AddressesExhausted):
        ipam.pick_subnet([ipaddress.IPv4Network("0.0.0.0/1"), ipaddress.IPv4Network("128.0.0.0/1")])


def test_mac_is_dockers():
    assert ipam.mac_for("172.17.0.2") == "02:42:ac:11:00:02"


def test_types_are_docker_py_dicts():
    cfg = IPAMConfig(pool_configs=[IPAMPool(subnet="10.0.0.0/24")])
    assert cfg == {"Driver": "default", "Config": [{"Subnet": "10.0.0.0/24", "IPRange": None,
                                                    "Gateway": None, "AuxiliaryAddresses": None}]}


# --- leases on disk ------------------------------------------------------------------------

def _store_with_network(root, subnet="10.5.0.0/24"):
    net = Networking(str(root), str(root / "run"))
    rec = {"Name": "n", "Id": "ab" * 32, "IPAM": {"Config": [ipam.normalize_pool(
        {"Subnet": subnet})]}, "Options": {}, "Bridge": "pyc-br-x"}
    net.store.add(rec)
    return net, rec


def test_leases_claim_release_and_hint(tmp_path):
    net, rec = _store_with_network(tmp_path)
    a = net.lease(rec, "a" * 64, name="web", aliases=["w"])
    b = net.lease(rec, "b" * 64)
    assert (a["IPAddress"], b["IPAddress"]) == ("10.5.0.2", "10.5.0.3")
    assert a["MacAddress"] == "02:42:0a:05:00:02" and a["Veth"].startswith("pyc")
    assert set(net.store.read_leases(rec["Id"])) == {"a" * 64, "b" * 64}
    assert net.unlease(rec["Id"], "a" * 64)["Name"] == "web"
    assert net.unlease(rec["Id"], "a" * 64) is None
    c = net.lease(rec, "c" * 64)
    assert c["IPAddress"] == "10.5.0.4"            # after the last one, not the freed .2
    with pytest.raises(ipam.AddressInUse):
        net.lease(rec, "d" * 64, static="10.5.0.3")
    assert net.lease(rec, "d" * 64, static="10.5.0.2")["IPAddress"] == "10.5.0.2"
    # a wrong address hint still finds the lease
    assert net.unlease(rec["Id"], "d" * 64, ip="10.5.0.4") is not None
    assert sorted(os.listdir(net.store.path(rec["Id"], "leases"))) == ["10.5.0.3", "10.5.0.4"]


def test_leases_of_a_removed_network(tmp_path):
    net, rec = _store_with_network(tmp_path)
    net.store.delete(rec["Id"])
    with pytest.raises(NetworkNotFound):
        net.lease(rec, "a" * 64)
    assert net.unlease(rec["Id"], "a" * 64) is None


def _allocate(root, nid, tag, n, q):
    net = Networking(root, os.path.join(root, "run"))
    rec = net.store.load(nid)
    q.put([net.lease(rec, f"{tag}{i:062d}")["IPAddress"] for i in range(n)])


def test_two_processes_never_get_the_same_address(tmp_path):
    net, rec = _store_with_network(tmp_path, "10.6.0.0/23")
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_allocate, args=(str(tmp_path), rec["Id"], t, 200, q))
             for t in ("aa", "bb")]
    for p in procs:
        p.start()
    got = q.get(timeout=60) + q.get(timeout=60)
    for p in procs:
        p.join(30)
    assert len(got) == 400 and len(set(got)) == 400
    assert len(net.store.read_leases(rec["Id"])) == 400


# --- ports -------------------------------------------------------------------------------

def test_parse_ports_forms():
    b, exposed = ports.parse({"80/tcp": 8080, "53/udp": ("127.0.0.1", 5353), "81": None,
                              82: [8082, ("10.0.0.1",)], "83/tcp": "127.0.0.1:8083"},
                             publish_all=True, image_exposed={"9000/tcp": {}, "80/tcp": {}})
    assert b == [
        {"ContainerPort": 80, "Proto": "tcp", "HostIp": "", "HostPort": 8080},
        {"ContainerPort": 53, "Proto": "udp", "HostIp": "127.0.0.1", "HostPort": 5353},
        {"ContainerPort": 81, "Proto": "tcp", "HostIp": "", "HostPort": None},
        {"ContainerPort": 82, "Proto": "tcp", "HostIp": "", "HostPort": 8082},
        {"ContainerPort": 82, "Proto": "tcp", "HostIp": "10.0.0.1", "HostPort": None},
        {"ContainerPort": 83, "Proto": "tcp", "HostIp": "127.0.0.1", "HostPort": 8083},
        {"ContainerPort": 9000, "Proto": "tcp", "HostIp": "", "HostPort": None}]
    assert exposed == ["53/udp", "80/tcp", "81/tcp", "82/tcp", "83/tcp", "9000/tcp"]
    assert ports.parse(None) == ([], [])


@pytest.mark.parametrize("bad, msg", [
    ({"80/sctp": 1}, "protocol"), ({"80-90": 1}, "ranges"), ({"80": 70000}, "1-65535"),
    ({"x": 1}, "container port"), ({"80": ("::1", 80)}, "IPv4"), ({"80": (1, 2, 3)}, "binding"),
    ({"80": 8080, "81": 8080}, "bound twice"), ([80], "dict")])
def test_parse_ports_refusals(bad, msg):
    with pytest.raises(InvalidArgument, match=msg):
        ports.parse(bad)


def test_reserve_conflicts_and_release(monkeypatch):
    monkeypatch.setattr(ports, "_probe", lambda proto, ip, port: port or 40000)
    table = {}
    b, _ = ports.parse({"80": 8080, "53/udp": ("127.0.0.1", 53), "81": None})
    got = ports.reserve(table, "a" * 64, b)
    assert [g["HostPort"] for g in got] == [8080, 53, 40000]
    assert set(table) == {"tcp/0.0.0.0/8080", "udp/127.0.0.1/53", "tcp/0.0.0.0/40000"}
    for clash in ({"90": 8080}, {"90": ("127.0.0.1", 8080)}):       # any address vs specific
        with pytest.raises(ports.PortInUse, match="already allocated"):
            ports.reserve(table, "b" * 64, ports.parse(clash)[0])
    ok = ports.reserve(table, "b" * 64, ports.parse({"90/udp": 8080,
                                                     "91/udp": ("127.0.0.2", 53)})[0])
    assert len(ok) == 2
    freed = ports.release(table, "a" * 64)
    assert sorted(f["HostPort"] for f in freed) == [53, 8080, 40000]
    assert set(table) == {"udp/0.0.0.0/8080", "udp/127.0.0.2/53"}


def test_docker_views_of_ports():
    b, exposed = ports.parse({"80": 8080, "81": None})
    assert ports.port_bindings(b) == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                      "81/tcp": [{"HostIp": "", "HostPort": ""}]}
    b[1]["HostPort"] = 32768
    assert ports.docker_ports(exposed + ["99/tcp"], b) == {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
        "81/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}], "99/tcp": None}


# --- hosts, resolv.conf -------------------------------------------------------------------------

def test_hosts_text():
    text = hosts.hosts_text("abc", [("10.0.0.2", ["web", "w"])],
                            [("10.0.0.3", ["db", "d1", "123456789012"])])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert "10.0.0.2\tabc web w" in lines and "10.0.0.3\tdb d1 123456789012" in lines


def test_write_in_place_keeps_the_inode(tmp_path):
    p = tmp_path / "hosts"
    p.write_text("a much longer original text\n")
    ino = p.stat().st_ino
    assert hosts.write_in_place(str(p), "short\n")
    assert p.read_text() == "short\n" and p.stat().st_ino == ino
    assert not hosts.write_in_place(str(tmp_path / "missing"), "x")


def test_resolv_conf_drops_loopback_servers(tmp_path):
    src = tmp_path / "resolv.conf"
    src.write_text("# c\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch example.org\n")
    assert hosts.resolv_conf(str(src)) == "nameserver 10.1.1.1\nsearch example.org\n"
    src.write_text("nameserver 127.0.0.53\noptions edns0\n")
    assert hosts.resolv_conf(str(src)) == \
        "options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"


# --- config, netlink packing ---------------------------------------------------------------------

def test_network_config(monkeypatch):
    monkeypatch.delenv("PYCONTAINER_DEFAULT_NETWORK", raising=False)
    assert network_config(None, None) == ("bridge", {"bridge": {"Aliases": [],
                                                               "IPv4Address": None}})
    monkeypatch.setenv("PYCONTAINER_DEFAULT_NETWORK", "none")
    assert network_config(None, None) == ("none", {})
    assert network_config("app", None)[0] == "app"
    assert network_config(None, "default")[0] == "bridge"
    assert network_config(None, "container:web") == ("container:web", {})
    assert network_config("host", "host") == ("host", {})
    for net, mode in (("a", "b"), (None, "container:"), (None, "bad name"), (None, 3)):
        with pytest.raises(InvalidArgument):
            network_config(net, mode)


def test_netlink_attributes_round_trip():
    data = netlink.attr(3, "eth0") + netlink.nested(18, netlink.attr(1, "veth")) + \
        netlink.attr(4, netlink.u32(1500))
    a = netlink.parse_attrs(data)
    assert a[3] == b"eth0\0" and a[4] == (1500).to_bytes(4, "little")
    assert netlink.parse_attrs(a[18])[1] == b"veth\0"
    assert len(netlink.attr(3, "eth0")) % 4 == 0


def test_network_record_on_disk_is_json(tmp_path):
    net, rec = _store_with_network(tmp_path)
    with open(net.store.path(rec["Id"], "config.json")) as f:
        assert json.load(f)["Id"] == rec["Id"]
    assert net.store.find("n")["Id"] == rec["Id"]
    assert net.store.find(rec["Id"][:5])["Id"] == rec["Id"]
    with pytest.raises(NetworkNotFound):
        net.store.find("zz")
    assert issubclass(NetworkNotFound, InvalidArgument) and not issubclass(Conflict,
                                                                            InvalidArgument)


def test_create_refusals_before_the_kernel(tmp_path):
    net = Networking(str(tmp_path), str(tmp_path / "run"))
    for kw, msg in [({"name": "bad/name"}, "invalid network name"),
                    ({"name": "x", "driver": "overlay"}, "driver"),
                    ({"name": "x", "enable_ipv6": True}, "IPv6"),
                    ({"name": "x", "options": {"com.docker.network.bridge.name": "br0"}}, "pyc"),
                    ({"name": "x", "options": {"com.docker.network.driver.mtu": "9"}}, "MTU"),
                    ({"name": "x", "ipam_config": {"Driver": "dhcp"}}, "IPAM driver"),
                    ({"name": "x", "ipam_config": {"Config": [{"Subnet": "10.0.0.0/24"},
                                                              {"Subnet": "10.1.0.0/24"}]}},
                     "one IPv4 pool")]:
        with pytest.raises(InvalidArgument, match=msg):
            net.create(**kw)
    with pytest.raises(Conflict, match="pre-defined"):
        net.create("host")
    assert net.store.ids() == []
