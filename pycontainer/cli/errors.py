"""Engine errors as one line on stderr, with what to do, and docker's exit codes."""
import errno
import re
import sys

from .. import errors as E
from .verbs import ENGINE_125

# SDK keywords in engine messages, as the flags a person typed.
FLAGS = {"mem_limit": "--memory", "memswap_limit": "--memory-swap", "pids_limit": "--pids-limit",
         "nano_cpus": "--cpus", "cpu_shares": "--cpu-shares", "cpu_quota": "--cpu-quota",
         "cpu_period": "--cpu-period", "cpuset_cpus": "--cpuset-cpus",
         "restart_policy": "--restart", "working_dir": "--workdir", "network_mode": "--network",
         "security_opt": "--security-opt", "cap_add": "--cap-add", "cap_drop": "--cap-drop",
         "userns_mode": "--userns", "environment": "--env", "remove=True": "--rm",
         "remove(force=True)": "rm -f", "stop_timeout": "--stop-timeout"}
_FLAG_RE = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in FLAGS) + r")(?![\w-])")


def _hint(err, verb):
    if isinstance(err, E.Unauthorized):
        return "log in first with 'pycontainer login SERVER'" if verb != "login" else \
            "check the user name and password"
    if isinstance(err, E.RegistryError):
        if verb in ("run", "create"):
            return "check the name and that the registry answers; 'pycontainer images' " \
                "lists the local ones"
        return "check the name and that the registry answers"
    if isinstance(err, E.ImageNotFound):
        if verb in ("pull", "push", "run", "create"):
            return "check the name; 'pycontainer images' lists the local ones"
        return "list images with 'pycontainer images'; pull, load, import or commit one first"
    if isinstance(err, E.NotFound):
        if "container" in str(err).lower():
            return "list containers with 'pycontainer ps -a'"
        return ""
    if isinstance(err, E.Conflict):
        if verb in ("rm", "rmi", "volume_rm") and "-f" not in message(err):
            return "use -f to force it"
        return ""
    if isinstance(err, PermissionError) or getattr(err, "errno", None) == errno.EPERM:
        import os
        if os.geteuid() != 0:
            return "pycontainer needs root (namespaces, mounts, cgroups): run it with sudo"
    return ""


def message(err):
    if isinstance(err, OSError) and err.strerror:
        # "[Errno 2] ..." is Python's, not the user's; the text already names the path
        text = err.strerror
        if err.filename and str(err.filename) not in text:
            text += f": {err.filename}"
        return text
    text = str(err) or type(err).__name__
    if isinstance(err, E.PyContainerError) and not isinstance(err, OSError):
        text = _FLAG_RE.sub(lambda m: FLAGS[m.group(1)], text)
    return text


def _verb(display):
    from .verbs import GROUPS
    words = display.split()
    return words[0] if len(words) == 1 else GROUPS.get(words[0], {}).get(words[1], "")


def line(err, display, debug=False):
    """The one line that tells what failed and what to do."""
    where = f"pycontainer {display}" if display else "pycontainer"
    known = isinstance(err, (E.PyContainerError, OSError, TimeoutError))
    text = message(err) if known else f"internal error: {type(err).__name__}: {err}"
    hint = _hint(err, _verb(display))
    if not known and not debug:
        hint = "run with --log-level debug for the traceback"
    return f"{where}: {text}" + (f" ({hint})" if hint else "")


def report(err, display, debug=False):
    """Print ``err`` for the verb shown as ``display``; returns the exit code."""
    if debug:
        import traceback
        traceback.print_exception(err, file=sys.stderr)
    sys.stderr.write(line(err, display, debug) + "\n")
    return 125 if _verb(display) in ENGINE_125 else 1
