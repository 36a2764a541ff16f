"""A ``since`` read of the event journal starts near its time (a bisection
on ``timeNano``) and still returns exactly what a read of every line would:
lines two writers appended slightly out of order, long lines, a line still
being written, the rotated file."""
import json
import os
import random

from pycontainer.engine import events
from pycontainer.engine.events import Journal

BASE = 1_700_000_000 * 10**9         # in the past: a read with an until ends


def _line(t, n, pad=0):
    return (json.dumps({"Type": "volume", "Action": "create", "Actor": {
        "ID": f"v{n}", "Attributes": {"pad": "x" * pad}}, "scope": "local",
        "time": t // 10**9, "timeNano": t}) + "\n").encode()


def _write(path, times, rng):
    with open(path, "wb") as f:
        for n, t in enumerate(times):
            f.write(_line(t, n, pad=rng.choice((0, 0, 0, 300, 70_000))))


def _times(rng, start, count):
    out, t = [], start
    for _ in range(count):
        t += rng.randrange(1, 50_000_000)           # up to 50 ms apart
        # another writer's clock read a little earlier than the line before it
        out.append(t - rng.randrange(0, events.SKEW_NS // 2) if rng.random() < 0.05 else t)
    return out


def test_since_reads_return_exactly_the_lines_from_then_on(tmp_path):
    rng = random.Random(7)
    old = _times(rng, BASE, 800)
    live = _times(rng, old[-1], 1500)
    _write(tmp_path / "events.log.1", old, rng)
    _write(tmp_path / "events.log", live, rng)
    with open(tmp_path / "events.log", "ab") as f:
        f.write(_line(live[-1] + 1, 99_999)[:-20])   # being written: no newline yet
    assert os.path.getsize(tmp_path / "events.log") > 1 << 20
    journal = Journal(str(tmp_path))
    every = old + live
    for since in [BASE, old[400], old[-1], live[0], live[700], live[-1], live[-1] + 10**9,
                  *rng.sample(every, 20)]:
        secs = f"{since // 10**9}.{since % 10**9:09d}"       # docker's exact form
        got = [e["timeNano"] for e in journal.read(since=secs, until=live[-1] // 10**9 + 1)]
        assert got == [t for t in every if t >= since], since


def test_the_bisection_lands_before_the_first_line_of_its_time(tmp_path):
    rng = random.Random(3)
    times = _times(rng, BASE, 3000)
    _write(tmp_path / "events.log", times, rng)
    reader = events._Reader.open(str(tmp_path / "events.log"))
    for t in rng.sample(times[300:], 30):
        reader.skip_to(t - events.SKEW_NS)
        at = reader.f.tell()
        rest = reader.f.read()
        assert at == 0 or reader.f.seek(at - 1) is not None and reader.f.read(1) == b"\n"
        kept = [json.loads(line)["timeNano"] for line in rest.split(b"\n") if line]
        assert [x for x in times if x >= t] == [x for x in kept if x >= t]
        assert len(kept) < len(times)
    reader.close()
