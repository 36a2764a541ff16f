"""The command's warm process (pycontainer/cli/warm.py), through the installed
script: a command is a forked child of it, and that child is the command:
its output, exit status, stdin, directory, environment, umask and signals
are the command's, and it dies with its client. Changed code, or a command
in other namespaces, runs in its own process instead."""
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time

import pytest

from cli_helpers import BIN, CLI
from pycontainer.cli import warm

PATH = warm.socket_path()


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _command_started(server):
    """The spare child (forked ahead, the only child when idle) became the
    command and a new spare was forked: two children."""
    return len(_children(server.pid)) == 2


def _listener(path):
    """The pid of the process listening on ``path``, or None."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
    except OSError:
        return None
    finally:
        s.close()


def _until(pred, timeout=20.0, what="a state"):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Warm:
    """A warm process of this code, started as the command starts it."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "pycontainer.cli.warm", PATH],
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.proc.pid
        _until(lambda: _listener(PATH) == self.pid or self.proc.poll() is not None,
               what="its socket")
        assert self.proc.poll() is None
        self.inode = os.stat(PATH).st_ino
        _until(lambda: len(_children(self.pid)) == 1, what="its spare child")

    def served(self):
        """Alive, and the socket is still its own: no command found it
        unusable and started another (a command run on its own does)."""
        return self.proc.poll() is None and os.stat(PATH).st_ino == self.inode


@pytest.fixture
def server(store_root, busybox):
    warm.stop()
    w = Warm()
    try:
        yield w
    finally:
        w.proc.terminate()
        w.proc.wait(30)
    assert not os.path.exists(PATH)


@pytest.fixture
def cli(server, store_root):
    return CLI(store_root)


def test_a_command_is_a_child_of_the_warm_process_and_dies_with_its_client(cli, server,
                                                                          client):
    p = cli.popen("run", "--name", "pyc-warm-kill", "busybox", "sleep", "60",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        spare = _children(server.pid)
        assert len(spare) == 1
        _until(lambda: _command_started(server), what="the command's child")
        child = spare[0]                        # it became the command
        _until(lambda: client.containers.get("pyc-warm-kill").status == "running"
               if client.containers.list(all=True, filters={"name": "pyc-warm-kill"})
               else False, what="the container")
        p.kill()                    # SIGKILL: no forwarding; the child must notice
        p.wait()
        _until(lambda: not os.path.exists(f"/proc/{child}"), what="the child's end")
        assert server.served()
    finally:
        p.kill()
        p.wait()
        for c in client.containers.list(all=True, filters={"name": "pyc-warm-kill"}):
            c.remove(force=True)


def test_stdin_output_status_env_and_directory_are_the_commands(cli, server, tmp_path):
    (tmp_path / "env.list").write_text("FROM_FILE=file\n")
    cli.env["FROM_ENV"] = "env"
    p = subprocess.Popen(cli.argv("run", "-i", "--rm", "--env-file", "env.list", "-e",
                                  "FROM_ENV", "busybox", "sh", "-c",
                                  "cat; echo $FROM_FILE $FROM_ENV; exit 7"),
                         cwd=tmp_path, env=cli.env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _until(lambda: _command_started(server), what="the command's child")   # cat waits for us
    out, err = p.communicate(b"piped\n", timeout=60)
    assert (p.returncode, out, err) == (7, b"piped\nfile env\n", b"")
    assert server.served()


def test_umask_and_a_file_the_command_writes(cli, server, tmp_path):
    p = subprocess.Popen(cli.argv("save", "-o", "busybox.tar", "busybox"), cwd=tmp_path,
                         env=cli.env, preexec_fn=lambda: os.umask(0o077))
    assert p.wait(60) == 0
    assert stat.S_IMODE(os.stat(tmp_path / "busybox.tar").st_mode) == 0o600
    assert server.served()


def test_a_signal_to_the_command_is_the_commands(cli, server, client):
    """SIGTERM to the client reaches the child, which proxies it to the
    container (docker's --sig-proxy); the exit status comes back."""
    p = cli.popen("run", "--rm", "--name", "pyc-warm-sig", "busybox", "sh", "-c",
                  "trap 'echo got; exit 42' TERM; while :; do sleep 0.1; done",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def trapping():        # sleep runs: the trap is set
        found = client.containers.list(filters={"name": "pyc-warm-sig"})
        return found and any("sleep" in " ".join(row) for row in found[0].top()["Processes"])
    try:
        _until(trapping, what="the container's trap")
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
        assert (p.returncode, out) == (42, b"got\n")
        assert server.served()
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
        for c in client.containers.list(all=True, filters={"name": "pyc-warm-sig"}):
            c.remove(force=True)


def test_changed_code_runs_on_its_own_and_a_new_warm_process_takes_over(cli, server):
    mod = sys.modules["pycontainer.cli.listing"].__file__ if "pycontainer.cli.listing" in \
        sys.modules else os.path.join(os.path.dirname(warm.__file__), "listing.py")
    st = os.stat(mod)
    os.utime(mod, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    try:
        r = cli("ps", "-a")
        assert r.out.startswith("CONTAINER ID")
        server.proc.wait(30)                        # it saw the change: it left
    finally:
        os.utime(mod, ns=(st.st_atime_ns, st.st_mtime_ns))
    _until(lambda: _listener(PATH) is not None, what="the new warm process")
    assert warm.stop()


def test_another_network_namespace_is_not_served(server):
    """A command in other namespaces runs in its own process: the warm
    process answers that it is elsewhere and runs nothing."""
    code = ("import sys; from pycontainer.cli import warm\n"
            "try:\n    warm._remote(warm.socket_path(), ['ps'])\n"
            "except warm._Elsewhere:\n    sys.exit(3)\n")
    r = subprocess.run(["unshare", "--net", sys.executable, "-c", code], capture_output=True)
    assert r.returncode == 3, r.stderr
    assert len(_children(server.pid)) == 1      # its spare: no command was started


def test_an_unused_warm_process_leaves(store_root):
    warm.stop()
    env = dict(os.environ, PYCONTAINER_WARM_IDLE="0.3")
    p = subprocess.Popen([sys.executable, "-m", "pycontainer.cli.warm", PATH], env=env,
                         stdin=subprocess.DEVNULL)
    try:
        assert p.wait(30) == 0
        assert not os.path.exists(PATH)
    finally:
        p.kill()
        p.wait()


def test_off_when_asked(store_root, busybox, tmp_path):
    warm.stop()
    env = dict(os.environ, PYCONTAINER_WARM="0")
    r = subprocess.run([BIN, "--root", str(store_root), "ps"], env=env, capture_output=True)
    assert r.returncode == 0 and not os.path.exists(PATH)


def test_the_command_is_the_c_client_and_needs_no_interpreter(cli, server, client):
    """The C client hands the command over itself: while the command runs,
    the client process is still the C client (no Python was exec'd)."""
    client_exe = os.path.join(os.path.dirname(warm.__file__), "pyc-client")
    assert os.path.realpath(BIN) == client_exe
    p = cli.popen("run", "-i", "--rm", "busybox", "cat", stdin=subprocess.PIPE,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _until(lambda: _command_started(server), what="the command's child")   # cat waits
        assert os.readlink(f"/proc/{p.pid}/exe") == client_exe
        out, err = p.communicate(b"through\n", timeout=60)
        assert (p.returncode, out, err) == (0, b"through\n", b"")
        assert server.served()
    finally:
        p.kill()
        p.wait()


def test_an_environment_that_is_not_utf8_is_left_to_the_python_client(server, store_root):
    """The C client sends text only; with bytes that are not UTF-8 in the
    environment, the Python client takes the command (and still serves it warm)."""
    env = {**os.environ, "PYC_NOT_UTF8": "caf\udce9"}
    r = subprocess.run([BIN, "--root", str(store_root), "run", "--rm", "-e", "PYC_NOT_UTF8",
                        "busybox", "sh", "-c", "printf %s \"$PYC_NOT_UTF8\" | od -An -tx1"],
                       capture_output=True, timeout=60,
                       env={k.encode(): v.encode("utf-8", "surrogateescape")
                            for k, v in env.items()})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"63", b"61", b"66", b"e9"]
    assert server.served()
