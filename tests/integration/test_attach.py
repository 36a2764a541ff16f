"""attach(), attach_socket() and resize() against the monitor's attach socket,
from this process and from another one."""
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pycontainer import errors

from stream_helpers import WAIT, read_to_end, read_until, unframe
from test_lifecycle import wait_until

SECOND = textwrap.dedent("""
    import sys
    from pycontainer import Client
    c = Client(root=sys.argv[1]).containers.get(sys.argv[2])
    s = c.attach_socket()
    s.settimeout(20)
    s.sendall(b"echo from-$((1+1))nd\\n")
    buf = b""
    while b"from-2nd" not in buf:
        buf += s.recv(4096)
    s.sendall(b"\\x10\\x11")
    while s.recv(4096):
        pass
    print("detached" if s.detached else "not detached", flush=True)
""")


def test_attach_from_a_second_process_then_reattach_here(client, busybox):
    with client.containers.run("busybox", ["sh"], detach=True, tty=True,
                               stdin_open=True) as c:
        out = subprocess.run([sys.executable, "-c", SECOND, client._backend.root, c.id],
                             capture_output=True, timeout=60)
        assert out.stdout == b"detached\n", out.stderr.decode()
        with c.attach_socket() as s:
            s.sendall(b"echo back-$((2+1))\n")
            read_until(s, b"back-3")
            s.sendall(b"exit\n")
            read_to_end(s)
            assert s.exit_code == 0


def test_the_attach_socket_is_private_and_gone_with_the_monitor(client, busybox):
    with client.containers.run("busybox", ["cat"], detach=True, stdin_open=True) as c:
        path = client._runtime.attach_socket(c.id)
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert path.startswith(client._runtime.rundir(c.id) + "/")
        with c.attach_socket() as s:
            s.shutdown()
            read_to_end(s)
            assert s.exit_code == 0
        c.wait(timeout=WAIT)
        with pytest.raises(errors.Conflict):
            c.attach_socket()
    assert not os.path.exists(path)


def test_attach_stream_demux_and_logs(client, busybox):
    t0 = time.time()
    with client.containers.run("busybox", ["sh", "-c", "echo early; read x; echo out-$x; "
                                           "echo err-$x >&2"],
                               detach=True, stdin_open=True) as c:
        with c.attach_socket(stdout=False, stderr=False) as writer:
            stream = c.attach(stream=True, demux=True, logs=True)
            writer.sendall(b"7\n")
            got = list(stream)
        outs = b"".join(o for o, _ in got if o)
        errs = b"".join(e for _, e in got if e)
        # "early" from the log, or (printed after the connect) from the stream
        assert b"early\n" in outs and outs.endswith(b"out-7\n") and errs == b"err-7\n"
        assert stream.exit_code == 0
        attached = list(client.events(since=t0, until=time.time(),
                                      filters={"container": c.id, "event": "attach"}))
        assert len(attached) == 2           # the writer's and the stream's


def test_attach_without_stream_returns_the_output_at_exit(client, busybox):
    with client.containers.run("busybox", ["sh", "-c", "read x; echo got-$x"], detach=True,
                               stdin_open=True) as c:
        with c.attach_socket(stdout=False, stderr=False) as writer:
            result = {}
            t = threading.Thread(target=lambda: result.update(
                out=c.attach(stderr=False, logs=True)))
            t.start()
            writer.sendall(b"9\n")
            t.join(WAIT)
        # from the log or (printed after the attach's connect, before its read of the
        # log) from both: docker's attach has the same seam
        assert result["out"] in (b"got-9\n", b"got-9\ngot-9\n")


def test_resize_and_its_errors(client, busybox):
    with client.containers.run("busybox", ["sh"], detach=True, tty=True,
                               stdin_open=True) as c:
        c.resize(50, 132)
        with c.attach_socket() as s:
            s.sendall(b"stty size; exit\n")
            assert b"50 132" in read_to_end(s)
        with pytest.raises(errors.InvalidArgument):
            c.resize(0, 80)
    with client.containers.run("busybox", ["true"], detach=True) as c:
        c.wait(timeout=WAIT)
        with pytest.raises(errors.Conflict):
            c.resize(24, 80)


@pytest.mark.parametrize("kw, fd0", [({}, "/null\n"), ({"stdin_open": True}, "pipe:"),
                                     ({"tty": True}, "/dev/pts/0\n")])
def test_the_inits_stdin_as_docker_gives_it(client, busybox, kw, fd0):
    """No stdin: the host's /dev/null (opened before the pivot, so its path reads
    "/null" inside); a pipe with stdin_open; the pty with a tty."""
    with client.containers.run("busybox", ["sleep", "60"], detach=True, **kw) as c:
        assert c.exec_run("readlink /proc/1/fd/0").output.decode().startswith(fd0)


def test_stdin_once_closes_stdin_when_the_first_attacher_leaves(client, busybox):
    cmd = ["sh", "-c", "cat; echo closed"]
    with client.containers.run("busybox", cmd, detach=True, stdin_open=True,
                               stdin_once=True) as once, \
            client.containers.run("busybox", cmd, detach=True, stdin_open=True) as kept:
        assert once.attrs["Config"]["StdinOnce"] is True
        assert kept.attrs["Config"]["StdinOnce"] is False
        for c in (once, kept):
            with c.attach_socket() as s:           # leaves without sending EOF
                s.sendall(b"a\n")
                read_until(s, b"a\n")
        assert once.wait(timeout=WAIT)["StatusCode"] == 0
        assert once.logs() == b"a\nclosed\n"
        with kept.attach_socket() as s:            # still open: a second attacher writes
            s.sendall(b"b\n")
            got = read_until(s, b"b\n")
            s.shutdown()
            assert unframe(got + read_to_end(s)) == {1: b"b\nclosed\n", 2: b""}
        assert kept.wait(timeout=WAIT)["StatusCode"] == 0


def test_attach_socket_takes_docker_py_params(client, busybox):
    script = "echo out; echo err >&2; read x; echo got $x"
    with client.containers.run("busybox", ["sh", "-c", script], detach=True,
                               stdin_open=True) as c:
        wait_until(lambda: c.logs() == b"out\nerr\n", "both lines in the log")
        with c.attach_socket(params={"stdout": 1, "stderr": True, "logs": 1, "stream": 0}) as s:
            assert unframe(read_to_end(s)) == {1: b"out\n", 2: b"err\n"}    # then the end
        with c.attach_socket(params={"stdout": "1", "logs": "true", "stream": 1}) as s:
            read_until(s, b"out\n")                                # the log, stdout only
        with c.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1,
                                     "detachKeys": "ctrl-x"}) as s:
            s.sendall(b"\x10\x11hi\n")               # ctrl-p ctrl-q are plain keys here
            assert unframe(read_to_end(s))[1] == b"got \x10\x11hi\n"
        with pytest.raises(errors.InvalidArgument, match="websocket"):
            c.attach_socket(ws=True)
        with pytest.raises(errors.InvalidArgument, match="unknown key"):
            c.attach_socket(params={"stdout": 1, "colour": 1})
