"""Contexts: named daemons to switch between (docker's ``context``).

Kept in ``$XDG_CONFIG_HOME/pycontainer/contexts.json`` (default
``~/.config/pycontainer/``), not in the store: a context is a setting of
the person who types, like docker's ``~/.docker/contexts``, while a store
(``--root``) is the engine's data, often root's and shared, and one person
may drive several stores and daemons. ``default`` is always there: the
engine in this process, no daemon.

The file: ``{"current": NAME or null, "contexts": {NAME: {"host", "description"}}}``,
written to a temporary file and renamed (never half written).
"""
import json
import os
import re

from . import CLIError, UsageError, output

DEFAULT = "default"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def path():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(base, "pycontainer", "contexts.json")


def load():
    try:
        with open(path(), "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {"current": None, "contexts": {}}
    except ValueError as err:
        raise CLIError(f"pycontainer: {path()} is not JSON ({err}): fix or remove it") from err
    data.setdefault("contexts", {})
    data.setdefault("current", None)
    return data


def save(data):
    p = path()
    os.makedirs(os.path.dirname(p), mode=0o700, exist_ok=True)
    tmp = f"{p}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, p)


def resolve(flag):
    """[(name, host)] for ``--context`` (or the environment, or the current
    context); [] for the local engine."""
    name = flag
    if name is None:
        host = os.environ.get("PYCONTAINER_HOST")
        if host:
            return [(h, h) for h in host.split(",") if h]
        name = os.environ.get("PYCONTAINER_CONTEXT") or None
    if name is None:
        if not os.path.exists(path()):          # nothing to read: the fast path
            return []
        name = load().get("current")
    if name in (None, DEFAULT):
        return []
    ctx = load()["contexts"].get(name)
    if ctx is None:
        raise CLIError(f"pycontainer: context {name!r} does not exist (list them with "
                       "'pycontainer context ls')", 1)
    return [(name, ctx["host"])]


def _check_name(name):
    if not NAME_RE.match(name):
        raise UsageError(f"invalid context name {name!r}: letters, digits and _.+- , starting "
                         "with a letter or digit")


def _check_host(host):
    if not host.startswith(("unix:///", "tcp://", "http://")):
        raise UsageError(f"invalid host {host!r}: use unix:///path or tcp://host:port")


def args_context_create(p):
    p.add_argument("--description", default="", metavar="string", help="Description of the "
                   "context")
    p.add_argument("--host", "--docker", dest="host", required=True, metavar="string",
                   help="the daemon: unix:///path or tcp://host:port (docker's --docker "
                        "host=... is taken as the host itself)")
    p.add_argument("name", metavar="CONTEXT")


def cmd_context_create(ctx, args):
    _check_name(args.name)
    host = args.host[5:] if args.host.startswith("host=") else args.host
    _check_host(host)
    if args.name == DEFAULT:
        raise UsageError("'default' is the local engine: choose another name")
    data = load()
    if args.name in data["contexts"]:
        raise CLIError(f"pycontainer context create: context {args.name!r} already exists "
                       "(remove it first with 'pycontainer context rm')", 1)
    data["contexts"][args.name] = {"host": host, "description": args.description}
    save(data)
    ctx.out.write(args.name + "\n")


CONTEXT_TABLE = "{{.Name}}\t{{.Description}}\t{{.DockerEndpoint}}"
CONTEXT_TITLES = {"Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint":
                  "DOCKER ENDPOINT", "Current": "CURRENT"}


def _rows(data):
    current = data.get("current") or DEFAULT
    current = os.environ.get("PYCONTAINER_CONTEXT") or current
    rows = [{"Name": DEFAULT, "Description": "the engine in this process (no daemon)",
             "DockerEndpoint": "", "Current": current == DEFAULT}]
    for name, c in sorted(data["contexts"].items()):
        rows.append({"Name": name, "Description": c.get("description", ""),
                     "DockerEndpoint": c["host"], "Current": current == name})
    return rows


def args_context_ls(p):
    from .common import add_format
    add_format(p)
    p.add_argument("-q", "--quiet", action="store_true", help="Only show context names")


def cmd_context_ls(ctx, args):
    rows = _rows(load())
    if args.quiet:
        ctx.out.write("".join(r["Name"] + "\n" for r in rows))
        return 0
    if args.format is None:
        for r in rows:
            r["Name"] += " *" if r["Current"] else ""
    output.render(args.format, rows, CONTEXT_TABLE, CONTEXT_TITLES, ctx.out)
    return 0


def args_context_use(p):
    p.add_argument("name", metavar="CONTEXT")


def cmd_context_use(ctx, args):
    data = load()
    if args.name != DEFAULT and args.name not in data["contexts"]:
        raise CLIError(f"pycontainer context use: context {args.name!r} does not exist "
                       "(list them with 'pycontainer context ls')", 1)
    data["current"] = None if args.name == DEFAULT else args.name
    save(data)
    ctx.out.write(args.name + "\n")
    import sys
    sys.stderr.write(f'Current context is now "{args.name}"\n')


def args_context_rm(p):
    p.add_argument("-f", "--force", action="store_true",
                   help="Remove the context even when it is the current one")
    p.add_argument("names", nargs="+", metavar="CONTEXT")


def cmd_context_rm(ctx, args):
    data = load()
    failed = False
    for name in args.names:
        import sys
        if name == DEFAULT:
            sys.stderr.write("pycontainer context rm: 'default' cannot be removed\n")
            failed = True
        elif name not in data["contexts"]:
            sys.stderr.write(f"pycontainer context rm: context {name!r} does not exist\n")
            failed = True
        elif data.get("current") == name and not args.force:
            sys.stderr.write(f"pycontainer context rm: {name!r} is the current context: "
                             "switch with 'pycontainer context use default', or use -f\n")
            failed = True
        else:
            del data["contexts"][name]
            if data.get("current") == name:
                data["current"] = None
            ctx.out.write(name + "\n")
    save(data)
    return 1 if failed else 0


def args_context_inspect(p):
    from .common import add_format
    add_format(p, short=True, what="JSON")
    p.add_argument("names", nargs="*", metavar="CONTEXT")


def cmd_context_inspect(ctx, args):
    data = load()
    names = args.names or [data.get("current") or DEFAULT]
    out = []
    for name in names:
        if name == DEFAULT:
            out.append({"Name": DEFAULT, "Metadata": {"Description": _rows(data)[0][
                "Description"]}, "Endpoints": {"docker": {"Host": ""}}})
        elif name in data["contexts"]:
            c = data["contexts"][name]
            out.append({"Name": name, "Metadata": {"Description": c.get("description", "")},
                        "Endpoints": {"docker": {"Host": c["host"]}}})
        else:
            raise CLIError(f"pycontainer context inspect: context {name!r} does not exist", 1)
    if args.format:
        from .template import Template
        t = Template(output.fix_escapes(args.format))
        ctx.out.write("".join(t.execute(o) + "\n" for o in out))
    else:
        ctx.out.write(json.dumps(out, indent=4) + "\n")
    return 0
