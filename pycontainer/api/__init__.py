"""The daemon: the Docker Engine API (versions 1.24 to 1.44) over the engine.

``pycontainerd`` (server.py) serves it on a UNIX socket with aiohttp, a
well-kept asyncio HTTP server (streaming responses, upgrades, websockets):
no HTTP is parsed here. The layers are moby's:

- ``routes/<resource>.py``: decode a request, call one engine verb, encode
  the answer; no policy of their own.
- ``codec.py``: Docker's JSON <-> the engine's keywords and records.
- ``status.py``: the one place an engine error becomes an HTTP status and
  docker's ``{"message": ...}`` body (404, 409, 400, 304; 500 only for a
  failure of the engine or the host, never for a client's mistake).

Engine verbs block (locks, waits, file copies): every call runs in a
thread (``asyncio.to_thread``), so the loop keeps serving other clients.
The daemon imports ``engine/`` only, never ``models/`` or ``client``.
"""
