"""Drive the installed ``pycontainer`` console script as a user would."""
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

# The venv's console script, next to the interpreter that runs the tests.
BIN = os.path.join(os.path.dirname(sys.executable), "pycontainer")


@dataclass
class Result:
    code: int
    out: str
    err: str
    args: tuple

    @property
    def lines(self):
        return self.out.splitlines()


class CLI:
    """``cli("ps", "-a")`` runs ``pycontainer --root <root> ps -a``.

    ``ok=True`` (the default) fails the test when the command does not exit 0;
    ``ok=False`` returns whatever happened. ``prefix`` runs the command under
    another one (``nsenter --net=...``).
    """

    def __init__(self, root, env=None, prefix=()):
        if not os.access(BIN, os.X_OK):
            raise AssertionError(f"{BIN} is not installed: run `bash setup.sh test` (it "
                                 "installs the console scripts)")
        self.root = str(root)
        self.prefix = list(prefix)
        self.env = dict(os.environ, **(env or {}))

    def argv(self, *args):
        return [*self.prefix, BIN, "--root", self.root, *map(str, args)]

    def __call__(self, *args, input=None, ok=True, timeout=60, binary=False):
        r = subprocess.run(self.argv(*args), input=input, capture_output=True, env=self.env,
                           timeout=timeout, text=not binary)
        res = Result(r.returncode, r.stdout, r.stderr, args)
        if ok and r.returncode != 0:
            raise AssertionError(f"pycontainer {' '.join(map(str, args))} exited "
                                 f"{r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return res

    def popen(self, *args, **kw):
        return subprocess.Popen(self.argv(*args), env=self.env, **kw)


def table(text):
    """A docker table as dicts {title: cell}, cut where the header's titles start."""
    import re
    lines = text.splitlines()
    starts = [m.start() for m in re.finditer(r"(?:(?<=^)|(?<=   ))\S", lines[0])]
    titles = [lines[0][a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
    return [{t: line[a:b].strip() for t, a, b in zip(titles, starts, starts[1:] + [None])}
            for line in lines[1:]]


@pytest.fixture
def fresh_store(tmp_path):
    """``(root, env)`` of an empty store and its run-time dir, both on a tmpfs
    of the test's (overlay takes upper dirs there; unmounting drops both)."""
    top = tmp_path / "fresh"
    top.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0711", "pyc-cli-fresh", str(top)],
                   check=True)
    try:
        yield top / "store", {"PYCONTAINER_RUN_ROOT": str(top / "run")}
    finally:
        subprocess.run(["umount", str(top)], check=True)


class Pty:
    """The command on a terminal of its own (``pty.fork``: the pty is its
    controlling terminal, so a resize of it sends SIGWINCH as a real one
    does). ``expect`` reads until a pattern shows, ``send`` types."""

    def __init__(self, argv, env, rows=24, cols=80):
        import pty
        import termios
        import struct
        import fcntl
        self.pid, self.fd = pty.fork()
        if self.pid == 0:           # the child: exec at once, nothing else
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.seen = b""
        self.code = None

    def expect(self, pattern, timeout=30):
        """Read until ``pattern`` (a regex on bytes) matches what came since
        the last match; returns the match."""
        import re
        import select
        import time
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.seen)
            if m:
                self.seen = self.seen[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} never came; the terminal showed {self.seen!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:          # EIO: the command and its terminal are gone
                    data = b""
                if not data:
                    raise AssertionError(f"the terminal closed before {pattern!r}; it showed "
                                         f"{self.seen!r}")
                self.seen += data

    def send(self, data):
        os.write(self.fd, data)

    def resize(self, rows, cols):
        import fcntl
        import struct
        import termios
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def wait(self, timeout=30):
        """The exit code, reading what is left meanwhile (a full pty would block it)."""
        import select
        import time
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
                raise AssertionError(f"the command did not exit; it showed {self.seen!r}")
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:
                    pass
        self.drain()
        return self.code

    def drain(self):
        import select
        while select.select([self.fd], [], [], 0)[0]:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.seen += data

    def close(self):
        """Kill the command if it still runs; close the terminal (its master)."""
        if self.code is None:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.code = -9
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
