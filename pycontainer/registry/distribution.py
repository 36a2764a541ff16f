"""The OCI Distribution v1.1 API of one repository, as a client.

Manifests (Docker schema2, OCI manifests, manifest lists and OCI indexes),
blobs (``HEAD`` to skip what is there, ``GET`` with ``Range`` to resume),
uploads (monolithic ``POST`` + ``PUT``, chunked ``PATCH``es, cross-repository
``mount``), tags (with ``Link`` pagination) and deletes.
"""

import hashlib
import json
import urllib.parse

from pycontainer.errors import ImageError, RegistryError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join(MANIFESTS + INDEXES)
MAX_MANIFEST = 4 << 20          # the spec's suggested limit for manifests
MAX_CONFIG = 8 << 20
CHUNK = 1 << 20


class Repository:
    """``<host>/<path>`` on a registry, through a :class:`Transport`.

    Args:
        transport: the client's :class:`~pycontainer.registry.transport.Transport`.
        host: the endpoint (``registry-1.docker.io``, ``localhost:5000``).
        path: the repository path (``library/busybox``).
        auth: credentials dict or None.
        push: ask for push rights (the token scope).
    """

    def __init__(self, transport, host, path, auth=None, push=False, mount_from=()):
        self.t = transport
        self.host = host
        self.path = path
        self.auth = auth
        actions = "pull,push" if push else "pull"
        scopes = [f"repository:{path}:{actions}"] + [f"repository:{p}:pull" for p in mount_from]
        self.scope = " ".join(scopes)

    def _req(self, method, sub, **kw):
        return self.t.request(method, self.host, f"/v2/{self.path}/{sub}", scope=self.scope,
                              auth=self.auth, **kw)

    # -- manifests ---------------------------------------------------------

    def manifest(self, ref):
        """``(bytes, media type, digest)`` of the manifest ``ref`` (tag or digest).

        Raises:
            ImageNotFound: no such manifest.
            ImageError: the bytes do not match a digest ``ref``, or too large.
        """
        resp = self._req("GET", f"manifests/{ref}", headers={"Accept": ACCEPT},
                         what=f"manifest {self.path}:{ref}")
        data = resp.content
        if len(data) > MAX_MANIFEST:
            raise ImageError(f"manifest {self.path}:{ref} is larger than {MAX_MANIFEST} bytes")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise ImageError(f"manifest {self.path}@{ref} does not match its digest "
                             f"(got {digest})")
        media = resp.headers.get("content-type", "").split(";")[0].strip()
        try:
            media = json.loads(data).get("mediaType") or media
        except (ValueError, AttributeError):
            raise ImageError(f"manifest {self.path}:{ref} is not JSON") from None
        return data, media, digest

    def head_manifest(self, ref):
        """The digest of manifest ``ref`` (``Docker-Content-Digest``), or None."""
        resp = self._req("HEAD", f"manifests/{ref}", headers={"Accept": ACCEPT},
                         ok=(200, 404))
        return resp.headers.get("docker-content-digest") if resp.status_code == 200 else None

    def put_manifest(self, ref, data, media):
        resp = self._req("PUT", f"manifests/{ref}", headers={"Content-Type": media},
                         content=data, ok=(201, 200, 202), what=f"push manifest {ref}")
        return resp.headers.get("docker-content-digest")

    def delete_manifest(self, digest):
        self._req("DELETE", f"manifests/{digest}", ok=(202, 200),
                  what=f"delete manifest {digest}")

    # -- blobs -------------------------------------------------------------

    def has_blob(self, digest):
        resp = self._req("HEAD", f"blobs/{digest}", ok=(200, 404))
        return resp.status_code == 200

    def get_small_blob(self, digest, limit, what):
        """A JSON blob (a config), read whole and checked against ``digest``."""
        resp = self._req("GET", f"blobs/{digest}", stream=True, what=what)
        try:
            data = bytearray()
            for piece in resp.iter_bytes():
                data += piece
                if len(data) > limit:
                    raise ImageError(f"{what} is larger than {limit} bytes")
        finally:
            resp.close()
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise ImageError(f"{what} does not match its digest {digest}")
        return bytes(data)

    def open_blob(self, digest, offset=0):
        """The streaming response of blob ``digest`` from byte ``offset``
        (``Range``); the caller iterates and closes it."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self._req("GET", f"blobs/{digest}", headers=headers, stream=True,
                         ok=(200, 206), what=f"blob {digest}")
        if offset and resp.status_code == 200:
            resp.close()
            raise RegistryError(f"blob {digest}: the registry ignored Range", 200)
        return resp

    def delete_blob(self, digest):
        self._req("DELETE", f"blobs/{digest}", ok=(202, 200), what=f"delete blob {digest}")

    # -- uploads -----------------------------------------------------------

    def mount(self, digest, source):
        """Cross-repository mount of ``digest`` from ``source``; True when the
        registry mounted it (201), False when it opened an upload instead."""
        q = urllib.parse.urlencode({"mount": digest, "from": source})
        resp = self._req("POST", f"blobs/uploads/?{q}", ok=(201, 202),
                         what=f"mount {digest} from {source}")
        if resp.status_code == 202:
            self._cancel(resp)
        return resp.status_code == 201

    def upload(self, digest, fileobj, size, chunk_size=None, progress=None):
        """Upload a blob: one ``PUT`` (monolithic), or ``PATCH``es of
        ``chunk_size`` then a closing ``PUT`` (chunked)."""
        resp = self._req("POST", "blobs/uploads/", ok=(202,), what=f"upload {digest}")
        location = self._location(resp)
        if chunk_size is None or size <= chunk_size:
            body = _Body(fileobj, size, progress)
            self._put(location, digest, body, size)
            return
        offset = 0
        while offset < size:
            n = min(chunk_size, size - offset)
            body = _Body(fileobj, n, progress)
            resp = self.t.request(
                "PATCH", self.host, location, scope=self.scope, auth=self.auth,
                headers={"Content-Type": "application/octet-stream",
                         "Content-Range": f"{offset}-{offset + n - 1}",
                         "Content-Length": str(n)},
                content=body, ok=(202,), what=f"upload {digest}")
            location = self._location(resp)
            offset += n
        self._put(location, digest, b"", 0)

    def _put(self, location, digest, body, size):
        sep = "&" if "?" in location else "?"
        self.t.request("PUT", self.host, f"{location}{sep}digest={digest}", scope=self.scope,
                       auth=self.auth, headers={"Content-Type": "application/octet-stream",
                                                "Content-Length": str(size)},
                       content=body, ok=(201,), what=f"upload {digest}")

    def _location(self, resp):
        loc = resp.headers.get("location")
        if not loc:
            raise RegistryError("the registry opened an upload without a Location")
        if loc.startswith("/"):
            return loc
        return loc

    def _cancel(self, resp):
        loc = resp.headers.get("location")
        if loc:
            try:
                self.t.request("DELETE", self.host, loc, scope=self.scope, auth=self.auth,
                               ok=(204, 200, 202, 404))
            except RegistryError:
                pass        # the registry expires abandoned uploads itself

    # -- tags --------------------------------------------------------------

    def tags(self, page_size=None):
        """Every tag, following ``Link: <...>; rel="next"`` pages."""
        sub = "tags/list" + (f"?n={page_size}" if page_size else "")
        out = []
        while sub:
            resp = self._req("GET", sub, what=f"tags of {self.path}")
            out += resp.json().get("tags") or []
            sub = _next_link(resp.headers.get("link"), self.path)
        return out


class _Body:
    """``size`` bytes of ``fileobj`` as an iterable request body, counted."""

    def __init__(self, fileobj, size, progress):
        self.f = fileobj
        self.size = size
        self.progress = progress
        self.start = fileobj.tell()

    def seek(self, _):      # a body sent again after a 401
        self.f.seek(self.start)

    def __iter__(self):
        left = self.size
        while left:
            data = self.f.read(min(CHUNK * 4, left))
            if not data:
                raise ImageError("a blob shrank while it was being pushed")
            left -= len(data)
            if self.progress:
                self.progress(len(data))
            yield data


def _next_link(link, path):
    """The path after ``/v2/<path>/`` of a ``Link`` header's next page, or None."""
    if not link or 'rel="next"' not in link:
        return None
    url = link[link.index("<") + 1:link.index(">")]
    marker = f"/v2/{path}/"
    parts = urllib.parse.urlsplit(url)
    tail = parts.path
    if marker not in tail:
        return None
    return tail[tail.index(marker) + len(marker):] + (f"?{parts.query}" if parts.query else "")
