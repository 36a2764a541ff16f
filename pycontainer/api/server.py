"""``pycontainerd``: serve the Docker Engine API on a UNIX socket.

>>> pycontainerd --host unix:///tmp/pyc.sock --root /var/lib/pycontainer &
>>> docker -H unix:///tmp/pyc.sock run --rm busybox echo hi

The socket is made mode 0660, owned by root and the ``--group`` (default
``pycontainer`` when that group exists): reaching it is root on the host,
as docker's socket is. TCP is served only on a loopback address, and only
with ``--insecure-loopback``: TLS with client certificates comes later.
SIGTERM and SIGINT stop it cleanly (the socket is removed); containers keep
running under their monitors.
"""
import argparse
import asyncio
import concurrent.futures
import contextlib
import grp
import ipaddress
import logging
import os
import signal
import sys
import urllib.parse

from ..errors import InvalidArgument

DEFAULT_SOCKET = "/run/pycontainer/pycontainer.sock"
THREADS = 64            # engine calls in flight (follows of logs and waits hold one each)
log = logging.getLogger("pycontainerd")


class UsageError(InvalidArgument):
    """A bad command line: printed, exit status 2."""


def parse_host(text):
    """``unix:///path`` -> ("unix", path); ``tcp://127.0.0.1:2375`` -> ("tcp", (host, port))."""
    if text.startswith("/"):
        return "unix", text
    u = urllib.parse.urlsplit(text)
    if u.scheme == "unix":
        path = (u.netloc + u.path) or DEFAULT_SOCKET
        if not path.startswith("/"):
            raise UsageError(f"--host {text!r}: the socket path must be absolute")
        return "unix", path
    if u.scheme in ("tcp", "http"):
        try:
            host, port = u.hostname, u.port
        except ValueError:
            raise UsageError(f"--host {text!r}: invalid port") from None
        if not host or port is None:
            raise UsageError(f"--host {text!r}: use tcp://HOST:PORT")
        return "tcp", (host, port)
    raise UsageError(f"--host {text!r}: use unix:///PATH or tcp://HOST:PORT")


def check_tcp(host, insecure_loopback):
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise UsageError(f"refusing to serve the API on {host}: a non-loopback TCP address "
                         "needs TLS with client certificates (--tlsverify), which this "
                         "daemon does not implement yet")
    if not insecure_loopback:
        raise UsageError(f"refusing to serve the API without TLS on {host}: anyone on this "
                         "host could reach it; pass --insecure-loopback to accept that")


def socket_group(name):
    """The gid for the socket: ``name`` if given (must exist), else ``pycontainer``
    if it exists, else root's group."""
    if name:
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            raise UsageError(f"--group {name!r}: no such group") from None
    with contextlib.suppress(KeyError):
        return grp.getgrnam("pycontainer").gr_gid
    return 0


def _parser():
    p = argparse.ArgumentParser(prog="pycontainerd", description="Serve the Docker Engine "
                                "API over a pycontainer store.")
    p.add_argument("-H", "--host", action="append", default=[],
                   help=f"where to listen: unix:///PATH (default {DEFAULT_SOCKET}) or "
                        "tcp://127.0.0.1:PORT with --insecure-loopback")
    p.add_argument("--root", "--data-root", dest="root", default=None,
                   help="the store (default /var/lib/pycontainer)")
    p.add_argument("--exec-root", default=None, help="the run root (default: on tmpfs)")
    p.add_argument("--group", "-G", default=None,
                   help="group owning the socket (default pycontainer if it exists, else root)")
    p.add_argument("--insecure-loopback", action="store_true",
                   help="allow a loopback TCP address without TLS")
    p.add_argument("--pidfile", default=None, help="write the daemon's pid there "
                   "(removed at a clean stop)")
    p.add_argument("--tlsverify", action="store_true", help="(not implemented yet)")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warn", "error", "fatal"])
    return p


async def serve(engine, hosts, gid, ready=None):
    """Listen on ``hosts`` until SIGTERM/SIGINT; remove the sockets on the way out."""
    from aiohttp import web

    from .app import make_app
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
        THREADS, thread_name_prefix="pycd"))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(make_app(engine), access_log=None, handle_signals=False,
                           shutdown_timeout=2)
    await runner.setup()
    paths = []
    try:
        for kind, where in hosts:
            if kind == "unix":
                os.makedirs(os.path.dirname(where), mode=0o755, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(where)        # a stale socket of a daemon that died
                site = web.UnixSite(runner, where)
                old = os.umask(0o117)       # the socket is born 0660, never wider
                try:
                    await site.start()
                finally:
                    os.umask(old)
                paths.append(where)
                os.chown(where, 0, gid)
                os.chmod(where, 0o660)
            else:
                await web.TCPSite(runner, where[0], where[1]).start()
            log.info("API listening on %s", where)
        if ready:
            ready()
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
        for p in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)


def main(argv=None):
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper().replace("FATAL", "CRITICAL"),
                        format="%(asctime)s pycontainerd %(levelname)s %(message)s",
                        stream=sys.stderr)
    try:
        hosts = [parse_host(h) for h in args.host or ["unix://" + DEFAULT_SOCKET]]
        for kind, where in hosts:
            if kind == "tcp":
                if args.tlsverify:
                    raise UsageError("--tlsverify is not implemented yet")
                check_tcp(where[0], args.insecure_loopback)
        gid = socket_group(args.group)
    except UsageError as e:
        print(f"pycontainerd: {e}", file=sys.stderr)
        return 2
    from ..engine.engine import Engine
    engine = Engine(args.root, run_root=args.exec_root)
    if args.pidfile:
        os.makedirs(os.path.dirname(os.path.abspath(args.pidfile)), exist_ok=True)
        with open(args.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    try:
        asyncio.run(serve(engine, hosts, gid))
    finally:
        if args.pidfile:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.pidfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
