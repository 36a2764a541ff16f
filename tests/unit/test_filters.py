"""pycontainer/filters.py: docker's filter values, keys and times, without containers."""
import datetime

import pytest

from pycontainer.errors import InvalidArgument
from pycontainer.engine.filters import Filters, parse_time, timestamp

NOW = 1_700_000_000.0


def test_unknown_key_is_refused():
    with pytest.raises(InvalidArgument, match="ancestor"):
        Filters({"ancestor": "busybox"}, ("label",), "x.list()")
    with pytest.raises(InvalidArgument):
        Filters(["label"], ("label",), "x.list()")
    Filters(None, (), "x.list()")


def test_values_string_list_bool_and_docker_json_form():
    f = Filters({"a": "x", "b": ["y", "z"], "c": True, "d": {"v": True, "w": False}, "e": 3},
                "abcde", "x")
    assert [f.values(k) for k in "abcde"] == [["x"], ["y", "z"], ["true"], ["v"], ["3"]]
    assert f.values("absent") == [] and "absent" not in f and "a" in f
    with pytest.raises(InvalidArgument):
        Filters({"a": [None]}, "a", "x")


def test_any_ors_values_and_absent_key_matches():
    f = Filters({"id": ["ab", "cd"]}, ("id", "name"), "x")
    assert f.any("id", lambda v: "cd12".startswith(v))
    assert not f.any("id", lambda v: "ef12".startswith(v))
    assert f.any("name", lambda v: False)


def test_labels_all_must_match_and_label_bang_excludes():
    f = Filters({"label": ["app", "tier=web"]}, ("label", "label!"), "x")
    assert f.labels({"app": "", "tier": "web"})
    assert not f.labels({"app": "", "tier": "db"}) and not f.labels({"tier": "web"})
    g = Filters({"label!": ["keep", "k=v"]}, ("label", "label!"), "x")
    assert g.labels({}) and g.labels({"k": "w"})
    assert not g.labels({"keep": "1"}) and not g.labels({"k": "v"})


def test_flag_and_one():
    assert Filters({"all": "1"}, ("all",), "x").flag("all") is True
    assert Filters({"all": False}, ("all",), "x").flag("all") is False
    assert Filters({}, ("all",), "x").flag("all", False) is False
    with pytest.raises(InvalidArgument):
        Filters({"all": "yes"}, ("all",), "x").flag("all")
    with pytest.raises(InvalidArgument):
        Filters({"until": ["1h", "2h"]}, ("until",), "x").until()


@pytest.mark.parametrize("text, want", [
    ("10m", NOW - 600), ("1h30m", NOW - 5400), ("1.5h", NOW - 5400), ("90s", NOW - 90),
    ("500ms", NOW - 0.5), ("-1m", NOW + 60), ("1700000000", 1_700_000_000.0),
    ("1700000000.25", 1_700_000_000.25), ("0", 0.0),
    ("2023-11-14T22:13:20Z", NOW), ("2023-11-14T23:13:20+01:00", NOW),
    ("2023-11-14T22:13:20.5Z", NOW + 0.5),
])
def test_parse_time_docker_forms(text, want):
    assert parse_time(text, now=NOW) == pytest.approx(want)


def test_parse_time_local_and_bad():
    local = datetime.datetime(2024, 5, 1).timestamp()      # no zone: local time, as docker
    assert parse_time("2024-05-01", now=NOW) == local
    assert parse_time(1700000000, now=NOW) == NOW
    assert parse_time("10", now=NOW) == 10.0                # no unit: unix seconds, as Go
    for bad in ("yesterday", "1h 30m", "2024-13-01", ""):
        with pytest.raises(InvalidArgument):
            parse_time(bad, now=NOW)


def test_timestamp_keeps_nanoseconds_and_rejects_garbage():
    assert timestamp("2023-11-14T22:13:20.123456789Z") == pytest.approx(NOW + 0.123456789)
    assert timestamp("0001-01-01T00:00:00Z") < 0
    assert timestamp("") is None and timestamp("soon") is None
