"""docker-py's network keywords, seen from inside the container: dns,
dns_search, dns_opt, extra_hosts (host-gateway), mac_address,
networking_config (aliases, static address, links), links, random host
ports, network_disabled. Bodies run in a private network namespace
(test_networks.in_netns), so nothing touches the machine's network."""
import pytest

from pycontainer import errors
from pycontainer.types import EndpointConfig
from test_networks import containers, in_netns, ip_of, netns, network, sh  # noqa: F401


def test_dns_search_options_in_resolv_conf(client, busybox, netns):
    def body(client):
        out = sh(client, "cat /etc/resolv.conf", network="bridge", dns=["192.0.2.53", "::1"],
                 dns_search=["corp.test"], dns_opt=["ndots:2", "timeout:1"])
        lines = out.splitlines()
        assert "nameserver 192.0.2.53" in lines and "nameserver ::1" in lines
        assert "search corp.test" in lines and "options ndots:2 timeout:1" in lines
        assert sum(ln.startswith("nameserver") for ln in lines) == 2   # the host's are replaced
    in_netns(netns, body, client)


def test_dns_with_host_network(client, busybox):
    out = sh(client, "cat /etc/resolv.conf", network_mode="host", dns=["192.0.2.1"])
    assert [ln for ln in out.splitlines() if ln.startswith("nameserver")] == [
        "nameserver 192.0.2.1"]


def test_extra_hosts_and_host_gateway(client, busybox, netns):
    def body(client):
        gw = client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
        out = sh(client, "cat /etc/hosts", network="bridge",
                 extra_hosts={"db.test": "192.0.2.7", "host.docker.internal": "host-gateway"})
        assert "192.0.2.7\tdb.test" in out.splitlines()
        assert f"{gw}\thost.docker.internal" in out.splitlines()
        # kept when a peer's start rewrites the file (user network)
        with network(client, "pycpar1"):
            with containers(client.containers.run(
                    "busybox", ["sleep", "60"], detach=True, network="pycpar1",
                    extra_hosts=["db.test:192.0.2.8"])) as (a,):
                with containers(client.containers.run("busybox", ["sleep", "60"],
                                                      detach=True, network="pycpar1",
                                                      name="pycpar1-b")):
                    hosts = a.exec_run(["cat", "/etc/hosts"]).output.decode()
                    assert "192.0.2.8\tdb.test" in hosts and "pycpar1-b" in hosts
    in_netns(netns, body, client)


def test_extra_hosts_without_network(client, busybox):
    out = sh(client, "cat /etc/hosts", network_mode="none", extra_hosts=["a.test:192.0.2.9"])
    assert "192.0.2.9\ta.test" in out.splitlines()


def test_mac_address(client, busybox, netns):
    def body(client):
        out = sh(client, "cat /sys/class/net/eth0/address", network="bridge",
                 mac_address="02:42:ac:11:99:01")
        assert out.strip() == "02:42:ac:11:99:01"
        with pytest.raises(errors.InvalidArgument, match="mac_address"):
            client.containers.create("busybox", "true", mac_address="01:00:00:00:00:01")
    in_netns(netns, body, client)


def test_networking_config_alias_static_ip_and_links(client, busybox, netns):
    def body(client):
        with network(client, "pycpar2", ipam={"Config": [{"Subnet": "10.77.0.0/24"}]}):
            with containers(client.containers.run("busybox", ["sleep", "60"], detach=True,
                                                  network="pycpar2", name="pycpar2-db")) as (db,):
                ep = EndpointConfig(aliases=["web-alias"], ipv4_address="10.77.0.50",
                                    links={"pycpar2-db": "database"},
                                    mac_address="02:00:00:00:77:50",
                                    driver_opt={"pyc.test": "kept"})
                with containers(client.containers.run(
                        "busybox", ["sleep", "60"], detach=True, network="pycpar2",
                        networking_config={"pycpar2": ep})) as (web,):
                    ep_seen = web.attrs["NetworkSettings"]["Networks"]["pycpar2"]
                    assert ep_seen["DriverOpts"] == {"pyc.test": "kept"}   # as dockerd shows
                    addr = web.exec_run(["ip", "-o", "-4", "addr", "show", "eth0"]).output
                    assert b"10.77.0.50/24" in addr
                    mac = web.exec_run(["cat", "/sys/class/net/eth0/address"]).output
                    assert mac.strip() == b"02:00:00:00:77:50"
                    hosts = web.exec_run(["cat", "/etc/hosts"]).output.decode()
                    db_ip = ip_of(db, "pycpar2")
                    line = next(ln for ln in hosts.splitlines() if ln.startswith(db_ip + "\t"))
                    assert {"database", "pycpar2-db", db.id[:12]} <= set(line.split())
                    code, out = web.exec_run(["nslookup", "-type=a", "database"])
                    assert code == 0 and f"Address: {db_ip}" in out.decode(), out
                    # the alias resolves from a peer
                    peer_hosts = db.exec_run(["cat", "/etc/hosts"]).output.decode()
                    assert "10.77.0.50" in peer_hosts and "web-alias" in peer_hosts
            with pytest.raises(errors.InvalidArgument, match="network="):
                client.containers.create("busybox", "true",
                                         networking_config={"pycpar2": EndpointConfig()})
    in_netns(netns, body, client)


def test_legacy_links_on_the_default_bridge(client, busybox, netns):
    def body(client):
        with containers(client.containers.run("busybox", ["sleep", "60"], detach=True,
                                              network="bridge", name="pycpar-l")) as (t,):
            out = sh(client, "cat /etc/hosts", network="bridge", links={"pycpar-l": "target"})
            assert f"{ip_of(t, 'bridge')}\ttarget pycpar-l {t.id[:12]}" in out.splitlines()
        with pytest.raises(errors.InvalidArgument, match="links"):
            client.containers.create("busybox", "true", network_mode="host",
                                     links={"pycpar-l": "x"})
    in_netns(netns, body, client)


def test_legacy_link_variables(client, busybox, netns):
    def body(client):
        with containers(client.containers.run(
                "busybox", ["sleep", "60"], detach=True, network="bridge", name="pycpar-db",
                ports={"6379/tcp": None, "53/udp": None},
                environment={"SECRET": "s3", "MODE": "a=b"})) as (t,):
            ip = ip_of(t, "bridge")
            out = sh(client, "env | grep ^DB_ | sort", network="bridge", name="pycpar-app",
                     links={"pycpar-db": "db"}, environment={"DB_ENV_MODE": "mine"})
            assert out.splitlines() == sorted([
                f"DB_PORT=udp://{ip}:53",
                f"DB_PORT_53_UDP=udp://{ip}:53", f"DB_PORT_53_UDP_ADDR={ip}",
                "DB_PORT_53_UDP_PORT=53", "DB_PORT_53_UDP_PROTO=udp",
                f"DB_PORT_6379_TCP=tcp://{ip}:6379", f"DB_PORT_6379_TCP_ADDR={ip}",
                "DB_PORT_6379_TCP_PORT=6379", "DB_PORT_6379_TCP_PROTO=tcp",
                "DB_NAME=/pycpar-app/db", "DB_ENV_SECRET=s3",
                "DB_ENV_MODE=mine"])                    # run()'s own environment wins
    in_netns(netns, body, client)


def test_random_host_ports(client, busybox, netns):
    def body(client):
        with containers(client.containers.run(
                "busybox", ["sleep", "60"], detach=True, network="bridge",
                ports={"80/tcp": 0, "81/tcp": None, "82/tcp": ("127.0.0.1", 0)})) as (c,):
            c.reload()
            got = {k: v[0] for k, v in c.ports.items()}
            ports_ = {int(got[k]["HostPort"]) for k in ("80/tcp", "81/tcp", "82/tcp")}
            assert len(ports_) == 3 and all(p > 0 for p in ports_)
            assert got["82/tcp"]["HostIp"] == "127.0.0.1"
    in_netns(netns, body, client)


def test_network_disabled(client, busybox):
    assert sh(client, "ls /sys/class/net", network_disabled=True).split() == ["lo"]
    with pytest.raises(errors.InvalidArgument, match="network_disabled"):
        client.containers.create("busybox", "true", network_disabled=True, network="bridge")
