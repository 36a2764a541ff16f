"""``pycontainer registry serve``: an OCI Distribution registry over the store's blobs."""
import os
import signal
import sys


def args_registry_serve(p):
    p.add_argument("--addr", default="127.0.0.1:5000", metavar="HOST:PORT",
                   help="where to listen: a loopback HOST:PORT or unix:/path "
                        "(default 127.0.0.1:5000)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow an --addr that is not a loopback address")
    p.add_argument("--htpasswd", metavar="FILE",
                   help="require Basic auth against this htpasswd file (bcrypt)")
    p.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    p.add_argument("--root", metavar="DIR", default=None,
                   help="the store whose blobs it serves (default: the global --root)")


def cmd_registry_serve(ctx, args):
    from ..engine.engine import DEFAULT_ROOT
    from ..registry.server import Server
    root = args.root or ctx.root or os.environ.get("PYCONTAINER_ROOT") or DEFAULT_ROOT
    server = Server(root, args.addr, htpasswd=args.htpasswd, tls_cert=args.tls_cert,
                    tls_key=args.tls_key, allow_remote=args.allow_remote)

    def ready(srv):
        sys.stderr.write(f"pycontainer registry: serving {os.path.abspath(root)} on "
                         f"{srv.url}\n")
        sys.stderr.flush()

    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.run(on_ready=ready)
    except KeyboardInterrupt:
        pass
    return 0
