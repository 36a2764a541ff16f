"""Logs: docker's options read exactly, rotation by the monitor, the none driver."""
import datetime
import os
import time

import pytest

from pycontainer import errors
from test_lifecycle import wait_until

LINE = 99          # bytes of text per line, "%08d" + padding


def lines_cmd(n, width=LINE):
    # seq + awk are busybox applets: n lines of exactly `width` characters
    return ["sh", "-c", f"seq 1 {n} | awk '{{printf \"%08d%0{width - 8}d\\n\", $1, 0}}'"]


def line(i, width=LINE):
    return b"%08d" % i + b"0" * (width - 8) + b"\n"


def log_files(client, c):
    d = client._runtime.dir(c.id)
    return sorted(n for n in os.listdir(d) if n.startswith("container.log"))


def test_rotation_keeps_max_file_files_of_max_size(client, busybox):
    n = 400                 # ~56 KB of records: many rotations of 4 KiB
    with client.containers.run("busybox", lines_cmd(n), detach=True,
                               log_config={"type": "json-file",
                                           "config": {"max-size": "4k", "max-file": "3"}}) as c:
        assert c.wait(timeout=60)["StatusCode"] == 0
        assert c.attrs["HostConfig"]["LogConfig"] == {
            "Type": "json-file", "Config": {"max-size": "4k", "max-file": "3"}}
        files = log_files(client, c)
        assert files == ["container.log", "container.log.1", "container.log.2"]
        d = client._runtime.dir(c.id)
        assert all(os.path.getsize(os.path.join(d, f)) <= 4096 for f in files)
        out = c.logs()
        kept = out.count(b"\n")
        assert 0 < kept < n
        # what is kept is the end of the output, in order, whole lines
        assert out == b"".join(line(i) for i in range(n - kept + 1, n + 1))
        assert c.logs(tail=3) == b"".join(line(i) for i in (n - 2, n - 1, n))


def test_long_line_is_cut_into_records_that_fit(client, busybox):
    with client.containers.run("busybox", lines_cmd(1, width=3000), detach=True,
                               log_config={"type": "local",
                                           "config": {"max-size": "1k", "max-file": "5"}}) as c:
        c.wait(timeout=60)
        d = client._runtime.dir(c.id)
        assert all(os.path.getsize(os.path.join(d, f)) <= 1024 for f in log_files(client, c))
        assert c.logs() == line(1, width=3000)


def test_follow_reads_across_rotations_and_ends_at_exit(client, busybox):
    n = 300
    gate = "echo ready; while [ ! -e /tmp/go ]; do sleep 0.01; done; "
    c = client.containers.run("busybox", ["sh", "-c", gate + lines_cmd(n)[2]], detach=True,
                              log_config={"config": {"max-size": "8k", "max-file": "10"}})
    with c:
        stream = c.logs(stream=True, follow=True)
        assert next(stream) == b"ready\n"      # following before the output starts
        c.exec_run(["touch", "/tmp/go"])
        got = b"".join(stream)                 # ends when the container exits
        assert got == b"".join(line(i) for i in range(1, n + 1))
        assert len(log_files(client, c)) > 2


def test_since_until_timestamps_tail(client, busybox):
    with client.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2; sleep 600"],
                               detach=True) as c:
        wait_until(lambda: c.logs() == b"one\ntwo\n", "both lines")
        stamped = c.logs(timestamps=True).splitlines()
        ts = [datetime.datetime.fromisoformat(s.split(b" ")[0].decode()[:26] + "+00:00")
              for s in stamped]
        assert [s.split(b" ", 1)[1] for s in stamped] == [b"one", b"two"]
        assert c.logs(stdout=False) == b"two\n"
        assert c.logs(stderr=False) == b"one\n"
        assert c.logs(tail=1) == b"two\n" and c.logs(tail=0) == b""
        assert c.logs(since=ts[1] + datetime.timedelta(microseconds=1)) == b""
        assert c.logs(since=ts[0].timestamp() - 1, until=ts[1].timestamp() + 1) == b"one\ntwo\n"
        assert c.logs(until=ts[0] - datetime.timedelta(seconds=1)) == b""
        with pytest.raises(errors.InvalidArgument, match="tail"):
            c.logs(tail="last")


def test_none_driver_keeps_nothing(client, busybox):
    with client.containers.run("busybox", ["echo", "hidden"], detach=True,
                               log_config={"type": "none"}) as c:
        c.wait(timeout=30)
        assert log_files(client, c) == []
        with pytest.raises(errors.InvalidArgument, match="none log driver"):
            c.logs()


@pytest.mark.parametrize("cfg, match", [
    ({"type": "syslog"}, "no log driver named 'syslog'"),
    ({"type": "json-file", "config": {"max-size": "lots"}}, "max-size"),
    ({"type": "json-file", "config": {"max-size": "10", "max-file": "3"}}, "at least"),
    ({"type": "local", "config": {"max-file": "0", "max-size": "1m"}}, "max-file"),
    ({"type": "json-file", "config": {"mode": "non-blocking"}}, "unknown log opt"),
])
def test_bad_log_config_refused(client, busybox, cfg, match):
    before = set(client._backend.containers.ids())
    with pytest.raises(errors.InvalidArgument, match=match):
        client.containers.run("busybox", ["true"], detach=True, log_config=cfg)
    assert set(client._backend.containers.ids()) == before
