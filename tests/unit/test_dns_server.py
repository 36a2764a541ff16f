"""pyc-dns (csrc/dns/), the embedded DNS server, run on a loopback socket in
this namespace: answers from a hosts file it reads again when it changes,
forwarding to upstreams in turn, hostile packets, and its lifeline."""
import os
import socket
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontainer.network import dns as netdns

HOSTS = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost
# a comment line
172.30.0.2\tweb Web.Alias 0123456789ab   # trailing comment
172.30.0.3\tdb shared
172.30.0.4\tcache shared
fd00::5\tsix
"""


class TcpUpstream:
    """A resolver on loopback over TCP: every A query gets 60 addresses (an
    answer too big for UDP)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.got, self.done = [], False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.done:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with c:
                c.settimeout(5)
                q, _ = dns.query.receive_tcp(c)
                self.got.append(q.question[0].name.to_text())
                r = dns.message.make_response(q)
                r.answer.append(dns.rrset.from_text_list(
                    q.question[0].name, 60, "IN", "A", [f"10.9.0.{i}" for i in range(1, 61)]))
                dns.query.send_tcp(c, r)

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


class Upstream:
    """A resolver on loopback that answers every A query with 10.9.9.9 (or
    stays silent): counts what it got."""

    def __init__(self, silent=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.silent = silent
        self.got = []
        self.done = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.done:
            try:
                data, peer = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            q = dns.message.from_wire(data)
            self.got.append(q.question[0].name.to_text())
            if self.silent:
                continue
            r = dns.message.make_response(q)
            r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", "10.9.9.9"))
            self.sock.sendto(r.to_wire(), peer)

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


class Server:
    """The server as an attached run starts it (:class:`netdns.Server`), on
    a loopback socket of this namespace."""

    def __init__(self, hosts, upstreams=()):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(16)
        self.tcp_port = tcp.getsockname()[1]
        self.server = netdns.Server([sock.detach(), tcp.detach()], hosts, upstreams)
        self.server.spawn()
        self.pid = self.server._pid

    def alive(self):
        if self.pid and os.waitpid(self.pid, os.WNOHANG) != (0, 0):
            self.pid = None         # reaped
        return self.pid is not None

    def ask(self, name, rdtype="A", timeout=5.0, tcp=False):
        q = dns.message.make_query(name, rdtype)
        if tcp:
            return dns.query.tcp(q, "127.0.0.1", port=self.tcp_port, timeout=timeout)
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=timeout)

    def close(self):
        os.close(self.server._life)         # its lifeline: it must end by itself
        self.server._life = self.server._pid = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.alive():
            time.sleep(0.01)
        if self.alive():
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
            raise AssertionError("pyc-dns outlived its lifeline")


@pytest.fixture
def hosts(tmp_path):
    p = tmp_path / "hosts"
    p.write_text(HOSTS)
    return p


@pytest.fixture
def server(hosts):
    s = Server(str(hosts))
    yield s
    s.close()


def addrs(reply, rdtype="A"):
    return sorted(rd.to_text() for rr in reply.answer if rr.rdtype == dns.rdatatype.from_text(rdtype)
                  for rd in rr)


def test_names_of_the_hosts_file_answered(server):
    r = server.ask("web")
    assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["172.30.0.2"]
    assert r.flags & dns.flags.AA
    assert addrs(server.ask("WEB.alias.")) == ["172.30.0.2"]     # any case, the final dot
    assert addrs(server.ask("0123456789ab")) == ["172.30.0.2"]
    assert addrs(server.ask("shared")) == ["172.30.0.3", "172.30.0.4"]
    assert addrs(server.ask("six", "AAAA"), "AAAA") == ["fd00::5"]
    assert addrs(server.ask("localhost", "AAAA"), "AAAA") == ["::1"]
    ptr = server.ask("3.0.30.172.in-addr.arpa", "PTR")
    assert [rd.to_text() for rr in ptr.answer for rd in rr] == ["db."]
    ptr = server.ask("1.0.0.127.in-addr.arpa", "PTR")
    assert [rd.to_text() for rr in ptr.answer for rd in rr] == ["localhost."]
    # loopback's other reverse names are answered here, never forwarded
    assert server.ask("11.0.0.127.in-addr.arpa", "PTR").rcode() == dns.rcode.NXDOMAIN


def test_a_known_name_without_that_family_is_nodata(server):
    r = server.ask("web", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and r.answer == []
    r = server.ask("web", "MX")
    assert r.rcode() == dns.rcode.NOERROR and r.answer == []


def test_unknown_names_fail_without_upstreams(server):
    r = server.ask("example.org")
    assert r.rcode() == dns.rcode.SERVFAIL
    r = server.ask("9.9.9.9.in-addr.arpa", "PTR")
    assert r.rcode() == dns.rcode.SERVFAIL


def test_the_file_is_read_again_when_it_changes(server, hosts):
    assert server.ask("late").rcode() == dns.rcode.SERVFAIL
    # rewritten in place, as the engine does (the file is bind-mounted)
    with open(hosts, "r+") as f:
        f.write(HOSTS + "172.30.0.9\tlate\n")
    assert addrs(server.ask("late")) == ["172.30.0.9"]
    with open(hosts, "r+") as f:
        f.truncate(0)
        f.write("172.30.0.8\tlate\n")
    assert addrs(server.ask("late")) == ["172.30.0.8"]
    assert server.ask("web").rcode() == dns.rcode.SERVFAIL


def test_other_names_go_to_the_upstreams_in_turn(hosts):
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    refused = closed.getsockname()[1]
    closed.close()                  # nothing listens there: the kernel refuses at once
    up = Upstream()
    s = Server(str(hosts), [f"127.0.0.1#{refused}", "not-an-address", f"127.0.0.1#{up.port}"])
    try:
        t = time.monotonic()
        r = s.ask("example.org", timeout=1.5)
        assert time.monotonic() - t < 1.5        # not the 2 s a silent upstream costs
        assert addrs(r) == ["10.9.9.9"]
        assert up.got == ["example.org."]
        assert addrs(s.ask("web")) == ["172.30.0.2"]      # local names stay local
        assert up.got == ["example.org."]
    finally:
        s.close()
        up.close()


def test_a_silent_upstream_is_given_up_on(hosts):
    silent, up = Upstream(silent=True), Upstream()
    s = Server(str(hosts), [f"127.0.0.1#{silent.port}", f"127.0.0.1#{up.port}"])
    try:
        assert addrs(s.ask("example.org", timeout=6)) == ["10.9.9.9"]
        assert silent.got == ["example.org."] and up.got == ["example.org."]
    finally:
        s.close()
        silent.close()
        up.close()


def raw(server, data, timeout=1.0):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(timeout)
    try:
        c.sendto(data, ("127.0.0.1", server.port))
        try:
            return c.recv(4096)
        except socket.timeout:
            return None
    finally:
        c.close()


def test_malformed_queries(server):
    q = dns.message.make_query("web", "A").to_wire()
    assert raw(server, b"\x00\x01") is None                    # shorter than a header
    r = raw(server, q[:2] + b"\x81" + q[3:])                   # a response: dropped
    assert r is None
    r = raw(server, q[:12] + b"\xc0\x0c\x00\x01\x00\x01")     # a pointer in the question
    assert r[:2] == q[:2] and r[3] & 0xf == dns.rcode.FORMERR
    two = q[:4] + b"\x00\x02" + q[6:]                          # two questions
    assert raw(server, two)[3] & 0xf == dns.rcode.FORMERR
    notify = q[:2] + bytes([q[2] | (4 << 3)]) + q[3:]          # opcode NOTIFY
    assert raw(server, notify)[3] & 0xf == dns.rcode.NOTIMP
    label = q[:12] + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01"    # a 64-byte label
    assert raw(server, label)[3] & 0xf == dns.rcode.FORMERR
    assert addrs(server.ask("web")) == ["172.30.0.2"]           # still serving


def test_random_packets_never_stop_it(hosts):
    s = Server(str(hosts))
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        @settings(max_examples=300, deadline=None)
        @given(st.binary(min_size=0, max_size=600))
        def send(data):
            c.sendto(data, ("127.0.0.1", s.port))
        send()
        assert s.alive()
        assert addrs(s.ask("db")) == ["172.30.0.3"]
    finally:
        c.close()
        s.close()


def test_it_ends_when_its_lifeline_closes(hosts):
    s = Server(str(hosts))
    assert s.alive()
    s.close()           # asserts it ended within 5 s


def test_it_runs_as_nobody_without_capabilities(server):
    assert addrs(server.ask("web")) == ["172.30.0.2"]      # past its start
    with open(f"/proc/{server.pid}/status") as f:
        status = dict(line.split(":", 1) for line in f.read().splitlines())
    assert status["Uid"].split() == ["65534"] * 4 and status["Gid"].split() == ["65534"] * 4
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1" and status["Groups"].strip() == ""


def test_tcp_local_names_and_several_queries_on_one_connection(server):
    r = server.ask("web", tcp=True)
    assert addrs(r) == ["172.30.0.2"]
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=5) as c:
        for name in ("db", "cache", "nowhere.example"):      # glibc sends A and AAAA so
            dns.query.send_tcp(c, dns.message.make_query(name, "A"))
            r, _ = dns.query.receive_tcp(c, expiration=time.time() + 5)
            assert r.question[0].name.to_text() == name + "."
        assert r.rcode() == dns.rcode.SERVFAIL         # no upstreams


def test_tcp_forwards_an_answer_too_big_for_udp(hosts):
    up = TcpUpstream()
    s = Server(str(hosts), [f"127.0.0.1#{up.port}"])
    try:
        r = s.ask("big.example", tcp=True)
        assert len(addrs(r)) == 60 and up.got == ["big.example."]
        with socket.create_connection(("127.0.0.1", s.tcp_port), timeout=5) as c:
            c.sendall(b"\x00\x05abc")                 # a short message, then EOF
        assert addrs(s.ask("web", tcp=True)) == ["172.30.0.2"]
    finally:
        s.close()
        up.close()


def test_tcp_connections_do_not_outlive_the_server(hosts):
    s = Server(str(hosts))
    idle = socket.create_connection(("127.0.0.1", s.tcp_port), timeout=5)
    try:
        assert addrs(s.ask("web")) == ["172.30.0.2"]     # the idle child exists by now
        s.close()                                        # asserts the server ended
        idle.settimeout(5)
        assert idle.recv(1) == b""                       # its child is gone too
    finally:
        idle.close()
