"""``GET /containers/{id}/stats``: the engine's samples in docker's shape, a
stream (one a second) or one answer (``stream=0``: two samples a second
apart, so the CPU share can be computed; ``one-shot=1``: one sample)."""
import asyncio
import contextlib
import time

from aiohttp import web

from .. import codec
from ..app import Routes, call, engine

routes = Routes()
_EMPTY_CPU = {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": 0,
              "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
_ZERO = "0001-01-01T00:00:00Z"


def _system_cpu_ns():
    """The host's cpu time (ns), as dockerd reads it for system_cpu_usage."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(v) for v in fields) * 1_000_000_000 // 100   # USER_HZ is 100 on Linux


def _sample(verbs, cid):
    s = dict(verbs.stats(cid, stream=False))
    if "running" not in s:
        s["running"] = verbs.inspect(cid)["State"]["Running"]
    cpu = dict(s.get("cpu_stats") or {})
    if "system_cpu_usage" not in cpu:
        with contextlib.suppress(OSError, ValueError):
            cpu["system_cpu_usage"] = _system_cpu_ns()
    s["cpu_stats"] = cpu
    if not s.get("name", "").startswith("/"):
        s["name"] = "/" + s.get("name", "").lstrip("/")
    s.setdefault("read", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    s.setdefault("networks", {})
    s.setdefault("blkio_stats", {"io_service_bytes_recursive": None})
    s.setdefault("num_procs", 0)
    s.setdefault("storage_stats", {})
    return s


def _with_pre(cur, prev):
    doc = {k: v for k, v in cur.items() if k != "running"}
    doc["precpu_stats"] = prev["cpu_stats"] if prev else _EMPTY_CPU
    doc["preread"] = prev["read"] if prev else _ZERO
    return doc


@routes.get("/containers/{id}/stats")
async def stats(request):
    verbs = engine(request).containers
    cid = await call(verbs.resolve, request.match_info["id"])
    stream = codec.flag(request, "stream", True)
    first = await call(_sample, verbs, cid)
    if not stream:
        prev = None
        if not codec.flag(request, "one-shot") and first["running"]:
            await asyncio.sleep(1)          # docker's interval: two samples, one answer
            prev, first = first, await call(_sample, verbs, cid)
        return web.json_response(_with_pre(first, prev))
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    prev, cur = None, first
    try:
        while True:
            await resp.write(codec.json_line(_with_pre(cur, prev)))
            if not cur["running"]:
                break
            await asyncio.sleep(1)          # docker's sampling interval
            prev, cur = cur, await call(_sample, verbs, cid)
        await resp.write_eof()
    except ConnectionResetError:
        pass                # the client stopped reading
    return resp
