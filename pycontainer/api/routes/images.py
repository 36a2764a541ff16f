"""``/images/...``: list, inspect, history, tag, delete, save (get), load, prune.

Pull, push, build, search, commit and import come with the registry and
build work; until then they answer 501 (docker's not-implemented status).
"""
import tempfile

from aiohttp import web

from .. import codec
from ..app import Routes, call, engine
from ..status import BadRequest, NotImplementedYet
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
        recs = await call(eng.images.load, f)
    lines = [{"stream": f"Loaded image: {t}\n"} for r in recs for t in r.tags] or \
        [{"stream": f"Loaded image ID: {r.id}\n"} for r in recs]
    return web.Response(body=b"".join(codec.json_line(d) for d in lines),
                        content_type="application/json")


@routes.post("/images/create")
async def pull(request):
    raise NotImplementedYet("pulling images is not implemented yet by this daemon")


@routes.post(f"/images/{_NAME}/push")
async def push(request):
    raise NotImplementedYet("pushing images is not implemented yet by this daemon")


@routes.post("/build")
async def build(request):
    raise NotImplementedYet("building images is not implemented yet by this daemon")


@routes.post("/commit")
async def commit(request):
    raise NotImplementedYet("commit is not implemented yet by this daemon")


@routes.get("/images/search")
async def search(request):
    raise NotImplementedYet("image search is not implemented yet by this daemon")


@routes.get(f"/distribution/{_NAME}/json")
async def distribution(request):
    raise NotImplementedYet("distribution inspect is not implemented yet by this daemon")
