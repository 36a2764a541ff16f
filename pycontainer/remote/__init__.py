"""A daemon's engine over HTTP: the backend of ``Client(base_url=...)``.

``RemoteBackend`` implements the protocols of ``backend.py`` with the Docker
Engine API (API version 1.44) over httpx: a UNIX socket
(``unix:///run/pycontainer/pycontainer.sock``), ``tcp://HOST:PORT``, or TLS
with a client certificate (``tls={"ca", "cert", "key"}``). The models are
the same as with a local store; what they get is the daemon's JSON. Error
statuses come back as the typed errors (404 NotFound/ImageNotFound, 409
Conflict, 400 InvalidArgument, 401 Unauthorized, 408 TimeoutError).

This room is a face's helper: it imports ``errors``, ``types``/``units``
and ``backend`` only, never the engine (pyproject.toml holds the rule).

>>> from pycontainer import Client
>>> Client(base_url="unix:///run/pycontainer/pycontainer.sock").containers.run(
...     "busybox", ["echo", "hi"], remove=True)
b'hi\\n'
"""
from .containers import RemoteContainers
from .http import Http
from .images import RemoteBuilds, RemoteImages
from .objects import RemoteEvents, RemoteNetworks, RemoteVolumes


class RemoteBackend:
    """The backend of one daemon (see the module docstring)."""

    def __init__(self, base_url, tls=None, timeout=None):
        self.http = Http(base_url, tls=tls, timeout=timeout)
        self.base_url = base_url
        self.root = None                   # the store is the daemon's
        self.containers = RemoteContainers(self.http)
        self.images = RemoteImages(self.http)
        self.builds = RemoteBuilds(self.http)
        self.networks = RemoteNetworks(self.http)
        self.volumes = RemoteVolumes(self.http)
        self.events = RemoteEvents(self.http)

    def reconcile(self):
        pass                               # the daemon repairs its store itself

    def ping(self):
        return self.http.request("GET", "/_ping").text == "OK"

    def version(self):
        return self.http.json("GET", "/version")

    def info(self):
        return self.http.json("GET", "/info")

    def df(self):
        return self.http.json("GET", "/system/df")

    def close(self):
        self.http.close()
