"""Images from and to registries: an OCI Distribution v1.1 client.

What it guarantees:

* **All or nothing.** A pull publishes its layers, config, manifest, tag
  and RepoDigest in one write of the store's index, after every byte was
  checked: the compressed digest and size of each blob against its
  descriptor, the decompressed digest against the config's ``diff_id``,
  the media types, the platform. Anything else raises a typed error
  (``ImageError``, ``ImageNotFound``, ``RegistryError``, ``Unauthorized``)
  and the store is as it was: no half image, no layer, no tag moved.
* **The registry's bytes.** Compressed blobs and the manifest are kept as
  the registry gave them: the manifest digest and ``RepoDigests`` are the
  registry's, and a push of a pulled image sends the same bytes.
* **One pass, all at once.** Every missing layer streams at once, each
  downloaded, hashed, decompressed and unpacked as the bytes arrive
  (``blobs.py``); a dropped connection resumes with ``Range``, a killed
  pull's downloads are reused by the next.
* **Docker's configuration.** References default as docker's do
  (``busybox`` -> ``docker.io/library/busybox:latest`` on
  ``registry-1.docker.io``); mirrors, insecure registries, ``certs.d`` and
  ``~/.docker/config.json`` credentials (``config.py``); Basic and Bearer
  token auth (``transport.py``).

Modules: ``config`` (settings, credentials), ``transport`` (HTTP, TLS,
auth), ``distribution`` (the API of one repository), ``blobs`` (the layer
stream), ``pull``, ``push``. The engine reaches this room only through the
factory a face installs (``Engine.images.registry``); nothing here runs when
a container starts, and ``httpx`` is imported on the first registry call.
"""

import threading

from pycontainer.errors import InvalidArgument
from pycontainer.image import reference
from pycontainer.registry.config import RegistryConfig


class Registry:
    """The registry client of one image store.

    Args:
        store: the :class:`~pycontainer.image.store.ImageStore`.
        config: a :class:`RegistryConfig`, a ``daemon.json``-like dict, or a
            path to one (``insecure-registries``, ``registry-mirrors``,
            ``certs-dirs``, ``docker-config``).

    >>> reg = Registry(store)
    >>> reg.pull("localhost:5000/app:1").tags
    ['localhost:5000/app:1']
    """

    def __init__(self, store, config=None):
        self.store = store
        self.config = RegistryConfig.from_daemon_json(config)
        self.logins = {}
        self._transport = None
        self._lock = threading.Lock()

    @property
    def transport(self):
        with self._lock:
            if self._transport is None:
                from pycontainer.registry.transport import Transport
                self._transport = Transport(self.config, self.logins)
            return self._transport

    def close(self):
        """Close the connections to registries."""
        if self._transport is not None:
            self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def pull(self, ref, platform=None, auth_config=None, progress=None):
        """Pull ``ref`` (a tag or digest reference); return its record."""
        from pycontainer.registry.pull import Puller
        return Puller(self.store, self.transport, _ref(ref), platform, auth_config,
                      progress).run()

    def push(self, ref, auth_config=None, progress=None, chunk_size=None):
        """Push the store's image ``ref``; return ``{"Tag", "Digest", "Size"}``."""
        from pycontainer.registry.push import Pusher
        parsed = _ref(ref)
        if parsed.digest is not None:
            raise InvalidArgument(f"push needs a tag, not a digest: {ref!r}")
        return Pusher(self.store, self.transport, parsed, auth_config, progress,
                      chunk_size).run()

    def tags(self, name, auth_config=None, page_size=None):
        """Every tag of repository ``name`` (pages followed)."""
        repo = self._repo(name, auth_config)
        return repo.tags(page_size)

    def registry_data(self, name, auth_config=None):
        """docker's ``distribution inspect``: ``{"Descriptor", "Platforms"}``."""
        from pycontainer.errors import ImageNotFound, RegistryError
        from pycontainer.registry import distribution as dist
        ref = _ref(name)
        hosts = self.config.endpoints(ref.domain)       # a read: mirrors first, as a pull
        for host in hosts:
            repo = dist.Repository(self.transport, host, ref.path,
                                   self.transport.credentials(ref.domain, auth_config))
            try:
                return self._describe(repo, ref)
            except (ImageNotFound, RegistryError):
                if host == hosts[-1]:
                    raise

    @staticmethod
    def _describe(repo, ref):
        from pycontainer.registry import distribution as dist
        import json
        data, media, digest = repo.manifest(ref.digest or ref.tag)
        platforms = []
        if media in dist.INDEXES:
            for d in json.loads(data).get("manifests") or []:
                p = d.get("platform") or {}
                platforms.append({"architecture": p.get("architecture"), "os": p.get("os"),
                                  **({"variant": p["variant"]} if p.get("variant") else {})})
        else:
            m = json.loads(data)
            config = repo.get_small_blob(m["config"]["digest"], dist.MAX_CONFIG,
                                         "the image config")
            c = json.loads(config)
            platforms.append({"architecture": c.get("architecture"), "os": c.get("os"),
                              **({"variant": c["variant"]} if c.get("variant") else {})})
        return {"Descriptor": {"mediaType": media, "digest": digest, "size": len(data)},
                "Platforms": platforms}

    def delete(self, ref, auth_config=None):
        """Delete the manifest ``ref`` names from its registry (by digest)."""
        parsed = _ref(ref)
        repo = self._repo(ref, auth_config, push=True)
        digest = parsed.digest or repo.head_manifest(parsed.tag)
        if digest is None:
            from pycontainer.errors import ImageNotFound
            raise ImageNotFound(f"No such manifest: {ref}")
        repo.delete_manifest(digest)
        return digest

    def login(self, username, password, registry=None):
        """Check credentials against ``registry`` (docker.io by default) and
        keep them for this client; docker's ``{"Status": "Login Succeeded"}``."""
        domain = _domain(registry)
        auth = {"username": username, "password": password}
        host = self.config.endpoints(domain, push=True)[-1]
        t = self.transport
        t.request("GET", host, "/v2/", auth=auth, scope="", ok=(200,), what="login")
        self.logins[domain] = auth
        return {"IdentityToken": "", "Status": "Login Succeeded"}

    def _repo(self, name, auth_config=None, push=False):
        from pycontainer.registry import distribution as dist
        ref = _ref(name)
        host = self.config.endpoints(ref.domain, push=True)[-1]
        return dist.Repository(self.transport, host, ref.path,
                               self.transport.credentials(ref.domain, auth_config), push)


def _ref(ref):
    if not isinstance(ref, str) or not ref:
        raise InvalidArgument(f"image reference must be a non-empty string, not {ref!r}")
    return reference.parse(ref)


def _domain(registry):
    """A login target (``localhost:5000``, ``https://index.docker.io/v1/``) -> domain."""
    if not registry:
        return "docker.io"
    for prefix in ("https://", "http://"):
        if registry.startswith(prefix):
            registry = registry[len(prefix):]
    host = registry.split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host
