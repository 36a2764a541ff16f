"""Container logs in the CRI format: ``<RFC3339Nano> <stream> <F|P> <text>``.

The monitor writes them (csrc/monitor/monitor.c); P marks a partial line
whose text continues in the next record.
"""
import calendar
import datetime
import functools
import os
import time


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def encode(stream, data):
    """Records for ``data`` written at once (attached runs log this way)."""
    if not data:
        return b""
    ts = _now().encode()
    out = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last and not line:
            break
        out.append(b"%s %s %s %s\n" % (ts, stream, b"P" if last else b"F", line))
    return b"".join(out)


def _epoch(ts):
    """RFC3339Nano -> float seconds."""
    base, _, frac = ts.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return secs + (float("0." + frac) if frac else 0.0)


def _as_epoch(v):
    if v is None:
        return None
    if isinstance(v, datetime.datetime):
        return v.timestamp()
    return float(v)


def _records(f, stdout, stderr, timestamps, since, until, tagged=False):
    for raw in f:
        ts, _, rest = raw.partition(b" ")
        stream, _, rest = rest.partition(b" ")
        tag, _, text = rest.partition(b" ")
        if not raw.endswith(b"\n"):
            return raw        # a record still being written
        if (stream == b"stdout" and not stdout) or (stream == b"stderr" and not stderr):
            continue
        when = _epoch(ts.decode())
        if (since is not None and when < since) or (until is not None and when > until):
            continue
        text = text[:-1] + (b"\n" if tag == b"F" else b"")
        text = (ts + b" " + text) if timestamps else text
        yield (stream.decode(), text) if tagged else text
    return None


def read(path, stdout=True, stderr=True, timestamps=False, tail="all", since=None,
         until=None, follow=None, tagged=False):
    """Yield log chunks; with ``follow`` (a callable: still running?) keep
    reading until the container stops. ``path`` may be a file already open
    (the daemon's attach opens it before the start, which may remove it);
    ``tagged`` yields ``(stream, chunk)``, stream ``"stdout"`` or ``"stderr"``."""
    since, until = _as_epoch(since), _as_epoch(until)
    try:
        f = open(path, "rb") if isinstance(path, (str, os.PathLike)) else path
    except FileNotFoundError:
        return
    records = functools.partial(_records, stdout=stdout, stderr=stderr, timestamps=timestamps,
                                since=since, until=until, tagged=tagged)
    with f:
        chunks = list(records(f))
        if tail != "all" and tail is not None:
            chunks = chunks[-int(tail):] if int(tail) > 0 else []
        yield from chunks
        while follow is not None:
            pos = f.tell()
            got = False
            for chunk in records(f):
                got = True
                yield chunk
            if got:
                continue
            f.seek(pos)
            if not follow():
                yield from records(f)
                return
            time.sleep(0.05)
            if f is not path:
                os.stat(path)
