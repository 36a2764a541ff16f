"""JSON state files: written to a temp file and renamed, so a reader sees the
old or the new content, never half of it."""
import json
import os

_RAISE = object()


def write_json_atomic(path, data):
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps(data).encode())     # one write, the C encoder
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_bytes(path):
    """The whole file, through raw fds: a listing reads a few files per
    container, and a text file object costs more than the read."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_json(path, default=_RAISE):
    """The file's JSON; ``default`` (when given) for a missing or broken file."""
    try:
        return loads(read_bytes(path))
    except (FileNotFoundError, ValueError):
        if default is _RAISE:
            raise
        return default


def loads(data):
    """``json.loads`` at about three times its speed (orjson: a listing parses
    every container's config). What orjson refuses and json takes (a lone
    surrogate from a non-UTF-8 environment, an int beyond 64 bits) goes to json."""
    try:
        return _fast_loads(data)
    except ValueError:          # orjson.JSONDecodeError
        return json.loads(data)


def _fast_loads(data):
    """orjson.loads, imported on first use (~6 ms: the OCI runtime's create
    and a Client() that never reads state do not pay it)."""
    global _fast_loads
    import orjson
    _fast_loads = orjson.loads
    return _fast_loads(data)
