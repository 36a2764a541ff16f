"""The daemon's idle trim: once, ``quiet`` seconds after the last request
began or ended, and never between the requests of a burst."""
import asyncio

from pycontainer.api import idle


def run(coro):
    return asyncio.run(coro)


def test_a_burst_is_trimmed_once_after_it_goes_quiet():
    trims = []

    async def main():
        loop = asyncio.get_running_loop()
        mw = idle.middleware(quiet=0.5, trim=lambda: trims.append(loop.time()))

        async def handler(request):
            await asyncio.sleep(0.1)
            return "ok"
        for _ in range(8):          # 0.8 s of requests, longer than quiet
            assert await mw(None, handler) == "ok"
        end = loop.time()
        assert trims == []
        await asyncio.sleep(1.0)
        return end
    end = run(main())
    assert len(trims) == 1
    assert trims[0] >= end + 0.5 - 0.01     # quiet counted from the last request


def test_a_long_request_does_not_hold_the_trim_back():
    trims = []

    async def main():
        mw = idle.middleware(quiet=0.3, trim=lambda: trims.append(1))

        async def handler(request):     # a stream: attach, logs --follow, events
            await asyncio.sleep(1.0)
            return "done"
        assert await mw(None, handler) == "done"
        assert trims == [1]
        await asyncio.sleep(0.8)
    run(main())
    assert trims == [1, 1]


def test_a_handler_error_still_stamps_the_end():
    trims = []

    async def main():
        mw = idle.middleware(quiet=0.1, trim=lambda: trims.append(1))

        async def handler(request):
            raise ValueError("bad request")
        try:
            await mw(None, handler)
        except ValueError:
            pass
        else:
            raise AssertionError("the error was swallowed")
        await asyncio.sleep(0.5)
    run(main())
    assert trims == [1]
