"""Running the registry: where it listens, TLS, and a server on a thread of its own.

Addresses: ``HOST:PORT`` (a loopback host unless ``allow_remote``: a registry
of images is not something to open to a network by accident) or
``unix:/path`` for a UNIX socket (mode 0600). Port 0 picks a free port; the
chosen one is in :attr:`Server.url`.
"""
import asyncio
import ipaddress
import os
import ssl
import threading

from pycontainer.errors import InvalidArgument

DEFAULT_ADDR = "127.0.0.1:5000"
LOOPBACK_NAMES = ("localhost",)


def parse_addr(addr, allow_remote=False):
    """``("unix", path)`` or ``("tcp", host, port)`` of a listening address."""
    if addr.startswith("unix:"):
        path = addr[5:]
        if not path:
            raise InvalidArgument(f"bad address {addr!r}: unix: needs a socket path")
        return ("unix", os.path.abspath(path))
    host, sep, port = addr.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise InvalidArgument(f"bad address {addr!r}: use HOST:PORT or unix:/path")
    if not allow_remote and not _loopback(host):
        raise InvalidArgument(f"address {addr!r} is not a loopback address; "
                              "listening elsewhere needs allow_remote (--allow-remote)")
    return ("tcp", host, int(port))


def _loopback(host):
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(cert, key):
    """A server TLS context (TLS 1.2 and later) from PEM files."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise InvalidArgument(f"cannot load the TLS certificate {cert} and key {key}: "
                              f"{e}") from None
    return ctx


class Server:
    """One registry serving the store ``root`` on ``addr`` (see :func:`parse_addr`).

    Use :meth:`run` to serve in the calling thread until stopped, or
    :meth:`start_thread` / :meth:`stop` to serve from a thread of its own.

    Attributes:
        url: ``http(s)://host:port`` (or ``unix:/path``) once listening.
        host: ``host:port`` as an image reference names it (TCP only).
    """

    def __init__(self, root, addr=DEFAULT_ADDR, htpasswd=None, tls_cert=None, tls_key=None,
                 allow_remote=False):
        from .app import Registry
        from .auth import Htpasswd
        self.where = parse_addr(addr, allow_remote)
        if (tls_cert is None) != (tls_key is None):
            raise InvalidArgument("TLS needs both a certificate and a key")
        self.ssl = tls_context(tls_cert, tls_key) if tls_cert else None
        auth = Htpasswd(htpasswd) if htpasswd else None
        self.registry = Registry(root, auth)
        self.url = self.host = None
        self._loop = self._runner = self._thread = None
        self._stopped = None
        self._ready = threading.Event()
        self._error = None

    async def _start(self):
        from aiohttp import web
        self._runner = web.AppRunner(self.registry.app(), access_log=None,
                                     handle_signals=False)
        await self._runner.setup()
        if self.where[0] == "unix":
            path = self.where[1]
            site = web.UnixSite(self._runner, path, ssl_context=self.ssl)
            await site.start()
            os.chmod(path, 0o600)
            self.url = f"unix:{path}"
            return
        _, host, port = self.where
        site = web.TCPSite(self._runner, host, port, ssl_context=self.ssl,
                           reuse_address=True)
        await site.start()
        port = self._runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self.host = f"{shown}:{port}"
        self.url = f"{'https' if self.ssl else 'http'}://{self.host}"

    async def _serve(self, on_ready):
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            await self._start()
        except BaseException as e:
            self._error = e
            self._ready.set()
            if self._runner is not None:
                await self._runner.cleanup()
            raise
        self._ready.set()
        try:
            if on_ready is not None:
                on_ready(self)
            await self._stopped.wait()
        finally:
            await self._runner.cleanup()
            if self.where[0] == "unix" and os.path.exists(self.where[1]):
                os.unlink(self.where[1])

    def run(self, on_ready=None):
        """Serve in this thread until :meth:`stop` (or Ctrl-C)."""
        asyncio.run(self._serve(on_ready))

    def start_thread(self):
        """Serve from a daemon thread; returns once listening (or raises why not)."""
        def body():
            try:
                self.run()
            except BaseException:   # noqa: BLE001  reported through _error
                self._ready.set()
        self._thread = threading.Thread(target=body, name="pyc-registry", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def stop(self):
        """Stop serving: open connections are closed, the thread is joined."""
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:
                pass        # the loop already ended
        if self._thread is not None:
            self._thread.join()
            self._thread = None
