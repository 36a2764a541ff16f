"""Registry verbs: pull, push, login, logout.

Credentials are kept where docker keeps them (``$DOCKER_CONFIG/config.json``,
else ``~/.docker/config.json``: ``auths.<server>.auth``, base64
``user:password``), so docker and pycontainer share one login, and the
registry client reads them back for pulls and pushes.
"""
import base64
import json
import os
import sys

from . import CLIError, UsageError

HUB_KEY = "https://index.docker.io/v1/"     # docker's key for the hub in config.json


def _progress(args):
    from .progress import Progress
    return Progress(sys.stdout, quiet=args.quiet)


def full_name(ref):
    """The reference as docker prints it after a pull (a tag added when none)."""
    name = ref.rsplit("@", 1)[0]
    if "@" not in ref and ":" not in name.rsplit("/", 1)[-1]:
        ref += ":latest"
    first = ref.split("/", 1)[0]
    if "/" not in ref or not ("." in first or ":" in first or first == "localhost"):
        ref = "docker.io/" + ("library/" if "/" not in ref else "") + ref
    return ref


def args_pull(p):
    p.add_argument("-a", "--all-tags", action="store_true",
                   help="(not supported: pull the tags one by one)")
    p.add_argument("--platform", metavar="string",
                   help="Set platform if server is multi-platform capable (os/arch[/variant])")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")


def pull(ctx, ref, platform=None, quiet=False):
    """Pull ``ref`` with docker's progress on stdout (stderr when the verb's
    output is the container's, as ``run`` has it)."""
    from .progress import Progress
    show = Progress(sys.stderr if ctx.verb == "run" else sys.stdout, quiet=quiet)
    try:
        for msg in ctx.engine.images.pull(ref, platform=platform, stream=True):
            show(msg)
    finally:
        show.close()


def cmd_pull(ctx, args):
    if args.all_tags:
        raise UsageError("--all-tags is not supported: pull each tag by name")
    pull(ctx, args.name, args.platform, args.quiet)
    ctx.out.write(full_name(args.name) + "\n")


def args_push(p):
    p.add_argument("-a", "--all-tags", action="store_true",
                   help="(not supported: push the tags one by one)")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("name", metavar="NAME[:TAG]")


def cmd_push(ctx, args):
    if args.all_tags:
        raise UsageError("--all-tags is not supported: push each tag by name")
    ctx.engine.images.get(args.name)          # a missing image: one line, nothing sent
    show = _progress(args)
    try:
        for msg in ctx.engine.images.push(args.name, stream=True):
            show(msg)
    finally:
        show.close()
    if args.quiet:
        ctx.out.write(args.name + "\n")


# -- login ------------------------------------------------------------------------------

def config_path():
    home = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    return os.path.join(home, "config.json")


def _load(path):
    try:
        with open(path, "rb") as f:
            conf = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as err:
        raise CLIError(f"pycontainer login: {path} is not JSON ({err}): fix or remove it") \
            from err
    if not isinstance(conf, dict):
        raise CLIError(f"pycontainer login: {path} is not a JSON object: fix or remove it")
    return conf


def _save(path, conf):
    """Written to a temporary file, then renamed: the file is never half written,
    and 0600 as docker makes it (it holds passwords)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(conf, f, indent="\t")
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def server_key(server):
    """config.json's key for a server (docker's: the hub is a URL)."""
    if server in (None, "", "docker.io", "index.docker.io", "registry-1.docker.io", HUB_KEY):
        return HUB_KEY
    for prefix in ("https://", "http://"):
        if server.startswith(prefix):
            server = server[len(prefix):]
    return server.rstrip("/")


def args_login(p):
    p.add_argument("-u", "--username", metavar="string", help="Username")
    p.add_argument("-p", "--password", metavar="string", help="Password (prefer "
                   "--password-stdin: a password on the command line is seen by others)")
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    p.add_argument("server", nargs="?", metavar="SERVER",
                   help="the registry (default: docker.io)")


def _ask(prompt, secret=False):
    if not sys.stdin.isatty():
        raise UsageError("cannot prompt without a terminal: use -u USER --password-stdin")
    if secret:
        import getpass
        return getpass.getpass(prompt)
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().rstrip("\n")


def cmd_login(ctx, args):
    if args.password_stdin and args.password is not None:
        raise UsageError("--password and --password-stdin are mutually exclusive")
    if args.password_stdin and not args.username:
        raise UsageError("must provide --username with --password-stdin")
    user = args.username or _ask("Username: ")
    if args.password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    elif args.password is not None:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use "
                         "--password-stdin.\n")
        password = args.password
    else:
        password = _ask("Password: ", secret=True)
    if not user or not password:
        raise UsageError("username and password must not be empty")
    key = server_key(args.server)
    ctx.engine.images.login(user, password, None if key == HUB_KEY else key)
    path = config_path()
    conf = _load(path)
    conf.setdefault("auths", {})[key] = {
        "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _save(path, conf)
    sys.stderr.write(f"WARNING! Your password will be stored unencrypted in {path}.\n")
    ctx.out.write("Login Succeeded\n")


def args_logout(p):
    p.add_argument("server", nargs="?", metavar="SERVER",
                   help="the registry (default: docker.io)")


def cmd_logout(ctx, args):
    key = server_key(args.server)
    path = config_path()
    conf = _load(path)
    auths = conf.get("auths") or {}
    found = [k for k in auths if server_key(k) == key]
    shown = args.server or "docker.io"
    if not found:
        ctx.out.write(f"Not logged in to {shown}\n")
        return 0
    ctx.out.write(f"Removing login credentials for {shown}\n")
    for k in found:
        del auths[k]
    _save(path, conf)
    return 0
