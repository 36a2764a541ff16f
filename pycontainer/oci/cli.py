"""``pycontainer-runtime``: runc's command line (the contract go-runc,
containerd's shim, dockerd and conmon call).

The C front end (``csrc/oci/front.c``) answers ``start``, ``state``,
``kill``, ``delete`` and ``ps --format json`` itself and execs this module
for the rest; every verb also works here, so the Python entry point alone
is a complete (slower) runtime. Errors go to stderr and to ``--log`` (text or
runc's JSON lines), and exit with status 1, as runc's do.
"""
import json
import os
import sys
import time

from ..errors import PyContainerError
from . import flags, lifecycle
from .state import list_ids

VERSION = "0.1.0"
SPEC_VERSION = "1.0.2"


def version_text():
    return f"pycontainer-runtime version {VERSION}\ncommit: pycontainer\nspec: {SPEC_VERSION}\n"


def _log(args, msg):
    sys.stderr.write(msg + "\n")
    if args is not None and args.log:
        with open(args.log, "a") as f:
            if args.log_format == "json":
                f.write(json.dumps({"level": "error", "msg": msg,
                                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                          time.gmtime())}) + "\n")
            else:
                f.write(f"time=\"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\" "
                        f"level=error msg={json.dumps(msg)}\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = None
    try:
        args = flags.parse(argv)
        return run(args)
    except (PyContainerError, OSError) as err:
        _log(args, str(err))
        return 1
    except (ValueError, TypeError, KeyError) as err:   # a config.json field of the wrong type
        _log(args, f"invalid input: {type(err).__name__}: {err}")
        return 1


def main_exit():
    sys.exit(main())


def run(args):
    if args.version:
        sys.stdout.write(version_text())
        return 0
    if args.systemd_cgroup:
        raise PyContainerError("--systemd-cgroup: this runtime manages cgroupfs only; run "
                               "without --systemd-cgroup (podman: --cgroup-manager=cgroupfs)")
    verb = args.verb
    if verb is None or args.help:
        sys.stdout.write("usage: pycontainer-runtime [global flags] COMMAND [flags] ID\n"
                         f"commands: {', '.join(sorted(flags.VERBS))}\n")
        return 0
    handler = globals()["_verb_" + verb.replace("-", "_")]
    return handler(args) or 0


def _c(args):
    return lifecycle.by_id(args.root, args.id)


def _verb_create(args):
    lifecycle.create(args.root, args.id, args.bundle or ".", args.pid_file or None,
                     args.console_socket or None, args.preserve_fds,
                     detach_stdio=(0, 1, 2) if args.pyc_foreground else None)


def _verb_run(args):
    fg = not args.detach
    c, init = lifecycle.create(args.root, args.id, args.bundle or ".", args.pid_file or None,
                               args.console_socket or None, args.preserve_fds,
                               detach_stdio=(0, 1, 2) if fg else None)
    try:
        lifecycle.start(c)
    except BaseException:
        lifecycle.delete(c, force=True)
        raise
    if not fg:
        return 0
    code = _wait_forwarding(init)
    if not args.keep:
        lifecycle.delete(c, force=True)
    return code


def _wait_forwarding(proc):
    """Wait for a foreground init or exec, passing on the signals a caller
    sends us (as runc does), so ^C or a TERM reaches the container."""
    import signal
    forward = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
               signal.SIGUSR2, signal.SIGWINCH)
    for sig in forward:
        signal.signal(sig, lambda n, _f: proc.kill(n))
    try:
        return proc.wait()
    finally:
        for sig in forward:
            signal.signal(sig, signal.SIG_DFL)


def _verb_start(args):
    lifecycle.start(_c(args))


def _verb_state(args):
    sys.stdout.write(json.dumps(_c(args).state(), indent=2) + "\n")


def _verb_kill(args):
    lifecycle.kill(_c(args), lifecycle.parse_signal(args.signal), args.all)


def _verb_delete(args):
    from .state import Container
    c = Container(args.root, args.id)
    if not c.exists():
        if args.force:
            return 0
        raise PyContainerError(f"container {args.id} does not exist")
    lifecycle.delete(c, args.force)


def _verb_pause(args):
    lifecycle.set_frozen(_c(args), True)


def _verb_resume(args):
    lifecycle.set_frozen(_c(args), False)


def _verb_ps(args):
    c = _c(args)
    pids = lifecycle._procs(c) if c.status() != "stopped" else []
    if args.format == "json":
        sys.stdout.write(json.dumps(pids) + "\n")
        return 0
    import subprocess
    out = subprocess.run(["ps"] + (args.ps_args or ["-ef"]), capture_output=True, text=True,
                         check=True).stdout.splitlines()
    header, rows = out[0], out[1:]
    col = header.split().index("PID")
    sys.stdout.write(header + "\n" + "".join(r + "\n" for r in rows
                                             if int(r.split()[col]) in pids))


def _verb_list(args):
    from .state import Container
    states = [Container(args.root, i).state() for i in list_ids(args.root)]
    if args.quiet:
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif args.format == "json":
        sys.stdout.write(json.dumps(states) + "\n")
    else:
        sys.stdout.write("ID   PID   STATUS   BUNDLE   CREATED   OWNER\n")
        for s in states:
            sys.stdout.write(f"{s['id']}   {s['pid']}   {s['status']}   {s['bundle']}   "
                             f"{s['created']}   root\n")


def _verb_spec(args):
    from . import defaults
    if args.rootless:
        raise PyContainerError("spec --rootless: this runtime runs as root only")
    path = os.path.join(args.bundle or ".", "config.json")
    if os.path.exists(path):
        raise PyContainerError("File config.json exists. Remove it first")
    with open(path, "w") as f:
        json.dump(defaults.spec(), f, indent="\t")
        f.write("\n")


def _verb_features(args):
    from . import defaults
    sys.stdout.write(json.dumps(defaults.features(), indent="    ") + "\n")


def _verb_update(args):
    r = {}
    if args.resources:
        text = sys.stdin.read() if args.resources == "-" else open(args.resources).read()
        r = json.loads(text)
    mem, cpu = dict(r.get("memory") or {}), dict(r.get("cpu") or {})
    if args.memory is not None:
        mem["limit"] = args.memory
    for key, flag in (("shares", "cpu_shares"), ("quota", "cpu_quota"),
                      ("period", "cpu_period"), ("cpus", "cpuset_cpus")):
        if getattr(args, flag) is not None:
            cpu[key] = getattr(args, flag)
    r.update(memory=mem, cpu=cpu)
    if args.pids_limit is not None:
        r["pids"] = {"limit": args.pids_limit}
    lifecycle.update(_c(args), r)


def _interval(text):
    units = {"ms": 0.001, "s": 1, "m": 60}
    for u in ("ms", "s", "m"):
        if text.endswith(u) and text[:-len(u)].replace(".", "", 1).isdigit():
            return float(text[:-len(u)]) * units[u]
    raise PyContainerError(f"--interval {text!r}: a duration like 5s or 500ms")


def _verb_events(args):
    c = _c(args)
    if args.stats:
        sys.stdout.write(json.dumps({"type": "stats", "id": c.id,
                                     "data": lifecycle.stats(c)}) + "\n")
        return 0
    every, ooms = _interval(args.interval), lifecycle.oom_kills(c)
    while True:
        # The status first: a kill that stops the init between two looks is
        # still read (the cgroup lives until delete) before we end.
        stopped = c.status() == "stopped"
        n = lifecycle.oom_kills(c)
        if n > ooms:
            sys.stdout.write(json.dumps({"type": "oom", "id": c.id}) + "\n")
            ooms = n
        if stopped:
            sys.stdout.flush()
            return 0
        sys.stdout.write(json.dumps({"type": "stats", "id": c.id,
                                     "data": lifecycle.stats(c)}) + "\n")
        sys.stdout.flush()
        time.sleep(every)    # the event interval itself, not a synchronisation


def _verb_exec(args):
    c = _c(args)
    if args.apparmor or args.process_label:
        raise PyContainerError("exec: this host has neither AppArmor nor SELinux")
    base = c.config()["process"]
    if args.process:
        with open(args.process) as f:
            process = json.load(f)
    else:
        if not args.command:
            raise PyContainerError("exec needs a command or --process")
        process = lifecycle.exec_args(args.command, args.cwd, args.env, args.user, args.cap,
                                      args.tty, args.no_new_privs, base)
        if args.additional_gids:
            process.setdefault("user", {})["additionalGids"] = [int(g) for g in
                                                                 args.additional_gids]
    p = lifecycle.exec_process(c, process, args.console_socket or None, args.pid_file or None,
                               args.detach, args.preserve_fds)
    if args.detach:
        return 0
    return _wait_forwarding(p)
