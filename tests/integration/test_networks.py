"""Networks: bridges, IPAM, names, published ports, isolation, cleanup.

Nothing here touches the machine's own network. A module fixture makes two
network namespaces held only by file descriptors of this process (no
/run/netns entry, so nothing shows in other test runs' leak checks, and a
crash leaves nothing): ``NS``, the engine's "host", and ``PEER``, "another
machine", wired to it by a veth pair. Every test body runs in a forked child
that has joined ``NS`` (:func:`in_netns`): the engine's bridges, veths,
sysctls and nftables rules all land there, and go with it. After each body
the child checks that no veth, lease, port claim or DNAT element is left
(the parent's leak check sees mounts, processes and fds).
"""
import contextlib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import traceback

import pytest

from pycontainer import Client, errors
from pycontainer.network import firewall, ipam, netlink, ports
from pycontainer.types import IPAMConfig, IPAMPool

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST_ADDR, PEER_ADDR = "10.250.0.1", "10.250.0.2"
VETH = re.compile(r"^pyc[0-9a-f]{8}$")
UDPECHO_C = r"""
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <unistd.h>
/* udpecho server PORT | udpecho client HOST PORT MSG  (busybox nc has no -u) */
int main(int argc, char **argv)
{
    char buf[512];
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (argc == 3 && !strcmp(argv[1], "server")) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
        if (bind(s, (void *) &a, sizeof a)) { perror("bind"); return 1; }
        for (;;) {
            struct sockaddr_in from; socklen_t fl = sizeof from;
            ssize_t n = recvfrom(s, buf + 5, sizeof buf - 5, 0, (void *) &from, &fl);
            if (n < 0) return 1;
            memcpy(buf, "echo:", 5);
            sendto(s, buf, n + 5, 0, (void *) &from, fl);
        }
    }
    if (argc == 5 && !strcmp(argv[1], "client")) {
        struct hostent *h = gethostbyname(argv[2]);
        if (!h) { fprintf(stderr, "cannot resolve %s\n", argv[2]); return 2; }
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
        memcpy(&a.sin_addr, h->h_addr_list[0], 4);
        struct timeval tv = { 2, 0 };
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sendto(s, argv[4], strlen(argv[4]), 0, (void *) &a, sizeof a);
        ssize_t n = recv(s, buf, sizeof buf - 1, 0);
        if (n < 0) { perror("recv"); return 3; }
        buf[n] = 0; printf("%s\n", buf); return 0;
    }
    return 64;
}
"""
HTTPD = "mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p {port} -h /www"


class Namespaces:
    """fds of the two namespaces, and paths to them for other processes."""

    def __init__(self, ns, peer):
        self.ns, self.peer = ns, peer

    def path(self, fd):
        return f"/proc/{os.getpid()}/fd/{fd}"


def _configure(ns, peer):
    """lo up in both; pyc-tp0 (10.250.0.1, in ns) <-> pyc-tp1 (10.250.0.2, in
    peer, default route back); over netlink, from this thread's namespaces."""
    for fd, addr, other in ((ns, HOST_ADDR, None), (peer, PEER_ADDR, HOST_ADDR)):
        with _in(fd):
            with netlink.Netlink() as nl:
                nl.set_link(1, up=True)
                if other is None:
                    nl.add_veth("pyc-tp0", "pyc-tp1", peer)
                idx = nl.ifindex("pyc-tp0" if other is None else "pyc-tp1")
                nl.set_link(idx, up=True)
                nl.add_addr(idx, f"{addr}/24")
                if other:
                    nl.add_default_route(other)


@contextlib.contextmanager
def _in(fd):
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        netlink.setns(fd)
        try:
            yield
        finally:
            netlink.setns(home)
    finally:
        os.close(home)


@pytest.fixture(scope="module")
def netns():
    """Two fresh network namespaces, held by fds; gone when they are closed."""
    fds = []
    try:
        for _ in range(2):
            nl, fd = netlink.new_netns_fd()
            nl.close()
            fds.append(fd)
        _configure(*fds)
        yield Namespaces(*fds)
    finally:
        for fd in fds:
            os.close(fd)


@pytest.fixture(scope="module")
def udpecho(tmp_path_factory):
    """A static UDP echo server/client to bind into containers."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the UDP helper")
    d = tmp_path_factory.mktemp("udpecho")
    (d / "udpecho.c").write_text(UDPECHO_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(d / "udpecho"), str(d / "udpecho.c")],
                   check=True, capture_output=True)
    return {str(d / "udpecho"): {"bind": "/udpecho", "mode": "ro"}}


def in_netns(spaces, fn, *args, timeout=240):
    """Run ``fn(*args)`` in a forked child that joined the namespace ``spaces.ns``;
    fail with the child's traceback. Afterwards the child checks that nothing
    of the engine's is left there."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:       # pragma: no cover - the child
        code = 1
        try:
            os.close(r)
            signal.alarm(timeout)
            netlink.setns(spaces.ns)
            client = next((a for a in args if isinstance(a, Client)), None)
            fn(*args)
            if client is not None:
                assert_clean(client)
            os.write(w, b"ok")
            code = 0
        except BaseException:
            os.write(w, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    try:
        deadline = time.monotonic() + timeout + 10
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"test body timed out after {timeout}s")
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    out = b"".join(chunks).decode(errors="replace")
    if out != "ok":
        pytest.fail(f"in the test's network namespace:\n{out}", pytrace=False)


def veths():
    with netlink.local() as nl:
        return sorted(n for n in nl.links() if VETH.match(n))


def assert_clean(client, grace=30.0):
    """No veth, lease, port claim or DNAT element of ours in this namespace."""
    net = client._backend.net
    deadline = time.monotonic() + grace
    while veths() and time.monotonic() < deadline:
        time.sleep(0.05)       # the kernel deletes a dead namespace's veths a bit later
    assert veths() == [], f"veths left: {veths()}"
    for nid in net.store.ids():
        assert net.store.read_leases(nid) == {}, f"leases left on {nid[:12]}"
    assert net.store.read_ports() == {}, "port claims left"
    for kind in ("pub_any", "pub_ip"):
        text = firewall.elements(kind) or ""
        assert "elements" not in text, f"DNAT elements left: {text}"


def sh(client, script, **kw):
    return client.containers.run("busybox", ["sh", "-c", script], remove=True, **kw).decode()


def wait_for(pred, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_listening(c, port, proto="tcp", timeout=60.0):
    """Wait until the container's server has its socket on ``port``: in LISTEN
    (tcp) or bound (udp), as its network namespace's /proc/net shows it."""
    c.reload()
    pid, state = c.attrs["State"]["Pid"], "0A" if proto == "tcp" else "07"

    def bound():
        for name in (proto, proto + "6"):
            with contextlib.suppress(FileNotFoundError):
                with open(f"/proc/{pid}/net/{name}") as f:
                    rows = [line.split() for line in f.read().splitlines()[1:]]
                if any(r[1].endswith(f":{port:04X}") and r[3] == state for r in rows):
                    return True
        return False
    wait_for(bound, timeout, f"{proto} port {port} in {c.name}")


def http_get(host, port, timeout=3.0):
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n\r\n", 1)[-1].decode()


def ip_of(c, net):
    c.reload()
    return c.attrs["NetworkSettings"]["Networks"][net]["IPAddress"]


@contextlib.contextmanager
def network(client, name, **kw):
    net = client.networks.create(name, **kw)
    try:
        yield net
    finally:
        with contextlib.suppress(errors.NotFound):
            net.remove()


@contextlib.contextmanager
def containers(*cs):
    try:
        yield cs
    finally:
        for c in cs:
            with contextlib.suppress(errors.NotFound):
                c.remove(force=True)


# --- tests ------------------------------------------------------------------------------

def test_default_bridge(client, busybox, netns):
    def body(client):
        out = sh(client, "ip -o -4 addr show eth0; ip route; cat /etc/resolv.conf /etc/hosts",
                 network_mode="bridge")
        m = re.search(r"inet (172\.\d+\.\d+\.\d+)/16", out)
        assert m, out
        assert "default via 172." in out
        assert "nameserver" in out
        bridge = client.networks.get("bridge")
        sub = bridge.attrs["IPAM"]["Config"][0]["Subnet"]
        assert sub.endswith("/16") and bridge.attrs["Driver"] == "bridge"
        with containers(client.containers.run("busybox", ["sleep", "30"], detach=True,
                                              network="bridge")) as (c,):
            c.reload()
            ns = c.attrs["NetworkSettings"]
            ep = ns["Networks"]["bridge"]
            assert ep["IPAddress"] and ep["IPPrefixLen"] == 16
            assert ep["Gateway"] == bridge.attrs["IPAM"]["Config"][0]["Gateway"]
            assert ep["MacAddress"] == ipam.mac_for(ep["IPAddress"])
            assert ns["IPAddress"] == ep["IPAddress"]           # docker's top-level copy
            assert c.attrs["HostConfig"]["NetworkMode"] == "bridge"
            bridge.reload()
            assert c.id in bridge.attrs["Containers"]
            assert [x.id for x in bridge.containers] == [c.id]
            assert ep["IPAddress"] in c.exec_run(["ip", "-o", "-4", "addr"]).output.decode()
            c.stop(timeout=1)        # the monitor's hook (no Python) released it all
            assert c.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == ""
            net = client._backend.net
            assert net.store.read_leases(bridge.id) == {}
            assert not os.path.exists(net.netns_path(c.id))
            assert not os.path.exists(net.state_path(c.id))
    in_netns(netns, body, client)


def test_python_hook_releases_ports_lease_netns_and_names(client, busybox, netns):
    """On a user network with a published port the monitor's hook runs the
    Python release (the fixed script network/release.py): once stop() returns
    (the monitor has exited) the lease, port claim, DNAT element and netns are
    gone and the peer's /etc/hosts no longer names the container."""
    def body(client):
        net = client._backend.net
        with network(client, "pyc-t-hook") as n, containers(
                client.containers.run("busybox", ["sleep", "30"], network="pyc-t-hook",
                                      name="pyc-t-peer", detach=True),
                client.containers.run("busybox", ["sleep", "30"], network="pyc-t-hook",
                                      name="pyc-t-gone", detach=True,
                                      ports={"80/tcp": 18120})) as (peer, c):
            def hosts():
                return peer.exec_run(["cat", "/etc/hosts"]).output.decode()
            assert "pyc-t-gone" in hosts() and c.id[:12] in hosts()
            assert os.path.exists(os.path.join(net.rundir(c.id), "network.full"))
            assert "18120" in firewall.elements("pub_any")
            c.stop(timeout=0)
            assert c.id not in net.store.read_leases(n.id) and peer.id in \
                net.store.read_leases(n.id)
            assert net.store.read_ports() == {}
            assert "18120" not in (firewall.elements("pub_any") or "")
            assert not os.path.exists(net.netns_path(c.id))
            assert not os.path.exists(net.state_path(c.id))
            assert "pyc-t-gone" not in hosts() and c.id[:12] not in hosts()
    in_netns(netns, body, client)


def test_names_tcp_udp_and_isolation(client, busybox, netns, udpecho):
    def body(client):
        with network(client, "pyc-t-app"), network(client, "pyc-t-other"), containers(
                client.containers.run("busybox",
                                      ["sh", "-c", HTTPD.format(body="hello", port=8080)],
                                      network="pyc-t-app", name="pyc-t-web", detach=True),
                client.containers.run("busybox", ["/udpecho", "server", "9000"], detach=True,
                                      network="pyc-t-app", name="pyc-t-udp",
                                      volumes=udpecho)) as (web, udp):
            wait_listening(web, 8080)
            wait_listening(udp, 9000, "udp")
            # TCP by name (and by short id, an alias of every container)
            out = sh(client, "timeout 3 wget -qO- http://pyc-t-web:8080/; "
                     f"timeout 3 wget -qO- http://{web.short_id}:8080/", network="pyc-t-app")
            assert out == "hello\nhello\n"
            # UDP by name
            out = client.containers.run("busybox",
                                        ["/udpecho", "client", "pyc-t-udp", "9000", "hi"],
                                        network="pyc-t-app", remove=True, volumes=udpecho)
            assert out == b"echo:hi\n"
            # another network: neither the name nor the address is reachable...
            ip = ip_of(web, "pyc-t-app")
            out = sh(client, f"timeout 2 wget -qO- http://{ip}:8080/ || echo unreachable; "
                     "grep -c pyc-t-web /etc/hosts || true", network="pyc-t-other")
            assert out == "unreachable\n0\n", out
            # ...while the way out works (forwarded, masqueraded as the "host")
            wait = serve_in_peer(netns.peer, 18200, b"outside\n")
            out = sh(client, f"timeout 3 wget -qO- http://{PEER_ADDR}:18200/",
                     network="pyc-t-other")
            assert out == "outside\n" and wait() == HOST_ADDR
    in_netns(netns, body, client)


def test_published_ports(client, busybox, netns, udpecho):
    def body(client):
        with network(client, "pyc-t-pub"), containers(
                client.containers.run(
                    "busybox", ["sh", "-c", HTTPD.format(body="published", port=80)],
                    network="pyc-t-pub", detach=True,
                    ports={"80/tcp": 18080, "81/tcp": None, "82/tcp": [18082, 18083]}),
                client.containers.run(
                    "busybox", ["/udpecho", "server", "53"], network="pyc-t-pub", detach=True,
                    volumes=udpecho, ports={"53/udp": ("127.0.0.1", 15353)})) as (web, udp):
            wait_listening(web, 80)
            wait_listening(udp, 53, "udp")
            web.reload()
            p = web.attrs["NetworkSettings"]["Ports"]
            assert p["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "18080"}]
            assert len(p["81/tcp"]) == 1 and int(p["81/tcp"][0]["HostPort"]) > 1024
            assert [b["HostPort"] for b in p["82/tcp"]] == ["18082", "18083"]
            assert web.attrs["HostConfig"]["PortBindings"]["80/tcp"] == [
                {"HostIp": "", "HostPort": "18080"}]
            # from this "host": loopback and its own address
            assert wait_for(lambda: _try(http_get, "127.0.0.1", 18080), what="httpd") == \
                "published\n"
            assert http_get(HOST_ADDR, 18080) == "published\n"
            # from another namespace ("another machine")
            r = subprocess.run(["nsenter", f"--net={netns.path(netns.peer)}", "busybox",
                                "timeout", "3", "busybox", "wget", "-qO-",
                                f"http://{HOST_ADDR}:18080/"],
                               capture_output=True, timeout=20)
            assert r.stdout == b"published\n", r.stderr
            # UDP on 127.0.0.1 only
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3)
            try:
                s.sendto(b"q", ("127.0.0.1", 15353))
                assert s.recv(100) == b"echo:q"
            finally:
                s.close()
    in_netns(netns, body, client)


def serve_in_peer(peer, port, body):
    """Answer one HTTP request on PEER_ADDR:port from a thread that joined
    the namespace ``peer``; returns a callable giving the client's address."""
    import threading
    ready, seen = threading.Event(), []

    def run():
        netlink.setns(peer)            # this thread only
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((PEER_ADDR, port))
        srv.listen()
        srv.settimeout(10)
        ready.set()
        try:
            conn, addr = srv.accept()
            seen.append(addr[0])
            conn.recv(1024)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            conn.close()
        finally:
            srv.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(60), "the peer's server did not start"

    def wait():
        t.join(10)
        return seen[0] if seen else None
    return wait


def _try(fn, *args):
    try:
        return fn(*args)
    except OSError:
        return None


def test_taken_port_fails_start_and_leaves_created(client, busybox, netns):
    def body(client):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", 18090))
        listener.listen()
        with network(client, "pyc-t-taken"), containers(
                client.containers.create("busybox", ["sleep", "30"], network="pyc-t-taken",
                                         ports={"80/tcp": 18090}),
                client.containers.run("busybox", ["sleep", "30"], network="pyc-t-taken",
                                      detach=True, ports={"80/tcp": 18091}),
                client.containers.create("busybox", ["sleep", "30"], network="pyc-t-taken",
                                         ports={"80/tcp": 18091})) as (a, holder, b):
            with pytest.raises(ports.PortInUse, match="18090.*in use"):
                a.start()
            a.reload()
            assert a.status == "created"
            with pytest.raises(errors.Conflict, match="18091 failed: port is already allocated"):
                b.start()
            b.reload()
            assert b.status == "created"
            st = client._backend.net
            assert list(st.store.read_ports().values()) == [
                {"Container": holder.id, "ContainerPort": 80}]
            nid = client.networks.get("pyc-t-taken").id
            assert list(st.store.read_leases(nid)) == [holder.id]
            assert len(veths()) == 1
            assert not os.path.exists(st.netns_path(a.id))
            listener.close()
            a.start()                     # the port is free now
            a.reload()
            assert a.status == "running"
    in_netns(netns, body, client)


def test_container_mode_shares_the_interface(client, busybox, netns):
    def body(client):
        with containers(client.containers.run("busybox", ["sleep", "30"], network="bridge",
                                              name="pyc-t-owner", detach=True)) as (owner,):
            ip = ip_of(owner, "bridge")
            out = sh(client, "ip -o -4 addr show eth0", network_mode="container:pyc-t-owner")
            assert f"inet {ip}/" in out
            with containers(client.containers.run(
                    "busybox", ["sleep", "30"], detach=True,
                    network_mode=f"container:{owner.id}")) as (joiner,):
                out = joiner.exec_run(["ip", "-o", "-4", "addr", "show", "eth0"]).output.decode()
                assert f"inet {ip}/" in out
                joiner.reload()
                assert joiner.attrs["HostConfig"]["NetworkMode"] == f"container:{owner.id}"
            with pytest.raises(errors.NotFound):
                client.containers.run("busybox", ["true"], network_mode="container:pyc-t-nope")
    in_netns(netns, body, client)


def test_connect_and_disconnect_at_run_time(client, busybox, netns):
    def body(client):
        with network(client, "pyc-t-one") as one, network(client, "pyc-t-two") as two, \
                containers(
                    client.containers.run("busybox", ["sleep", "60"], network="pyc-t-one",
                                          name="pyc-t-a", detach=True),
                    client.containers.run("busybox", ["sh", "-c", HTTPD.format(body="b", port=80)],
                                          network="pyc-t-two", name="pyc-t-b",
                                          detach=True)) as (a, b):
            def a_sh(cmd):
                return a.exec_run(["sh", "-c", cmd]).output.decode()
            wait_listening(b, 80)
            assert "unreachable" in a_sh("timeout 1 wget -qO- http://pyc-t-b/ || echo unreachable")
            two.connect(a, aliases=["alpha"])
            a.reload()
            ep = a.attrs["NetworkSettings"]["Networks"]["pyc-t-two"]
            assert ep["IPAddress"] and "alpha" in ep["Aliases"]
            assert f"inet {ep['IPAddress']}/" in a_sh("ip -o -4 addr show eth1")
            assert wait_for(lambda: a_sh("timeout 2 wget -qO- http://pyc-t-b/"), what="b") == "b\n"
            out = b.exec_run(["sh", "-c", "grep alpha /etc/hosts"]).output.decode()
            assert out.startswith(ep["IPAddress"])
            two.reload()
            assert set(two.attrs["Containers"]) == {a.id, b.id}
            with pytest.raises(errors.Conflict):
                two.connect(a)
            two.disconnect(a)
            assert "eth1" not in a_sh("ip -o link")
            assert "pyc-t-a" not in b.exec_run(["cat", "/etc/hosts"]).output.decode()
            a.reload()
            assert "pyc-t-two" not in a.attrs["NetworkSettings"]["Networks"]
            assert one.attrs["Name"] == "pyc-t-one"
            # a stopped container: recorded now, plugged at its next start
            a.stop(timeout=1)
            two.connect(a, ipv4_address=two.attrs["IPAM"]["Config"][0]["Subnet"]
                        .replace(".0.0/16", ".0.200"))
            a.start()
            out = a_sh("ip -o -4 addr")
            assert ".0.200/16" in out and "eth1" in out
    in_netns(netns, body, client)


def test_endpoint_options_on_create_and_connect(client, busybox, netns):
    """docker's EndpointConfig: a MAC and link-local addresses are set on the
    interface, DriverOpts and links kept and shown; the default bridge takes
    what dockerd takes there."""
    def body(client):
        eps = {"bridge": {"DriverOpts": {"com.example.setting": "on"},
                          "IPAMConfig": {"LinkLocalIPs": ["169.254.8.8"]}}}
        with network(client, "pyc-t-ep") as net, containers(
                client.containers.run("busybox", ["sleep", "60"], detach=True,
                                      network="bridge", networking_config=eps),
                client.containers.create("busybox", ["sleep", "60"], network="pyc-t-ep",
                                         name="pyc-t-up"),
                client.containers.create("busybox", ["sleep", "60"],
                                         network="pyc-t-ep", networking_config={
                                             "pyc-t-ep": {"Links": ["pyc-t-up:upstream"]}})) \
                as (a, up, linked):
            a.reload()
            ep = a.attrs["NetworkSettings"]["Networks"]["bridge"]
            assert ep["DriverOpts"] == {"com.example.setting": "on"}
            assert ep["IPAMConfig"] == {"LinkLocalIPs": ["169.254.8.8"]}
            assert "inet 169.254.8.8/16" in a.exec_run(["ip", "-o", "-4", "addr"]).output.decode()
            linked.reload()
            assert linked.attrs["NetworkSettings"]["Networks"]["pyc-t-ep"]["Links"] == \
                ["pyc-t-up:upstream"]
            net.connect(a, mac_address="02:42:ac:11:00:99", link_local_ips=["169.254.9.9"],
                        driver_opt={"k": "v"})
            a.reload()
            ep = a.attrs["NetworkSettings"]["Networks"]["pyc-t-ep"]
            assert ep["MacAddress"] == "02:42:ac:11:00:99" and ep["DriverOpts"] == {"k": "v"}
            out = a.exec_run(["ip", "-o", "addr"]).output.decode()
            assert "02:42:ac:11:00:99" in a.exec_run(["ip", "link", "show", "eth1"]).output \
                .decode() and "inet 169.254.9.9/16" in out
            for bad in ({"Aliases": ["x"]}, {"IPAMConfig": {"LinkLocalIPs": ["fe80::1"]}}):
                with pytest.raises(errors.InvalidArgument):
                    client.containers.create("busybox", network="bridge",
                                             networking_config={"bridge": bad})
            with pytest.raises(errors.InvalidArgument):
                net.connect(up, links=["pyc-t-up:not a name"])
    in_netns(netns, body, client)


def test_slash_30_takes_one_container(client, busybox, netns):
    def body(client):
        ipam_cfg = IPAMConfig(pool_configs=[IPAMPool(subnet="10.99.0.0/30")])
        with network(client, "pyc-t-tiny", ipam=ipam_cfg) as net, containers(
                client.containers.run("busybox", ["sleep", "30"], network="pyc-t-tiny",
                                      detach=True),
                client.containers.create("busybox", ["sleep", "30"],
                                         network="pyc-t-tiny")) as (first, second):
            assert ip_of(first, "pyc-t-tiny") == "10.99.0.2"
            assert net.attrs["IPAM"]["Config"][0]["Gateway"] == "10.99.0.1"
            with pytest.raises(ipam.AddressesExhausted, match="no available IPv4 addresses"):
                second.start()
            second.reload()
            assert second.status == "created"
            with pytest.raises(ipam.AddressesExhausted):   # attached run: same refusal
                client.containers.run("busybox", ["true"], network="pyc-t-tiny", remove=True)
    in_netns(netns, body, client)


def test_bad_addresses_refused(client, busybox, netns):
    def body(client):
        with pytest.raises(errors.InvalidArgument, match="gateway"):
            client.networks.create("pyc-t-bad", ipam=IPAMConfig(
                pool_configs=[IPAMPool(subnet="10.98.0.0/24", gateway="10.97.0.1")]))
        with pytest.raises(errors.InvalidArgument, match="too small"):
            client.networks.create("pyc-t-bad", ipam=IPAMConfig(
                pool_configs=[IPAMPool(subnet="10.98.0.0/31")]))
        links = set(os.listdir("/sys/class/net"))
        with pytest.raises(errors.InvalidArgument,        # docker's words, not masked away
                           match=r"^invalid subnet 10\.98\.0\.3/24: it should be 10\.98\.0\.0/24$"):
            client.networks.create("pyc-t-bad", ipam=IPAMConfig(
                pool_configs=[IPAMPool(subnet="10.98.0.3/24")]))
        with pytest.raises(errors.InvalidArgument, match=r"invalid ip-range 10\.98\.0\.9/25"):
            client.networks.create("pyc-t-bad", ipam=IPAMConfig(
                pool_configs=[IPAMPool(subnet="10.98.0.0/24", iprange="10.98.0.9/25")]))
        assert "pyc-t-bad" not in [n.name for n in client.networks.list()]
        assert set(os.listdir("/sys/class/net")) == links
        with network(client, "pyc-t-st", ipam=IPAMConfig(
                pool_configs=[IPAMPool(subnet="10.98.0.0/24")])) as net:
            with pytest.raises(errors.Conflict, match="overlaps"):
                client.networks.create("pyc-t-st2", ipam=IPAMConfig(
                    pool_configs=[IPAMPool(subnet="10.98.0.128/25")]))
            with pytest.raises(errors.Conflict, match="already exists"):
                client.networks.create("pyc-t-st")
            with containers(client.containers.create("busybox", ["sleep", "30"],
                                                     network="bridge")) as (c,):
                with pytest.raises(errors.InvalidArgument, match="not inside"):
                    net.connect(c, ipv4_address="10.1.2.3")
                with pytest.raises(errors.InvalidArgument, match="reserved"):
                    net.connect(c, ipv4_address="10.98.0.1")
                net.connect(c, ipv4_address="10.98.0.77")
                c.start()
                assert ip_of(c, "pyc-t-st") == "10.98.0.77"
                with containers(client.containers.create("busybox", ["true"],
                                                         network="bridge")) as (d,):
                    net.connect(d, ipv4_address="10.98.0.77")
                    with pytest.raises(ipam.AddressInUse):
                        d.start()
            with pytest.raises(errors.NotFound):
                client.networks.get("pyc-t-missing")
    in_netns(netns, body, client)


def test_internal_network_has_no_way_out(client, busybox, netns):
    def body(client):
        with network(client, "pyc-t-int", internal=True), containers(
                client.containers.run("busybox", ["sh", "-c", HTTPD.format(body="in", port=80)],
                                      network="pyc-t-int", name="pyc-t-isrv",
                                      detach=True)) as (srv,):
            wait_listening(srv, 80)
            out = sh(client, "ip route; timeout 3 wget -qO- http://pyc-t-isrv/; "
                     f"timeout 1 wget -qO- http://{PEER_ADDR}/ || echo noway", network="pyc-t-int")
            assert "default" not in out and "in\n" in out and "noway" in out
    in_netns(netns, body, client)


def test_restart_keeps_namespace_and_address(client, busybox, netns):
    def body(client):
        with network(client, "pyc-t-rs"), containers(client.containers.run(
                "busybox", ["sh", "-c", "ip -o -4 addr show eth0; sleep 0.2; exit 3"],
                network="pyc-t-rs", detach=True,
                restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})) as (c,):
            # wait() ends at each exit, as docker's; the last one is the third
            wait_for(lambda: c.wait(timeout=30) is not None and (c.reload() or c.status)
                     == "exited", what="the last exit")
            assert c.attrs["State"]["RestartCount"] == 2
            addrs = re.findall(r"inet (\S+)/", c.logs().decode())
            assert len(addrs) == 3 and len(set(addrs)) == 1, addrs
            wait_for(lambda: not veths(), what="veth removal by the monitor's hook")
            assert not os.path.exists(client._backend.net.netns_path(c.id))
    in_netns(netns, body, client)


def test_start_stop_cycles_leak_nothing(client, busybox, netns):
    """1000 cycles at the lease level (a /28, so the allocator wraps ~80 times),
    then real containers: attached runs and detached start/stop."""
    def body(client):
        net = client._backend.net
        with network(client, "pyc-t-cyc", ipam=IPAMConfig(
                pool_configs=[IPAMPool(subnet="10.97.0.0/28")])) as n:
            rec = net.get(n.id)
            seen = set()
            for i in range(1000):
                ep = net.lease(rec, f"{i:064x}")
                seen.add(ep["IPAddress"])
                assert net.unlease(rec["Id"], f"{i:064x}", ep["IPAddress"])["IPAddress"] == \
                    ep["IPAddress"]
            assert len(seen) == 13 and net.store.read_leases(rec["Id"]) == {}
            for _ in range(30):
                assert sh(client, "ip -o -4 addr show eth0 | grep -c 10.97.0.",
                          network="pyc-t-cyc") == "1\n"
            with containers(client.containers.create("busybox", ["sleep", "30"],
                                                     network="pyc-t-cyc")) as (c,):
                for _ in range(10):
                    c.start()
                    c.stop(timeout=0)
                    assert net.store.read_leases(rec["Id"]) == {}
            assert os.listdir(net.store.path(rec["Id"], "leases")) == []
    in_netns(netns, body, client)


CONCURRENT = """
import sys, json
sys.path.insert(0, {root!r})
from pycontainer.network.manager import Networking
net = Networking({store!r}, {run_root!r})
rec = net.get({nid!r})
out = [net.lease(rec, "{tag}%061d" % i)["IPAddress"] for i in range({n})]
print(json.dumps(out))
"""


def test_concurrent_allocation_never_hands_out_an_address_twice(client, busybox, netns,
                                                                 store_root):
    def body(client):
        net = client._backend.net
        with network(client, "pyc-t-conc", ipam=IPAMConfig(
                pool_configs=[IPAMPool(subnet="10.96.0.0/22")])) as n:
            procs = [subprocess.Popen(
                [sys.executable, "-c", CONCURRENT.format(
                    root=ROOT, store=str(store_root), run_root=client._runtime.run_root,
                    nid=n.id, tag=tag, n=300)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for tag in ("aaa", "bbb")]
            got = []
            for p in procs:
                out, err = p.communicate(timeout=120)
                assert p.returncode == 0, err.decode()
                got += __import__("json").loads(out)
            assert len(got) == 600 and len(set(got)) == 600
            leases = net.store.read_leases(n.id)
            assert len(leases) == 600
            for cid, ep in leases.items():
                net.unlease(n.id, cid, ep["IPAddress"])
            # and whole containers started from two processes at once
            code = textwrap.dedent(f"""
                import sys; sys.path.insert(0, {ROOT!r})
                from pycontainer import Client
                c = Client(root={str(store_root)!r})
                for i in range(4):
                    x = c.containers.run("busybox", ["sleep", "30"], network="pyc-t-conc",
                                         detach=True, labels={{"pyc-t-conc": ""}})
                    print(x.id)
            """)
            procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE) for _ in range(2)]
            try:
                ids = []
                for p in procs:
                    out, err = p.communicate(timeout=120)
                    assert p.returncode == 0, err.decode()
                    ids += out.decode().split()
                ips = [ip_of(client.containers.get(i), "pyc-t-conc") for i in ids]
                assert len(ips) == 8 and len(set(ips)) == 8
            finally:
                for p in procs:     # what a failed subprocess started goes too
                    if p.poll() is None:
                        p.kill()
                    p.wait()
                for c in client.containers.list(all=True, filters={"label": "pyc-t-conc"}):
                    c.remove(force=True)
    in_netns(netns, body, client)


def test_removal_leaves_no_link_lease_or_rule(client, busybox, netns):
    def body(client):
        net = client.networks.create("pyc-t-rm", labels={"app": "x"})
        bridge = client._backend.net.get(net.id)["Bridge"]
        c = client.containers.run("busybox", ["sleep", "30"], network="pyc-t-rm", detach=True,
                                  ports={"80/tcp": 18100})
        with netlink.local() as nl:
            assert bridge in nl.links()
        with pytest.raises(errors.Conflict, match="active endpoints"):
            net.remove()
        assert client.networks.list(filters={"label": "app=x"}) == [net]
        c.remove(force=True)
        net.remove()
        with netlink.local() as nl:
            names = set(nl.links())
        assert bridge not in names and not any(VETH.match(n) for n in names)
        # the table stays only while another bridge of ours is in this namespace
        table = firewall.nft(f"list table {firewall.TABLE}", check=False)
        if table is not None:
            assert bridge not in table and "18100" not in table
            assert "elements" in firewall.nft(f"list set {firewall.TABLE} bridges")
        assert not os.path.exists(client._backend.net.store.path(net.id))
        with pytest.raises(errors.NotFound):
            client.networks.get(net.id)
        # prune takes user networks no running container uses
        a = client.networks.create("pyc-t-pr1")
        b = client.networks.create("pyc-t-pr2")
        with containers(client.containers.run("busybox", ["sleep", "30"], network="pyc-t-pr2",
                                              detach=True)):
            assert client.networks.prune()["NetworksDeleted"] == ["pyc-t-pr1"]
        b.remove()
        with pytest.raises(errors.NotFound):
            a.reload()
        assert {n.name for n in client.networks.list(filters={"type": "builtin"})} == \
            {"bridge", "host", "none"}
    in_netns(netns, body, client)


CRASH = """
import os, sys
sys.path.insert(0, {root!r})
from pycontainer import Client
from pycontainer.network import firewall
c = Client(root={store!r})
x = c.containers.create("busybox", ["sleep", "30"], network="pyc-t-crash",
                        ports={{"80/tcp": 18110}})
print(x.id, flush=True)
firewall.add_ports = lambda *a, **k: os._exit(9)       # die between two steps
x.start()
"""


def test_crash_between_steps_repaired_by_next_client(client, busybox, netns, store_root):
    def body(client):
        net = client._backend.net
        with network(client, "pyc-t-crash") as n:
            r = subprocess.run([sys.executable, "-c", CRASH.format(root=ROOT,
                                                                   store=str(store_root))],
                               capture_output=True, timeout=60)
            assert r.returncode == 9, r.stderr.decode()
            cid = r.stdout.decode().split()[0]
            try:
                # the crash left a lease, a port claim, a pinned netns and a veth
                assert cid in net.store.read_leases(n.id)
                assert net.store.read_ports()
                assert os.path.exists(net.netns_path(cid))
                Client(root=str(store_root)).ping()      # recovery, on first use
                assert net.store.read_leases(n.id) == {}
                assert net.store.read_ports() == {}
                assert not os.path.exists(net.netns_path(cid))
                c = client.containers.get(cid)
                assert c.status == "created"
                c.start()                                 # and it starts cleanly now
                assert c.status == "running"
            finally:
                client.containers.get(cid).remove(force=True)
    in_netns(netns, body, client)


def test_run_keywords_checked_before_anything_exists(client, busybox):
    """In the machine's namespace: refusals that must not touch the kernel."""
    before = set(os.listdir(client._runtime.containers))
    with pytest.raises(errors.InvalidArgument):
        client.containers.run("busybox", ["true"], network_mode="pyc-t-no-such-network")
    with pytest.raises(errors.NotFound):
        client.containers.run("busybox", ["true"], network="pyc-t-no-such-network")
    with pytest.raises(errors.InvalidArgument, match="cannot be used together"):
        client.containers.run("busybox", ["true"], network="a", network_mode="b")
    with pytest.raises(errors.InvalidArgument, match="cannot be published"):
        client.containers.run("busybox", ["true"], network_mode="none", ports={"80": 8080})
    with pytest.raises(errors.InvalidArgument, match="protocol"):
        client.containers.run("busybox", ["true"], network_mode="none", ports={"80/sctp": 1})
    with pytest.raises(errors.InvalidArgument, match="invalid network_mode"):
        client.containers.run("busybox", ["true"], network_mode="bad name")
    assert set(os.listdir(client._runtime.containers)) == before
    with pytest.raises(errors.Conflict, match="pre-defined"):
        client.networks.get("host").remove()
    assert client.networks.get("none").attrs["Driver"] == "null"


def test_network_prune_until_labels_and_list_filters(client, busybox, netns):
    def body(client):
        old = client.networks.create("pyc-t-pu-old", labels={"pyc-test": "pu"})
        between = time.time()
        new = client.networks.create("pyc-t-pu-new", labels={"pyc-test": "pu", "keep": "1"})
        try:
            mine = {"name": "pyc-t-pu-"}
            assert {n.name for n in client.networks.list(filters=dict(mine, scope="local"))} == \
                {"pyc-t-pu-old", "pyc-t-pu-new"}
            assert client.networks.list(filters=dict(mine, scope="swarm")) == []
            assert [n.name for n in client.networks.list(
                filters=dict(mine, label=["pyc-test=pu", "keep"]))] == ["pyc-t-pu-new"]
            for bad in ({"untill": "1h"}, {"until": "later"}, {"dangling": True}):
                with pytest.raises(errors.InvalidArgument):
                    client.networks.prune(filters=bad)
            with pytest.raises(errors.InvalidArgument):
                client.networks.list(filters={"type": "user"})
            assert client.networks.prune(filters={"until": "1h"})["NetworksDeleted"] == []
            got = client.networks.prune(filters={"until": str(between), "label": "pyc-test=pu"})
            assert got["NetworksDeleted"] == ["pyc-t-pu-old"]
            assert client.networks.prune(filters={"label!": "keep"})["NetworksDeleted"] == []
            assert client.networks.prune(filters={"label": "keep"})["NetworksDeleted"] == \
                ["pyc-t-pu-new"]
        finally:
            for n in (old, new):
                with contextlib.suppress(errors.NotFound):
                    n.remove()
    in_netns(netns, body, client)


def test_the_last_network_gone_takes_the_table(client, busybox):
    """In a namespace of its own: nothing of ours is left in nftables."""
    nl, fd = netlink.new_netns_fd()
    nl.close()
    try:
        def body(client):
            net = client.networks.create("pyc-t-last")
            c = client.containers.run("busybox", ["true"], network="pyc-t-last", detach=True,
                                      ports={"80/tcp": 18130})
            assert "18130" in firewall.elements("pub_any")
            c.wait()
            c.remove()
            net.remove()
            assert firewall.nft(f"list table {firewall.TABLE}", check=False) is None
        in_netns(Namespaces(fd, fd), body, client)
    finally:
        os.close(fd)


def test_a_store_deleted_with_networks_leaves_no_bridge_or_rule(client, netns, store_root,
                                                                 tmp_path):
    """Its bridge names its owner; the next engine to start, of any store, removes
    a bridge whose owner record is gone, and its chains."""
    def body(client):
        root = tmp_path / "pyc-gone"
        gone = Client(root=str(root))
        net = gone.networks.create("pyc-t-orphan")
        with netlink.local() as nl:
            owned = {b: a for b, a in nl.aliases("bridge").items() if net.id in a}
        assert len(owned) == 1, owned
        (br, alias), = owned.items()
        assert alias.endswith(os.path.join(str(root), "networks"))
        assert f"net-{net.id[:12]}" in firewall.nft(f"list table {firewall.TABLE}")
        run_root = gone._backend.runtime.run_root
        gone.close()
        shutil.rmtree(run_root)
        shutil.rmtree(root)                 # the store goes, its network with it
        Client(root=str(store_root)).ping()     # another store's engine starts
        with netlink.local() as nl:
            assert br not in nl.links()
        table = firewall.nft(f"list table {firewall.TABLE}", check=False) or ""
        assert net.id[:12] not in table and br not in table     # chains, set and map elements
    in_netns(netns, body, client)
