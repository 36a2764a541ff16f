"""pyc-monitor's stdio and attach socket (csrc/monitor/io.c), on a plan of one
exec with no namespaces (the PTY op opens the host's /dev/ptmx here): the
AttachSocket client of engine/attach.py against the real monitor."""
import contextlib
import json
import os
import select
import signal
import stat
import threading
import time

import pytest

from pycontainer._core import lib
from pycontainer.engine.attach import AttachSocket, connect, resize_on
from pycontainer.errors import Conflict
from pycontainer.runtime import monitor
from pycontainer.runtime.plan import PlanBuilder

WAIT = 10


class Mon:
    def __init__(self, d, script, tty=False, stdin=True):
        self.d = d
        argv = ["/bin/sh", "-c", script]
        pb = PlanBuilder()
        if tty:
            pb.op(lib.PYC_OP_PTY, "open a pty", s1="/dev/ptmx")
        pb.op(lib.PYC_OP_EXEC, "exec sh", s1=argv[0])
        plan = pb.build()
        files = (self.path("run.json"), self.path("log"), "", self.path("stop"),
                 self.path("name"))
        flags = (monitor.IO_STDIN if stdin else 0) | (monitor.IO_TTY if tty else 0)
        self.sock = self.path("attach")
        data = monitor.pack(plan, argv, ["PATH=/usr/bin:/bin"], 0, [], [], files, "c" * 64,
                            stdio=flags, attach_socket=self.sock)
        self.tty = tty
        self.pid = monitor.start(self.path("monitor.bin"), data, plan)

    def path(self, name):
        return os.path.join(self.d, name)

    def attach(self, **kw):
        s = AttachSocket(connect(self.sock), self.tty, **kw)
        s.settimeout(WAIT)
        return s

    def wait_done(self):
        with open(self.path("run.json")) as f:
            st = json.load(f)
        try:
            fd = os.pidfd_open(st["MonitorPid"])
        except ProcessLookupError:
            return
        try:
            assert select.select([fd], [], [], WAIT)[0], "the monitor did not exit"
        finally:
            os.close(fd)

    def state(self):
        with open(self.path("run.json")) as f:
            return json.load(f)


def read_all(s):
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def read_until(s, needle):
    out = b""
    while needle not in out:
        chunk = s.recv(4096)
        assert chunk, out
        out += chunk
    return out


@pytest.fixture
def rundir(tmp_path):
    # longer than a socket address holds: the monitor binds through the dir's fd
    d = tmp_path / ("d" * 60) / ("e" * 60)
    d.mkdir(parents=True)
    yield str(d)
    _stop(str(d))


def _stop(d):
    """A test that failed early leaves its init running: kill it, await its monitor."""
    try:
        with open(os.path.join(d, "run.json")) as f:
            st = json.load(f)
    except FileNotFoundError:
        return
    try:
        fd = os.pidfd_open(st["MonitorPid"])
    except ProcessLookupError:
        return
    try:
        if st.get("Status") == "running" and st.get("Pid"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(st["Pid"], signal.SIGKILL)
        select.select([fd], [], [], WAIT)
    finally:
        os.close(fd)


def test_pipes_frames_eof_and_exit_code(rundir):
    m = Mon(rundir, "cat; echo done >&2; exit 5")
    mode = os.stat(m.sock).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    with m.attach() as s:
        s.sendall(b"a" * 200000)
        s.shutdown()
        out = read_all(s)
        assert s.exit_code == 5 and not s.detached
    frames, data = [], out
    while data:
        n = int.from_bytes(data[4:8], "big")
        frames.append((data[0], data[8:8 + n]))
        data = data[8 + n:]
    assert b"".join(d for k, d in frames if k == 1) == b"a" * 200000
    assert [d for k, d in frames if k == 2] == [b"done\n"]
    m.wait_done()
    assert m.state()["ExitCode"] == 5
    assert not os.path.exists(m.sock)           # gone with the monitor
    with pytest.raises(Conflict):
        connect(m.sock)


def test_a_pty_resize_veof_and_its_log(rundir):
    m = Mon(rundir, "stty size; read x; echo got-$x; tty; exec cat", tty=True)
    resize_on(connect(m.sock), 30, 90)
    with m.attach() as s:
        s.sendall(b"1\n")
        out = read_until(s, b"/dev/pts/")
        s.sendall(b"tail\n")
        read_until(s, b"tail\r\ntail\r\n")      # the echo, then cat's copy
        s.shutdown()                            # VEOF: cat's read() returns 0
        rest = read_all(s)
        assert s.exit_code == 0, (rest, s.exit_code, s.detached)
    assert b"got-1\r\n" in out
    m.wait_done()
    with open(m.path("log"), "rb") as f:
        lines = [line.rstrip(b"\n").split(b" ", 3) for line in f]
    assert {stream for _, stream, _, _ in lines} == {b"stdout"}     # one stream: the pty's
    text = b"".join(t + (b"\n" if tag == b"F" else b"") for _, _, tag, t in lines)
    assert b"got-1\r\n" in text


def test_detach_keys_reattach_and_two_clients(rundir):
    m = Mon(rundir, "while read x; do echo seen-$x; done; exit 2")
    a = m.attach()
    b = m.attach(stdin=False, detach_keys="")
    a.sendall(b"one\n\x10")
    assert b"seen-one" in read_until(a, b"seen-one")
    a.sendall(b"\x11")                          # ctrl-p (held back), then ctrl-q: detach
    read_all(a)
    assert a.detached and a.exit_code is None
    a.close()
    with m.attach(detach_keys="ctrl-x") as c:
        c.sendall(b"\x10two\n")                 # ctrl-p passes now: the shell reads it
        read_until(c, b"two")
        c.shutdown()
        read_all(c)
        assert c.exit_code == 2
    seen = read_all(b)                          # the second client saw it all
    assert b"seen-one" in seen and b"two" in seen and b.exit_code == 2
    b.close()


def test_two_readers_get_every_byte_of_a_fast_writer(rundir):
    """Lossless to each client: the container's output waits for the slower one."""
    m = Mon(rundir, "read x; head -c 3000000 /dev/zero; echo end-$x")
    readers = [m.attach(stdin=False) for _ in range(2)]
    got = [bytearray(), bytearray()]

    def drain(i):
        for _, data in readers[i].packets():
            got[i] += data
    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        with m.attach() as s:
            s.sendall(b"q\n")
            read_all(s)
        for t in threads:
            t.join(WAIT)
        for i in range(2):
            assert bytes(got[i]) == bytes(3000000) + b"end-q\n"
            assert readers[i].exit_code == 0     # the last packet, though their sockets were full
    finally:
        for r in readers:
            r.close()


def test_a_slow_reader_still_gets_the_exit_code(rundir):
    """Its socket may be full when the container ends: the exit packet waits for room."""
    m = Mon(rundir, "read x; head -c 2000000 /dev/zero; exit 7")
    slow = m.attach(stdin=False)
    got = []

    def drain():
        for _, data in slow.packets():
            got.append(len(data))
            time.sleep(0.002)
    t = threading.Thread(target=drain)
    try:
        t.start()
        with m.attach() as s:
            s.sendall(b"q\n")
            read_all(s)
            assert s.exit_code == 7
        t.join(WAIT * 3)
        assert sum(got) == 2000000 and slow.exit_code == 7
    finally:
        slow.close()


def test_a_client_that_writes_and_closes_at_once_is_heard_out(rundir):
    """Its packets still queued when it hangs up are read (stdin, then EOF)."""
    out = os.path.join(rundir, "copy")
    m = Mon(rundir, f"cat > {out}")
    s = m.attach()
    s.sendall(b"q" * 300000)               # more than the pipe takes: the rest waits
    s.shutdown()
    s.close()
    m.wait_done()
    assert m.state()["ExitCode"] == 0
    with open(out, "rb") as f:
        assert f.read() == b"q" * 300000
