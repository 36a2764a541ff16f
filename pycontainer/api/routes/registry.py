"""Images and registries: pull (``POST /images/create?fromImage=``), push,
search, distribution inspect and ``POST /auth``.

Credentials come only from the request (``X-Registry-Auth``, ``/auth``'s
body), as dockerd has it: the daemon reads no user's ``config.json`` and
keeps no login, so one client's credentials never serve another.

Search: registries of the Distribution API have no search endpoint (Docker
Hub's v1 search is not part of it), so ``GET /images/search`` lists the
repositories of a registry (``/v2/_catalog``) whose name contains the term:
``docker search 127.0.0.1:5000/app`` asks 127.0.0.1:5000 for names with
"app"; a term without a registry asks the first ``registry-mirrors`` entry,
else Docker Hub. Stars, official and automated are 0 / false.
"""
import functools
import os

from aiohttp import web

from .. import codec
from ..app import ENGINE, Routes, body_json, call, engine
from ..status import BadRequest
from .progress import json_stream

routes = Routes()
_NAME = "{name:.+}"
SEARCH_LIMIT = 100          # docker's default and most
CATALOG_PAGE = 1000


def setup(app):
    """Give the engine a registry client unless the server made one (with its
    ``--registry-mirror`` / ``--insecure-registry``): one reading no user's
    credentials."""
    if app[ENGINE].images.registry_factory is None:
        configure(app[ENGINE], {"docker-config": os.devnull})


def configure(eng, conf):
    """Registry calls from now on use a client made with ``conf`` (a
    ``daemon.json``-like dict); a pull under way keeps the client it has."""
    eng.images.use_registry(functools.partial(_registry, conf))


def _registry(config, store):
    from ...registry import Registry
    return Registry(store, config)


def _auth(request):
    return codec.registry_auth(request.headers.get("X-Registry-Auth"))


def _with_tag(name, tag):
    """docker's rule: ``tag`` (a tag, or a ``sha256:`` digest) replaces the one in ``name``."""
    if not tag:
        return name
    if "@" in name:
        name = name.split("@", 1)[0]
    elif ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return f"{name}{'@' if tag.startswith('sha256:') else ':'}{tag}"


async def pull(request):
    """``POST /images/create?fromImage=NAME&tag=TAG`` (dispatched from images.py)."""
    name = request.query.get("fromImage", "")
    if not name.strip():
        raise BadRequest("fromImage: an image name is required")
    ref = _with_tag(name, request.query.get("tag"))
    if "@" not in ref and ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    gen = await call(engine(request).images.pull, ref, platform=request.query.get("platform")
                     or None, auth_config=_auth(request), stream=True)
    return await json_stream(request, iter(gen), hold=2)


@routes.post(f"/images/{_NAME}/push")
async def push(request):
    """Push ``name:tag``; without a tag, every local tag of the repository."""
    eng = engine(request)
    name, tag = request.match_info["name"], request.query.get("tag")
    if tag or "@" in name or ":" in name.rsplit("/", 1)[-1]:
        refs = [_with_tag(name, tag)]
    else:
        refs = await call(_repo_tags, eng, name)
    auth = _auth(request)

    def events():
        for ref in refs:
            yield from eng.images.push(ref, auth_config=auth, stream=True)
    return await json_stream(request, events(), hold=2)


def _repo_tags(eng, name):
    """The local tags of repository ``name`` (ImageNotFound when there is none)."""
    tags = sorted({t for rec in eng.images.list(name) for t in rec.tags
                   if t.rsplit(":", 1)[0] == name})
    if not tags:
        eng.images.get(name)                 # the store's own not-found error
        raise BadRequest(f"An image does not exist locally with the tag: {name}")
    return tags


@routes.get(f"/distribution/{_NAME}/json")
async def distribution(request):
    name = request.match_info["name"]
    return web.json_response(await call(engine(request).images.registry_data, name,
                                        auth_config=_auth(request)))


@routes.post("/auth")
async def auth(request):
    """Check credentials against a registry (``GET /v2/`` with them); nothing is kept."""
    doc = await body_json(request, required=True)
    user, password = doc.get("username"), doc.get("password")
    token = doc.get("identitytoken")
    for key, v in (("username", user), ("password", password), ("identitytoken", token),
                   ("serveraddress", doc.get("serveraddress"))):
        if v is not None and not isinstance(v, str):
            raise BadRequest(f"auth: {key} must be a string")
    if not (user or token):
        raise BadRequest("auth: a username is required")
    creds = {"identitytoken": token} if token and not user else \
        {"username": user, "password": password or ""}
    await call(_login, engine(request), creds, doc.get("serveraddress"))
    return web.json_response({"Status": "Login Succeeded", "IdentityToken": ""})


def _login(eng, creds, server):
    """A transport of its own: a token cached for another password must not answer."""
    from ...registry.transport import Transport
    reg = eng.images.registry
    host = reg.config.endpoints(_domain(server), push=True)[-1]
    t = Transport(reg.config, {})
    try:
        t.request("GET", host, "/v2/", auth=creds, scope="", ok=(200,), what="login")
    finally:
        t.close()


def _domain(server):
    """A login/search target (``localhost:5000``, ``https://index.docker.io/v1/``) -> domain."""
    if not server:
        return "docker.io"
    for prefix in ("https://", "http://"):
        if server.startswith(prefix):
            server = server[len(prefix):]
    host = server.split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def _split_term(term):
    """``HOST[:PORT]/words`` -> (domain, words); a first part with no dot,
    colon or ``localhost`` is not a registry (docker's reference rule)."""
    first, sep, rest = term.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return None, term


@routes.get("/images/search")
async def search(request):
    term = request.query.get("term", "")
    if not term.strip():
        raise BadRequest("search: a term (?term=) is required")
    limit = codec.integer(request, "limit", 25) or 25
    if not 1 <= limit <= SEARCH_LIMIT:
        raise BadRequest(f"limit {limit} is outside the range of [1, {SEARCH_LIMIT}]")
    filters = codec.filters(request) or {}
    unknown = set(filters) - {"is-official", "is-automated", "stars"}
    if unknown:
        raise BadRequest(f"invalid filter '{sorted(unknown)[0]}'")
    got = await call(_search, engine(request), term, _auth(request))
    if _wants(filters, "is-official") or _wants(filters, "is-automated") or \
            any(str(s) not in ("", "0") for s in _values(filters, "stars")):
        got = []                            # a catalog knows no stars, no official images
    return web.json_response(got[:limit])


def _values(filters, key):
    v = filters.get(key) or []
    return list(v) if isinstance(v, (list, dict)) else [v]


def _wants(filters, key):
    return any(str(v).lower() in ("true", "1") for v in _values(filters, key))


def _search(eng, term, auth):
    reg = eng.images.registry
    domain, words = _split_term(term)
    if domain is None:
        hosts = reg.config.mirrors[:1] or reg.config.endpoints("docker.io")[-1:]
        host = hosts[0].split("://", 1)[-1]
    else:
        host = domain
    creds = reg.transport.credentials(domain or "docker.io", auth)
    names, last = [], None
    while True:          # pages of the catalog, at most a few thousand names
        path = f"/v2/_catalog?n={CATALOG_PAGE}" + (f"&last={last}" if last else "")
        page = reg.transport.request("GET", host, path, auth=creds,
                                     scope="registry:catalog:*", what="search").json()
        got = page.get("repositories") or []
        names += got
        if len(got) < CATALOG_PAGE or len(names) >= 10 * CATALOG_PAGE:
            break
        last = got[-1]
    words = words.lower()
    shown = (lambda n: f"{domain}/{n}") if domain else (lambda n: n)
    return [{"name": shown(n), "description": "", "star_count": 0, "is_official": False,
             "is_automated": False} for n in names if words in n.lower()]

