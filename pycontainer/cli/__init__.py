"""The ``pycontainer`` command (alias ``pyc``): docker's verbs, daemonless.

Like podman, the command drives the engine in its own process: no daemon
runs. Each verb is a function of one module (cli/verbs.py is the table);
only that module is imported, and the engine only when the verb needs it,
so ``pycontainer --version`` imports almost nothing.

Exit codes are docker's: 0 on success; for ``run`` (without ``-d``) the
container's exit code, 125 when the engine failed, 126 when the command
could not be invoked, 127 when it was not found; for the other verbs 1
when something failed; 125 for wrong flags.

>>> main(["--root", "/tmp/store", "ps", "-a", "--format", "{{.Names}}"])
0
"""
import os
import sys

from .. import __version__
from ..errors import InvalidArgument, PyContainerError

GLOBAL_HELP = """\
Usage:  pycontainer [OPTIONS] COMMAND

A container engine for Linux (daemonless, docker's verbs)

Global Options:
      --root string        the store (default $PYCONTAINER_ROOT, else /var/lib/pycontainer)
  -H, --host list          a daemon to talk to (unix:///path or tcp://host:port; default
                           $PYCONTAINER_HOST, else none: the engine runs in this process);
                           repeatable for ps, images and events
  -c, --context string     the context to use (see 'pycontainer context ls')
  -l, --log-level string   debug, info, warn, error or fatal (default "warn"); debug
                           also prints the traceback of an error
  -v, --version            Print version information and quit
  -h, --help               Print this help and quit
"""
LEVELS = ("debug", "info", "warn", "error", "fatal")


class UsageError(InvalidArgument):
    """Wrong flags or arguments: exit 125 with a pointer to ``--help``."""


class CLIError(PyContainerError):
    """A failure the verb explains itself: ``message`` on stderr, exit ``code``."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class Context:
    """What a verb gets besides its arguments: the store and the engine."""

    def __init__(self, root, verb, display, log_level, hosts=None, context=None):
        self.root = root
        self.hosts = hosts or []          # [(name, url)] from -H, the env or a context
        self.context = context
        self.verb = verb            # the key in verbs.VERBS
        self.display = display      # as typed: "image ls"
        self.log_level = log_level
        self.out = sys.stdout
        self._engine = None

    @property
    def engine(self):
        """The local engine of the store (made on first use)."""
        if self._engine is None:
            from ..engine.engine import Engine
            from .verbs import READ_ONLY
            self._engine = Engine(self.root, reconcile=self.verb not in READ_ONLY)
            # the registry client is made (and imported) on a pull or push only
            self._engine.images.registry_factory = _registry
        return self._engine

    @property
    def builds(self):
        """The engine with its builder attached (``build`` only)."""
        engine = self.engine
        if engine.builds is None:
            from ..build import Builds
            engine.builds = Builds(engine)
        return engine.builds

    def backends(self):
        """[(daemon name or None, adapter)]: the local engine, or each daemon."""
        from .daemons import Local, Remote
        if not self.hosts:
            return [(None, Local(self))]
        return [(name, Remote(url)) for name, url in self.hosts]

    def backend(self):
        """The one adapter of a verb that takes one daemon."""
        (name, b), = self.backends()
        return b

    def warn(self, message):
        sys.stderr.write(f"pycontainer {self.display}: {message}\n")


def _registry(store):
    from ..registry import Registry
    return Registry(store)


def _help():
    from .verbs import COMMON, GROUP_SUMMARIES, GROUPS, TOP, VERBS
    lines = [GLOBAL_HELP, "Common Commands:"]
    lines += [f"  {v:<11} {VERBS[v][2]}" for v in COMMON]
    lines += ["", "Management Commands:"]
    lines += [f"  {g:<11} {GROUP_SUMMARIES[g]}" for g in GROUPS]
    lines += ["", "Commands:"]
    lines += [f"  {v:<11} {VERBS[v][2]}" for v in TOP if v not in COMMON]
    lines += ["", "Run 'pycontainer COMMAND --help' for more information on a command.", ""]
    return "\n".join(lines)


def _group_help(group):
    from .verbs import GROUP_SUMMARIES, GROUPS, VERBS
    subs = {}
    for name, verb in GROUPS[group].items():
        subs.setdefault(verb, []).append(name)
    lines = [f"Usage:  pycontainer {group} COMMAND", "", GROUP_SUMMARIES[group], "",
             "Commands:"]
    lines += [f"  {names[0]:<11} {VERBS[verb][2]}" + (f" (also: {', '.join(names[1:])})"
                                                       if names[1:] else "")
              for verb, names in subs.items()]
    lines += ["", f"Run 'pycontainer {group} COMMAND --help' for more information on a "
              "command.", ""]
    return "\n".join(lines)


def _globals(argv):
    """Split the global flags off: (root, log level, hosts, context, rest).
    Parsed by hand: argparse is not imported for ``--version`` and ``--help``."""
    root, level, hosts, context = None, None, [], None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-v", "--version"):
            sys.stdout.write(f"pycontainer version {__version__}\n")
            raise SystemExit(0)
        if a in ("-h", "--help"):
            sys.stdout.write(_help())
            raise SystemExit(0)
        name, eq, value = a.partition("=")
        if name in ("--root", "--log-level", "-l", "-H", "--host", "-c", "--context"):
            if not eq:
                if i + 1 >= len(argv):
                    raise UsageError(f"flag needs an argument: {name}")
                i += 1
                value = argv[i]
            if name == "--root":
                root = value
            elif name in ("-H", "--host"):
                hosts.append(value)
            elif name in ("-c", "--context"):
                context = value
            else:
                if value not in LEVELS:
                    raise UsageError(f"invalid --log-level {value!r}: use one of "
                                     f"{', '.join(LEVELS)}")
                level = value
            i += 1
            continue
        if a.startswith("-"):
            raise UsageError(f"unknown flag: {a}")
        break
    return root, level, hosts, context, argv[i:]


def _resolve(rest):
    """(verb key, display name, verb's arguments) of the words after the global flags."""
    from .verbs import GROUPS, TOP
    word = rest[0]
    if word in GROUPS:
        group = GROUPS[word]
        if len(rest) < 2 or rest[1] in ("-h", "--help"):
            sys.stdout.write(_group_help(word))
            raise SystemExit(0)
        sub = rest[1]
        if sub not in group:
            raise CLIError(f"pycontainer {word}: '{sub}' is not a pycontainer {word} command; "
                           f"see 'pycontainer {word} --help'")
        return group[sub], f"{word} {sub}", rest[2:]
    if word not in TOP:
        raise CLIError(f"pycontainer: '{word}' is not a pycontainer command; see "
                       "'pycontainer --help'")
    return word, word, rest[1:]


def _daemons(hosts, context, verb, display):
    """[(name, url)] of the daemons this command talks to (docker's order:
    -H, --context, $PYCONTAINER_HOST, $PYCONTAINER_CONTEXT, the current
    context); [] for the local engine."""
    from .verbs import MULTI_HOST, REMOTE
    if hosts and context:
        raise UsageError("conflicting options: either specify --host or --context, not both")
    if hosts:
        found = [(h, h) for h in hosts]
    else:
        from . import contexts
        found = contexts.resolve(context)
    if found and verb not in REMOTE:
        raise CLIError(f"pycontainer {display}: not available against a daemon yet "
                       f"({found[0][1]}): run it locally (no -H, 'pycontainer context use "
                       "default')", 1)
    if len(found) > 1 and verb not in MULTI_HOST:
        raise UsageError(f"-H given {len(found)} times: only ps, images and events read "
                         "several daemons")
    return found


_parsers = {}


def parser_for(verb, display):
    """The argparse parser of one verb (only that one is built; kept, so the
    warm process makes each once)."""
    key = (verb, display)
    if key not in _parsers:
        _parsers[key] = _make_parser(verb, display)
    return _parsers[key]


def _make_parser(verb, display):
    import argparse
    import importlib
    from .verbs import VERBS
    module, func, summary = VERBS[verb]
    mod = importlib.import_module(f"{__name__}.{module}")
    setup = getattr(mod, f"args_{func}")
    own_help = getattr(setup, "own_help", False)     # run/create: -h is --hostname

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError(message)

    p = Parser(prog=f"pycontainer {display}", description=summary, allow_abbrev=False,
               add_help=not own_help, formatter_class=argparse.RawDescriptionHelpFormatter)
    if own_help:
        p.add_argument("--help", action="help", help="Print usage")
    setup(p)
    return p, getattr(mod, f"cmd_{func}")


def main(argv=None):
    """Run one command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    display = ""
    level = None
    try:
        root, level, hosts, context, rest = _globals(argv)
        if not rest:
            sys.stdout.write(_help())
            return 0
        verb, display, rest = _resolve(rest)
        parser, handler = parser_for(verb, display)
        args = parser.parse_args(rest)
        from .verbs import LOCAL_ONLY
        daemons = [] if verb in LOCAL_ONLY else _daemons(hosts, context, verb, display)
        if level is not None:
            import logging
            logging.basicConfig(level=level.upper().replace("FATAL", "CRITICAL")
                                .replace("WARN", "WARNING"), format="%(levelname)s %(message)s")
        ctx = Context(root, verb, display, level, daemons, context)
        code = handler(ctx, args)
        sys.stdout.flush()
        return code or 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except UsageError as e:
        where = f"pycontainer {display}" if display else "pycontainer"
        sys.stderr.write(f"{where}: {e}; see '{where} --help'\n")
        return 125
    except CLIError as e:
        if str(e):
            sys.stderr.write(f"{e}\n")
        return e.code
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130
    except BrokenPipeError:
        # the reader went away (``pycontainer ps | head``): say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as e:      # noqa: BLE001  the one place errors become exit codes
        from .errors import report
        return report(e, display, level == "debug")


def main_exit():
    """The console scripts' entry point (``pycontainer``, ``pyc``)."""
    sys.exit(main())
