"""runc's flags, parsed as urfave/cli does: ``-f``, ``--flag``, ``--flag=v``,
``-flag v``; a verb's flags come before its positional arguments, and after
them everything is an argument (``exec ID sh -c ...``). No argparse: it
costs more to build than the rest of a verb's start."""
from types import SimpleNamespace

from ..errors import InvalidArgument

# name -> (attribute, kind): kind is bool, str, int or list (repeatable)
GLOBAL = {"root": str, "log": str, "log-format": str, "debug": bool, "systemd-cgroup": bool,
          "rootless": str, "criu": str, "version": bool, "v": "version", "help": bool,
          "h": "help"}
_CREATE = {"bundle": str, "b": "bundle", "pid-file": str, "console-socket": str,
           "no-pivot": bool, "no-new-keyring": bool, "preserve-fds": int}
# verb -> (flags, positional names; a name starting with * takes the rest)
VERBS = {
    # --pyc-foreground: the C front end's `run` (a create whose stdio is the
    # caller's, as Python's run makes it), not a flag of runc's
    "create": (dict(_CREATE, **{"pyc-foreground": bool}), ["id"]),
    "run": (dict(_CREATE, detach=bool, d="detach", keep=bool), ["id"]),
    "start": ({}, ["id"]), "state": ({}, ["id"]), "pause": ({}, ["id"]),
    "resume": ({}, ["id"]),
    "kill": ({"all": bool, "a": "all"}, ["id", "?signal"]),
    "delete": ({"force": bool, "f": "force"}, ["id"]),
    "ps": ({"format": str, "f": "format"}, ["id", "*ps_args"]),
    "list": ({"format": str, "f": "format", "quiet": bool, "q": "quiet"}, []),
    "spec": ({"bundle": str, "b": "bundle", "rootless": bool}, []),
    "features": ({}, []),
    "update": ({"resources": str, "r": "resources", "memory": int, "pids-limit": int,
                "cpu-shares": int, "cpu-quota": int, "cpu-period": int, "cpuset-cpus": str},
               ["id"]),
    "events": ({"stats": bool, "interval": str}, ["id"]),
    "exec": ({"process": str, "p": "process", "tty": bool, "t": "tty", "console-socket": str,
              "cwd": str, "env": list, "e": "env", "user": str, "u": "user",
              "additional-gids": list, "g": "additional-gids", "cap": list, "c": "cap",
              "detach": bool, "d": "detach", "pid-file": str, "no-new-privs": bool,
              "preserve-fds": int, "apparmor": str, "process-label": str},
             ["id", "*command"]),
}
DEFAULTS = {"root": "/run/pycontainer-runtime", "log-format": "text", "bundle": "",
            "format": "table", "interval": "5s", "signal": "SIGTERM", "rootless": None,
            "cpuset-cpus": None}


def _attr(name):
    return name.replace("-", "_")


def _take(table, argv, i, out, where):
    """Parse flags of ``table`` from argv[i]; returns the index of the first argument."""
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return i + 1
        if not a.startswith("-") or a == "-":
            return i
        name, eq, value = a.lstrip("-").partition("=")
        kind = table.get(name)
        if isinstance(kind, str):           # an alias
            name, kind = kind, table[kind]
        if kind is None:
            raise InvalidArgument(f"flag provided but not defined: -{name} ({where})")
        if kind is bool:
            out[_attr(name)] = value.lower() not in ("false", "0") if eq else True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv):
                raise InvalidArgument(f"flag needs an argument: -{name}")
            value = argv[i + 1]
            i += 1
        i += 1
        if kind is list:
            out.setdefault(_attr(name), []).append(value)
        elif kind is int:
            try:
                out[_attr(name)] = int(value)
            except ValueError:
                raise InvalidArgument(f"invalid value {value!r} for flag -{name}") from None
        else:
            out[_attr(name)] = value
    return i


def parse(argv):
    out = {}
    i = _take(GLOBAL, argv, 0, out, "global")
    ns = {_attr(k): (False if v is bool else [] if v is list else 0 if v is int else
                     DEFAULTS.get(k, ""))
          for k, v in GLOBAL.items() if not isinstance(v, str)}
    ns["verb"] = argv[i] if i < len(argv) else None
    if ns["verb"] is not None:
        if ns["verb"] not in VERBS:
            raise InvalidArgument(f"no such command: {ns['verb']}")
        flags, positional = VERBS[ns["verb"]]
        for k, v in flags.items():
            if not isinstance(v, str):
                ns[_attr(k)] = (False if v is bool else [] if v is list else None if v is int
                                else DEFAULTS.get(k, ""))
        i = _take(flags, argv, i + 1, out, ns["verb"])
        rest = argv[i:]
        for p in positional:
            if p.startswith("*"):
                ns[p[1:]], rest = rest, []
            elif p.startswith("?"):
                ns[p[1:]] = rest.pop(0) if rest else DEFAULTS[p[1:]]
            elif rest:
                ns[p] = rest.pop(0)
            else:
                raise InvalidArgument(f"{ns['verb']}: missing the container {p}")
        if rest:
            raise InvalidArgument(f"{ns['verb']}: unexpected arguments {rest}")
    ns.update(out)
    if ns.get("preserve_fds") is None:
        ns["preserve_fds"] = 0
    return SimpleNamespace(**ns)
