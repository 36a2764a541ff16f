"""pyc-monitor run on a plan of one exec, with no namespaces and no cgroups
(no root needed): run.json, restarts as the input says, the hooks, the
name link. The engine's docker policies are in tests/integration/test_lifecycle.py."""
import calendar
import errno
import json
import os
import select
import time

import pytest

from pycontainer._core import lib
from pycontainer.engine.containers import restart_rule
from pycontainer.errors import InvalidArgument, OperationError
from pycontainer.runtime import monitor
from pycontainer.runtime.plan import PlanBuilder

CID = "c" * 64


class Box:
    """The files of one monitored process under a temporary directory."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.run = str(tmp_path / "run.json")
        self.log = str(tmp_path / "container.log")
        self.stop = str(tmp_path / "stopped")
        self.name = str(tmp_path / "name")

    def start(self, argv, restart=monitor.NEVER, hooks=(), cid=CID, auto_remove=False,
              remove=()):
        pb = PlanBuilder()
        pb.op(lib.PYC_OP_EXEC, f"exec {argv[0]}", s1=argv[0])
        plan = pb.build()
        files = (self.run, self.log, "", self.stop, self.name)
        data = monitor.pack(plan, argv, ["PATH=/usr/bin:/bin"], 0, [], [], files, cid,
                            restart, auto_remove, remove, hooks)
        return monitor.start(str(self.dir / "monitor.bin"), data, plan)

    def state(self):
        with open(self.run, "rb") as f:
            return json.load(f)

    def wait_done(self, timeout=30):
        """Wait until the monitor has exited (it has recorded the last exit then)."""
        try:
            fd = os.pidfd_open(self.state()["MonitorPid"])
        except ProcessLookupError:
            return self.state()
        try:
            assert select.select([fd], [], [], timeout)[0], "the monitor did not exit"
        finally:
            os.close(fd)
        return self.state()

    def log_times(self):
        """The time of each log line, in seconds."""
        times = []
        with open(self.log) as f:
            for line in f:
                stamp = line.split(" ", 1)[0]
                whole, frac = stamp.rstrip("Z").split(".")
                t = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
                times.append(t + int(frac) / 1e9)
        return times


@pytest.fixture
def box(tmp_path):
    return Box(tmp_path)


def exits(code):
    return ["/bin/sh", "-c", f"echo run; exit {code}"]


# -- run.json ------------------------------------------------------------------------

@pytest.mark.parametrize("name, shown", [
    ('no"such\\prog\nline\x01\x1f', 'no"such\\prog\nline\x01\x1f'),
    ("caf\u00e9 \u4e2d \U0001f600", "caf\u00e9 \u4e2d \U0001f600"),
    (os.fsdecode(b"bad\xff\xc0\xafend\xed\xa0\x80"), "bad\ufffd\ufffd\ufffdend\ufffd\ufffd\ufffd"),
])
def test_run_json_escapes_the_error(box, name, shown):
    with pytest.raises(OperationError) as e:
        box.start([name])
    assert e.value.errno == errno.ENOENT and e.value.op == f"exec {name}"
    st = box.wait_done()
    assert st["Status"] == "exited" and st["ExitCode"] == 127
    assert st["Error"] == f'exec: "{shown}": No such file or directory'


@pytest.mark.parametrize("pad", range(6))
def test_run_json_stays_valid_when_the_error_is_cut(box, pad):
    # each \x01 takes 6 bytes escaped; the pads move the cut across every
    # offset, so one lands exactly at the end of the buffer whatever the pids
    name = "a" * pad + "\x01" * 1000
    with pytest.raises(OperationError):
        box.start([name])
    error = box.wait_done()["Error"]
    assert error.startswith('exec: "' + "a" * pad + "\x01") and set(error[7 + pad:]) == {"\x01"}


def test_run_json_while_running_and_after(box):
    pid = box.start(["/bin/sleep", "60"])
    st = box.state()
    assert st["Status"] == "running" and st["Pid"] == pid and st["Error"] == ""
    assert st["StartedAt"].endswith("Z") and st["FinishedAt"] == ""
    os.kill(pid, 9)
    st = box.wait_done()
    assert st["Status"] == "exited" and st["ExitCode"] == 137 and st["RestartCount"] == 0
    assert not os.path.exists(box.run + ".tmp")


# -- restarts: the input decides -----------------------------------------------------

def test_restarts_on_codes_in_the_set_up_to_max(box):
    box.start(exits(3), monitor.Restart(frozenset({3}), max=2, backoff_ms=1))
    st = box.wait_done()
    assert (st["Status"], st["ExitCode"], st["RestartCount"]) == ("exited", 3, 2)
    assert len(box.log_times()) == 3


def test_code_outside_the_set_is_not_restarted(box):
    box.start(exits(3), monitor.Restart(frozenset({0, 1, 2, 4}), backoff_ms=1))
    st = box.wait_done()
    assert (st["Status"], st["ExitCode"], st["RestartCount"]) == ("exited", 3, 0)


def test_backoff_grows_by_the_factor_up_to_the_cap(box):
    # Without the cap the second wait would be 100 s: wait_done's deadline.
    box.start(exits(1), monitor.Restart(frozenset({1}), max=3, backoff_ms=100,
                                        backoff_factor=1000, backoff_max_ms=200,
                                        reset_after_ms=60_000))
    assert box.wait_done()["RestartCount"] == 3
    t = box.log_times()
    gaps = [b - a for a, b in zip(t, t[1:])]
    assert len(gaps) == 3 and gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.2


def test_backoff_resets_after_a_long_enough_run(box):
    # Every run is longer than 0 ms: each wait is the first one again.
    box.start(exits(1), monitor.Restart(frozenset({1}), max=3, backoff_ms=100,
                                        backoff_factor=1000, backoff_max_ms=100_000,
                                        reset_after_ms=0))
    assert box.wait_done()["RestartCount"] == 3
    t = box.log_times()
    assert all(b - a >= 0.1 for a, b in zip(t, t[1:]))


def test_stop_marker_ends_unlimited_restarts(box):
    box.start(exits(0), monitor.Restart(frozenset(range(256)), backoff_ms=20,
                                        backoff_factor=1, backoff_max_ms=20))
    deadline = time.monotonic() + 30
    while box.state()["RestartCount"] < 2:
        assert time.monotonic() < deadline, "no restarts"
        time.sleep(0.01)
    open(box.stop, "w").close()
    st = box.wait_done()
    assert st["Status"] == "exited" and st["ExitCode"] == 0


def test_docker_rules():
    always = restart_rule({"Name": "always"})
    assert always == restart_rule({"Name": "unless-stopped"})
    assert always.codes == frozenset(range(256)) and always.max == 0
    assert (always.backoff_ms, always.backoff_factor, always.backoff_max_ms,
            always.reset_after_ms) == (100, 2, 60_000, 10_000)
    failure = restart_rule({"Name": "on-failure", "MaximumRetryCount": 4})
    assert failure.codes == frozenset(range(1, 256)) and failure.max == 4
    assert restart_rule({"Name": "no"}) == restart_rule(None) == monitor.NEVER
    assert not monitor.NEVER.codes


def test_restart_data_is_checked():
    with pytest.raises(InvalidArgument):
        monitor.Restart(frozenset({256}))
    with pytest.raises(InvalidArgument):
        monitor.Restart(backoff_ms=-1)
    with pytest.raises(InvalidArgument):
        monitor.Restart(max=1 << 32)


# -- the end: hooks, name, directories -----------------------------------------------

def test_hooks_run_once_in_order(box):
    out = box.dir / "hooks"
    hooks = [["/bin/sh", "-c", f"echo {i} >> {out}"] for i in range(3)]
    box.start(["/bin/true"], hooks=hooks)
    box.wait_done()
    assert out.read_text() == "0\n1\n2\n"


def test_hook_verbs_run_in_the_monitor(box):
    out, flag = box.dir / "hooks", box.dir / "flag"
    files = [box.dir / f"f{i}" for i in range(3)]
    for f in files:
        f.write_text("x")
    flag.write_text("")
    hooks = [["@unless-exists", str(flag), "/bin/sh", "-c", f"echo skipped >> {out}"],
             ["@if-exists", str(flag), "/bin/sh", "-c", f"echo ran >> {out}"],
             ["@if-exists", str(flag), "@rm", str(files[0]), str(files[1]),
              str(box.dir / "missing")],
             ["@unless-exists", str(box.dir / "missing"), "@rm", str(files[2])],
             ["@umount", str(box.dir / "not-mounted")],
             ["@unknown-verb", "x"],
             ["/bin/sh", "-c", f"echo last >> {out}"]]
    box.start(["/bin/true"], hooks=hooks)
    box.wait_done()
    assert out.read_text() == "ran\nlast\n"
    assert not any(f.exists() for f in files)


def test_hook_argument_limits():
    for bad in ([], ["/bin/echo", ""], ["/bin/echo"] + ["x"] * monitor.MAX_HOOK_ARGS):
        with pytest.raises(InvalidArgument):
            monitor._hook_bytes([bad])
    assert monitor._hook_bytes([["/bin/echo"] + ["x"] * 62]).count(b"\0") == 64


@pytest.mark.parametrize("owner, released", [(CID, True), ("d" * 64, False)])
def test_auto_remove_releases_the_name_by_id(box, owner, released):
    # The id comes from the input, not from where run.json is.
    gone = box.dir / "layer"
    gone.mkdir()
    (gone / "config.json").write_text("{}")
    os.symlink(owner, box.name)
    box.start(["/bin/true"], auto_remove=True, remove=[str(gone)])
    box.wait_done()
    assert os.path.lexists(box.name) != released
    assert not gone.exists()


def test_a_monitor_that_reports_nothing_is_an_eio(box, monkeypatch):
    monkeypatch.setenv("PYCONTAINER_MONITOR", "/bin/true")
    with pytest.raises(OperationError) as e:
        box.start(["/bin/true"])
    assert e.value.errno == errno.EIO and "failed to start the container" in str(e.value)
