"""ExecPump (engine/attach.py): an exec's stdio served with the monitor's
protocol from a thread, on a process spawned with no namespaces (the PTY op
opens the host's /dev/ptmx here)."""
import contextlib
import os

import pytest

from pycontainer._core import lib
from pycontainer.engine.attach import AttachSocket, ExecPump, parse_detach_keys
from pycontainer.errors import InvalidArgument
from pycontainer.runtime.plan import PlanBuilder
from pycontainer.runtime.process import spawn

ENV = ["PATH=/usr/bin:/bin"]
PUMPS = []


@pytest.fixture(autouse=True)
def _reap():
    """A test that failed early leaves its process running: kill and reap it."""
    yield
    while PUMPS:
        pump = PUMPS.pop()
        with contextlib.suppress(OSError):     # reaped meanwhile by its pump
            pump.proc.kill()
        pump._thread.join(10)


def served(script, tty, stdin=True):
    argv = ["/bin/sh", "-c", script]
    pb = PlanBuilder()
    if tty:
        pb.op(lib.PYC_OP_PTY, "open a pty", s1="/dev/ptmx")
    pb.op(lib.PYC_OP_EXEC, "exec sh", s1=argv[0])
    plan = pb.build()
    if tty:
        proc = spawn(plan, argv, ENV, 0)
        pump = ExecPump(proc, {1: proc.pty}, proc.pty if stdin else -1, True)
    else:
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            proc = spawn(plan, argv, ENV, 0, stdio=(in_r, out_w, err_w))
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        pump = ExecPump(proc, {1: out_r, 2: err_r}, in_w, False)
    PUMPS.append(pump)
    s = AttachSocket(pump.client, tty)
    s.settimeout(10)
    s.pump = pump
    return s


def read_all(s):
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def test_pipes_framed_eof_and_exit_code():
    with served("cat; echo e >&2; exit 6", tty=False) as s:
        s.sendall(b"x\n")
        s.shutdown()
        assert read_all(s) == b"\x01\0\0\0\0\0\0\x02x\n\x02\0\0\0\0\0\0\x02e\n"
        assert s.exit_code == 6


def test_pty_raw_resize_veof():
    with served("stty size; tty; exec cat", tty=True) as s:
        s.resize(12, 34)
        s.sendall(b"line\n")
        s.shutdown()
        out = read_all(s)
        assert b"line\r\n" in out and b"/dev/pts/" in out and s.exit_code == 0
    # the size is set before stty may run: ask again in a fresh one
    with served("read x; stty size", tty=True) as s:
        s.resize(12, 34)
        s.sendall(b"go\n")
        assert b"12 34" in read_all(s)


def test_detach_leaves_the_process_running():
    with served("read x; echo $x", tty=False) as s:
        s.sendall(b"\x10\x11")
        assert read_all(s) == b"" and s.detached and s.exit_code is None
        assert s.pump.proc.status is None            # still running, still ours
        s.pump.proc.kill()
        s.pump._thread.join(10)
        assert not s.pump._thread.is_alive() and s.pump.proc.status == 137


@pytest.mark.parametrize("text, keys", [("ctrl-p,ctrl-q", b"\x10\x11"), ("a,ctrl-@", b"a\0"),
                                        ("", b""), (None, b"\x10\x11")])
def test_detach_keys_parse(text, keys):
    assert parse_detach_keys(text) == keys


@pytest.mark.parametrize("bad", ["ctrl-1", "ab", 7, "x," * 17])
def test_bad_detach_keys(bad):
    with pytest.raises(InvalidArgument):
        parse_detach_keys(bad)
