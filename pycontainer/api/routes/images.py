"""``/images/...``: list, inspect, history, tag, delete, save (get), load, prune.

Also import (``POST /images/create?fromSrc=-``) and commit; pull, push,
search, distribution and auth are in registry.py, build in build.py.
"""
import tempfile

from aiohttp import web

from .. import codec
from ...errors import ImageError
from ..app import Routes, body_json, call, engine
from ..status import BadRequest
from .containers import CHUNK, _send_chunks

routes = Routes()
_NAME = "{name:.+}"


def _images(request):
    return engine(request).images


def _summaries(eng, filters, name):
    conts = eng.containers.list(all=True)
    return [codec.image_summary(r, conts) for r in eng.images.list(name, filters)]


@routes.get("/images/json")
async def list_(request):
    return web.json_response(await call(_summaries, engine(request), codec.filters(request),
                                        request.query.get("filter")))


@routes.get(f"/images/{_NAME}/json")
async def inspect(request):
    rec = await call(_images(request).get, request.match_info["name"])
    return web.json_response(codec.image_inspect(rec))


@routes.get(f"/images/{_NAME}/history")
async def history(request):
    rec = await call(_images(request).get, request.match_info["name"])
    return web.json_response(codec.image_history(rec))


@routes.post(f"/images/{_NAME}/tag")
async def tag(request):
    repo = request.query.get("repo")
    if not repo:
        raise BadRequest("tag: repo (?repo=) is required")
    imgs = _images(request)
    rec = await call(imgs.get, request.match_info["name"])
    await call(imgs.tag, rec.id, repo, request.query.get("tag") or None)
    return web.Response(status=201)


@routes.delete(f"/images/{_NAME}")
async def remove(request):
    return web.json_response(await call(_images(request).remove, request.match_info["name"],
                                        force=codec.flag(request, "force")))


@routes.post("/images/prune")
async def prune(request):
    return web.json_response(await call(_images(request).prune, codec.filters(request)))


@routes.get("/images/get")
async def save_many(request):
    names = request.query.getall("names", [])
    if not names:
        raise BadRequest("images/get: at least one name (?names=) is required")
    gen = await call(_images(request).save, names, CHUNK)
    return await _send_chunks(request, iter(gen), "application/x-tar")


@routes.get(f"/images/{_NAME}/get")
async def save(request):
    gen = await call(_images(request).save, [request.match_info["name"]], CHUNK)
    return await _send_chunks(request, iter(gen), "application/x-tar")


@routes.post("/images/load")
async def load(request):
    """The archive is spooled to a file in the store, never held in memory."""
    eng = engine(request)
    with tempfile.TemporaryFile(dir=eng.root, prefix=".pyc-load-") as f:
        async for chunk in request.content.iter_chunked(CHUNK):
            await call(f.write, chunk)
        await call(f.seek, 0)
        lines = []
        try:
            recs = await call(eng.images.load, f)
        except ImageError as e:         # dockerd's: the stream says it (docker-py: ImageLoadError)
            recs, lines = [], [{"errorDetail": {"message": str(e)}, "error": str(e)}]
    if recs:
        lines = [{"stream": f"Loaded image: {t}\n"} for r in recs for t in r.loaded] or \
            [{"stream": f"Loaded image ID: {r.id}\n"} for r in recs]
    # chunked, as dockerd's: docker-py decodes a chunked body line by line,
    # any other as one JSON document
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await resp.write(b"".join(codec.json_line(d) for d in lines))
    await resp.write_eof()
    return resp


@routes.post("/images/create")
async def create(request):
    """Pull (``fromImage``) or import (``fromSrc=-`` and a tar body)."""
    q = request.query
    if q.get("fromImage") and q.get("fromSrc"):
        raise BadRequest("give fromImage (pull) or fromSrc (import), not both")
    if q.get("fromSrc"):
        return await import_(request)
    from .registry import pull
    return await pull(request)


async def import_(request):
    """``docker import``: the body is a rootfs tar (spooled to the store), one layer."""
    q = request.query
    if q["fromSrc"] != "-":
        raise BadRequest(f"fromSrc {q['fromSrc']!r}: only '-' (the request body) is "
                         "supported: this daemon fetches no URLs")
    eng = engine(request)
    repo, tag = q.get("repo") or None, q.get("tag") or None
    if repo and not tag and ":" in repo.rsplit("/", 1)[-1]:
        repo, tag = repo.rsplit(":", 1)
    changes = [c for c in q.getall("changes", []) if c.strip()] or None
    with tempfile.TemporaryFile(dir=eng.image_store.tmp_dir, prefix=".pyc-import-") as f:
        async for chunk in request.content.iter_chunked(CHUNK):
            await call(f.write, chunk)
        await call(f.seek, 0)
        rec = await call(eng.images.import_image, f, repository=repo, tag=tag,
                         changes=changes)
    return web.Response(body=codec.json_line({"status": rec.id}),
                        content_type="application/json")


@routes.post("/commit")
async def commit(request):
    """``docker commit``: the body is a container Config merged over the container's."""
    q = request.query
    cid = q.get("container")
    if not cid:
        raise BadRequest("commit: container (?container=) is required")
    raw = await request.read()
    conf = await body_json(request) if raw.strip() not in (b"", b"null") else {}
    repo, tag = q.get("repo") or None, q.get("tag") or None
    if repo and not tag and ":" in repo.rsplit("/", 1)[-1]:
        repo, tag = repo.rsplit(":", 1)
    changes = [c for c in q.getall("changes", []) if c.strip()] or None
    rec = await call(engine(request).images.commit, cid, repository=repo, tag=tag,
                     message=q.get("comment") or None, author=q.get("author") or None,
                     changes=changes, conf=conf or None)
    return web.json_response({"Id": rec.id}, status=201)
