"""docker's JSON progress streams (pull, push, build, import): one JSON
object a line, ``{"error": ..., "errorDetail": {"message": ...}}`` last
when the work fails after the answer has begun.

Errors that come before the first line that matters (an unknown image, a
refused login) still get their status code, as dockerd answers them: the
stream holds back the opening lines (``Pulling from``, ``The push refers
to``) until something else arrives.
"""
from aiohttp import web

from .. import codec
from ..app import call

_DONE = object()


def error_line(err):
    msg = str(err) or type(err).__name__
    return {"errorDetail": {"message": msg}, "error": msg}


async def json_stream(request, gen, hold=1):
    """Answer with ``gen``'s dicts as JSON lines; ``hold`` opening lines are
    read before the status is sent, so an error among them is a 4xx."""
    held = []
    try:
        while len(held) < hold:
            item = await call(next, gen, _DONE)
            if item is _DONE:
                break
            held.append(item)
    except BaseException:
        await call(getattr(gen, "close", lambda: None))
        raise
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        for item in held:
            await resp.write(codec.json_line(item))
        if len(held) == hold:
            while True:
                try:
                    item = await call(next, gen, _DONE)
                except Exception as err:        # noqa: BLE001: the answer has begun
                    await resp.write(codec.json_line(error_line(err)))
                    break
                if item is _DONE:
                    break
                await resp.write(codec.json_line(item))
        await resp.write_eof()
    except ConnectionResetError:
        pass                    # the client went away: stop the work below
    finally:
        await call(getattr(gen, "close", lambda: None))
    return resp
