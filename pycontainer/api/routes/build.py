"""``POST /build``: the legacy builder's API (a tar context as the body, the
options in the query) over ``engine.builds``, answered with docker's JSON
stream (``stream``, ``aux`` with the ID, ``Successfully built/tagged``,
``error``/``errorDetail`` last when a step fails).

The body is spooled to a file in the store's tmp dir, never held in memory;
the builder reads it from there (plain, gzip, bzip2, xz or zstd).
"""
import tempfile

from .. import codec
from ..app import ENGINE, Routes, call, engine
from .containers import CHUNK
from .progress import json_stream

routes = Routes()


def setup(app):
    """Attach the build room to the engine, as ``Client`` does, unless done."""
    eng = app[ENGINE]
    if getattr(eng, "builds", None) is None:
        from ...build import Builds
        eng.builds = Builds(eng)


def _quiet(messages):
    """``q=1``: only the image ID (and an error), as docker's quiet build."""
    image_id = None
    for msg in messages:
        if "error" in msg:
            yield msg
            return
        if "aux" in msg:
            image_id = (msg["aux"] or {}).get("ID") or image_id
            yield msg
    if image_id:
        yield {"stream": image_id + "\n"}


@routes.post("/build")
async def build(request):
    eng = engine(request)
    options = codec.build_options(request)
    quiet = options.pop("quiet", False)
    spool = tempfile.TemporaryFile(dir=eng.image_store.tmp_dir, prefix=".pyc-build-")
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            await call(spool.write, chunk)
        await call(spool.seek, 0)
        msgs = await call(eng.builds.build, fileobj=spool, custom_context=True, **options)
        return await json_stream(request, _quiet(msgs) if quiet else msgs)
    finally:
        spool.close()
