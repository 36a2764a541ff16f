"""pycontainerd on TCP with TLS: the real docker CLI and docker-py with client
certificates made here; under ``--tlsverify`` a client without one, or with one
from another CA, is refused; ``--tls`` alone serves any client; an address
that would be served without client verification is refused unless forced."""
import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess

import docker
import pytest

from api_daemon import BIN, DOCKER, Daemon

DAY = datetime.timedelta(days=1)


def _cert(name, key, issuer=None, issuer_key=None, ca=False, server=False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer.subject if issuer else subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - DAY)
         .not_valid_after(now + DAY)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    # key identifiers: urllib3's strict verification wants them
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False)
    if issuer is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    if ca:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                          False), critical=True)
    else:
        b = b.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False)
    if server:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


def _write(path, cert=None, key=None):
    from cryptography.hazmat.primitives import serialization
    with open(path, "wb") as f:
        if cert is not None:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, the daemon's certificate for 127.0.0.1, a client's; and a client
    certificate from another CA."""
    from cryptography.hazmat.primitives.asymmetric import ec
    d = tmp_path_factory.mktemp("pki")
    made = {}
    for ca_name in ("ca", "other-ca"):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert(f"pyc-test-{ca_name}", ca_key, ca=True)
        made[ca_name] = _write(d / f"{ca_name}.pem", ca)
        for who in ("server", "client"):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _cert(f"pyc-{who}", key, ca, ca_key, server=who == "server")
            made[f"{ca_name}-{who}-cert"] = _write(d / f"{ca_name}-{who}-cert.pem", cert)
            made[f"{ca_name}-{who}-key"] = _write(d / f"{ca_name}-{who}-key.pem", key=key)
    return made


def _tls_flags(pki, verify=True):
    return ["--tlsverify" if verify else "--tls", "--tlscacert", pki["ca"],
            "--tlscert", pki["ca-server-cert"], "--tlskey", pki["ca-server-key"]]


@pytest.fixture(scope="module")
def verified(store_root, busybox, tmp_path_factory, pki):
    """A daemon on 127.0.0.1 under ``--tlsverify`` (and its UNIX socket)."""
    d = Daemon(store_root, tmp_path_factory.mktemp("pycd"),
               ["-H", "tcp://127.0.0.1:0", *_tls_flags(pki)])
    yield d
    assert d.stop() == 0, d.log_text()


def _cli(d, pki, *args, cert="ca-client", input=None):
    """The real docker CLI over TCP + TLS; ``cert`` None: no client certificate."""
    flags = ["--tlsverify", "--tlscacert", pki["ca"]]
    if cert:
        flags += ["--tlscert", pki[f"{cert}-cert"], "--tlskey", pki[f"{cert}-key"]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = os.path.dirname(d.sock)      # no user's config or certs
    return subprocess.run([DOCKER, *flags, "-H", f"tcp://127.0.0.1:{d.tcp_port()}", *args],
                          capture_output=True, text=True, env=env, timeout=60, input=input)


def _ping(port, ca, cert=None):
    """One ``GET /_ping`` over TLS (the server checked against ``ca``): the raw answer."""
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(*cert)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while chunk := s.recv(65536):
                got += chunk
            return got


def test_docker_cli_with_client_certificates(verified, pki):
    r = _cli(verified, pki, "version", "--format", "{{json .Server}}")
    assert r.returncode == 0, r.stderr
    server = json.loads(r.stdout)
    assert server["Platform"]["Name"] == "pycontainer" and server["ApiVersion"] == "1.44"
    r = _cli(verified, pki, "run", "--rm", "--network", "none", "busybox", "echo", "over tls")
    assert (r.returncode, r.stdout) == (0, "over tls\n"), r.stderr
    # stdin through the hijacked TLS connection, its half-close as EOF
    r = _cli(verified, pki, "run", "--rm", "-i", "--network", "none", "busybox", "wc", "-c",
             input="x" * 100000)
    assert (r.returncode, r.stdout.strip()) == (0, "100000"), r.stderr


@pytest.fixture
def no_ca_bundle(monkeypatch):
    """requests lets these variables override a session's CA (its issue 3829):
    docker-py's TLSConfig(ca_cert=...) would be ignored."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_docker_py_tls_config(verified, pki, no_ca_bundle):
    tls = docker.tls.TLSConfig(client_cert=(pki["ca-client-cert"], pki["ca-client-key"]),
                               ca_cert=pki["ca"], verify=True)
    c = docker.DockerClient(base_url=f"tcp://127.0.0.1:{verified.tcp_port()}", tls=tls,
                            version="auto", timeout=60)
    try:
        assert c.ping() is True
        # detached: run()'s followed log keeps its TLS socket in docker-py past close()
        ctr = c.containers.run("busybox", ["echo", "hi"], detach=True, network_mode="none")
        try:
            assert ctr.wait()["StatusCode"] == 0
            assert ctr.logs() == b"hi\n"
        finally:
            ctr.remove(force=True)
    finally:
        c.close()


def test_our_client_over_tls(verified, pki):
    from pycontainer import Client
    c = Client(base_url=f"https://127.0.0.1:{verified.tcp_port()}",
               tls={"ca": pki["ca"], "cert": pki["ca-client-cert"],
                    "key": pki["ca-client-key"]})
    try:
        assert c.containers.run("busybox", ["echo", "sdk"], remove=True,
                                network_mode="none") == b"sdk\n"
    finally:
        c.close()


def test_tlsverify_refuses_clients_without_a_good_certificate(verified, pki):
    port = verified.tcp_port()
    assert _ping(port, pki["ca"], (pki["ca-client-cert"], pki["ca-client-key"])).startswith(
        b"HTTP/1.1 200")
    for cert in (None, (pki["other-ca-client-cert"], pki["other-ca-client-key"])):
        try:        # TLS 1.3: the handshake ends on the client's side, then the server drops it
            answer = _ping(port, pki["ca"], cert)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            answer = b""
        assert answer == b""
    for cert in (None, "other-ca-client"):
        r = _cli(verified, pki, "version", "--format", "{{json .Server}}", cert=cert)
        assert r.returncode != 0 and "pycontainer" not in r.stdout, r.stdout + r.stderr
        assert "error during connect" in r.stderr, r.stderr
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:     # plain HTTP
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = s.recv(65536)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/1.1 200")
    assert verified.http("GET", "/_ping")[0] == 200          # the UNIX socket still serves


def test_tls_without_client_verification(store_root, busybox, tmp_path, pki, no_ca_bundle):
    d = Daemon(store_root, tmp_path, ["-H", "tcp://127.0.0.1:0", "--insecure-loopback",
                                      *_tls_flags(pki, verify=False)])
    try:
        assert "(TLS)" in d.log_text()
        assert _ping(d.tcp_port(), pki["ca"]).startswith(b"HTTP/1.1 200")
        c = docker.DockerClient(base_url=f"tcp://127.0.0.1:{d.tcp_port()}", version="auto",
                                tls=docker.tls.TLSConfig(ca_cert=pki["ca"], verify=True))
        try:
            assert c.version()["Platform"]["Name"] == "pycontainer"
        finally:
            c.close()
    finally:
        assert d.stop() == 0, d.log_text()


@pytest.mark.parametrize("args, says", [
    (["-H", "tcp://0.0.0.0:2376"], "pass --insecure-tcp to force it"),
    (["-H", "tcp://0.0.0.0:2376", "--tls"], "without client verification (--tls)"),
    (["-H", "tcp://127.0.0.1:2376"], "--insecure-loopback"),
    (["-H", "tcp://127.0.0.1:0", "--tlsverify", "--tlscacert", "/nonexistent/ca.pem"],
     "--tlscert"),
])
def test_refusals(args, says, tmp_path, pki):
    r = subprocess.run([BIN, "-H", f"unix://{tmp_path}/pyc.sock", "--root", str(tmp_path),
                        *args], capture_output=True, text=True, timeout=20,
                       env={**os.environ, "DOCKER_CERT_PATH": str(tmp_path)})
    assert r.returncode == 2 and says in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "pyc.sock")


def test_a_key_that_is_not_the_certificates(tmp_path, pki):
    r = subprocess.run([BIN, "-H", f"unix://{tmp_path}/pyc.sock", "--root", str(tmp_path),
                        "-H", "tcp://127.0.0.1:0", "--tlsverify", "--tlscacert", pki["ca"],
                        "--tlscert", pki["ca-server-cert"], "--tlskey",
                        pki["other-ca-server-key"]], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 2 and "could not load the TLS files" in r.stderr, r.stderr
