"""`pycontainer-runtime create` through the OCI runtime's warm process.

The front end hands create to a warm process (oci/warm.py) and clones the
init itself, so the init is the caller's child as with runc. A hook runs in
the process that makes the container: its parent says who that was.
"""
import glob
import json
import os
import subprocess
import sys
import time

import pytest

from pycontainer import forkserver
from test_oci_runtime import (FRONT, bundle, edit, failing_setup_step, rt,  # noqa: F401
                              state)


def _warm_pids():
    """Pids of the OCI warm processes that listen."""
    pids = []
    for path in glob.glob("/run/pyc-warm-oci-*.sock"):
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            pids.append(int.from_bytes(creds[:4], "little"))
        except OSError:
            pass
        finally:
            s.close()
    return pids


@pytest.fixture
def warm(bundle, rt):
    """A warm process listens (the first create without one starts it)."""
    if not _warm_pids():
        edit(bundle, lambda c: c["process"].update(args=["true"]))
        rt("create", "--bundle", str(bundle), "w0")
        rt("delete", "--force", "w0")
        end = time.monotonic() + 60
        while not _warm_pids():
            assert time.monotonic() < end, "no warm process started"
            time.sleep(0.05)
    return _warm_pids()[0]


def _ppid(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("PPid:")).split()[1])


def _maker_hook(bundle, tmp_path, args):
    """A createRuntime hook writing its parent's parent: the process that made
    the container's parent (the warm process, or whoever ran the runtime)."""
    out = tmp_path / "maker"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\nawk '/^PPid:/ {{print $2}}' /proc/$PPID/status > {out}\n")
    hook.chmod(0o755)

    def fn(cfg):
        cfg["process"]["args"] = args
        cfg["hooks"] = {"createRuntime": [{"path": str(hook)}]}
    edit(bundle, fn)
    return out


# Runs the front end as a subreaper would (a shim): the init, once the front
# end exits, is reparented to it if and only if the front end was its parent.
SUBREAPER = """
import ctypes, json, os, subprocess, sys, tempfile
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)       # PR_SET_CHILD_SUBREAPER
front, root, bundle = sys.argv[1:4]
with tempfile.TemporaryFile("w+") as err:    # a file: the init keeps what it is given
    p = subprocess.run([front, "--root", root, "create", "--bundle", bundle, "s1"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    err.seek(0)
    p.stderr = err.read()
pid = json.loads(subprocess.run([front, "--root", root, "state", "s1"], capture_output=True,
                                text=True).stdout)["pid"] if p.returncode == 0 else 0
ppid = 0
if pid:
    with open(f"/proc/{pid}/status") as f:
        ppid = int(next(line for line in f if line.startswith("PPid:")).split()[1])
subprocess.run([front, "--root", root, "delete", "--force", "s1"], capture_output=True)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
print(json.dumps({"code": p.returncode, "err": p.stderr, "ppid": ppid, "me": os.getpid()}))
"""


def test_create_is_made_warm_and_the_init_is_the_callers_child(warm, bundle, rt, tmp_path):
    maker = _maker_hook(bundle, tmp_path, ["sleep", "1000"])
    rt("create", "--bundle", str(bundle), "c1")
    assert int(maker.read_text()) == warm          # made in a child of the warm process
    assert state(rt, "c1")["status"] == "created"
    rt("delete", "--force", "c1")
    r = subprocess.run([sys.executable, "-c", SUBREAPER, FRONT, str(rt.root), str(bundle)],
                       capture_output=True, text=True, timeout=120)
    got = json.loads(r.stdout)
    assert got["code"] == 0, got["err"]
    assert got["ppid"] == got["me"]                # cloned by the front end, not the warm one


def test_off_when_asked(warm, bundle, rt, tmp_path):
    maker = _maker_hook(bundle, tmp_path, ["true"])
    env = {**os.environ, "PYCONTAINER_WARM": "0"}
    with open(tmp_path / "err", "w+") as err:       # a file: the init keeps it
        p = subprocess.run([FRONT, "--root", str(rt.root), "create", "--bundle", str(bundle),
                            "c2"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=err, timeout=60)
    rt.made.append("c2")
    assert p.returncode == 0, (tmp_path / "err").read_text()
    assert int(maker.read_text()) == os.getpid()   # the runtime was our child: Python


def test_a_failure_after_the_clone_leaves_nothing(warm, bundle, rt):
    failing_setup_step(bundle, rt, "c3")      # the init is killed and reaped by the front end


def test_preserved_fds_and_stdio_are_the_callers(warm, bundle, rt, tmp_path):
    edit(bundle, lambda c: c["process"].update(args=["sh", "-c", "echo via-fd3 >&3; echo out"]))
    fd3, out = tmp_path / "fd3", tmp_path / "stdout"
    shell = 'exec 3>"$0" >"$1"; shift; exec "$@"'     # fd 3 and stdout, as a shim passes them
    p = subprocess.run(["bash", "-c", shell, str(fd3), str(out), FRONT, "--root", str(rt.root),
                        "create", "--preserve-fds", "1", "--bundle", str(bundle), "c4"],
                       stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    rt.made.append("c4")
    assert p.returncode == 0
    rt("start", "c4")
    end = time.monotonic() + 30
    while state(rt, "c4")["status"] != "stopped":
        assert time.monotonic() < end
        time.sleep(0.02)
    assert fd3.read_text() == "via-fd3\n" and out.read_text() == "out\n"
    rt("delete", "c4")


def test_stop_all_stops_them(warm):
    assert forkserver.stop(glob.glob("/run/pyc-warm-oci-*.sock")[0])
    end = time.monotonic() + 30
    while _warm_pids():
        assert time.monotonic() < end
        time.sleep(0.05)


def test_run_is_made_warm_waits_passes_signals_and_keeps(warm, bundle, rt, tmp_path):
    maker = _maker_hook(bundle, tmp_path, ["sh", "-c", "echo ran; exit 3"])
    p = rt("run", "--bundle", str(bundle), "c6", check=False)
    assert (p.returncode, p.stdout) == (3, "ran\n")
    assert int(maker.read_text()) == warm
    assert not os.listdir(rt.root)                  # removed at exit
    edit(bundle, lambda c: c.update(hooks={}) or c["process"].update(
        args=["sh", "-c", "trap 'echo got-term; exit 7' TERM; echo up; sleep 100 & wait"]))
    with open(tmp_path / "run.out", "w+") as out:
        front = subprocess.Popen([FRONT, "--root", str(rt.root), "run", "--keep", "--bundle",
                                  str(bundle), "c7"], stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT)
        rt.made.append("c7")
        end = time.monotonic() + 30
        while "up" not in (tmp_path / "run.out").read_text():
            assert time.monotonic() < end and front.poll() is None
            time.sleep(0.02)
        front.terminate()                           # passed on to the init, as runc does
        assert front.wait(timeout=30) == 7
    assert (tmp_path / "run.out").read_text() == "up\ngot-term\n"
    assert state(rt, "c7")["status"] == "stopped"   # --keep
    rt("delete", "c7")
