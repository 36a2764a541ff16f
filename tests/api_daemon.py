"""Start the real ``pycontainerd`` in a subprocess on a UNIX socket, and drive
it with the real ``docker`` CLI (``Daemon.docker``) or raw HTTP (``Daemon.http``).

The fixtures the ``test_api_*`` files share: ``daemon`` (one a module, over
the session's store) and ``names`` (containers a test makes, removed after it);
a test file imports the ones it uses."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

BIN = os.path.join(os.path.dirname(sys.executable), "pycontainerd")
DOCKER = "docker"


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Daemon:
    """``pycontainerd --host unix://<dir>/pyc.sock --root <store> [args]``, stopped
    by ``stop()``; ``args``: more flags (``-H tcp://127.0.0.1:0`` takes a free port,
    ``tcp_port()`` tells which)."""

    def __init__(self, root, rundir, args=()):
        self.sock = os.path.join(str(rundir), "pyc.sock")
        self.url = "unix://" + self.sock
        self.log = os.path.join(str(rundir), "pycontainerd.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([BIN, "--host", self.url, "--root", str(root),
                                          *map(str, args)],
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self._await_ready(30)

    def tcp_port(self):
        """The port of the TCP listener (logged before the daemon answers)."""
        return int(re.search(r"API listening on [0-9.]+:(\d+)", self.log_text()).group(1))

    def _await_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"pycontainerd exited {self.proc.returncode}:\n"
                                     + self.log_text())
            try:
                if self.http("GET", "/_ping")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("pycontainerd did not answer /_ping:\n" + self.log_text())
            time.sleep(0.02)      # polling a state (the socket answers), not a guess

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def http(self, method, path, body=None, headers=None):
        """``(status, headers, body bytes)`` of one request."""
        c = _UnixHTTP(self.sock)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = {"Content-Type": "application/json", **(headers or {})}
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def docker(self, *args, ok=True, timeout=60, input=None):
        """The real docker CLI against the daemon: ``CompletedProcess`` (text)."""
        env = dict(os.environ, DOCKER_HOST=self.url, DOCKER_CONFIG=os.path.dirname(self.sock))
        r = subprocess.run([DOCKER, *map(str, args)], capture_output=True, text=True,
                           env=env, timeout=timeout, input=input)
        if ok and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(map(str, args))} exited {r.returncode}\n"
                                 f"stdout: {r.stdout}\nstderr: {r.stderr}\n"
                                 f"daemon log:\n{self.log_text()[-4000:]}")
        return r

    def stop(self):
        """SIGTERM, and its exit status (0 when it stopped cleanly)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@pytest.fixture(scope="module")
def daemon(store_root, busybox, tmp_path_factory):
    """One pycontainerd a test module, over the session's store (busybox in it)."""
    d = Daemon(store_root, tmp_path_factory.mktemp("pycd"))
    yield d
    assert d.stop() == 0, d.log_text()


@pytest.fixture
def names(daemon):
    """Containers a test makes: removed with ``docker rm -f`` afterwards, error or not."""
    made = []
    yield made
    for n in made:
        daemon.docker("rm", "-f", n, ok=False)


def until(get, ok, timeout=10):
    """``get()`` again until ``ok(value)``: waits for a state (output written), with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = get()
        if ok(v) or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


class PtyDocker:
    """The docker CLI on a new pty (its controlling terminal), as a person runs
    ``docker run -it``: ``send`` keys, ``expect`` output, ``resize``, ``wait``."""

    def __init__(self, daemon, *args, rows=24, cols=80):
        import fcntl
        import pty
        import termios
        self.master, slave = pty.openpty()
        self._winsize(slave, rows, cols)
        env = dict(os.environ, DOCKER_HOST=daemon.url, TERM="xterm",
                   DOCKER_CONFIG=os.path.dirname(daemon.sock))

        def ctty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        self.proc = subprocess.Popen([DOCKER, *map(str, args)], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True,
                                     preexec_fn=ctty)
        os.close(slave)
        self.out = b""

    @staticmethod
    def _winsize(fd, rows, cols):
        import fcntl
        import struct
        import termios
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, data):
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def expect(self, text, timeout=20):
        """Read until ``text`` (bytes or str) has been printed since the last expect."""
        import select
        want = text.encode() if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while want not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{want!r} not printed in {timeout}s; got {self.out!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:         # EIO: the CLI closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{want!r} not printed before the end; "
                                         f"got {self.out!r}")
                self.out += chunk
        seen = self.out
        self.out = seen[seen.index(want) + len(want):]
        return seen

    def resize(self, rows, cols):
        """The terminal's new size, as a terminal emulator sets it (SIGWINCH follows)."""
        self._winsize(self.master, rows, cols)

    def wait(self, timeout=30):
        """The CLI's exit status, reading what is left so it never blocks on the pty."""
        import select
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.out += os.read(self.master, 65536)
                except OSError:
                    pass
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
