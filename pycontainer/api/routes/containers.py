"""``/containers/...``: one handler per docker verb, each one engine call."""
import asyncio
import contextlib
import os
import threading
import time

from aiohttp import web

from ...engine.attach import parse_detach_keys
from ...errors import Conflict, InvalidArgument, NotFound
from ...engine import logs as _logs
from ...engine import state as _state
from .. import codec
from ..app import SETTINGS, Routes, api_version, body_json, call, engine
from ..hijack import Hijack, WsHijack, joined, pump_input, pump_output, relay, wake
from ..status import BadRequest, NotModified

routes = Routes()
CHUNK = 1 << 20


def _verbs(request):
    return engine(request).containers


async def _cid(request):
    """The container's full id (404 "No such container: x" when none)."""
    return await call(_verbs(request).resolve, request.match_info["id"])


@routes.get("/containers/json")
async def list_(request):
    attrs = await call(_verbs(request).list, all=codec.flag(request, "all"),
                       filters=codec.filters(request), limit=codec.integer(request, "limit", -1)
                       or -1, shared=True)       # read only: records at rest are cached
    memo = request.app[SUMMARIES]
    body = b"[" + b",".join([codec.summary_json(a, memo) for a in attrs]) + b"]"
    for cid in memo.keys() - _verbs(request).at_rest.keys():
        del memo[cid]           # a running or removed container's (a changed one's is replaced)
    return web.Response(body=body, content_type="application/json")


SUMMARIES = web.AppKey("summaries", dict)       # codec.summary_json's memo
STDIN_ONCE = web.AppKey("stdin_once", set)      # cids created with StdinOnce


def setup(app):
    app[STDIN_ONCE] = set()
    app[SUMMARIES] = {}


@routes.post("/containers/create")
async def create(request):
    body = await body_json(request, required=True)
    image, cmd, kw, auto_remove = codec.create_kwargs(body, request.query.get("name"))
    defaults = request.app[SETTINGS].default_ulimit     # dockerd's default-ulimits
    if defaults:
        named = {u.get("Name") for u in kw.get("ulimits") or () if isinstance(u, dict)}
        kw["ulimits"] = list(kw.get("ulimits") or ()) + [
            dict(u) for name, u in defaults.items() if name not in named]
    # the monitor removes it after the exit: nothing depends on this daemon's memory
    cid = await call(_verbs(request).create, image, cmd, kw, auto_remove)
    if body.get("StdinOnce") is True:
        request.app[STDIN_ONCE].add(cid)
    return web.json_response({"Id": cid, "Warnings": []}, status=201)


@routes.get("/containers/{id}/json")
async def inspect(request):
    attrs = await call(_verbs(request).inspect, request.match_info["id"])
    return web.Response(body=codec.json_body(codec.container_inspect(attrs)),
                        content_type="application/json")


def _start(verbs, cid):
    st = verbs.inspect(cid)["State"]
    if st["Running"] and not st["Restarting"]:
        raise NotModified()
    verbs.start(cid)


@routes.post("/containers/{id}/start")
async def start(request):
    cid = await _cid(request)
    await call(_start, _verbs(request), cid)
    return web.Response(status=204)


def _stop(verbs, cid, timeout):
    st = verbs.inspect(cid)["State"]
    if not (st["Running"] or st["Restarting"]):
        raise NotModified()
    verbs.stop(cid, timeout)


@routes.post("/containers/{id}/stop")
async def stop(request):
    cid = await _cid(request)
    await call(_stop, _verbs(request), cid, codec.integer(request, "t"))
    return web.Response(status=204)


def _restart(verbs, cid, timeout):
    verbs.stop(cid, timeout)
    verbs.start(cid)


@routes.post("/containers/{id}/restart")
async def restart(request):
    cid = await _cid(request)
    await call(_restart, _verbs(request), cid, codec.integer(request, "t"))
    return web.Response(status=204)


@routes.post("/containers/{id}/kill")
async def kill(request):
    cid = await _cid(request)
    await call(_verbs(request).kill, cid, request.query.get("signal") or "SIGKILL")
    return web.Response(status=204)


@routes.post("/containers/{id}/pause")
async def pause(request):
    cid = await _cid(request)
    await call(_verbs(request).pause, cid, True)
    return web.Response(status=204)


@routes.post("/containers/{id}/unpause")
async def unpause(request):
    cid = await _cid(request)
    await call(_verbs(request).pause, cid, False)
    return web.Response(status=204)


@routes.post("/containers/{id}/rename")
async def rename(request):
    cid = await _cid(request)
    name = request.query.get("name")
    if not name:
        raise BadRequest("rename: the new name (?name=) is required")
    await call(_verbs(request).rename, cid, name)
    return web.Response(status=204)


# docker's update body -> the engine's Resources keywords
_UPDATE = {"Memory": "mem_limit", "MemorySwap": "memswap_limit", "NanoCpus": "nano_cpus",
           "CpuShares": "cpu_shares", "CpuQuota": "cpu_quota", "CpuPeriod": "cpu_period",
           "CpusetCpus": "cpuset_cpus", "PidsLimit": "pids_limit"}


@routes.post("/containers/{id}/update")
async def update(request):
    cid = await _cid(request)
    body = await body_json(request)
    kw = {_UPDATE[k]: v for k, v in body.items() if k in _UPDATE and v not in (None, 0, "")}
    policy = body.get("RestartPolicy")
    if policy is not None and not isinstance(policy, dict):
        raise BadRequest("update: RestartPolicy must be an object")
    if (policy or {}).get("Name"):
        kw["restart_policy"] = policy
    await call(_verbs(request).update, cid, **kw)
    return web.json_response({"Warnings": []})


@routes.delete("/containers/{id}")
async def remove(request):
    cid = await _cid(request)
    await call(_verbs(request).remove, cid, force=codec.flag(request, "force"),
               v=codec.flag(request, "v"))
    request.app[STDIN_ONCE].discard(cid)
    return web.Response(status=204)


@routes.delete("/containers/{id}/{alias}")
async def remove_link(request):
    """``DELETE /containers/parent/alias?link=1``: a legacy link, not a container."""
    if not codec.flag(request, "link"):
        raise web.HTTPNotFound(text="page not found")
    await call(_verbs(request).remove_link,
               f"{request.match_info['id']}/{request.match_info['alias']}")
    return web.Response(status=204)


@routes.post("/containers/prune")
async def prune(request):
    return web.json_response(await call(_verbs(request).prune, codec.filters(request)))


@routes.get("/containers/{id}/top")
async def top(request):
    cid = await _cid(request)
    return web.json_response(await call(_verbs(request).top, cid))


@routes.get("/containers/{id}/changes")
async def changes(request):
    cid = await _cid(request)
    return web.json_response(await call(_verbs(request).diff, cid))


def _wait(eng, cid, condition):
    """The engine's wait; for an auto-removed container the exit code is its
    ``die`` event's (the monitor removed the record with the code in it)."""
    auto = (eng.containers.inspect(cid).get("HostConfig") or {}).get("AutoRemove")
    since = time.time_ns()
    code = eng.containers.wait(cid, None, condition)
    if not auto or condition == "not-running":
        return code
    now = time.time_ns()
    dies = eng.events.read(since=_ns_text(since), until=_ns_text(now),
                           filters={"container": [cid], "event": ["die"]})
    for ev in dies:
        code = int(ev["Actor"]["Attributes"].get("exitCode", code))
    return code


def _ns_text(ns):
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


@routes.post("/containers/{id}/wait")
async def wait(request):
    """Headers at once, the body when the condition is met (as dockerd)."""
    cid = await _cid(request)
    condition = request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise BadRequest(f"invalid condition: {condition!r}")
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        code = await call(_wait, engine(request), cid, condition)
        doc = {"StatusCode": code, "Error": None}
    except Exception as e:          # noqa: BLE001: the status line is sent already
        doc = {"StatusCode": -1, "Error": {"Message": str(e)}}
    try:
        await resp.write(codec.json_line(doc))
        await resp.write_eof()
    except ConnectionResetError:
        pass                        # the client stopped waiting
    return resp


# -- streams -------------------------------------------------------------------
async def _pump(request, resp, gen, multiplexed):
    """Write ``gen``'s (stream, chunk) items, read in a thread (which closes
    ``gen``), until it ends or the client goes away; True when it ended."""
    async def write(batch):
        try:
            await resp.write(joined(batch, multiplexed))
            return True
        except ConnectionResetError:
            return False            # the client left: nothing to answer
    return await relay(gen, write)


def _stream_type(request):
    return codec.MULTIPLEXED if api_version(request) >= (1, 42) else codec.RAW


@routes.get("/containers/{id}/logs")
async def logs(request):
    cid = await _cid(request)
    out, err = codec.flag(request, "stdout"), codec.flag(request, "stderr")
    if not (out or err):
        raise BadRequest("Bad parameters: you must choose at least one stream")
    since, until = codec.seconds(request, "since"), codec.seconds(request, "until")
    tail = request.query.get("tail") or "all"
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise BadRequest(f"invalid tail: {tail!r}")
    gen = await call(_verbs(request).logs, cid, out, err, codec.flag(request, "timestamps"),
                     tail, since, until, codec.flag(request, "follow"), tagged=True)
    attrs = await call(_verbs(request).inspect, cid)
    tty = bool((attrs.get("Config") or {}).get("Tty"))
    resp = web.StreamResponse(headers={"Content-Type": codec.RAW if tty else
                                       _stream_type(request)})
    await resp.prepare(request)
    if await _pump(request, resp, gen, not tty):
        await resp.write_eof()
    return resp


def _attach_reader(verbs, cid, want_out, want_err, logs, stop, lost):
    """Output (``logs``: from the log's start) until the container has run
    and stopped, or ``stop`` is set (a detach), or ``lost`` (the client left).

    The log is opened before the start (docker's client attaches first), so
    an auto-removed container's output is read even after its files go.
    """
    path = os.path.join(_state.Files(verbs.rt, cid).dir, "container.log")
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o640)
    f = os.fdopen(fd, "rb")
    if not logs:
        f.seek(0, os.SEEK_END)

    def live():
        if stop.is_set() or lost.is_set():
            return False
        try:
            st = verbs.inspect(cid)["State"]
        except Exception:           # noqa: BLE001: removed: the stream ends
            return False
        return st["Status"] == "created" or st["Running"] or st["Restarting"]
    return _logs.read(f, want_out, want_err, follow=live, tagged=True)


def _stdin_socket(verbs, cid, keys, stop):
    """The monitor's attach socket for stdin, once the container runs (docker's
    client attaches before the start); None when it will not run or ``stop``.

    "Not running" and the status looked at after it are two reads: a start
    between them shows "running" after the refusal, which is a reason to try
    again, never to give up (stdin would be lost and ``docker run -i`` hang)."""
    while not stop.is_set():
        try:
            return verbs.attach_socket(cid, stdin=True, stdout=False, stderr=False,
                                       detach_keys=keys)
        except NotFound:
            return None
        except Conflict:
            try:
                status = verbs.inspect(cid)["State"]["Status"]
            except NotFound:
                return None
            if status not in ("created", "restarting", "running", "paused"):
                return None
        stop.wait(0.02)             # polling the state until it is running
    return None


def _watch(sock, stop):
    """Read the stdin socket to its end: a detach there ends the whole attach."""
    for _ in sock.packets():
        pass
    if sock.detached:
        stop.set()


async def _feed(hj, verbs, cid, keys, stop, close_stdin):
    sock = await call(_stdin_socket, verbs, cid, keys, stop)
    if sock is None:
        return
    watch = asyncio.get_running_loop().create_task(call(_watch, sock, stop))
    try:
        await pump_input(hj, sock, close_stdin)
        await watch
    finally:
        wake(sock)
        await call(sock.close)


async def _attach_session(request, hj, framed):
    """The attach's streams over ``hj`` (a hijacked connection or a websocket)."""
    cid = await _cid(request)
    verbs = _verbs(request)
    keys = request.query.get("detachKeys") or None
    try:
        parse_detach_keys(keys)
    except InvalidArgument as e:
        raise BadRequest(str(e)) from None
    attrs = await call(verbs.inspect, cid)
    cfg = attrs.get("Config") or {}
    want_in = codec.flag(request, "stdin") and bool(cfg.get("OpenStdin"))
    want_out, want_err = codec.flag(request, "stdout"), codec.flag(request, "stderr")
    logs, stream = codec.flag(request, "logs"), codec.flag(request, "stream", True)
    stop = threading.Event()
    if not stream:
        stop.set()                  # the log so far, then the end
    gen = await call(_attach_reader, verbs, cid, want_out, want_err, logs, stop, hj.lost)
    await hj.start()
    # dockerd closes the container's stdin at the client's EOF only for
    # StdinOnce without a tty (``docker run -i``): a detached client leaves it open
    once = not cfg.get("Tty") and cid in request.app[STDIN_ONCE]
    feed = asyncio.get_running_loop().create_task(_feed(hj, verbs, cid, keys, stop, once)) \
        if want_in and stream else None
    try:
        await pump_output(hj, gen, framed, stop.set)     # it closes gen
    finally:
        stop.set()
        if feed is not None:
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await feed
        await hj.close()
    return hj.resp


@routes.post("/containers/{id}/attach")
async def attach(request):
    """The HTTP upgrade (101): output raw (a tty) or framed, the client's bytes to stdin."""
    attrs = await call(_verbs(request).inspect, request.match_info["id"])
    tty = bool((attrs.get("Config") or {}).get("Tty"))
    hj = Hijack(request, codec.RAW if tty else _stream_type(request))
    return await _attach_session(request, hj, not tty)


@routes.get("/containers/{id}/attach/ws")
async def attach_ws(request):
    """The same over a websocket: output as binary messages (unframed), messages to stdin."""
    await _cid(request)
    return await _attach_session(request, WsHijack(request), False)


@routes.post("/containers/{id}/resize")
async def resize(request):
    cid = await _cid(request)
    h, w = codec.integer(request, "h"), codec.integer(request, "w")
    if h is None or w is None:
        raise BadRequest("resize: h and w are required")
    await call(_verbs(request).resize, cid, h, w)
    return web.Response(status=200)


# -- files ---------------------------------------------------------------------
async def _send_chunks(request, gen, content_type, headers=None):
    resp = web.StreamResponse(headers={"Content-Type": content_type, **(headers or {})})
    done = object()
    first = await call(next, gen, done)      # errors (404, bad path) before the status
    await resp.prepare(request)
    item = first
    try:
        while item is not done:
            await resp.write(item)
            item = await call(next, gen, done)
        await resp.write_eof()
    except ConnectionResetError:
        pass                    # the client has what it wanted
    finally:
        await call(getattr(gen, "close", lambda: None))
    return resp


@routes.get("/containers/{id}/export")
async def export(request):
    cid = await _cid(request)
    gen = await call(_verbs(request).export, cid, CHUNK)
    return await _send_chunks(request, iter(gen), "application/x-tar")


@routes.get("/containers/{id}/archive")
async def get_archive(request):
    cid = await _cid(request)
    path = _archive_path(request)
    chunks, stat = await call(_verbs(request).get_archive, cid, path, CHUNK)
    return await _send_chunks(request, iter(chunks), "application/x-tar",
                              {"X-Docker-Container-Path-Stat": codec.path_stat(stat)})


@routes.head("/containers/{id}/archive")
async def head_archive(request):
    cid = await _cid(request)
    path = _archive_path(request)
    chunks, stat = await call(_verbs(request).get_archive, cid, path, CHUNK)
    await call(getattr(chunks, "close", lambda: None))
    return web.Response(headers={"X-Docker-Container-Path-Stat": codec.path_stat(stat),
                                 "Content-Type": "application/x-tar"})


@routes.put("/containers/{id}/archive")
async def put_archive(request):
    cid = await _cid(request)
    path = _archive_path(request)
    data = await request.read()
    await call(_verbs(request).put_archive, cid, path, data)
    return web.Response(status=200)


def _archive_path(request):
    path = request.query.get("path")
    if not path:
        raise BadRequest("archive: path (?path=) is required")
    return path
