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
    """One timer for the whole daemon: a request only stamps the time, and
    the timer, when it fires, waits again for what is left of ``quiet``."""
    last = 0.0
    timer = None

    def fire():
        nonlocal timer
        loop = asyncio.get_running_loop()
        left = last + quiet - loop.time()
        if left > 0:
            timer = loop.call_later(left, fire)
            return
        timer = None
        trim()

    def stamp():
        nonlocal last, timer
        loop = asyncio.get_running_loop()
        last = loop.time()
        if timer is None:
            timer = loop.call_later(quiet, fire)

    @web.middleware
    async def idle_mw(request, handler):
        stamp()
        try:
            return await handler(request)
        finally:
            stamp()
    return idle_mw
