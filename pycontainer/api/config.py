"""The daemon's settings: its flags and ``daemon.json``, merged as dockerd merges them.

The file (``--config-file``, default ``/etc/pycontainer/daemon.json``; a
missing default file is no error, a missing named one is) holds dockerd's
keys where they apply: ``hosts``, ``tls``, ``tlsverify``, ``tlscacert``,
``tlscert``, ``tlskey``, ``data-root`` (the store), ``exec-root``,
``pidfile``, ``group``, ``log-level``, ``debug``, ``labels``,
``registry-mirrors``, ``insecure-registries``, ``default-ulimits`` and
``live-restore`` (always on here: containers outlive the daemon). As with
dockerd, a key we do not know is an error, and so is a key given both as a
flag and in the file. SIGHUP reads the file again and applies what dockerd
reloads (``debug``, ``labels``, ``registry-mirrors``,
``insecure-registries``); a bad file then is logged and changes nothing.
"""
import json
import os
import urllib.parse

from .tls import UsageError, cert_dir

DEFAULT_FILE = "/etc/pycontainer/daemon.json"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
RELOADABLE = ("debug", "labels", "registry-mirrors", "insecure-registries")


def _str(v):
    return isinstance(v, str)


def _strs(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _bool(v):
    return isinstance(v, bool)


def _ulimits(v):
    return isinstance(v, dict) and all(isinstance(x, dict) for x in v.values())


# daemon.json key -> (the flag's argparse dest, the value's check, its type's name)
KEYS = {
    "hosts": ("host", _strs, "a list of strings"),
    "data-root": ("root", _str, "a string"),
    "exec-root": ("exec_root", _str, "a string"),
    "pidfile": ("pidfile", _str, "a string"),
    "group": ("group", _str, "a string"),
    "tls": ("tls", _bool, "a boolean"),
    "tlsverify": ("tlsverify", _bool, "a boolean"),
    "tlscacert": ("tlscacert", _str, "a string"),
    "tlscert": ("tlscert", _str, "a string"),
    "tlskey": ("tlskey", _str, "a string"),
    "log-level": ("log_level", _str, "a string"),
    "debug": ("debug", _bool, "a boolean"),
    "labels": ("label", _strs, "a list of strings"),
    "registry-mirrors": ("registry_mirror", _strs, "a list of strings"),
    "insecure-registries": ("insecure_registry", _strs, "a list of strings"),
    "default-ulimits": ("default_ulimit", _ulimits, "an object of ulimits"),
    "live-restore": ("live_restore", _bool, "a boolean"),
}


class Settings:
    """The merged settings; attributes are the flags' dests."""

    def __init__(self, values, config_file):
        self.__dict__.update(values)
        self.config_file = config_file

    def registry(self):
        """The registry client's configuration (a ``daemon.json``-like dict):
        no user's docker config, since credentials come with each request."""
        return {"docker-config": os.devnull, "registry-mirrors": self.registry_mirror,
                "insecure-registries": self.insecure_registry}


def defaults():
    d = cert_dir()
    return {"host": [], "root": None, "exec_root": None, "pidfile": None, "group": None,
            "tls": False, "tlsverify": False, "tlscacert": os.path.join(d, "ca.pem"),
            "tlscert": os.path.join(d, "cert.pem"), "tlskey": os.path.join(d, "key.pem"),
            "log_level": "info", "debug": False, "label": [], "registry_mirror": [],
            "insecure_registry": [], "default_ulimit": {}, "live_restore": True}


def read_file(path, named):
    """The file's object, {} for a missing default file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        if not named:
            return {}
        raise UsageError(f"unable to configure the daemon with file {path}: "
                         "no such file") from None
    except OSError as e:
        raise UsageError(f"unable to configure the daemon with file {path}: "
                         f"{e.strerror}") from None
    try:
        doc = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"unable to configure the daemon with file {path}: "
                         f"invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"unable to configure the daemon with file {path}: "
                         "the file must hold a JSON object")
    return doc


def merge(args, doc, path):
    """Flags (``args``, None where not given) over the file's ``doc`` over defaults."""
    unknown = sorted(k for k in doc if k not in KEYS)
    if unknown:
        raise UsageError(f"unable to configure the daemon with file {path}: the following "
                         "directives don't match any configuration option: "
                         + ", ".join(unknown))
    both = [k for k in doc if getattr(args, KEYS[k][0], None) is not None]
    if both:
        raise UsageError(
            f"unable to configure the daemon with file {path}: the following directives "
            "are specified both as a flag and in the configuration file: " + ", ".join(
                f"{k}: (from flag: {_show(getattr(args, KEYS[k][0]))}, from file: "
                f"{_show(doc[k])})" for k in both))
    for k, v in doc.items():
        if not KEYS[k][1](v):
            raise UsageError(f"unable to configure the daemon with file {path}: "
                             f"{k} must be {KEYS[k][2]}, not {json.dumps(v)}")
    values = defaults()
    for k, v in doc.items():
        values[KEYS[k][0]] = v
    for dest in values:
        if getattr(args, dest, None) is not None:
            values[dest] = getattr(args, dest)
    return validate(values)


def _show(v):
    return "[" + " ".join(map(str, v)) + "]" if isinstance(v, list) else str(v)


def validate(values):
    if values["log_level"] not in LOG_LEVELS:
        raise UsageError(f"log-level {values['log_level']!r}: use one of "
                         + ", ".join(LOG_LEVELS))
    if values["live_restore"] is not True:
        raise UsageError("live-restore: false is not supported: containers here always "
                         "outlive the daemon (their monitors own them)")
    values["registry_mirror"] = [mirror(m) for m in values["registry_mirror"]]
    for r in values["insecure_registry"]:
        if "://" in r:
            raise UsageError(f"insecure registry {r} should not contain '://'")
    labels = {}
    for label in values["label"]:
        key, eq, value = label.partition("=")
        if not eq or not key:
            raise UsageError(f"label {label!r}: use key=value")
        if labels.get(key, value) != value:
            raise UsageError(f"label {key} has conflicting values: {labels[key]!r} "
                             f"and {value!r}")
        labels[key] = value
    values["default_ulimit"] = {name: ulimit(name, u)
                                for name, u in values["default_ulimit"].items()}
    return values


def mirror(text):
    """dockerd's check: an http(s) URL of a host, no path; kept with a trailing ``/``."""
    u = urllib.parse.urlsplit(text)
    if u.scheme not in ("http", "https"):
        raise UsageError(f"invalid mirror: unsupported scheme {u.scheme!r} in {text!r}: "
                         "use http:// or https://")
    if not u.netloc or u.path.strip("/") or u.query or u.fragment or u.username:
        raise UsageError(f"invalid mirror: {text!r} must be scheme://host[:port] "
                         "with no path, query or credentials")
    return f"{u.scheme}://{u.netloc}/"


def ulimit(name, u):
    """``{"Name", "Soft", "Hard"}`` checked (dockerd's ``default-ulimits`` entry)."""
    soft, hard = u.get("Soft"), u.get("Hard")
    if u.get("Name", name) != name or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= -1 for x in (soft, hard)):
        raise UsageError(f"default-ulimits {name}: use {{\"Name\": \"{name}\", "
                         "\"Soft\": N, \"Hard\": N}")
    if hard != -1 and (soft == -1 or soft > hard):
        raise UsageError(f"default-ulimits {name}: soft limit {soft} is above the hard "
                         f"limit {hard}")
    return {"Name": name, "Soft": soft, "Hard": hard}


def ulimit_flag(text):
    """``--default-ulimit nofile=1024[:2048]`` -> (name, entry)."""
    name, eq, limits = text.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        entry = {"Name": name, "Soft": int(soft), "Hard": int(hard or soft)}
    except ValueError:
        raise UsageError(f"--default-ulimit {text!r}: use NAME=SOFT[:HARD]") from None
    if not eq or not name:
        raise UsageError(f"--default-ulimit {text!r}: use NAME=SOFT[:HARD]")
    return name, ulimit(name, entry)


def load(args):
    """The settings of a start: the flags ``args`` and the file they name."""
    named = args.config_file is not None
    path = args.config_file or DEFAULT_FILE
    return Settings(merge(args, read_file(path, named), path), path)


def reloaded(args, current):
    """The settings after a SIGHUP: ``current`` with the file's reloadable keys."""
    fresh = merge(args, read_file(current.config_file, args.config_file is not None),
                  current.config_file)
    values = dict(current.__dict__)
    values.pop("config_file")
    for key in RELOADABLE:
        values[KEYS[key][0]] = fresh[KEYS[key][0]]
    return Settings(values, current.config_file)
