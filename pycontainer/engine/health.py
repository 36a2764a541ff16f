"""Healthchecks with docker's semantics; the monitor runs the probes.

The policy is here: ``healthcheck=`` merged with the image's
``Healthcheck`` (docker's rules: a field left empty or 0 inherits the
image's), validated, docker's defaults filled in, and the probe compiled
into an exec plan (engine/exec.py) at each start. The monitor of a
detached container (csrc/monitor/health.c) runs that plan on its timer and
writes ``health.json``, so probes go on with no Python process alive.

States: ``starting`` until the first success, ``healthy``, ``unhealthy``
after ``retries`` failures in a row (failures while starting within
``start_period`` do not count). A restart of the container starts again
at ``starting``. As docker, an unhealthy container is not restarted: the
restart policy acts on exits only.
"""
import os

from ..errors import InvalidArgument
from ..jsonfile import read_json

NS = 1_000_000_000
# docker's defaults (moby daemon/health.go)
DEFAULTS = {"Interval": 30 * NS, "Timeout": 30 * NS, "StartPeriod": 0,
            "StartInterval": 5 * NS, "Retries": 3}
MIN_DURATION = 1_000_000           # 1 ms, docker's minimum for each duration
_KEYS = {"test": "Test", "interval": "Interval", "timeout": "Timeout",
         "start_period": "StartPeriod", "start_interval": "StartInterval", "retries": "Retries"}


def _docker_shape(hc, what):
    """docker-py's ``{"test": ..., "interval": ...}`` (or the image config's
    capitalised keys) -> ``{"Test": [...], "Interval": ns, ...}``."""
    if hc is None:
        return None
    if not isinstance(hc, dict):
        raise InvalidArgument(f"{what} must be a dict, got {type(hc).__name__}")
    out = {}
    for key, value in hc.items():
        name = _KEYS.get(key, key)
        if name not in DEFAULTS and name != "Test":
            raise InvalidArgument(f"{what}: unknown key {key!r}; use {sorted(_KEYS)}")
        out[name] = value
    test = out.get("Test")
    if isinstance(test, str):          # docker-py: a string is a shell command
        test = ["CMD-SHELL", test] if test else []
    if test is not None and (not isinstance(test, (list, tuple))
                             or not all(isinstance(t, str) for t in test)):
        raise InvalidArgument(f"{what} test must be a list of strings, got {test!r}")
    out["Test"] = list(test or [])
    for name in DEFAULTS:
        v = out.get(name) or 0
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidArgument(f"{what} {name}: a whole number >= 0, got {out.get(name)!r}")
        if name != "Retries" and 0 < v < MIN_DURATION:
            raise InvalidArgument(f"{what} {name} cannot be less than 1ms (values are "
                                  f"nanoseconds), got {v}")
        out[name] = v
    return out


def merge(user, image):
    """The container's healthcheck (docker's Config.Healthcheck) or None.

    ``user``: run()'s ``healthcheck=``; ``image``: the image config's.
    ``{"test": ["NONE"]}`` turns the image's off (kept, as docker keeps it).
    """
    mine = _docker_shape(user, "healthcheck")
    theirs = _docker_shape(image, "the image's Healthcheck")
    if mine is None:
        mine = theirs
    elif theirs is not None:
        for key, value in theirs.items():
            if not mine.get(key):
                mine[key] = value
    if mine is None:
        return None
    test = mine["Test"]
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise InvalidArgument(f"healthcheck test must start with NONE, CMD or CMD-SHELL, "
                              f"got {test!r}")
    if test and test[0] != "NONE" and (len(test) < 2 or not test[1]):
        raise InvalidArgument(f"healthcheck test {test[0]} needs a command, got {test!r}")
    return {k: mine[k] for k in ("Test", *DEFAULTS) if k in mine}


def probe_argv(hc):
    """The probe's argv, or None when there is no (or a disabled) healthcheck."""
    test = (hc or {}).get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1]]
    return list(test[1:])


def timing(hc):
    """(interval, timeout, start_period, start_interval, retries), defaults filled."""
    return tuple(hc.get(k) or default for k, default in DEFAULTS.items())


def state_path(rt, cid):
    return os.path.join(rt.dir(cid), "health.json")


def read_state(rt, cid):
    """``State.Health`` as the monitor last wrote it, or None."""
    try:
        return read_json(state_path(rt, cid))
    except (FileNotFoundError, ValueError):
        return None


def probe(rt, cid, attrs):
    """The monitor's :class:`~pycontainer.runtime.monitor.Probe` for this
    start, or None: the test compiled as an exec of the container's user,
    env, working dir and confinement (engine/exec.py)."""
    from . import exec as _exec
    from . import users
    from .._core import CLONE_NEWUSER
    from ..runtime import monitor
    hc = (attrs.get("Config") or {}).get("Healthcheck")
    argv = probe_argv(hc)
    if argv is None:
        return None
    rtc = attrs["Runtime"]
    cfg = rtc["Config"]
    layers = list(reversed(rtc["Lowers"])) + [os.path.join(rtc["LayerDir"], "upper")]
    who = users.lookup(cfg.get("user") or "", layers)
    from .config import process_env     # config imports this module
    env = process_env(cfg["env"])
    plan = _exec.exec_plan(who, cfg.get("working_dir") or "/", argv, env, attach=True,
                           sec=cfg.get("security"))
    flags = _exec.JOIN | (CLONE_NEWUSER if cfg.get("userns_host") is not None else 0)
    interval, timeout, start_period, start_interval, retries = timing(hc)
    return monitor.Probe(plan, argv, env, flags, interval, timeout, start_period,
                         start_interval, retries)
