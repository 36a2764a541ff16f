"""The store's event journal: docker's events, durable and shared.

``<root>/events.log`` holds one JSON object a line, docker's fields
(``Type``, ``Action``, ``Actor{ID, Attributes}``, ``scope``, ``time``,
``timeNano`` and the legacy ``status``/``id``/``from``). Every process
using the store appends to it, and so do the monitors (csrc/monitor/
journal.c: die, oom, health_status, restarts' start), so ``events()`` in
any process sees every container's life, across restarts of the writers.

Writers never interleave: a line is one ``write`` with ``O_APPEND`` under a
shared ``flock`` of the file. The journal is bounded: once past
``MAX_SIZE`` a writer takes the exclusive lock and renames it to
``events.log.1`` (the older one goes), so at most twice ``MAX_SIZE`` is
kept. A writer checks after locking that the path still names the file it
opened, so after a rename nobody writes to the old file, and a reader that
sees the rename drains the old file before it moves on: no event is lost.

>>> journal = Journal("/var/lib/pycontainer")
>>> journal.emit("volume", "create", "data", {"driver": "local"})
>>> next(journal.read(since=0, until=time.time()))["Action"]
'create'
"""
import contextlib
import errno
import fcntl
import json
import os
import re
import threading
import time

from ..errors import InvalidArgument
from . import filters as _filters

MAX_SIZE = 8 << 20            # bytes before rotation (two files kept)
MAX_LINE = 60_000             # an event longer than this loses its labels
POLL = 0.02                   # seconds between looks at a followed journal
SKEW_NS = 2_000_000_000       # how far out of time order two writers' lines may be
FILTERS = ("type", "event", "container", "image", "label", "network", "volume", "scope")
TYPES = ("container", "image", "network", "volume")
_FUZZY_EVENTS = ("health_status", "exec_create", "exec_start", "exec_die")
_UNIX_NS = re.compile(r"^\d+(\.\d{1,9})?$")


class Journal:
    """The event journal of the store at ``root``."""

    def __init__(self, root, max_size=MAX_SIZE):
        self.path = os.path.join(root, "events.log")
        self.max_size = max_size

    # -- writing -------------------------------------------------------------
    def emit(self, type, action, actor_id, attributes=None, image=None):
        """Append one event; never raises for a full or failing disk (an
        event must not fail the verb it records)."""
        ns = time.time_ns()
        attrs = {str(k): str(v) for k, v in (attributes or {}).items()}
        ev = {"Type": type, "Action": action, "Actor": {"ID": actor_id, "Attributes": attrs},
              "scope": "local", "time": ns // 1_000_000_000, "timeNano": ns}
        if type == "container":      # docker's legacy fields, container events only
            ev.update(status=action, id=actor_id, **({"from": image} if image else {}))
        line = json.dumps(ev, separators=(",", ":")) + "\n"
        if len(line) > MAX_LINE:
            keep = {k: attrs[k] for k in ("name", "image", "exitCode") if k in attrs}
            ev["Actor"]["Attributes"] = keep
            line = json.dumps(ev, separators=(",", ":"))[:MAX_LINE] + "\n"
        with contextlib.suppress(OSError):
            self._append(line.encode())

    def emit_container(self, action, cid, attrs, **extra):
        """A container event with docker's attributes: image, name, labels."""
        cfg = attrs.get("Config") or {}
        image = cfg.get("Image") or attrs.get("Image") or ""
        a = dict(cfg.get("Labels") or {})
        a.update(image=image, name=(attrs.get("Name") or "").lstrip("/"), **extra)
        self.emit("container", action, cid, a, image=image)

    def emit_image(self, action, ref_or_record, name=None):
        """An image event: the actor is the image id (or the reference, for
        save), ``name`` its reference."""
        actor = getattr(ref_or_record, "id", ref_or_record)
        tags = getattr(ref_or_record, "tags", None) or []
        name = name or (tags[0] if tags else None)
        self.emit("image", action, actor, {"name": name} if name else {})

    def emit_removal(self, items, image_id=None):
        """docker's untag/delete events for ``images.remove()``'s result: the
        actor is the image (``image_id`` when known: an untag names a tag)."""
        for item in items or ():
            for key, action in (("Untagged", "untag"), ("Deleted", "delete")):
                if key in item:
                    actor = item[key] if key == "Deleted" else image_id or item[key]
                    self.emit("image", action, actor, {"name": item[key]})

    def _open_current(self):
        for _ in range(8):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
                a, b = os.fstat(fd), os.stat(self.path)
                if (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev):
                    return fd
            except FileNotFoundError:
                pass
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)         # rotated meanwhile: the new file
        raise OSError(errno.EAGAIN, "the event journal keeps rotating", self.path)

    def _append(self, data):
        fd = self._open_current()
        try:
            os.write(fd, data)
            if os.fstat(fd).st_size > self.max_size:
                self._rotate(fd)
        finally:
            os.close(fd)

    def _rotate(self, fd):
        fcntl.flock(fd, fcntl.LOCK_UN)
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            st = os.fstat(fd)
            if os.stat(self.path).st_ino == st.st_ino and st.st_size > self.max_size:
                os.rename(self.path, self.path + ".1")

    # -- reading -------------------------------------------------------------
    def stream(self, since=None, until=None, filters=None, decode=False):
        """docker-py's ``events()``: an :class:`EventStream`."""
        return EventStream(self, since, until, filters, decode)

    def read(self, since=None, until=None, filters=None, stop=None):
        """Events as dicts, oldest first: those already written from
        ``since`` on, then (without an ``until`` in the past) the new ones
        as they come, until ``until`` passes or ``stop`` (a
        ``threading.Event``) is set.

        ``since``/``until``: datetimes, unix seconds, RFC 3339 or docker's
        durations (``"10m"`` ago). Without ``since`` and ``until`` only new
        events come (docker's rule).
        """
        since_ns = _ns(since, "since")
        until_ns = _ns(until, "until")
        match = matcher(filters)
        follow = until_ns is None or until_ns > time.time_ns()
        if since_ns is None and until_ns is None:
            since_ns = time.time_ns()
        return self._follow(since_ns or 0, until_ns, match, follow, stop)

    def _follow(self, since_ns, until_ns, match, follow, stop):
        """Read the live file, and on each (re)open the rotated one first
        unless it was read already (it is the file we just drained) or it
        is the live one (rotated between the two opens)."""
        cur, done = None, []          # inodes drained to the end: the last two
        try:
            while True:
                if cur is None:
                    cur = _Reader.open(self.path, since_ns)
                    old = _Reader.open(self.path + ".1", since_ns)
                    if old is not None:
                        if old.ino not in done and (cur is None or old.ino != cur.ino):
                            yield from _pick(old.lines(final=True), since_ns, until_ns, match)
                            done = (done + [old.ino])[-2:]
                        old.close()
                if cur is not None:
                    yield from _pick(cur.lines(), since_ns, until_ns, match)
                    if cur.rotated(self.path):
                        # nobody writes to it any more: the rest, then the new file
                        yield from _pick(cur.lines(final=True), since_ns, until_ns, match)
                        done = (done + [cur.ino])[-2:]
                        cur.close()
                        cur = None
                        continue
                if not follow or (until_ns is not None and time.time_ns() > until_ns):
                    return
                if stop is not None and stop.wait(POLL):
                    return
                if stop is None:
                    time.sleep(POLL)
        finally:
            if cur is not None:
                cur.close()


class _Reader:
    """One journal file read as lines; a line still being written is kept
    until its newline arrives."""

    def __init__(self, f):
        self.f, self.ino, self.rest = f, os.fstat(f.fileno()).st_ino, b""

    @classmethod
    def open(cls, path, since_ns=0):
        try:
            reader = cls(open(path, "rb"))
        except FileNotFoundError:
            return None
        if since_ns:
            reader.skip_to(since_ns - SKEW_NS)
        return reader

    def skip_to(self, t_ns):
        """Start at a line about where ``t_ns`` falls: lines are appended in
        time order (give or take SKEW_NS between writers), so a bisection on
        their ``timeNano`` skips the older ones: a ``since`` read of a full
        journal (16 MiB) parsed every line, ~30 ms a MiB."""
        lo, hi = 0, os.fstat(self.f.fileno()).st_size
        while hi - lo > 1 << 14:
            mid = (lo + hi) // 2
            self.f.seek(mid)
            self.f.readline()                   # the rest of a line cut in two
            start = self.f.tell()
            t = _time_of(self.f.readline())
            if t is None or t >= t_ns:
                hi = mid
            else:
                lo = start                      # a line's start, older than t_ns
        self.f.seek(lo)

    def lines(self, final=False):
        data = self.rest + self.f.read()
        lines = data.split(b"\n")
        self.rest = b"" if final else lines.pop()
        for line in lines:
            if line:
                with contextlib.suppress(ValueError):
                    yield json.loads(line)

    def rotated(self, path):
        try:
            return os.stat(path).st_ino != self.ino
        except FileNotFoundError:
            return True

    def close(self):
        self.f.close()


_TIME_NANO = re.compile(rb'"timeNano": ?(\d+)')


def _time_of(line):
    """A whole line's ``timeNano`` (None: no whole line, or none in it)."""
    m = _TIME_NANO.search(line) if line.endswith(b"\n") else None
    return int(m.group(1)) if m else None


def _pick(events, since_ns, until_ns, match):
    for ev in events:
        t = ev.get("timeNano", 0)
        if t >= since_ns and (until_ns is None or t <= until_ns) and match(ev):
            yield ev


def _ns(value, what):
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidArgument(f"events(): {what} must be a time, got {value!r}")
    if isinstance(value, int):
        return value * 1_000_000_000
    if isinstance(value, float):
        return round(value * 1e9)
    text = str(value).strip()
    if _UNIX_NS.match(text):           # docker's "secs.nanos", exact (a float is not)
        secs, _, frac = text.partition(".")
        return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9])
    return int(_filters.parse_time(value, what=f"events() {what}") * 1_000_000_000)


def matcher(filters):
    """docker's event filters (moby daemon/events/filter.go): values of one
    key OR, keys AND, every ``label`` must match; ``container`` and
    ``network``/``volume`` match the actor's id or name by prefix, ``image``
    exactly (with or without its tag)."""
    f = _filters.Filters(filters, FILTERS, "events()")
    for t in f.values("type"):
        if t not in TYPES:
            raise InvalidArgument(f"events(): unknown event type {t!r}; use one of {TYPES}")
    fuzzy_event = any(v in _FUZZY_EVENTS for v in f.values("event"))

    def action(ev):
        a = ev.get("Action", "")
        if fuzzy_event:
            return f.any("event", a.startswith)
        return f.any("event", a.__eq__)

    def by_name(ev, kind):
        if kind not in f:
            return True
        if ev.get("Type") != kind:
            return False
        actor = ev.get("Actor") or {}
        name = (actor.get("Attributes") or {}).get("name", "")
        return f.any(kind, lambda v: actor.get("ID", "").startswith(v) or name.startswith(v))

    def image(ev):
        if "image" not in f:
            return True
        actor = ev.get("Actor") or {}
        name = (actor.get("Attributes") or {}).get(
            "name" if ev.get("Type") == "image" else "image", "")
        cands = {actor.get("ID", ""), name, _strip_tag(actor.get("ID", "")), _strip_tag(name)}
        return f.any("image", cands.__contains__)

    def match(ev):
        return (action(ev) and f.any("type", (ev.get("Type") or "").__eq__)
                and f.any("scope", (ev.get("scope") or "").__eq__)
                and by_name(ev, "container") and by_name(ev, "network")
                and by_name(ev, "volume") and image(ev)
                and f.labels((ev.get("Actor") or {}).get("Attributes")))
    return match


def _strip_tag(ref):
    head, _, tail = ref.rpartition(":")
    return head if head and "/" not in tail else ref


class EventStream:
    """docker-py's events() result: iterate for events (bytes of JSON, or
    dicts with ``decode``); ``close()`` from any thread ends the iteration."""

    def __init__(self, journal, since=None, until=None, filters=None, decode=False):
        self._stop = threading.Event()
        self._decode = decode
        self._it = journal.read(since, until, filters, stop=self._stop)

    def __iter__(self):
        return self

    def __next__(self):
        if self._stop.is_set():
            self._it.close()          # its files, now (close() may run in another thread)
            raise StopIteration
        ev = next(self._it)
        return ev if self._decode else json.dumps(ev).encode()

    def close(self):
        self._stop.set()
