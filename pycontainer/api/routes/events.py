"""``GET /events``: the store's journal (engine/events.py) as docker's JSON
stream, one object a line: what is there from ``since``, then what comes
until ``until`` passes or the client goes away."""
import asyncio
import contextlib
import threading

from aiohttp import web

from .. import codec
from ..app import Routes, call, engine
from ..status import BadRequest

routes = Routes()
LOOK = 0.5          # seconds between looks at a quiet stream's connection


async def _next(request, it, stop):
    """``it``'s next event, read in a thread; None at its end. A client gone
    while the stream is quiet sets ``stop``, which ends the journal's follow."""
    done = object()
    fut = asyncio.ensure_future(call(next, it, done))
    while True:
        finished, _ = await asyncio.wait({fut}, timeout=LOOK)
        if finished:
            ev = fut.result()
            return None if ev is done else ev
        transport = request.transport
        if transport is None or transport.is_closing():
            stop.set()


@routes.get("/events")
async def events(request):
    stop = threading.Event()
    q = request.query
    try:
        it = await call(engine(request).events.read, q.get("since") or None,
                        q.get("until") or None, codec.filters(request), stop)
    except (OverflowError, ValueError) as e:        # "1e999": no time at all
        raise BadRequest(f"invalid since/until: {e}") from None
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        while (ev := await _next(request, it, stop)) is not None:
            await resp.write(codec.json_line(ev))
        await resp.write_eof()
    except ConnectionResetError:
        pass                # the client stopped listening
    finally:
        stop.set()
        with contextlib.suppress(ValueError):     # still being read: it ends by stop
            await call(it.close)
    return resp
