"""dockerd drives pycontainer-runtime as one of its runtimes (``--add-runtime``).

dockerd 20.10 calls a runtime through containerd's runc shim with runc's
command line: create (its bundle, pid file, stdio fifos), start, state, exec
--process --detach, pause/resume, kill, delete. The dockerd is private to the
test (its own data root, exec root, socket, cgroup parent, no iptables or
bridge); the image is ours, saved as a docker-archive and loaded with
``docker load``. The cgroupfs driver passes cgroupsPath ``/<parent>/<id>``:
the container's processes must be there.
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import leakcheck
import pytest

from test_oci_podman import archive  # noqa: F401  (the fixture)
from test_oci_runtime import FRONT

DOCKER = "/usr/bin/docker"       # the 20.10 CLI of the same package


def _unmount_below(top):
    points = [m[0] for m in leakcheck.read_mountinfo()
              if m[0] == top or m[0].startswith(top + "/")]
    for p in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True)


def _descendants(pid):
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    kids = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        kids.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            found.append(k)
            todo.append(k)
    return found


class Dockerd:
    def __init__(self, top, parent):
        self.top, self.parent = top, parent
        self.sock = f"{top}/sock"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}"}
        with open(f"{top}/daemon.json", "w") as f:
            json.dump({}, f)
        self.log = open(f"{top}/dockerd.log", "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--config-file", f"{top}/daemon.json", "--data-root", f"{top}/root",
             "--exec-root", f"{top}/exec", "--pidfile", f"{top}/pid", "-H", f"unix://{self.sock}",
             "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false",
             "--ip-masq=false", "--userland-proxy=false", "--storage-driver=overlay2",
             "--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", "/" + parent,
             "--add-runtime", f"pyc={FRONT}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout=60):
        """Until the API answers (polling its state: dockerd says nothing else)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if os.path.exists(self.sock) and subprocess.run(
                    [DOCKER, "version"], env=self.env, capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError("dockerd did not start: " + open(f"{self.top}/dockerd.log").read())

    def __call__(self, *args, check=True):
        p = subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True,
                           timeout=180)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: exit {p.returncode}: {p.stderr}")
        return p

    def stop(self):
        with contextlib.suppress(Exception):
            ids = self("ps", "-aq", check=False).stdout.split()
            if ids:
                self("rm", "-f", *ids, check=False)
        kids = _descendants(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for k in kids:                    # its containerd, if it outlived dockerd
            with contextlib.suppress(ProcessLookupError):
                os.kill(k, signal.SIGKILL)
        self.log.close()
        _unmount_below(self.top)
        for mnt in leakcheck.cgroup_mounts():
            for d in sorted(leakcheck._walk_dirs(os.path.join(mnt, self.parent)), key=len,
                            reverse=True) + [os.path.join(mnt, self.parent)]:
                with contextlib.suppress(OSError):
                    os.rmdir(d)
        shutil.rmtree(self.top, ignore_errors=True)


@pytest.fixture
def dockerd():
    if shutil.which("dockerd") is None or not os.path.exists(DOCKER):
        pytest.fail("dockerd is not installed: run `bash setup.sh test` (it installs docker.io)")
    top = tempfile.mkdtemp(prefix="pycd")     # short: containerd's socket paths are bounded
    d = Dockerd(top, "pyctest-dockerd-" + os.path.basename(top)[4:])
    try:
        d.wait_ready()
        yield d
    finally:
        d.stop()


def _status(d, cid):
    return json.loads(d("inspect", cid).stdout)[0]["State"]


def test_dockerd_runs_containers_with_our_runtime(dockerd, archive):  # noqa: F811
    d = dockerd
    d("load", "-i", archive)
    opts = ["--runtime=pyc", "--network", "none"]
    assert d("run", "--rm", *opts, "busybox", "echo", "hi").stdout == "hi\n"
    # a failing command's status comes back through the shim
    assert d("run", "--rm", *opts, "busybox", "sh", "-c", "exit 3", check=False).returncode == 3

    cid = d("run", "-d", *opts, "busybox", "sh", "-c", "echo started; exec sleep 1000"
            ).stdout.strip()
    st = _status(d, cid)
    assert st["Running"]
    with open(f"/proc/{st['Pid']}/cgroup") as f:
        groups = f.read()
    assert f":memory:/{d.parent}/{cid}\n" in groups, groups
    assert d("exec", cid, "echo", "from exec").stdout == "from exec\n"
    assert d("exec", "-e", "X=1", "-w", "/tmp", cid, "sh", "-c", "echo $X $PWD"
             ).stdout == "1 /tmp\n"
    d("pause", cid)
    st = _status(d, cid)
    assert st["Paused"] and st["Status"] == "paused"
    with open(f"/sys/fs/cgroup/freezer/{d.parent}/{cid}/freezer.state") as f:
        assert f.read().strip() == "FROZEN"
    d("unpause", cid)
    assert not _status(d, cid)["Paused"]
    assert d("exec", cid, "true").returncode == 0
    out = d("logs", cid)
    assert out.stdout == "started\n"
    d("stop", "-t", "1", cid)          # sleep as pid 1 ignores TERM: the KILL after 1 s
    st = _status(d, cid)
    assert st["Status"] == "exited" and st["ExitCode"] == 137
    d("start", cid)                     # the same container again: create/start anew
    assert _status(d, cid)["Running"]
    d("kill", cid)
    st = _status(d, cid)
    assert st["Status"] == "exited" and st["ExitCode"] == 137
    d("rm", cid)
    assert d("ps", "-aq").stdout == ""
