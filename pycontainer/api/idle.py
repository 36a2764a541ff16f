"""Memory given back once the daemon goes quiet: a burst of requests (100
containers started at once) leaves freed heap in glibc's arenas and
Python's pools, ~2.7 MiB here, which only a collection and ``malloc_trim``
return. Done ``QUIET`` seconds after the last request began or ended, so
never between the requests of a burst."""
import asyncio

from aiohttp import web

from ..engine.host import trim_memory

QUIET = 2.0


def middleware(quiet=QUIET, trim=trim_memory):
    timer = None

    def rearm():
        nonlocal timer
        if timer is not None:
            timer.cancel()
        timer = asyncio.get_running_loop().call_later(quiet, fire)

    def fire():
        nonlocal timer
        timer = None
        trim()

    @web.middleware
    async def idle_mw(request, handler):
        rearm()
        try:
            return await handler(request)
        finally:
            rearm()
    return idle_mw
