"""``/networks/...``: list, inspect, create, connect, disconnect, delete, prune."""
from aiohttp import web

from .. import codec
from ..app import Routes, body_json, call, engine
from ..status import BadRequest

routes = Routes()


def _nets(request):
    return engine(request).networks


@routes.get("/networks")
async def list_(request):
    return web.json_response(await call(_nets(request).list, filters=codec.filters(request)))


@routes.get("/networks/{id}")
async def inspect(request):
    return web.json_response(await call(_nets(request).get, request.match_info["id"]))


@routes.post("/networks/create")
async def create(request):
    body = await body_json(request, required=True)
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise BadRequest("network create: Name is required")
    for key, kind in (("Options", dict), ("IPAM", dict), ("Labels", dict),
                      ("Internal", bool), ("EnableIPv6", bool), ("Attachable", bool)):
        if body.get(key) is not None and not isinstance(body[key], kind):
            raise BadRequest(f"json: cannot unmarshal {type(body[key]).__name__} into "
                             f"NetworkCreate.{key} of type {kind.__name__}")
    ipam = body.get("IPAM")
    if ipam and not ipam.get("Config") and not ipam.get("Options"):
        ipam = None         # docker's CLI sends an empty IPAM with the default driver
    attrs = await call(_nets(request).create, name, driver=body.get("Driver") or None,
                       options=body.get("Options") or None, ipam=ipam,
                       internal=bool(body.get("Internal")), labels=body.get("Labels") or None,
                       enable_ipv6=bool(body.get("EnableIPv6")),
                       attachable=body.get("Attachable"))
    return web.json_response({"Id": attrs["Id"], "Warning": ""}, status=201)


@routes.post("/networks/{id}/connect")
async def connect(request):
    body = await body_json(request, required=True)
    container = body.get("Container")
    if not isinstance(container, str) or not container:
        raise BadRequest("network connect: Container is required")
    ep = body.get("EndpointConfig") or {}
    if not isinstance(ep, dict) or not isinstance(ep.get("IPAMConfig") or {}, dict):
        raise BadRequest("network connect: EndpointConfig must be an object")
    ipam = ep.get("IPAMConfig") or {}
    links = ep.get("Links") or None
    if links is not None and (not isinstance(links, list) or
                              not all(isinstance(v, str) for v in links)):
        raise BadRequest("network connect: Links must be a list of \"name:alias\" strings")
    await call(_nets(request).connect, request.match_info["id"], container,
               aliases=ep.get("Aliases") or None, ipv4_address=ipam.get("IPv4Address") or None,
               link_local_ips=ipam.get("LinkLocalIPs") or None,
               driver_opt=ep.get("DriverOpts") or None, mac_address=ep.get("MacAddress") or None,
               ipv6_address=ipam.get("IPv6Address") or None, links=links)
    return web.Response(status=200)


@routes.post("/networks/{id}/disconnect")
async def disconnect(request):
    body = await body_json(request, required=True)
    container = body.get("Container")
    if not isinstance(container, str) or not container:
        raise BadRequest("network disconnect: Container is required")
    await call(_nets(request).disconnect, request.match_info["id"], container,
               force=bool(body.get("Force")))
    return web.Response(status=200)


@routes.delete("/networks/{id}")
async def remove(request):
    await call(_nets(request).remove, request.match_info["id"])
    return web.Response(status=204)


@routes.post("/networks/prune")
async def prune(request):
    return web.json_response(await call(_nets(request).prune, codec.filters(request)))
