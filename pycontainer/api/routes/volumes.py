"""``/volumes/...``: list, create, inspect, delete, prune."""
from aiohttp import web

from .. import codec
from ..app import Routes, body_json, call, engine
from ..status import BadRequest

routes = Routes()


def _vols(request):
    return engine(request).volumes


@routes.get("/volumes")
async def list_(request):
    vols = await call(_vols(request).list, codec.filters(request))
    return web.json_response({"Volumes": vols, "Warnings": []})


@routes.post("/volumes/create")
async def create(request):
    body = await body_json(request)
    for key, kind in (("Name", str), ("Driver", str), ("DriverOpts", dict), ("Labels", dict)):
        if body.get(key) is not None and not isinstance(body[key], kind):
            raise BadRequest(f"json: cannot unmarshal {type(body[key]).__name__} into "
                             f"VolumeCreateBody.{key} of type {kind.__name__}")
    attrs = await call(_vols(request).create, body.get("Name") or None,
                       driver=body.get("Driver") or "local",
                       driver_opts=body.get("DriverOpts") or None,
                       labels=body.get("Labels") or None)
    return web.json_response(attrs, status=201)


@routes.get("/volumes/{name}")
async def inspect(request):
    return web.json_response(await call(_vols(request).get, request.match_info["name"]))


@routes.delete("/volumes/{name}")
async def remove(request):
    await call(_vols(request).remove, request.match_info["name"],
               force=codec.flag(request, "force"))
    return web.Response(status=204)


@routes.post("/volumes/prune")
async def prune(request):
    return web.json_response(await call(_vols(request).prune, codec.filters(request)))
