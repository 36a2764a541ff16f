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
