"""``events`` (``system events``): the store's event journal, as docker prints it."""
from .common import add_filter, filters


def args_events(p):
    p.add_argument("--since", metavar="string", help="Show all events created since timestamp "
                   "(RFC 3339, unix seconds, or a duration such as 10m)")
    p.add_argument("--until", metavar="string", help="Stream events until this timestamp")
    add_filter(p)
    p.add_argument("--format", metavar="string",
                   help="Format the output using the given Go template ('json': one JSON "
                        "object a line)")


def line(ev):
    """docker's default line: ``<time> <type> <action> <id> (k=v, ...)``."""
    import datetime
    ns = ev.get("timeNano") or ev.get("time", 0) * 10**9
    when = datetime.datetime.fromtimestamp(ns // 10**9, datetime.timezone.utc)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    shown = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items()))
    return (f"{stamp} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
            + (f" ({shown})" if shown else ""))


def render(ev, fmt, daemon=None):
    """One event as ``--format`` says (None: docker's line); ``daemon``: the
    name of the daemon it came from, when several are read."""
    if fmt is None:
        text = line(ev)
        return f"[{daemon}] {text}" if daemon else text
    import json

    from .output import fix_escapes
    from .template import Template
    if fmt.strip() == "json":
        return json.dumps(dict(ev, Daemon=daemon) if daemon else ev)
    view = dict(ev, Daemon=daemon or "")
    return Template(fix_escapes(fmt)).execute(view)


def _when(text, what):
    from ..engine.filters import parse_time
    return None if text is None else parse_time(text, what=what)


def cmd_events(ctx, args):
    out = ctx.out
    since, until = _when(args.since, "--since"), _when(args.until, "--until")
    f = filters(args.filter) or None
    backends = ctx.backends()
    if len(backends) == 1:
        for ev in backends[0][1].events(since, until, f):
            out.write(render(ev, args.format) + "\n")
            out.flush()
        return 0
    for name, ev in merged(backends, since, until, f):
        out.write(render(ev, args.format, name) + "\n")
        out.flush()
    return 0


def merged(backends, since, until, f):
    """(daemon, event) from every daemon as they come (one thread each); an
    error of one ends the stream with it."""
    import queue
    import threading
    q = queue.Queue()

    def read(name, b):
        try:
            for ev in b.events(since, until, f):
                q.put((name, ev, None))
        except BaseException as err:      # noqa: BLE001  handed to the main thread
            q.put((name, None, err))
        finally:
            q.put((name, None, None))
    for name, b in backends:
        threading.Thread(target=read, args=(name, b), daemon=True,
                         name="pyc-events").start()
    left = len(backends)
    while left:
        name, ev, err = q.get()
        if err is not None:
            raise err
        if ev is None:
            left -= 1
            continue
        yield name, ev
