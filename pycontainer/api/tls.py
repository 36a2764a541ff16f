"""Who may reach the API over TCP, and the TLS that makes it safe.

Reaching the API is root on the host, so a TCP address is served only:

- with ``--tlsverify``: TLS, and a client certificate signed by
  ``--tlscacert`` is required (a client without one fails the handshake);
- otherwise (plain HTTP, or ``--tls`` alone, which encrypts but checks no
  client) only when the operator says so: ``--insecure-loopback`` for a
  loopback address, ``--insecure-tcp`` for any other one.

The files default as dockerd's do: ``$DOCKER_CERT_PATH`` or ``~/.docker``,
``ca.pem``, ``cert.pem``, ``key.pem``. TLS 1.2 is the oldest accepted.
"""
import ipaddress
import os
import ssl

from ..errors import InvalidArgument


class UsageError(InvalidArgument):
    """A bad command line or configuration: printed, exit status 2."""


def cert_dir():
    return os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")


def is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_tcp(host, port, tlsverify, tls, insecure_loopback, insecure_tcp):
    """Refuse ``host`` unless clients are verified or the operator accepted the risk."""
    if tlsverify or insecure_tcp or (insecure_loopback and is_loopback(host)):
        return
    how = "with TLS but without client verification (--tls)" if tls else "without TLS"
    if is_loopback(host):
        raise UsageError(f"refusing to serve the API {how} on {host}:{port}: anyone on this "
                         "host could reach it and be root; use --tlsverify with client "
                         "certificates, or pass --insecure-loopback to accept that")
    raise UsageError(f"refusing to serve the API {how} on {host}:{port}: anyone who can "
                     "reach that address would be root on this host; use --tlsverify "
                     "--tlscacert --tlscert --tlskey (client certificates), or pass "
                     "--insecure-tcp to force it")


def server_context(cacert, cert, key, verify):
    """The ``ssl.SSLContext`` of a TCP listener; ``verify``: client certificates
    signed by ``cacert`` are required."""
    for flag, path in (("--tlscert", cert), ("--tlskey", key)) + (
            (("--tlscacert", cacert),) if verify else ()):
        if not os.path.isfile(path):
            raise UsageError(f"{flag} {path}: no such file")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
        if verify:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=cacert)
    except (ssl.SSLError, ValueError) as e:
        raise UsageError(f"could not load the TLS files ({cert}, {key}"
                         f"{', ' + cacert if verify else ''}): {e}") from None
    return ctx
