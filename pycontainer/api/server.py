"""``pycontainerd``: serve the Docker Engine API on a UNIX socket, and TCP with TLS.

>>> pycontainerd --host unix:///tmp/pyc.sock --data-root /var/lib/pycontainer &
>>> docker -H unix:///tmp/pyc.sock run --rm busybox echo hi

The socket is made mode 0660, owned by root and the ``--group`` (default
``pycontainer`` when that group exists): reaching it is root on the host,
as docker's socket is. TCP is served with ``--tlsverify`` (client
certificates) on any address; without it only when forced (tls.py says
which flag). Flags and ``daemon.json`` as dockerd's (config.py); SIGHUP
reloads the file, SIGTERM and SIGINT stop the daemon cleanly (the sockets
are removed); containers keep running under their monitors.
"""
import argparse
import asyncio
import concurrent.futures
import contextlib
import grp
import logging
import os
import signal
import socket
import ssl
import sys
import urllib.parse

from ..engine.host import trim_memory
from . import config
from .tls import UsageError, check_tcp, server_context

DEFAULT_SOCKET = "/run/pycontainer/pycontainer.sock"
THREADS = 64            # engine calls in flight (follows of logs and waits hold one each)
log = logging.getLogger("pycontainerd")

__all__ = ["UsageError", "check_tcp", "main", "parse_host", "serve"]


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
    # defaults are None: a flag given is told from one left out (daemon.json may set it)
    p = argparse.ArgumentParser(prog="pycontainerd", description="Serve the Docker Engine "
                                "API over a pycontainer store.")
    add = p.add_argument
    add("-H", "--host", action="append", default=None,
        help=f"where to listen (repeatable): unix:///PATH (default {DEFAULT_SOCKET}) or "
             "tcp://HOST:PORT (with --tlsverify)")
    add("--data-root", "--root", dest="root", help="the store (default /var/lib/pycontainer)")
    add("--exec-root", help="the run root (default: on tmpfs)")
    add("--group", "-G", help="group owning the socket (default pycontainer if it exists, "
                              "else root)")
    add("--pidfile", help="write the daemon's pid there (removed at a clean stop)")
    add("--config-file", help=f"daemon.json (default {config.DEFAULT_FILE})")
    add("--tls", action="store_const", const=True, help="serve TCP with TLS (implied by "
                                                        "--tlsverify)")
    add("--tlsverify", action="store_const", const=True,
        help="serve TCP with TLS and require client certificates signed by --tlscacert")
    d = config.cert_dir()
    add("--tlscacert", help=f"the CA clients' certificates are signed by "
                            f"(default {d}/ca.pem)")
    add("--tlscert", help=f"the server's certificate (default {d}/cert.pem)")
    add("--tlskey", help=f"the server's key (default {d}/key.pem)")
    add("--insecure-loopback", action="store_true",
        help="allow a loopback TCP address without client verification")
    add("--insecure-tcp", action="store_true",
        help="allow ANY TCP address without client verification: whoever reaches it is "
             "root on this host")
    add("--log-level", choices=config.LOG_LEVELS)
    add("-D", "--debug", action="store_const", const=True, help="debug logging")
    add("--label", action="append", help="key=value shown by docker info (repeatable)")
    add("--registry-mirror", action="append", help="a mirror of Docker Hub (repeatable)")
    add("--insecure-registry", action="append",
        help="a registry reached over plain HTTP or unverified TLS (repeatable)")
    add("--default-ulimit", action="append", help="NAME=SOFT[:HARD] for every container")
    return p


def listeners(conf):
    """``[(kind, where, ssl context or None)]`` of the settings' hosts, checked."""
    out = []
    for kind, where in (parse_host(h) for h in conf.host or ["unix://" + DEFAULT_SOCKET]):
        ctx = None
        if kind == "tcp":
            check_tcp(where[0], where[1], conf.tlsverify, conf.tls, conf.insecure_loopback,
                      conf.insecure_tcp)
            if conf.tls or conf.tlsverify:
                ctx = server_context(conf.tlscacert, conf.tlscert, conf.tlskey,
                                     conf.tlsverify)
        out.append((kind, where, ctx))
    return out


def _log_level(conf):
    return "DEBUG" if conf.debug else conf.log_level.upper().replace("FATAL", "CRITICAL")


class Daemon:
    """What SIGHUP changes at run time: the settings, the engine's registry client."""

    def __init__(self, engine, args, conf):
        from .routes import registry
        self.engine, self.args, self.conf = engine, args, conf
        registry.configure(engine, conf.registry())

    def reload(self):
        from .routes import registry
        try:
            fresh = config.reloaded(self.args, self.conf)
        except UsageError as e:
            log.error("reloading the configuration failed, nothing changed: %s", e)
            return
        if fresh.registry() != self.conf.registry():
            registry.configure(self.engine, fresh.registry())
        self.conf.__dict__.update(fresh.__dict__)       # the app reads this object
        logging.getLogger().setLevel(_log_level(self.conf))
        log.info("reloaded %s: %s", self.conf.config_file, ", ".join(
            f"{k}={getattr(self.conf, config.KEYS[k][0])}" for k in config.RELOADABLE))


async def serve(engine, hosts, gid, ready=None, daemon=None):
    """Listen on ``hosts`` (``(kind, where[, ssl context])``) until SIGTERM/SIGINT;
    SIGHUP reloads ``daemon``; the sockets are removed on the way out."""
    from aiohttp import web

    from .app import make_app
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ThreadPoolExecutor(THREADS, thread_name_prefix="pycd")
    loop.set_default_executor(pool)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, daemon.reload if daemon else lambda: None)
    runner = web.AppRunner(make_app(engine, daemon.conf if daemon else None),
                           access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    paths = []
    try:
        for kind, where, *tls in hosts:
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
                log.info("API listening on %s", where)
            else:
                # our own socket: port 0 works, and the log names the port taken
                sock = socket.create_server(where, family=socket.AF_INET6 if ":" in where[0]
                                            else socket.AF_INET)
                ctx = tls[0] if tls else None
                await web.SockSite(runner, sock, ssl_context=ctx).start()
                host, port = sock.getsockname()[:2]
                log.info("API listening on %s:%d (%s)", host, port,
                         "plain HTTP" if ctx is None else "TLS, client certificates "
                         "required" if ctx.verify_mode == ssl.CERT_REQUIRED else "TLS")
        if ready:
            ready()
        trim_memory()               # idle RSS ~1 MiB less
        await stop.wait()
        log.info("stopping")
    finally:
        engine.containers.closing.set()     # blocked waits end, so their threads do
        await runner.cleanup()
        for p in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        _leave_stuck_requests(pool, daemon)


def _leave_stuck_requests(pool, daemon, grace=5.0):
    """A request still in a thread ``grace`` seconds after the server closed
    (a follow that never ends) would keep the process alive forever: the
    interpreter joins every pool thread on exit. Records are written whole,
    so exiting now loses nothing on disk."""
    import threading
    import time
    pool.shutdown(wait=False, cancel_futures=True)      # idle threads leave now
    deadline = time.monotonic() + grace
    for t in threading.enumerate():
        if t.name.startswith("pycd_"):
            t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threading.enumerate() if t.name.startswith("pycd_")
             and t.is_alive()]
    if not stuck:
        return
    log.error("leaving with %d request(s) unfinished (%s)", len(stuck), ", ".join(stuck))
    if daemon is not None and daemon.conf.pidfile:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(daemon.conf.pidfile)
    logging.shutdown()
    os._exit(0)


def _args(argv):
    args = _parser().parse_args(argv)
    if args.default_ulimit is not None:
        args.default_ulimit = dict(config.ulimit_flag(u) for u in args.default_ulimit)
    return args


def few_malloc_arenas():
    """glibc gives each thread that allocates an arena of its own (up to 8 a
    core); two are enough for the engine's threads (RSS with 100 containers
    48.0 -> 46.4 MiB here). ``$MALLOC_ARENA_MAX``, when set, is left to rule."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    from ..engine import host
    with contextlib.suppress(OSError):
        host.malloc_arenas(2)                  # before any thread starts


def import_aiohttp():
    """aiohttp makes two default TLS contexts as it is imported (its
    connector), loading the system's CA bundle: ~60 ms and ~3 MiB of a daemon
    that never uses them (a registry's TLS is a context of its own, built by
    the registry client; a TLS listener's too). So it is imported with the
    default paths left unloaded: a context of aiohttp's defaults trusts nothing."""
    if "aiohttp" in sys.modules:
        return
    cls, names = ssl.SSLContext, ("load_default_certs", "set_default_verify_paths")
    own = {n: cls.__dict__[n] for n in names if n in cls.__dict__}
    for n in names:
        setattr(cls, n, lambda self, *args: None)
    try:
        import aiohttp.web  # noqa: F401
    finally:
        for n in names:
            if n in own:
                setattr(cls, n, own[n])
            else:
                delattr(cls, n)


def main(argv=None):
    few_malloc_arenas()
    import_aiohttp()
    try:
        args = _args(argv)
        conf = config.load(args)
        conf.insecure_loopback, conf.insecure_tcp = args.insecure_loopback, args.insecure_tcp
        hosts = listeners(conf)
        gid = socket_group(conf.group)
    except UsageError as e:
        print(f"pycontainerd: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=_log_level(conf),
                        format="%(asctime)s pycontainerd %(levelname)s %(message)s",
                        stream=sys.stderr)
    from ..engine.engine import Engine
    engine = Engine(conf.root, run_root=conf.exec_root)
    if conf.pidfile:
        os.makedirs(os.path.dirname(os.path.abspath(conf.pidfile)), exist_ok=True)
        with open(conf.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    try:
        asyncio.run(serve(engine, hosts, gid, daemon=Daemon(engine, args, conf)))
    finally:
        if conf.pidfile:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(conf.pidfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
