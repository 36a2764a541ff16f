"""Where registries are and how to reach them, configured as Docker users do.

* ``insecure-registries`` and ``registry-mirrors`` as in dockerd's
  ``daemon.json``; ``127.0.0.0/8``, ``::1`` and ``localhost`` are insecure
  without configuration (plain HTTP allowed), as dockerd has it;
* TLS material from ``<certs dir>/<host[:port]>/``: ``*.crt`` are CAs,
  ``*.cert`` + ``*.key`` a client certificate (Docker's ``certs.d``);
* credentials from ``~/.docker/config.json``: ``auths`` (base64
  ``user:password`` or an identity token), ``credHelpers`` (per host) and
  ``credsStore`` (every host), through ``docker-credential-<name> get``.
"""

import base64
import ipaddress
import json
import os
import subprocess

from pycontainer.errors import InvalidArgument, RegistryError

DOCKER_HUB = "docker.io"
HUB_ENDPOINT = "registry-1.docker.io"
HUB_AUTH_KEY = "https://index.docker.io/v1/"   # docker's key for the hub in config.json
DEFAULT_CERTS_DIRS = ("/etc/docker/certs.d", "/etc/containers/certs.d")


class RegistryConfig:
    """The registry settings of a client.

    Args:
        insecure_registries: hosts (``host[:port]``) or CIDRs that may be
            reached over plain HTTP or unverified TLS.
        registry_mirrors: URLs tried before ``registry-1.docker.io`` for
            images of ``docker.io`` (pulls only).
        certs_dirs: directories holding ``<host>/ca.crt`` etc.
        docker_config: path of docker's ``config.json``; default
            ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``.

    >>> RegistryConfig.from_daemon_json({"insecure-registries": ["10.0.0.0/8"]})
    """

    def __init__(self, insecure_registries=(), registry_mirrors=(), certs_dirs=None,
                 docker_config=None):
        self.insecure = [_network(x) for x in insecure_registries]
        self.mirrors = [m.rstrip("/") for m in registry_mirrors]
        self.certs_dirs = list(DEFAULT_CERTS_DIRS if certs_dirs is None else certs_dirs)
        if docker_config is None:
            home = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
            docker_config = os.path.join(home, "config.json")
        self.docker_config = docker_config

    @classmethod
    def from_daemon_json(cls, conf):
        """From a dict or a path of a ``daemon.json``-like file (keys
        ``insecure-registries``, ``registry-mirrors``, and ours: ``certs-dirs``,
        ``docker-config``)."""
        if conf is None:
            return cls()
        if isinstance(conf, RegistryConfig):
            return conf
        if isinstance(conf, (str, os.PathLike)):
            with open(conf, "rb") as f:
                conf = json.load(f)
        if not isinstance(conf, dict):
            raise InvalidArgument("registry_config must be a dict or a path to a JSON file")
        return cls(conf.get("insecure-registries", ()), conf.get("registry-mirrors", ()),
                   conf.get("certs-dirs"), conf.get("docker-config"))

    def is_insecure(self, host):
        """True when ``host`` (``name[:port]``) may be reached without verified TLS."""
        if host in self.insecure:
            return True
        name = _hostname(host)
        if name == "localhost":
            return True
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return False
        return ip.is_loopback or any(isinstance(n, ipaddress._BaseNetwork) and ip in n
                                     for n in self.insecure)

    def tls_files(self, host):
        """``(ca files, (cert, key) or None)`` found for ``host`` in the certs dirs."""
        cas, client = [], None
        for top in self.certs_dirs:
            d = os.path.join(top, host)
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            cas += [os.path.join(d, n) for n in names if n.endswith(".crt")]
            for n in names:
                key = os.path.join(d, n[:-len(".cert")] + ".key")
                if n.endswith(".cert") and os.path.exists(key) and client is None:
                    client = (os.path.join(d, n), key)
        return cas, client

    def endpoints(self, domain, push=False):
        """Base URLs (without scheme when the scheme is to be found) for ``domain``."""
        if domain == DOCKER_HUB:
            return ([] if push else list(self.mirrors)) + [HUB_ENDPOINT]
        return [domain]

    # -- credentials ------------------------------------------------------

    def credentials(self, domain):
        """``{"username", "password"}`` or ``{"identitytoken"}`` for ``domain``
        from docker's config.json, or None."""
        try:
            with open(self.docker_config, "rb") as f:
                conf = json.load(f)
        except (OSError, ValueError):
            return None
        keys = [HUB_AUTH_KEY, "index.docker.io", DOCKER_HUB] if domain == DOCKER_HUB else [domain]
        helper = next((conf.get("credHelpers", {}).get(k) for k in keys
                       if k in conf.get("credHelpers", {})), None) or conf.get("credsStore")
        if helper:
            got = _helper_get(helper, keys[0])
            if got:
                return got
        auths = conf.get("auths") or {}
        for key, entry in auths.items():
            if _auth_host(key) in keys or key in keys:
                return _decode_auth(entry)
        return None


def _helper_get(helper, server):
    try:
        out = subprocess.run([f"docker-credential-{helper}", "get"], input=server.encode(),
                             capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None     # "credentials not found in native keychain"
    try:
        data = json.loads(out.stdout)
    except ValueError:
        raise RegistryError(f"docker-credential-{helper} gave no JSON") from None
    if data.get("Username") == "<token>":
        return {"identitytoken": data.get("Secret", "")}
    return {"username": data.get("Username", ""), "password": data.get("Secret", "")}


def _decode_auth(entry):
    if not isinstance(entry, dict):
        return None
    if entry.get("identitytoken"):
        return {"identitytoken": entry["identitytoken"]}
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return {"username": user, "password": password}
    if entry.get("username"):
        return {"username": entry["username"], "password": entry.get("password", "")}
    return None


def _auth_host(key):
    """``https://host/v1/`` -> ``host`` (config.json keys may be URLs)."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key.split("/", 1)[0]


def _hostname(host):
    if host.startswith("["):
        return host[1:host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _network(text):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return text
