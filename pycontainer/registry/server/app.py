"""The HTTP face of the registry: the routes of the OCI Distribution spec v1.1.

One aiohttp application; each handler decodes a request, calls the storage
(storage.py) and encodes the answer. Request bodies are streamed to disk in
1 MiB pieces and hashed on the way; blobs go out with ``sendfile`` (aiohttp's
FileResponse, which also answers ``Range``). Errors become the spec's JSON body
in one place (the middleware); every answer carries
``Docker-Distribution-API-Version: registry/2.0``.
"""
import asyncio
import concurrent.futures
import fcntl
import hashlib
import json
import os
import re
import urllib.parse

from aiohttp import ClientPayloadError, web

from . import manifests
from .errors import RegistryError
from .names import check_digest, check_name, check_tag, is_digest
from .storage import CHUNK, Storage

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
JSON = "application/json"

# path after /v2/ -> (kind, groups); the first match wins (uploads before blobs).
ROUTES = [
    ("catalog", re.compile(r"_catalog")),
    ("tags", re.compile(r"(?P<name>.+)/tags/list")),
    ("manifest", re.compile(r"(?P<name>.+)/manifests/(?P<ref>[^/]+)")),
    ("uploads", re.compile(r"(?P<name>.+)/blobs/uploads/?")),
    ("upload", re.compile(r"(?P<name>.+)/blobs/uploads/(?P<sid>[^/]+)")),
    ("blob", re.compile(r"(?P<name>.+)/blobs/(?P<digest>[^/]+)")),
    ("referrers", re.compile(r"(?P<name>.+)/referrers/(?P<digest>[^/]+)")),
]
CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/\d+|/\*)?")


def _range(size):
    return {"Range": f"0-{max(size - 1, 0)}"}


def _upload_headers(name, sid, size):
    return {"Location": f"/v2/{name}/blobs/uploads/{sid}", "Docker-Upload-UUID": sid,
            **_range(size)}


def _page(items, request, link_path):
    """The items after ``last``, at most ``n`` of them, and the Link to the next page."""
    q = request.query
    if "last" in q:
        items = [i for i in items if i > q["last"]]
    if "n" not in q:
        return items, {}
    try:
        n = int(q["n"])
        if n < 0:
            raise ValueError
    except ValueError:
        raise RegistryError("UNSUPPORTED", f"n must be a count, not {q['n']!r}",
                            status=400) from None
    page = items[:n]
    if len(items) <= n or not page:
        return page, {}
    query = urllib.parse.urlencode({"n": n, "last": page[-1]})
    return page, {"Link": f'<{link_path}?{query}>; rel="next"'}


class Registry:
    """The handlers, over the storage of one store root."""

    def __init__(self, root, auth=None):
        self.storage = Storage(root)
        self.storage.purge_uploads()
        self.auth = auth
        self.hashers = {}   # upload id -> (sha256 of its data so far, size)
        # uploads' writes and hashes (threads made on first use, ended at cleanup)
        self.pool = concurrent.futures.ThreadPoolExecutor(4, "pyc-registry-io")

    def app(self):
        app = web.Application(middlewares=[self.middleware], client_max_size=MAX_BODY)
        app.router.add_route("*", "/v2", self.base)
        app.router.add_route("*", "/v2/", self.base)
        app.router.add_route("*", "/v2/{tail:.+}", self.dispatch)
        app.on_response_prepare.append(_stamp)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app):
        self.pool.shutdown(wait=True)

    @web.middleware
    async def middleware(self, request, handler):
        try:
            if self.auth is not None:
                user = await asyncio.to_thread(self.auth.check,
                                               request.headers.get("Authorization"))
                if user is None:
                    raise RegistryError("UNAUTHORIZED", "authentication required")
            try:
                return await handler(request)
            except (ConnectionResetError, ClientPayloadError) as e:
                # the body was cut short; what it brought has been undone already
                raise RegistryError("BLOB_UPLOAD_INVALID", f"the request body was cut "
                                    f"short: {e}") from None
        except RegistryError as e:
            headers = {}
            if e.code == "UNAUTHORIZED":
                headers["WWW-Authenticate"] = 'Basic realm="pycontainer-registry"'
            return web.json_response(e.body(), status=e.status, headers=headers)

    async def base(self, request):
        return web.json_response({})

    async def dispatch(self, request):
        tail = request.match_info["tail"]
        for kind, pattern in ROUTES:
            m = pattern.fullmatch(tail)
            if m is None:
                continue
            args = m.groupdict()
            if kind != "catalog":
                check_name(args["name"])
            handler = getattr(self, f"{kind}_{request.method.lower()}", None)
            if handler is None:
                raise RegistryError("UNSUPPORTED", f"{request.method} is not supported on "
                                    f"{request.path}")
            return await handler(request, **args)
        raise RegistryError("NAME_UNKNOWN", f"no such endpoint {request.path}")

    # -- catalog, tags, referrers -----------------------------------------

    async def catalog_get(self, request):
        repos, link = _page(self.storage.catalog(), request, "/v2/_catalog")
        return web.json_response({"repositories": repos}, headers=link)

    async def tags_get(self, request, name):
        rec = self.storage.repo_or_unknown(name)
        tags, link = _page(sorted(rec["tags"]), request, f"/v2/{name}/tags/list")
        return web.json_response({"name": name, "tags": tags}, headers=link)

    async def referrers_get(self, request, name, digest):
        check_digest(digest)
        found = self.storage.referrers(name, digest)
        headers = {}
        wanted = request.query.get("artifactType")
        if wanted is not None:
            found = [d for d in found if d.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        body = {"schemaVersion": 2, "mediaType": manifests.OCI_INDEX, "manifests": found}
        return web.Response(body=json.dumps(body).encode(), headers=headers,
                            content_type=manifests.OCI_INDEX)

    # -- manifests --------------------------------------------------------

    def _manifest_headers(self, name, ref):
        digest, desc = self.storage.resolve(name, ref)
        return digest, desc, {"Docker-Content-Digest": digest, "ETag": f'"{digest}"',
                              "Content-Type": desc["mediaType"]}

    async def manifest_get(self, request, name, ref):
        digest, _, headers = self._manifest_headers(name, ref)
        try:
            with open(self.storage.blob_path(digest), "rb") as f:
                data = f.read()
        except FileNotFoundError:       # deleted and collected meanwhile
            raise RegistryError("MANIFEST_UNKNOWN", f"manifest {ref!r} is not in {name}",
                                {"name": name, "reference": ref}) from None
        return web.Response(body=data, headers=headers)

    async def manifest_head(self, request, name, ref):
        digest, desc, headers = self._manifest_headers(name, ref)
        headers["Content-Length"] = str(desc["size"])
        return web.Response(headers=headers)

    async def manifest_put(self, request, name, ref):
        tag = None if is_digest(ref) else check_tag(ref)
        if tag is None:
            check_digest(ref)
        data = await _read_small(request, manifests.MAX_SIZE)
        desc, needs = manifests.parse(data, request.headers.get("Content-Type"))
        digest = desc["digest"]
        if tag is None and digest != ref:
            raise RegistryError("DIGEST_INVALID", f"the manifest has digest {digest}, "
                                f"not {ref}", {"digest": ref})
        await asyncio.to_thread(self.storage.put_manifest, name, tag, data, desc, needs)
        headers = {"Location": f"/v2/{name}/manifests/{digest}",
                   "Docker-Content-Digest": digest}
        if "subject" in desc:
            headers["OCI-Subject"] = desc["subject"]["digest"]
        return web.Response(status=201, headers=headers)

    async def manifest_delete(self, request, name, ref):
        if is_digest(ref):
            check_digest(ref)
        else:
            check_tag(ref)
        await asyncio.to_thread(self.storage.delete_manifest, name, ref)
        return web.Response(status=202)

    # -- blobs ------------------------------------------------------------

    def _blob(self, name, digest):
        check_digest(digest)
        size = self.storage.blob_size(name, digest)
        if size is None:
            raise RegistryError("BLOB_UNKNOWN", f"blob {digest} is not in {name}",
                                {"digest": digest})
        return size

    async def blob_get(self, request, name, digest):
        self._blob(name, digest)
        return web.FileResponse(self.storage.blob_path(digest), chunk_size=CHUNK, headers={
            "Content-Type": "application/octet-stream", "Docker-Content-Digest": digest})

    async def blob_head(self, request, name, digest):
        size = self._blob(name, digest)
        return web.Response(headers={"Content-Length": str(size),
                                     "Content-Type": "application/octet-stream",
                                     "Docker-Content-Digest": digest, "Accept-Ranges": "bytes"})

    async def blob_delete(self, request, name, digest):
        check_digest(digest)
        await asyncio.to_thread(self.storage.delete_blob, name, digest)
        return web.Response(status=202)

    # -- uploads ----------------------------------------------------------

    def _created(self, name, digest):
        return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                                 "Docker-Content-Digest": digest})

    async def uploads_post(self, request, name):
        q = request.query
        if "mount" in q and "from" in q:
            digest = check_digest(q["mount"])
            check_name(q["from"])
            if await asyncio.to_thread(self.storage.mount, name, digest, q["from"]):
                return self._created(name, digest)
        sid = await asyncio.to_thread(self.storage.new_upload, name)
        if "digest" not in q:
            return web.Response(status=202, headers=_upload_headers(name, sid, 0))
        try:
            digest = check_digest(q["digest"])
            await self._append(request, name, sid)
            await self._finish(name, sid, digest)
        except BaseException:
            self._drop(sid)
            raise
        return self._created(name, digest)

    async def upload_get(self, request, name, sid):
        size = os.path.getsize(self.storage.upload_data(name, sid))
        return web.Response(status=204, headers=_upload_headers(name, sid, size))

    async def upload_patch(self, request, name, sid):
        size = await self._append(request, name, sid, request.headers.get("Content-Range"))
        return web.Response(status=202, headers=_upload_headers(name, sid, size))

    async def upload_put(self, request, name, sid):
        if "digest" not in request.query:
            raise RegistryError("DIGEST_INVALID", "the digest query parameter is required")
        digest = check_digest(request.query["digest"])
        await self._append(request, name, sid, request.headers.get("Content-Range"))
        await self._finish(name, sid, digest)
        return self._created(name, digest)

    async def upload_delete(self, request, name, sid):
        self.storage.upload_data(name, sid)
        self._drop(sid)
        return web.Response(status=204)

    def _drop(self, sid):
        self.hashers.pop(sid, None)
        self.storage.cancel_upload(sid)

    async def _finish(self, name, sid, digest):
        data = self.storage.upload_data(name, sid)
        kept = self.hashers.pop(sid, None)
        hashed = None
        if kept is not None and kept[1] == os.path.getsize(data):
            hashed = "sha256:" + kept[0].hexdigest()
        await asyncio.to_thread(self.storage.finish_upload, name, sid, digest, hashed)

    async def _append(self, request, name, sid, content_range=None):
        """Stream the request body onto session ``sid``'s data; returns its new size.
        A body cut short (or refused) leaves the session as it was."""
        path = self.storage.upload_data(name, sid)
        with open(path, "r+b", buffering=0) as f:     # 1 MiB pieces: no buffer needed
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RegistryError("BLOB_UPLOAD_INVALID", f"upload {sid} is being written "
                                    "by another request") from None
            size = os.fstat(f.fileno()).st_size
            length = request.content_length
            if content_range:
                m = CONTENT_RANGE.fullmatch(content_range.strip())
                if m is None or int(m.group(1)) != size or int(m.group(2)) < size or (
                        length is not None and int(m.group(2)) - size + 1 != length):
                    raise RegistryError("RANGE_INVALID", f"Content-Range {content_range!r} "
                                        f"does not continue the upload at {size}",
                                        status=416)
            kept = self.hashers.get(sid)
            hasher = kept[0].copy() if kept and kept[1] == size else (
                hashlib.sha256() if size == 0 else None)
            f.seek(size)
            got = 0
            pending = None      # the last piece's write and hash, in a thread
            try:
                async for chunk in request.content.iter_chunked(CHUNK):
                    if pending is not None:
                        await asyncio.wrap_future(pending)
                    # the loop reads the next piece while a thread writes and
                    # hashes this one (both drop the GIL): one core each
                    pending = self.pool.submit(_store_piece, f, hasher, chunk)
                    got += len(chunk)
                if pending is not None:
                    await asyncio.wrap_future(pending)
                    pending = None
                if length is not None and got != length:
                    raise RegistryError("SIZE_INVALID", f"the body has {got} bytes, "
                                        f"Content-Length said {length}")
                f.flush()
                os.fsync(f.fileno())
            except BaseException:
                if pending is not None:     # never truncate under a write (a
                    concurrent.futures.wait([pending])      # piece: a ms at most)
                f.truncate(size)
                raise
        if hasher is not None:
            self.hashers.pop(sid, None)
            self.hashers[sid] = (hasher, size + got)
            while len(self.hashers) > MAX_HASHERS:   # abandoned sessions: rehash if resumed
                del self.hashers[next(iter(self.hashers))]
        else:
            self.hashers.pop(sid, None)
        return size + got


def _store_piece(f, hasher, chunk):
    view = memoryview(chunk)
    while view:                 # a raw write may be short
        view = view[f.write(view):]
    if hasher is not None:
        hasher.update(chunk)


MAX_HASHERS = 1024     # running hashes kept for sessions in progress
MAX_BODY = 1 << 62     # blobs are streamed, never read whole: no aiohttp cap


async def _read_small(request, limit):
    parts, total = [], 0
    async for chunk in request.content.iter_chunked(CHUNK):
        total += len(chunk)
        if total > limit:
            raise RegistryError("MANIFEST_INVALID", f"manifest is over {limit} bytes",
                                status=413)
        parts.append(chunk)
    return b"".join(parts)


async def _stamp(request, response):
    response.headers[API_VERSION[0]] = API_VERSION[1]
