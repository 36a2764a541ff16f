"""The embedded DNS server (127.0.0.11) of containers on user networks, as
busybox's nslookup inside them sees it: names, aliases, short ids and
endpoint links (to containers that start later), forwarding of other names
to the upstreams (a loopback one too), internal networks, no server left.

Bodies run in test_networks' namespaces (the engine's "host" and a peer)."""
import contextlib
import os
import socket
import subprocess
import threading
import time

import dns.message
import dns.query
import dns.rrset
import pytest

from test_networks import (PEER_ADDR, _in, containers, in_netns, ip_of, netns,  # noqa: F401
                           network, sh, udpecho, wait_listening)

from pycontainer import errors


@contextlib.contextmanager
def upstream(sock, answer="10.9.9.9"):
    """A resolver on ``sock`` (bound, UDP) answering every A query with ``answer``."""
    sock.settimeout(0.1)
    done, got = threading.Event(), []

    def serve():
        while not done.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            q = dns.message.from_wire(data)
            got.append(q.question[0].name.to_text())
            r = dns.message.make_response(q)
            if q.question[0].rdtype == 1:
                r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", answer))
            sock.sendto(r.to_wire(), peer)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield got
    finally:
        done.set()
        t.join()
        sock.close()


def udp_socket(addr, ns=None):
    """A UDP socket bound to ``addr``:53, made in namespace fd ``ns`` (or here)."""
    if ns is None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        with _in(ns):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    return s


def lookup(c, name):
    """nslookup in a running container: (exit code, output)."""
    code, out = c.exec_run(["nslookup", "-type=a", name])
    return code, out.decode()


def servers_of(cid):
    out = subprocess.run(["pgrep", "-f", f"pyc-dns .*{cid}"], capture_output=True, text=True)
    return out.stdout.split()


def test_names_aliases_and_later_containers_resolve(client, busybox, netns):
    def body(client):
        with network(client, "pyc-t-dns"), containers(
                client.containers.run("busybox", "sleep 600", network="pyc-t-dns",
                                      name="pyc-t-dweb", detach=True),
                client.containers.run("busybox", "sleep 600", network="pyc-t-dns",
                                      name="pyc-t-dcli", detach=True)) as (web, cli):
            ip = ip_of(web, "pyc-t-dns")
            out = sh(client, "cat /etc/resolv.conf; nslookup -type=a pyc-t-dweb; "
                     f"nslookup -type=a {web.short_id}", network="pyc-t-dns")
            assert "nameserver 127.0.0.11\n" in out and "options ndots:0" in out
            assert "10.255" not in out                  # only the embedded server
            assert out.count(f"Address: {ip}") == 2, out
            assert servers_of(web.id) and servers_of(cli.id)
            # over TCP too (a truncated answer is asked again so), from inside
            cli.reload()
            nsfd = os.open(f"/proc/{cli.attrs['State']['Pid']}/ns/net", os.O_RDONLY)
            try:
                with _in(nsfd):
                    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                os.close(nsfd)
            with t:
                t.settimeout(5)
                t.connect(("127.0.0.11", 53))
                dns.query.send_tcp(t, dns.message.make_query("pyc-t-dweb", "A"))
                r, _ = dns.query.receive_tcp(t, expiration=time.time() + 5)
            assert [rd.to_text() for rr in r.answer for rd in rr] == [ip]
            # a container that starts after the asker did, with an alias
            code, _ = lookup(cli, "pyc-t-dlate")
            assert code != 0
            late = client.containers.create(
                "busybox", "sleep 600", name="pyc-t-dlate", network="pyc-t-dns",
                networking_config={"pyc-t-dns": {"Aliases": ["pyc-t-dalias"]}})
            with containers(late):
                late.start()
                lip = ip_of(late, "pyc-t-dns")
                for name in ("pyc-t-dlate", "PYC-T-DALIAS"):
                    code, out = lookup(cli, name)
                    assert code == 0 and f"Address: {lip}" in out, out
            code, _ = lookup(cli, "pyc-t-dlate")          # gone again with it
            assert code != 0
            # the default bridge has no embedded server (as docker's)
            out = sh(client, "cat /etc/resolv.conf", network="bridge")
            assert "127.0.0.11" not in out and "nameserver" in out
            ids = (web.id, cli.id)
        assert [servers_of(i) for i in ids] == [[], []]
    in_netns(netns, body, client)


def test_endpoint_links_follow_containers_that_start_later(client, busybox, netns):
    def body(client):
        with network(client, "pyc-t-dlink") as net:
            c = client.containers.create(
                "busybox", "sleep 600", name="pyc-t-dlinker", network="pyc-t-dlink",
                networking_config={"pyc-t-dlink": {"Links": [("pyc-t-dup", "bar")]}})
            with containers(c):
                c.start()
                c.reload()
                assert c.attrs["NetworkSettings"]["Networks"]["pyc-t-dlink"]["Links"] == \
                    ["pyc-t-dup:bar"]
                assert lookup(c, "bar")[0] != 0
                up = client.containers.run("busybox", "sleep 600", name="pyc-t-dup",
                                           network="pyc-t-dlink", detach=True)
                with containers(up):
                    code, out = lookup(c, "bar")
                    assert code == 0 and f"Address: {ip_of(up, 'pyc-t-dlink')}" in out, out
                    # the alias is this container's alone
                    out = sh(client, "nslookup -type=a bar || echo unknown",
                             network="pyc-t-dlink")
                    assert "unknown" in out
                # given at connect, to a running container
                net.disconnect(c)
                net.connect(c, links=["pyc-t-dup2:baz"])
                up2 = client.containers.run("busybox", "sleep 600", name="pyc-t-dup2",
                                            network="pyc-t-dlink", detach=True)
                with containers(up2):
                    code, out = lookup(c, "baz")
                    assert code == 0 and f"Address: {ip_of(up2, 'pyc-t-dlink')}" in out, out
    in_netns(netns, body, client)


def test_other_names_are_forwarded_to_the_upstreams(client, busybox, netns):
    def body(client):
        with upstream(udp_socket(PEER_ADDR, netns.peer), "10.9.9.9") as far, \
                upstream(udp_socket("127.0.0.1"), "10.8.8.8") as near, \
                network(client, "pyc-t-dfw"), network(client, "pyc-t-dint", internal=True):
            out = sh(client, "nslookup -type=a example.org", network="pyc-t-dfw",
                     dns=[PEER_ADDR])
            assert "Address: 10.9.9.9" in out and far == ["example.org."], out
            # a loopback resolver of the host works: the server asks from there
            out = sh(client, "nslookup -type=a example.net", network="pyc-t-dfw",
                     dns=["127.0.0.1"])
            assert "Address: 10.8.8.8" in out and near == ["example.net."], out
            # the container's own names stay local
            out = sh(client, "nslookup -type=a $(hostname)", network="pyc-t-dfw",
                     dns=[PEER_ADDR])
            assert "10.9.9.9" not in out and far == ["example.org."]
            # nothing leaves an internal network, not even a name
            out = sh(client, "nslookup -type=a example.com || echo failed; "
                     "nslookup -type=a $(hostname) >/dev/null && echo local",
                     network="pyc-t-dint", dns=[PEER_ADDR])
            assert "failed" in out and "local" in out and far == ["example.org."], out
    in_netns(netns, body, client)


def test_a_container_may_serve_port_53_itself(client, busybox, netns, udpecho):
    def body(client):
        with network(client, "pyc-t-d53"), containers(client.containers.run(
                "busybox", ["/udpecho", "server", "53"], network="pyc-t-d53", detach=True,
                name="pyc-t-d53srv", volumes=udpecho)) as (srv,):
            wait_listening(srv, 53, "udp")          # 0.0.0.0:53: ours is elsewhere
            code, out = lookup(srv, "pyc-t-d53srv")
            assert code == 0 and f"Address: {ip_of(srv, 'pyc-t-d53')}" in out, out
            out = client.containers.run("busybox", ["/udpecho", "client", "pyc-t-d53srv", "53",
                                                    "hi"], network="pyc-t-d53", remove=True,
                                        volumes=udpecho)
            assert out == b"echo:hi\n"
    in_netns(netns, body, client)


def test_attached_runs_leave_no_server(client, busybox, netns):
    def body(client):
        with network(client, "pyc-t-datt"):
            out = sh(client, "nslookup -type=a $(hostname) >/dev/null && echo ok",
                     network="pyc-t-datt")
            assert out == "ok\n"
            with pytest.raises(errors.ContainerError):
                sh(client, "exit 3", network="pyc-t-datt")
    in_netns(netns, body, client)      # the leak check sees our children
