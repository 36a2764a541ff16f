"""docker's rules for healthcheck and log_config keywords, the event filters, the
monitor's extra input: pure functions, no root."""
import struct

import pytest

from pycontainer.engine import events, health, logs
from pycontainer.errors import InvalidArgument
from pycontainer.runtime import monitor

MS = 1_000_000


def test_healthcheck_merge_inherits_empty_fields_from_the_image():
    image = {"Test": ["CMD", "check"], "Interval": 5 * MS, "Retries": 4}
    assert health.merge(None, image) == {"Test": ["CMD", "check"], "Interval": 5 * MS,
                                         "Timeout": 0, "StartPeriod": 0, "StartInterval": 0,
                                         "Retries": 4}
    mine = health.merge({"test": "curl -f x", "timeout": 2 * MS}, image)
    assert mine["Test"] == ["CMD-SHELL", "curl -f x"]
    assert (mine["Interval"], mine["Timeout"], mine["Retries"]) == (5 * MS, 2 * MS, 4)
    assert health.merge({"test": ["NONE"]}, image)["Test"] == ["NONE"]
    assert health.probe_argv({"Test": ["NONE"]}) is None
    assert health.probe_argv({"Test": ["CMD-SHELL", "a b"]}) == ["/bin/sh", "-c", "a b"]
    assert health.probe_argv({"Test": ["CMD", "a", "b"]}) == ["a", "b"]
    assert health.merge(None, None) is None


def test_healthcheck_defaults_are_dockers():
    assert health.timing({"Test": ["CMD", "x"]}) == (30_000 * MS, 30_000 * MS, 0, 5_000 * MS, 3)


@pytest.mark.parametrize("cfg, size_files", [
    (None, (0, 1)),
    ({"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}}, (10 << 20, 3)),
    ({"type": "local"}, (20 << 20, 5)),
    ({"type": "none"}, (0, 1)),
])
def test_log_config(cfg, size_files):
    parsed = logs.parse_config(cfg)
    assert logs.rotation(parsed["Config"], parsed["Type"]) == size_files


def test_log_times_are_exact_nanoseconds():
    assert logs._epoch("2026-01-01T00:00:00.123456789Z") % 10**9 == 123456789
    assert logs._epoch("2026-01-01T00:00:01Z") % 10**9 == 0


def ev(type_, action, actor, **attrs):
    return {"Type": type_, "Action": action, "scope": "local",
            "Actor": {"ID": actor, "Attributes": attrs}}


def test_event_filters_follow_moby():
    c = ev("container", "health_status: healthy", "abcdef", name="web", image="busybox:1",
           app="x")
    m = events.matcher({"event": "health_status"})            # fuzzy for health_status
    assert m(c) and not m(ev("container", "die", "abcdef"))
    assert events.matcher({"container": ["zzz", "abc"]})(c)   # values OR, id prefix
    assert events.matcher({"container": "we"})(c)             # name prefix
    assert not events.matcher({"container": "web", "type": "image"})(c)   # keys AND
    assert events.matcher({"image": "busybox"})(c)            # without its tag
    assert events.matcher({"label": ["app", "app=x"]})(c)
    assert not events.matcher({"label": ["app", "other"]})(c)  # every label must match
    assert not events.matcher({"network": "web"})(c)          # not a network event
    with pytest.raises(InvalidArgument):
        events.matcher({"type": "service"})


def test_extra_input_layout():
    assert monitor.EXTRA.size == 96          # struct pyc_mon_extra
    data = monitor.Extra(log_max_size=4096, log_max_files=3, journal="/j").packed()
    magic, version, size, files, driver = struct.unpack_from("=IIQII", data)
    assert (magic, version, size, files, driver) == (monitor.EXTRA_MAGIC, monitor.EXTRA_VERSION, 4096, 3, 0)
    assert data[monitor.EXTRA.size:] == b"\0/j\0\0\0\0"      # 5 paths (extra.h)
