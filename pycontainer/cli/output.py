"""What the command prints: docker's tables, sizes, times and ``--format``.

Sizes and durations follow docker's (go-units): ``4.26MB`` (decimal, three
significant digits) for images and containers, ``1.5MiB`` (binary) for
memory; ``Up 3 minutes``, ``2 hours ago``. Tables are aligned as Go's
tabwriter with docker's settings (min width 10, padding 3).

``--format`` takes ``json`` (one JSON object a line), ``table`` (the
default table), ``table <template>`` (a header row, then aligned rows) or a
Go template (cli/template.py), rendered once per object.
"""
import calendar
import re
import sys
import time

_RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")
_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def epoch(text):
    """RFC 3339 (docker's time fields) -> epoch seconds; None for no time."""
    if isinstance(text, (int, float)):
        return float(text)
    m = _RFC3339.match(text or "")
    if not m:
        return None
    try:        # no strptime: a listing converts two times per row
        secs = calendar.timegm(tuple(int(v) for v in m.groups()[:6]))
    except (ValueError, OverflowError):
        return None
    zone = m.group(8)
    if zone and zone != "Z":
        off = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        secs -= off if zone[0] == "+" else -off
    if secs <= -62135596800 + 86400:        # Go's zero time: never
        return None
    return secs + (float(m.group(7)) if m.group(7) else 0.0)


def _size(n, base, units, spec):
    n = float(n or 0)
    i = 0
    while n >= base and i < len(units) - 1:
        n /= base
        i += 1
    return (spec % n) + units[i]


def human_size(n):
    """docker's HumanSizeWithPrecision(n, 3): ``4.26MB``, ``0B``."""
    return _size(n, 1000.0, _DECIMAL, "%.3g")


def bytes_size(n):
    """docker's BytesSize: ``1.5MiB``."""
    return _size(n, 1024.0, _BINARY, "%.4g")


def human_duration(seconds):
    """go-units HumanDuration: ``Less than a second`` .. ``3 years``."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def ago(text, now=None):
    """``2 hours ago`` for an RFC 3339 time; "" when there is none."""
    when = epoch(text)
    if when is None:
        return ""
    return human_duration(max(0.0, (now or time.time()) - when)) + " ago"


def go_time(text):
    """Go's ``time.Time.String()`` in local time: ``2024-05-01 12:00:00 +0200 CEST``."""
    when = epoch(text)
    if when is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(int(when)))


def ellipsis(text, width):
    """docker's Ellipsis: at most ``width`` characters, the last one ``…``."""
    if len(text) <= width:
        return text
    return text[:width - 1] + "…" if width > 1 else text[:width]


def tabwrite(lines, minwidth=10, padding=3):
    """Align tab-separated ``lines`` as Go's tabwriter(minwidth, 1, padding, ' ', 0)."""
    rows = [line.split("\t") for line in lines]
    widths = {}
    for cells in rows:
        for j, cell in enumerate(cells[:-1]):      # the last cell is not aligned
            widths[j] = max(widths.get(j, minwidth), len(cell) + padding)
    out = []
    for cells in rows:
        out.append("".join(c.ljust(widths[j]) for j, c in enumerate(cells[:-1])) + cells[-1])
    return "".join(line + "\n" for line in out)


class Header:
    """The header row of ``table`` formats: each field is its column title."""

    def __init__(self, titles):
        self._titles = titles

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        title = self._titles.get(name)
        if title is None:
            title = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).upper()
        return title            # a callable for methods (``.Label "x"``)


def fix_escapes(fmt):
    """docker's: a literal ``\\t`` or ``\\n`` in a format is a tab or a newline."""
    return fmt.replace("\\t", "\t").replace("\\n", "\n")


def render(fmt, items, default, titles, out=None):
    """Print ``items`` (row contexts or dicts) in the ``--format`` ``fmt``.

    ``default``: the table template of the command; ``titles``: field ->
    column title for table headers.
    """
    out = out or sys.stdout
    fmt = fmt if fmt is not None else "table"
    if fmt == "json":
        fmt = "{{json .}}"
    table = fmt == "table" or fmt.startswith("table ") or fmt.startswith("table\t")
    body = default if fmt == "table" else fix_escapes(fmt[5:].strip() if table else fmt)
    from .template import Template
    tmpl = Template(body)
    if not table:
        out.write("".join(tmpl.execute(it) + "\n" for it in items))
        return
    lines = [tmpl.execute(Header(titles))] + [tmpl.execute(it) for it in items]
    text = "\n".join(lines)
    out.write(tabwrite(text.split("\n")))
