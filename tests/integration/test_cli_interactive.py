"""Typing at the ``pycontainer`` command: ``run -it``/``exec -it`` on a real
terminal (a pty the command has as its controlling terminal), ``-i`` with
piped stdin, ``attach``, ``start -a``/``-i``. What the shell inside says
is checked, and that the terminal is as it was after every way out.
"""
import re
import signal
import subprocess
import termios

import pytest

from cli_helpers import CLI, Pty


@pytest.fixture
def cli(store_root, busybox):
    return CLI(store_root)


@pytest.fixture
def made(client):
    names = []
    yield names
    for n in names:
        try:
            client.containers.get(n).remove(force=True, v=True)
        except Exception:  # noqa: BLE001  already gone
            pass


@pytest.fixture
def term(cli):
    """Start the command on a pty: ``term("run", "-it", ...)``; killed if left."""
    opened = []

    def start(*args, rows=24, cols=80):
        p = Pty(cli.argv(*args), cli.env, rows, cols)
        p.cooked = termios.tcgetattr(p.fd)
        opened.append(p)
        return p
    yield start
    for p in opened:
        p.close()


def _raw(p):
    return not termios.tcgetattr(p.fd)[3] & termios.ECHO


def _restored(p):
    assert termios.tcgetattr(p.fd) == p.cooked


def test_run_it_is_a_real_shell_that_follows_the_window(cli, client, made, term):
    made.append("pyc-cli-it")
    p = term("run", "-it", "--name", "pyc-cli-it", "busybox", "sh", rows=33, cols=101)
    p.send(b"tty; stty size; echo $((6*7))\r")
    p.expect(rb"/dev/pts/\d+\r\n")
    p.expect(rb"33 101\r\n")
    p.expect(rb"42\r\n")
    assert _raw(p)                    # the command's terminal is raw: the pty inside echoes
    p.resize(40, 120)                 # the kernel sends the command SIGWINCH
    p.send(b"stty size\r")
    p.expect(rb"40 120\r\n")
    p.send(b"exit 7\r")
    assert p.wait() == 7
    _restored(p)
    st = client.containers.get("pyc-cli-it").attrs["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 7


def test_run_it_detaches_on_ctrl_p_ctrl_q_and_attach_comes_back(cli, client, made, term):
    made.append("pyc-cli-detach")
    p = term("run", "-it", "--name", "pyc-cli-detach", "busybox", "sh")
    p.send(b"echo one$((1+1))\r")
    p.expect(rb"one2\r\n")
    p.send(b"\x10\x11")
    assert p.wait() == 0
    assert b"read escape sequence" in p.seen
    _restored(p)
    c = client.containers.get("pyc-cli-detach")
    assert c.status == "running"
    # back in, with other keys; what is typed reaches the same shell
    a = term("attach", "--detach-keys", "ctrl-x", "pyc-cli-detach")
    a.send(b"echo back$((2+2))\r")
    a.expect(rb"back4\r\n")
    a.send(b"\x18")
    assert a.wait() == 0
    _restored(a)
    c.reload()
    assert c.status == "running"
    # and exiting the shell through attach ends both with its code
    a = term("attach", "pyc-cli-detach")
    a.send(b"\r")                     # the prompt shows we are connected
    a.expect(rb"# ")
    a.send(b"exit 4\r")
    assert a.wait() == 4
    _restored(a)
    c.reload()
    assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 4


def test_run_it_terminal_restored_when_the_command_is_killed(cli, client, made, term):
    made.append("pyc-cli-term")
    p = term("run", "-it", "--name", "pyc-cli-term", "busybox", "sh")
    p.send(b"echo up$((3*3))\r")
    p.expect(rb"up9\r\n")
    assert _raw(p)
    import os
    os.kill(p.pid, signal.SIGTERM)    # a tty: signals are not proxied, the command ends
    assert p.wait() == 128 + signal.SIGTERM
    _restored(p)
    assert client.containers.get("pyc-cli-term").status == "running"


def test_run_it_refuses_without_a_terminal(cli, client):
    before = {c.id for c in client.containers.list(all=True)}
    r = cli("run", "-it", "--rm", "busybox", "sh", input="", ok=False)
    assert r.code == 1 and "not a TTY" in r.err and len(r.err.splitlines()) == 1
    assert {c.id for c in client.containers.list(all=True)} == before


def test_run_i_with_piped_stdin_reaches_eof(cli, client):
    before = {c.id for c in client.containers.list(all=True)}
    r = cli("run", "-i", "--rm", "busybox", "sh", "-c", "echo start; cat; echo end >&2",
            input="hello\nworld\n", timeout=30)
    assert r.out == "start\nhello\nworld\n" and r.err == "end\n"
    r = cli("run", "-i", "--rm", "busybox", "sh", "-c", "wc -l; exit 3", input="a\nb\nc\n",
            ok=False, timeout=30)
    assert r.code == 3 and r.out.strip() == "3"
    assert {c.id for c in client.containers.list(all=True)} == before   # --rm: gone


def test_run_i_output_before_the_attach_is_not_lost(cli, client):
    """The first bytes a container writes may come before the attach: they
    come once, from the log (a quick command ends before any attach)."""
    for _ in range(5):
        r = cli("run", "-i", "--rm", "busybox", "echo", "first", input="", timeout=30)
        assert r.out == "first\n"
    r = cli("run", "-i", "--rm", "busybox", "sh", "-c", "exit 9", input="", ok=False)
    assert r.code == 9


def test_run_i_proxies_signals(cli, client, made):
    made.append("pyc-cli-proxy")
    p = cli.popen("run", "-i", "--name", "pyc-cli-proxy", "busybox", "sh", "-c",
                  "trap 'echo got-term; exit 3' TERM; echo ready; while true; do sleep 0.1; "
                  "done", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ready\n"     # the session (and its proxy) is up
        p.send_signal(signal.SIGTERM)
        assert p.stdout.readline() == b"got-term\n"
        assert p.wait(timeout=30) == 3
    finally:
        p.kill()
        p.wait()
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()


def test_exec_it_and_exec_i(cli, client, made, term):
    made.append("pyc-cli-exec-it")
    cli("run", "-d", "--name", "pyc-cli-exec-it", "busybox", "sleep", "300")
    p = term("exec", "-it", "pyc-cli-exec-it", "sh", rows=30, cols=90)
    p.send(b"tty; stty size; echo $((5*5))\r")
    p.expect(rb"/dev/pts/\d+\r\n")
    p.expect(rb"30 90\r\n")
    p.expect(rb"25\r\n")
    p.resize(31, 91)
    p.send(b"stty size\r")
    p.expect(rb"31 91\r\n")
    p.send(b"exit 5\r")
    assert p.wait() == 5
    _restored(p)
    r = cli("exec", "-i", "pyc-cli-exec-it", "sh", "-c", "wc -l; echo err >&2",
            input="1\n2\n", timeout=30)
    assert r.out.strip() == "2" and r.err == "err\n"
    r = cli("exec", "-i", "pyc-cli-exec-it", "sh", "-c", "cat; exit 6", input="x",
            ok=False, timeout=30)
    assert r.code == 6 and r.out == "x"
    assert client.containers.get("pyc-cli-exec-it").status == "running"


def test_start_attach_and_interactive(cli, client, made):
    made.append("pyc-cli-start-a")
    cli("create", "--name", "pyc-cli-start-a", "busybox", "sh", "-c", "echo out; echo err >&2; "
        "exit 2")
    r = cli("start", "-a", "pyc-cli-start-a", ok=False, timeout=30)
    assert (r.code, r.out, r.err) == (2, "out\n", "err\n")
    r = cli("start", "-a", "pyc-cli-start-a", ok=False, timeout=30)     # this run's output only
    assert (r.code, r.out, r.err) == (2, "out\n", "err\n")
    made.append("pyc-cli-start-i")
    cli("create", "-i", "--name", "pyc-cli-start-i", "busybox", "sh", "-c", "tr a-z A-Z")
    r = cli("start", "-ai", "pyc-cli-start-i", input="shout\n", timeout=30)
    assert r.out == "SHOUT\n"
    assert client.containers.get("pyc-cli-start-i").attrs["State"]["ExitCode"] == 0


def test_attach_no_stdin_and_sig_proxy(cli, client, made):
    made.append("pyc-cli-attach")
    cli("run", "-d", "-i", "--name", "pyc-cli-attach", "busybox", "sh", "-c",
        "trap 'echo bye; exit 3' TERM; while true; do echo tick; sleep 0.1; done")
    p = cli.popen("attach", "--no-stdin", "pyc-cli-attach", stdin=subprocess.DEVNULL,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"tick\n"
        p.send_signal(signal.SIGTERM)
        rest = p.stdout.read()
        assert rest.endswith(b"bye\n")
        assert p.wait(timeout=30) == 3
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
    c = client.containers.get("pyc-cli-attach")
    assert c.attrs["State"]["ExitCode"] == 3
    # without the proxy a signal ends only the command
    cli("start", "pyc-cli-attach")
    p = cli.popen("attach", "--sig-proxy=false", "pyc-cli-attach", stdin=subprocess.DEVNULL,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"tick\n"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
    c.reload()
    assert c.status == "running"
    r = cli("attach", "pyc-cli-nothing-here", ok=False)
    assert r.code == 1 and "No such container" in r.err


def test_bad_detach_keys_fail_before_anything_exists(cli, client):
    before = {c.id for c in client.containers.list(all=True)}
    r = cli("run", "-i", "--detach-keys", "ctrl-1", "busybox", "true", input="", ok=False)
    assert r.code == 125 and "detach key" in r.err
    assert {c.id for c in client.containers.list(all=True)} == before
    assert re.search(r"^pycontainer run: ", r.err)
