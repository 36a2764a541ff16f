"""Docker's ``--change`` instructions (``CMD``, ``ENV``, ``LABEL``...) applied
to the ``config`` part of an image config, for import, commit and load."""

import json
import posixpath
import shlex

from pycontainer.errors import InvalidArgument


def _json_or_shell(keyword, rest, shell=True):
    rest = rest.strip()
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    if not rest:
        raise InvalidArgument(f"{keyword} needs an argument")
    return ["/bin/sh", "-c", rest] if shell else rest.split()


def _pairs(keyword, rest):
    """``key=value ...`` (shell quoting) or the legacy ``key value`` form."""
    rest = rest.strip()
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise InvalidArgument(f"{keyword}: {e}") from None
    if not words:
        raise InvalidArgument(f"{keyword} needs an argument")
    if "=" not in words[0]:
        key, _, value = rest.partition(" ")
        if not value.strip():
            raise InvalidArgument(f"{keyword} {key} needs a value")
        return [(key, value.strip())]
    out = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"{keyword}: {word!r} is not key=value")
        out.append((key, value))
    return out


def _ports(rest):
    ports = {}
    for item in rest.split():
        port, _, proto = item.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f"EXPOSE: bad protocol {proto!r}")
        lo, _, hi = port.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise InvalidArgument(f"EXPOSE: bad port {port!r}") from None
        if not 1 <= first <= last <= 65535:
            raise InvalidArgument(f"EXPOSE: bad port {port!r}")
        for n in range(first, last + 1):
            ports[f"{n}/{proto}"] = {}
    if not ports:
        raise InvalidArgument("EXPOSE needs an argument")
    return ports


def apply_changes(config, changes):
    """Apply docker ``--change`` instructions to an image ``config`` dict.

    Args:
        config: the ``config`` sub-dict of an image config, updated in place.
        changes: None, a list of instructions, or a string of instructions
            one a line. ``$VAR`` substitution is not done.

    Raises:
        InvalidArgument: an unsupported or malformed instruction.
    """
    if changes is None:
        return
    if isinstance(changes, str):
        changes = changes.splitlines()
    for line in changes:
        if not isinstance(line, str):
            raise InvalidArgument(f"changes must be strings, not {type(line).__name__}")
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(None, 1)
        keyword, rest = words[0].upper(), (words[1] if len(words) > 1 else "")
        if keyword in ("CMD", "ENTRYPOINT"):
            config["Cmd" if keyword == "CMD" else "Entrypoint"] = _json_or_shell(keyword, rest)
        elif keyword == "ENV":
            env = list(config.get("Env") or [])
            for key, value in _pairs(keyword, rest):
                env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
            config["Env"] = env
        elif keyword == "LABEL":
            labels = dict(config.get("Labels") or {})
            labels.update(_pairs(keyword, rest))
            config["Labels"] = labels
        elif keyword == "WORKDIR":
            if not rest.strip():
                raise InvalidArgument("WORKDIR needs an argument")
            path = posixpath.join(config.get("WorkingDir") or "/", rest.strip())
            config["WorkingDir"] = posixpath.normpath(path)
        elif keyword == "USER":
            if not rest.strip():
                raise InvalidArgument("USER needs an argument")
            config["User"] = rest.strip()
        elif keyword == "EXPOSE":
            config["ExposedPorts"] = {**(config.get("ExposedPorts") or {}), **_ports(rest)}
        elif keyword == "VOLUME":
            volumes = dict(config.get("Volumes") or {})
            volumes.update((v, {}) for v in _json_or_shell(keyword, rest, shell=False))
            config["Volumes"] = volumes
        elif keyword == "STOPSIGNAL":
            if not rest.strip():
                raise InvalidArgument("STOPSIGNAL needs an argument")
            config["StopSignal"] = rest.strip()
        else:
            raise InvalidArgument(
                f"unsupported change instruction {words[0]!r}: use CMD, ENTRYPOINT, ENV, "
                "WORKDIR, USER, LABEL, EXPOSE, VOLUME or STOPSIGNAL")
