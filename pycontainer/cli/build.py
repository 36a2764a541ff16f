"""``build``: a Dockerfile build with docker's legacy builder's output.

The context is a directory, or ``-``: stdin holds a tar of the context
(gzip or not) or a Dockerfile alone (no context). A failing ``RUN`` exits
with its exit code, as docker's builder does; other failures exit 1.
"""
import io
import os
import sys

from . import CLIError, UsageError


def args_build(p):
    a = p.add_argument
    a("-t", "--tag", action="append", default=[], metavar="list",
      help="Name and optionally a tag in the 'name:tag' format (repeatable)")
    a("-f", "--file", metavar="string", help="Name of the Dockerfile (default: PATH/Dockerfile)")
    a("--build-arg", action="append", default=[], metavar="list",
      help="Set build-time variables (KEY=VALUE, or KEY to pass this one's)")
    a("--target", metavar="string", help="Set the target build stage to build")
    a("--no-cache", action="store_true", help="Do not use cache when building the image")
    a("--pull", action="store_true", help="Always attempt to pull a newer version of the image")
    from .run import boolean
    a("--rm", type=boolean, default=True, metavar="bool",
      help="Remove intermediate containers after a successful build (default true)")
    a("--force-rm", action="store_true", help="Always remove intermediate containers")
    a("--label", action="append", default=[], metavar="list",
      help="Set metadata for an image")
    a("--network", metavar="string", help="Set the networking mode for the RUN instructions")
    a("--platform", metavar="string", help="Set platform if server is multi-platform capable")
    a("--progress", choices=("auto", "plain", "tty"), default="auto",
      help='Set type of progress output ("auto", "plain", "tty"): the steps\' output '
           "either way")
    a("-q", "--quiet", action="store_true",
      help="Suppress the build output and print image ID on success")
    a("path", metavar="PATH | -", help="the context: a directory, or - for stdin")


def _build_args(items):
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {item!r}: the name is empty")
        if eq:
            out[key] = value
        elif key in os.environ:
            out[key] = os.environ[key]
    return out


def options(args):
    """docker-py's build() keywords for the flags."""
    kw = {"buildargs": _build_args(args.build_arg), "nocache": args.no_cache,
          "rm": args.rm, "forcerm": args.force_rm, "pull": args.pull}
    if args.tag:
        kw["tag"] = args.tag[0]
    if args.target:
        kw["target"] = args.target
    if args.label:
        kw["labels"] = dict(x.partition("=")[::2] for x in args.label)
    if args.network:
        kw["network_mode"] = args.network
    if args.platform:
        kw["platform"] = args.platform
    if args.path == "-":
        data = sys.stdin.buffer.read()
        if _is_tar(data):
            kw.update(fileobj=io.BytesIO(data), custom_context=True)
            if args.file:
                kw["dockerfile"] = args.file
        else:
            if args.file:
                raise UsageError("-f cannot be used with a Dockerfile on stdin")
            kw["fileobj"] = io.BytesIO(data)
        return kw
    if not os.path.isdir(args.path):
        raise CLIError(f"pycontainer build: unable to prepare context: path {args.path!r} "
                       "is not a directory (give the context directory, or - for stdin)")
    kw["path"] = args.path
    if args.file:
        # docker: relative to where the command runs, else to the context
        f = args.file
        kw["dockerfile"] = os.path.abspath(f) if os.path.exists(f) else f
    return kw


def _is_tar(data):
    if data[:2] == b"\x1f\x8b":
        return True
    return len(data) >= 512 and data[257:262] == b"ustar"


def cmd_build(ctx, args):
    kw = options(args)
    image = None
    out = sys.stdout
    for msg in ctx.builds.build(**kw):
        if "error" in msg:
            detail = msg.get("errorDetail") or {}
            code = detail.get("code") or 1
            raise CLIError(f"pycontainer build: {msg['error'].strip()}", code)
        aux = msg.get("aux") or {}
        if aux.get("ID"):
            image = aux["ID"]
        text = msg.get("stream")
        if text and not args.quiet:
            out.write(text)
            out.flush()
        elif msg.get("status") and not args.quiet:
            out.write(msg["status"] + "\n")
    if image is None:
        raise CLIError("pycontainer build: the build ended without an image")
    images = ctx.engine.images
    from .containers import split_ref
    for extra in args.tag[1:]:
        repo, tag = split_ref(extra)
        images.tag(image, repo, tag or "latest")
        if not args.quiet:
            out.write(f"Successfully tagged {extra}\n")
    if args.quiet:
        out.write(image + "\n")
    return 0
