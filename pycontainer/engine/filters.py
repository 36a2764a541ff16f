"""docker's ``filters=`` for every ``list()`` and ``prune()``, in one place.

Each collection declares the keys it knows; any other key raises
InvalidArgument, because a key that is silently ignored matches everything
(``containers.prune(filters={"untill": "1h"})`` would prune every stopped
container). A value is a string, a number, a bool or a list of them, as
docker-py sends them; docker's JSON form ``{"key": {"value": True}}`` works
too. Values of one key OR together and different keys AND, except
``label``, where every value must match (docker's rule), and ``label!``,
where any match excludes.

Times (``until``) are docker's: unix seconds (``"1700000000.5"``), RFC 3339
(``"2024-05-01T12:00:00Z"``, a date alone, no zone = local time) or a Go
duration before now (``"10m"``, ``"1h30m"``).

>>> f = Filters({"label": ["app", "tier=web"], "until": "1h"}, ("label", "until"), "prune")
>>> f.labels({"app": "x", "tier": "web"}), f.until() < time.time()
(True, True)
"""
import datetime
import re
import time

from ..errors import InvalidArgument

_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
         "h": 3600.0}
_PART = r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)"
_DURATION = re.compile(rf"^[-+]?(?:{_PART})+$")
_UNIX = re.compile(r"^\d+(\.\d+)?$")
_RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?)?"
                      r"([Zz]|[+-]\d\d:?\d\d)?$")


class Filters:
    """Validated filters: ``{key: [str, ...]}`` with the keys ``known``.

    Args:
        filters: the caller's dict (or None).
        known: the keys this ``list()``/``prune()`` implements.
        what: named in errors, e.g. ``"containers.list()"``.

    Raises:
        InvalidArgument: not a dict, an unknown key, or a value of another type.
    """

    def __init__(self, filters, known, what):
        if filters is None:
            filters = {}
        if not isinstance(filters, dict):
            raise InvalidArgument(f"{what}: filters must be a dict, got {type(filters).__name__}")
        unknown = sorted(str(k) for k in filters if k not in known)
        if unknown:
            raise InvalidArgument(f"{what}: unsupported filter(s) {unknown}; supported: "
                                  f"{sorted(known)}")
        self.what = what
        self._values = {k: _values(k, v, what) for k, v in filters.items()}

    def __contains__(self, key):
        return key in self._values

    def empty(self):
        return not self._values

    def values(self, key):
        """The values given for ``key`` (empty when it is not given)."""
        return list(self._values.get(key, ()))

    def one(self, key):
        """The single value of ``key``, or None; more than one is an error."""
        vals = self._values.get(key, ())
        if len(vals) > 1:
            raise InvalidArgument(f"{self.what}: more than one {key!r} filter given")
        return vals[0] if vals else None

    def flag(self, key, default=None):
        """A boolean filter (``true``/``1``/``false``/``0``)."""
        value = self.one(key)
        if value is None:
            return default
        low = value.lower()
        if low not in ("true", "1", "false", "0"):
            raise InvalidArgument(f"{self.what}: invalid filter '{key}={value}' "
                                  "(use true or false)")
        return low in ("true", "1")

    def any(self, key, test):
        """True when ``key`` is not given, or ``test(value)`` holds for one of its values."""
        vals = self._values.get(key)
        return vals is None or any(test(v) for v in vals)

    def labels(self, labels):
        """``label``: every ``key`` / ``key=value`` present; ``label!``: none of them."""
        labels = labels or {}
        return (all(_label(labels, w) for w in self._values.get("label", ()))
                and not any(_label(labels, w) for w in self._values.get("label!", ())))

    def until(self, key="until"):
        """The ``until`` filter as epoch seconds, or None when not given."""
        value = self.one(key)
        return None if value is None else parse_time(value, what=f"{self.what} {key}")


def _values(key, value, what):
    if isinstance(value, dict):          # docker's {"value": true} form
        value = [k for k, on in value.items() if on]
    elif not isinstance(value, (list, tuple, set, frozenset)):
        value = [value]
    out = []
    for v in value:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, (str, int, float)):
            out.append(str(v))
        else:
            raise InvalidArgument(f"{what}: filter {key!r} takes strings, got {v!r}")
    return out


def _label(labels, want):
    key, eq, value = want.partition("=")
    return key in labels and (not eq or labels[key] == value)


def parse_time(value, now=None, what="time"):
    """Unix seconds, RFC 3339 or a Go duration before ``now`` -> epoch seconds.

    >>> parse_time("90m", now=10000.0)
    4600.0
    """
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    text = str(value).strip()
    now = time.time() if now is None else now
    if text != "0" and _DURATION.match(text):
        sign = -1.0 if text.startswith("-") else 1.0
        secs = sum(float(n) * _UNIT[u] for n, u in re.findall(_PART, text))
        return now - sign * secs
    if _UNIX.match(text):
        return float(text)
    when = timestamp(text)
    if when is None:
        raise InvalidArgument(f"{what}: {value!r} is not a unix time, an RFC 3339 time or "
                              "a duration such as 10m or 1h30m")
    return when


def timestamp(text):
    """An RFC 3339 time (docker's ``Created`` fields) -> epoch seconds, or None.

    Fractions of any length are kept (Python's parser stops at microseconds);
    no zone means local time, as docker reads it.
    """
    m = _RFC3339.match(text or "")
    if not m:
        return None
    y, mo, d, hh, mm, ss, frac, zone = m.groups()
    try:
        when = datetime.datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0),
                                 int(ss or 0))
    except ValueError:
        return None
    if zone is None:
        base = when.timestamp()
    else:
        offset = 0
        if zone not in ("Z", "z"):
            digits = zone[1:].replace(":", "")
            offset = (int(digits[:2]) * 60 + int(digits[2:])) * 60
            offset = -offset if zone[0] == "-" else offset
        base = when.replace(tzinfo=datetime.timezone.utc).timestamp() - offset
    return base + (float(frac) if frac else 0.0)
