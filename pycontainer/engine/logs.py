"""Container logs in the CRI format: ``<RFC3339Nano> <stream> <F|P> <text>``.

The monitor writes them (csrc/monitor/logfile.c); P marks a partial line
whose text continues in the next record. With ``max-size`` the monitor
rotates: ``container.log.N`` .. ``container.log.1`` are the older files
(the highest the oldest), read in that order before the live one.

``log_config`` is docker's: ``{"type": "json-file" | "local" | "none",
"config": {"max-size": "10m", "max-file": "3"}}``. Both file drivers keep
the same CRI file here (not docker's JSON or protobuf records); ``local``
defaults to docker's 20m x 5, ``json-file`` to no rotation.
"""
import calendar
import datetime
import functools
import os
import time

from ..errors import InvalidArgument
from ..units import parse_bytes

DRIVERS = ("json-file", "local", "none")
_OPTIONS = {"json-file": ("max-size", "max-file", "compress", "labels", "env", "tag"),
            "local": ("max-size", "max-file", "compress"), "none": ()}
MIN_SIZE = 1024
POLL = 0.02          # seconds between looks at a followed log, at most
POLL_MIN = 0.002     # ... and at first after output or the start of the follow


def parse_config(log_config):
    """docker's ``log_config`` -> ``{"Type", "Config"}`` (docker's HostConfig.LogConfig).

    Raises InvalidArgument for an unknown driver or option, or a bad size or count.
    """
    if log_config is None:
        return {"Type": "json-file", "Config": {}}
    if not isinstance(log_config, dict):
        raise InvalidArgument(f"log_config must be a dict, got {type(log_config).__name__}")
    kind = log_config.get("type", log_config.get("Type")) or "json-file"
    opts = log_config.get("config", log_config.get("Config")) or {}
    if kind not in DRIVERS:
        raise InvalidArgument(f"logger: no log driver named {kind!r} is registered")  # dockerd's
    if not isinstance(opts, dict):
        raise InvalidArgument("log_config config must be a dict of strings")
    bad = sorted(set(opts) - set(_OPTIONS[kind]))
    if bad:
        raise InvalidArgument(f"unknown log opt(s) {bad} for the {kind} log driver")
    opts = {str(k): str(v) for k, v in opts.items()}
    rotation(opts, kind)          # validates
    return {"Type": kind, "Config": opts}


def rotation(opts, kind):
    """(max_size bytes or 0, max_files) of a validated LogConfig."""
    default_size = "20m" if kind == "local" else None
    size = opts.get("max-size", default_size)
    files = opts.get("max-file", "5" if kind == "local" else "1")
    max_size = 0 if size in (None, "", "-1") else parse_bytes(size, "log opt max-size")
    if max_size and max_size < MIN_SIZE:
        raise InvalidArgument(f"log opt max-size must be at least {MIN_SIZE} bytes, got {size!r}")
    if not str(files).isdigit() or not 1 <= int(files) <= 1000:
        raise InvalidArgument(f"log opt max-file must be a number within 1..1000, got {files!r}")
    return max_size, int(files)       # max-file without max-size: one file, as dockerd


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
    """RFC3339Nano -> integer nanoseconds (exact: a float loses the last digits)."""
    base, _, frac = ts.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return secs * 10**9 + int((frac + "000000000")[:9])


def _as_epoch(v):
    """since/until (a datetime, unix seconds) -> integer nanoseconds."""
    if v is None:
        return None
    if isinstance(v, datetime.datetime):
        whole = v.replace(microsecond=0).timestamp()
        return int(whole) * 10**9 + v.microsecond * 1000
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidArgument(f"since/until must be a datetime or unix seconds, got {v!r}")
    return int(v) * 10**9 if isinstance(v, int) else round(v * 1e9)


def _records(f, stdout, stderr, timestamps, since, until, tagged=False):
    """The chunks of the whole records from f's position on; a record still
    being written is left for the next call (f stays before it). ``tagged``:
    ``(stream, chunk)`` pairs, stream ``"stdout"`` or ``"stderr"``."""
    while True:
        start = f.tell()
        raw = f.readline()
        if not raw:
            return
        if not raw.endswith(b"\n"):
            f.seek(start)
            return
        ts, _, rest = raw.partition(b" ")
        stream, _, rest = rest.partition(b" ")
        tag, _, text = rest.partition(b" ")
        if (stream == b"stdout" and not stdout) or (stream == b"stderr" and not stderr):
            continue
        if since is not None or until is not None:      # strptime: the cost of a record
            when = _epoch(ts.decode())
            if (since is not None and when < since) or (until is not None and when > until):
                continue
        text = text[:-1] + (b"\n" if tag == b"F" else b"")
        text = (ts + b" " + text) if timestamps else text
        yield (stream.decode(), text) if tagged else text


def _tail_count(tail):
    if tail in ("all", None):
        return None
    if isinstance(tail, bool) or not str(tail).lstrip("-").isdigit():
        raise InvalidArgument(f"tail must be 'all' or a number of lines, got {tail!r}")
    return max(int(tail), 0)


def _rotated(path):
    """The rotated files, oldest first."""
    n = 1
    while os.path.exists(f"{path}.{n}"):
        n += 1
    return [f"{path}.{i}" for i in range(n - 1, 0, -1)]


def _open_all(path, settle=2.0):
    """Every file of the log, oldest first, opened (none when there is no log).

    The monitor rotates by renaming the files one by one (PATH.N-1 to
    PATH.N ... PATH to PATH.1, then a new PATH): a set opened meanwhile may
    miss a file, or PATH itself. So the set is opened again until every
    name still holds the file opened under it and no name is missing
    mid-chain. After ``settle`` seconds of that (a monitor killed
    mid-rotation) what is there is taken."""
    deadline = None
    while True:
        names = _rotated(path) + [path]
        files = []
        try:
            for p in names:
                files.append(open(p, "rb"))
            if _settled(path, names, files):
                return files
        except FileNotFoundError:
            pass
        for f in files:
            f.close()
        if not os.path.exists(path) and not os.path.exists(f"{path}.1"):
            return []               # no log: never written, or removed
        now = time.monotonic()
        deadline = deadline or now + settle
        if now > deadline:
            return _open_existing(names)
        time.sleep(0.0005)


def _settled(path, names, files):
    for p, f in zip(names, files):
        if os.stat(p).st_ino != os.fstat(f.fileno()).st_ino:
            return False        # renamed since it was opened
    return not os.path.exists(f"{path}.{len(names) + 1}")      # a hole: renames under way


def _open_existing(names):
    files = []
    for p in names:
        try:
            files.append(open(p, "rb"))
        except FileNotFoundError:
            pass
    return files


def read(path, stdout=True, stderr=True, timestamps=False, tail="all", since=None,
         until=None, follow=None, tagged=False):
    """Yield log chunks, every file of a rotated log in order; with
    ``follow`` (a callable: still running?) keep reading until the
    container stops. ``path`` may be a file already open (the daemon's
    attach opens it before the start, which may remove it: that one file is
    read, rotation is not followed); ``tagged``: see :func:`_records`.

    ``since``/``until``: datetimes or unix seconds; ``tail``: the last N
    lines (of what since/until keep), ``"all"`` for all.
    """
    since, until = _as_epoch(since), _as_epoch(until)
    count = _tail_count(tail)
    opened = not isinstance(path, (str, os.PathLike))
    files = [path] if opened else _open_all(path)
    recs = functools.partial(_records, stdout=stdout, stderr=stderr, timestamps=timestamps,
                             since=since, until=until, tagged=tagged)
    if not files:
        return
    live = None
    seen = {os.fstat(f.fileno()).st_ino for f in files}
    try:
        chunks = []
        for f in files[:-1]:
            chunks.extend(recs(f))
            f.close()
        live = files[-1]
        chunks.extend(recs(live))
        if count is not None:
            chunks = chunks[-count:] if count else []
        yield from chunks
        pause = POLL_MIN
        ending = False
        while follow is not None:
            got = False
            for chunk in recs(live):
                got = True
                yield chunk
            if got:
                pause = POLL_MIN        # output flows: its end (the exit) is near too
                continue
            if not opened and _moved(path, live):      # rotated: the rest of it, then the files after it
                yield from recs(live)
                seen.add(os.fstat(live.fileno()).st_ino)
                live.close()
                live = None
                newer = [f for f in _open_all(path) if _unseen(f, seen)]
                if not newer:
                    return
                for f in newer[:-1]:
                    yield from recs(f)
                    seen.add(os.fstat(f.fileno()).st_ino)
                    f.close()
                live = newer[-1]
                continue
            if ending:
                return
            if not follow() or (until is not None and time.time_ns() > until):
                ending = True       # one more look: it may have rotated since _moved
                continue
            time.sleep(pause)
            pause = min(pause * 2, POLL)
    finally:
        for f in files:
            f.close()
        if live is not None:
            live.close()


def _unseen(f, seen):
    if os.fstat(f.fileno()).st_ino in seen:
        f.close()
        return False
    return True


def _moved(path, f):
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return True
