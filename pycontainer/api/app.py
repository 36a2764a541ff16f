"""The aiohttp application: routes under ``/`` and ``/v1.xx/``, version
checks, and one middleware turning every error into docker's answer."""
import asyncio
import json

from aiohttp import web

from . import status

MIN_VERSION = (1, 24)
MAX_VERSION = (1, 44)
_V = r"/{api_version:v[0-9]+\.[0-9]+}"


def fmt(v):
    return f"{v[0]}.{v[1]}"


def api_version(request):
    """The request's API version as a tuple: its ``/v1.xx`` prefix, else the newest."""
    v = request.match_info.get("api_version")
    if not v:
        return MAX_VERSION
    major, _, minor = v[1:].partition(".")
    return int(major), int(minor)


class Routes:
    """Collects ``(method, path, handler)``; each is served with and without the prefix."""

    def __init__(self):
        self.table = []

    def route(self, method, path):
        def add(handler):
            self.table.append((method, path, handler))
            return handler
        return add

    get = lambda self, p: self.route("GET", p)        # noqa: E731
    post = lambda self, p: self.route("POST", p)      # noqa: E731
    put = lambda self, p: self.route("PUT", p)        # noqa: E731
    delete = lambda self, p: self.route("DELETE", p)  # noqa: E731
    head = lambda self, p: self.route("HEAD", p)      # noqa: E731


def engine(request):
    return request.app[ENGINE]


ENGINE = web.AppKey("engine", object)
SETTINGS = web.AppKey("settings", object)       # config.Settings: SIGHUP updates it


async def call(fn, *args, **kwargs):
    """Run a blocking engine verb in a thread: the loop never blocks."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def body_json(request, required=False):
    """The request's JSON object body; 400 for bad JSON or a non-object."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise status.BadRequest("request body is required")
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:    # "[[[[..." nests
        raise status.BadRequest(f"invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise status.BadRequest("invalid JSON: the body must be an object")
    return doc


@web.middleware
async def errors_mw(request, handler):
    v = request.match_info.get("api_version")
    if v:
        want = api_version(request)
        if want < MIN_VERSION:
            return status.error(400, f"client version {fmt(want)} is too old. Minimum "
                                     f"supported API version is {fmt(MIN_VERSION)}, please "
                                     "upgrade your client to a newer version")
        if want > MAX_VERSION:
            return status.error(400, f"client version {fmt(want)} is too new. Maximum "
                                     f"supported API version is {fmt(MAX_VERSION)}")
    if any("\0" in v for v in (*request.match_info.values(), *request.query.values())):
        return status.error(400, "invalid parameter: a NUL byte names nothing")
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return status.error(404, "page not found")
    except web.HTTPMethodNotAllowed:
        return status.error(405, "method not allowed")
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:          # noqa: BLE001: every error gets docker's body
        return status.response_for(e)


def make_app(eng, settings=None):
    from . import config, idle
    from .routes import (build, containers, events, exec as exec_, images, networks,
                         registry, stats, swarm, system, volumes)
    app = web.Application(middlewares=[idle.middleware(), errors_mw], client_max_size=1 << 30)
    app[ENGINE] = eng
    app[SETTINGS] = settings or config.Settings(config.validate(config.defaults()), None)
    for mod in (system, events, containers, exec_, stats, images, registry, build, networks,
                volumes, swarm):
        if hasattr(mod, "setup"):
            mod.setup(app)
        for method, path, handler in mod.routes.table:
            app.router.add_route(method, path, handler)
            app.router.add_route(method, _V + path, handler)
    return app
