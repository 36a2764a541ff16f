"""Helpers the verb modules share: finding containers, acting on several,
``--filter`` flags and prompts."""
import sys

from . import UsageError


def container_id(ctx, key):
    """The full id of a container named by id, id prefix or name (NotFound otherwise)."""
    return ctx.engine.containers.inspect(key)["Id"]


def each(ctx, keys, act, echo=True):
    """``act(key)`` for every key; errors are reported one a line and the
    others still run (docker's rule). Prints each key that worked when
    ``echo``, else what ``act`` returns. Returns the exit code."""
    from .errors import line
    from .. import errors as E
    failed = False
    for key in keys:
        try:
            result = act(key)
        except (E.PyContainerError, OSError, TimeoutError) as err:
            failed = True
            ctx.out.flush()
            if ctx.log_level == "debug":
                import traceback
                traceback.print_exception(err, file=sys.stderr)
            sys.stderr.write(line(err, ctx.display, ctx.log_level == "debug") + "\n")
            continue
        shown = key if echo else result
        if shown is not None:
            ctx.out.write(f"{shown}\n")
    return 1 if failed else 0


def filters(items):
    """``--filter key=value`` (repeated) as the engine's filters dict."""
    out = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"bad format of filter {item!r} (expected name=value)")
        out.setdefault(key.strip(), []).append(value)
    return out


def add_filter(p, short=True):
    names = ("-f", "--filter") if short else ("--filter",)
    p.add_argument(*names, action="append", default=[], metavar="filter",
                   help="Filter output based on conditions provided (key=value)")


def add_format(p, short=False, what="table"):
    names = ("-f", "--format") if short else ("--format",)
    p.add_argument(*names, metavar="string", default=None,
                   help=f"Format output using a custom template: 'table' ({what} with column "
                        "headers, the default), 'table TEMPLATE', 'json', or a Go template")


def confirm(ctx, question, force):
    """docker's prompts for prune: ``-f`` skips it; no answer is no."""
    if force:
        return True
    sys.stdout.write(f"{question}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def refuse_terminal(stream, what):
    if stream.isatty():
        raise UsageError(f"cowardly refusing to write {what} to a terminal: use -o FILE or "
                         "redirect the output")


class _Face:
    """What the SDK's models need of a client (its backend), to reuse their views."""

    def __init__(self, backend):
        self._backend = backend


def face(ctx):
    return _Face(ctx.engine)
