"""tty=True / stdin_open=True: a pty of the container's own devpts, driven
from the test through the monitor's attach socket and through exec."""
import os
import pty
import subprocess
import sys
import termios
import textwrap

import pytest

from pycontainer import errors

from stream_helpers import WAIT, read_to_end, read_until, unframe


@pytest.fixture
def shell(client, busybox):
    c = client.containers.run("busybox", ["sh"], detach=True, tty=True, stdin_open=True)
    try:
        yield c
    finally:
        c.remove(force=True)


def test_shell_in_a_pty_send_read_resize_detach_reattach(shell):
    s = shell.attach_socket()
    with s:
        s.sendall(b"tty; echo A$((40+2))\n")
        assert b"/dev/pts/0" in read_until(s, b"A42")   # the container's own devpts
        s.resize(37, 111)
        s.sendall(b"stty size\n")
        read_until(s, b"37 111")
        s.sendall(b"\x10\x11")                          # ctrl-p ctrl-q
        read_to_end(s)
        assert s.detached and s.exit_code is None
    shell.reload()
    assert shell.status == "running"                   # detaching left it running
    with shell.attach_socket() as s:
        s.sendall(b"stty size; echo B$((1+1))\n")
        assert b"37 111" in read_until(s, b"B2")        # the same shell, the same pty
        s.sendall(b"exit 7\n")
        read_to_end(s)
        assert s.exit_code == 7 and not s.detached
    assert shell.wait()["StatusCode"] == 7


def test_detach_keys_are_configurable_and_a_partial_match_passes(client, busybox):
    raw_cat = "stty raw -echo; read go; echo ready; exec cat"     # bytes back as sent
    with client.containers.run("busybox", ["sh", "-c", raw_cat], detach=True, tty=True,
                               stdin_open=True) as c:
        with c.attach_socket(detach_keys="ctrl-a,x") as s:
            s.sendall(b"go\n")
            read_until(s, b"ready")
            s.sendall(b"\x10\x11-\x01y-")          # ctrl-p ctrl-q are plain keys now,
            read_until(s, b"\x10\x11-\x01y-")      # ctrl-a then y is no detach: both pass
            s.sendall(b"\x01x")
            read_to_end(s)
            assert s.detached
        with pytest.raises(errors.InvalidArgument):
            c.attach_socket(detach_keys="ctrl-\u00e4")


def test_stdin_eof_ends_cat_in_a_pty(client, busybox):
    with client.containers.run("busybox", ["cat"], detach=True, tty=True,
                               stdin_open=True) as c:
        s = c.attach_socket()
        with s:
            s.sendall(b"hello\n")
            read_until(s, b"hello\r\n")
            s.shutdown()                                # VEOF at a line's start: read() -> 0
            read_to_end(s)
            assert s.exit_code == 0
        assert c.wait(timeout=WAIT)["StatusCode"] == 0


def test_stdin_eof_ends_cat_on_pipes_with_docker_frames(client, busybox):
    with client.containers.run("busybox", ["sh", "-c", "cat; echo done >&2"], detach=True,
                               stdin_open=True) as c:
        with c.attach_socket() as s:
            s.sendall(b"x" * 100000 + b"\n")
            s.shutdown()                                # the pipe closes
            got = unframe(read_to_end(s))
            assert got == {1: b"x" * 100000 + b"\n", 2: b"done\n"}
            assert s.exit_code == 0


def test_tty_logs_are_the_raw_pty_stream(client, busybox):
    with client.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2"], detach=True,
                               tty=True) as c:
        assert c.wait(timeout=WAIT)["StatusCode"] == 0
        assert c.logs() == b"a\r\nb\r\n"                # one stream, ONLCR as a pty does
        assert c.logs(stdout=False, stderr=True) == b""
        assert c.attrs["Config"]["Tty"] is True


def test_exec_with_a_tty_and_resize(client, busybox):
    with client.containers.run("busybox", ["sleep", "60"], detach=True) as c:
        r = c.exec_run("tty", tty=True)
        assert r == (0, b"/dev/pts/0\r\n")
        assert "TERM=xterm" in c.exec_run("env", tty=True).output.decode()
        r = c.exec_run("sh", tty=True, stdin=True, socket=True)
        with r.output as s:
            s.resize(25, 81)
            s.sendall(b"stty size; tty; exit 4\n")
            out = read_to_end(s)
            assert b"25 81" in out and b"/dev/pts/" in out
        assert r.exit_code == 4 and s.exit_code == 4


def test_exec_stdin_pipe_1000_times_without_a_hang(client, busybox):
    """``echo x | docker exec -i c cat`` 1,000 times (~10 s here; benchmarks/
    lifecycle.py --attach-stress N times it); a hang fails at the socket's timeout."""
    with client.containers.run("busybox", ["sleep", "300"], detach=True) as c:
        for i in range(1000):
            r = c.exec_run("cat", stdin=True, socket=True)
            with r.output as s:
                s.sendall(b"x\n")
                s.shutdown()
                assert unframe(read_to_end(s)) == {1: b"x\n", 2: b""}, i
            assert r.exit_code == 0, i


def test_exec_stdin_without_socket_gets_eof(client, busybox):
    with client.containers.run("busybox", ["sleep", "60"], detach=True) as c:
        assert c.exec_run("cat", stdin=True) == (0, b"")
        code, (out, err) = c.exec_run(["sh", "-c", "cat; echo e >&2"], stdin=True, demux=True)
        assert code == 0 and out is None and err == b"e\n"


RUN_IT = textwrap.dedent("""
    import sys
    from pycontainer import Client
    c = Client(root=sys.argv[1])
    try:
        c.containers.run("busybox", ["sh"], tty=True, stdin_open=True, remove=True)
    except Exception as err:
        print("EXIT", err.exit_status, flush=True)
""")


def test_run_it_from_a_terminal_puts_it_raw_and_restores_it(client, busybox):
    """run() without detach, stdin a terminal: docker run -it."""
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ECHO and before[3] & termios.ICANON
    proc = subprocess.Popen([sys.executable, "-c", RUN_IT, client._backend.root],
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    try:
        buf = b""
        os.write(master, b"tty; echo R$((2*3))\n")
        while b"R6" not in buf:
            buf += os.read(master, 4096)
        assert b"/dev/pts/0" in buf                     # the container's pty, not ours
        during = termios.tcgetattr(slave)
        assert not during[3] & (termios.ECHO | termios.ICANON)      # raw while it runs
        os.write(master, b"exit 3\n")
        while b"EXIT 3" not in buf:
            buf += os.read(master, 4096)
        assert proc.wait(WAIT) == 0
        assert termios.tcgetattr(slave) == before       # restored
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)


def test_run_attached_with_a_tty_returns_the_pty_stream(client, busybox):
    out = client.containers.run("busybox", ["sh", "-c", "tty; echo e >&2"], tty=True,
                                remove=True)
    assert out == b"/dev/pts/0\r\ne\r\n"      # one stream: stderr is the pty too


def test_a_detached_exec_with_a_tty_keeps_running(client, busybox):
    with client.containers.run("busybox", ["sleep", "60"], detach=True) as c:
        wait_go = "until [ -e /tmp/go ]; do sleep 0.05; done"
        assert c.exec_run(["sh", "-c", f"tty > /tmp/tty; {wait_go}; echo done > /tmp/done"],
                          tty=True, detach=True) == (None, None)
        r = c.exec_run(["sh", "-c", "touch /tmp/go; until [ -e /tmp/done ]; do sleep 0.05; "
                        "done; cat /tmp/tty /tmp/done"], timeout=WAIT)
        assert r == (0, b"/dev/pts/0\ndone\n")     # its pty was not hung up on return


def test_exec_timeout_with_a_tty_kills_it(client, busybox):
    with client.containers.run("busybox", ["sleep", "60"], detach=True) as c:
        with pytest.raises(TimeoutError):
            c.exec_run(["sleep", "30"], tty=True, timeout=0.5)
        gone = "while ps -o args | grep -q '^sleep 30'; do sleep 0.05; done; echo gone"
        assert c.exec_run(["sh", "-c", gone], timeout=WAIT).output == b"gone\n"
