"""podman drives pycontainer-runtime as it drives runc (``--runtime``).

The strongest check of the runc contract: conmon and podman call create
(with their own bundle, pid file and pipes), start, state, kill and delete
exactly as they call runc, on a config.json podman wrote (its seccomp
profile, masks, mounts, capabilities). podman's state lives in a temporary
root the test removes; the image is ours, saved as a docker-archive and
loaded with ``podman load``.
"""
import contextlib
import os
import shutil
import subprocess
import tempfile

import leakcheck
import pytest

from test_oci_runtime import FRONT


def run(*argv, **kw):
    proc = subprocess.run(argv, capture_output=True, timeout=180, **kw)
    assert proc.returncode == 0, (argv, proc.stdout.decode(), proc.stderr.decode())
    return proc.stdout


@pytest.fixture
def archive(client, busybox, tmp_path):
    path = tmp_path / "busybox.tar"
    with open(path, "wb") as f:
        for chunk in busybox.save(named=True):
            f.write(chunk)
    return str(path)


def test_podman_runs_containers_with_our_runtime(archive):
    podman = shutil.which("podman")
    if podman is None:
        pytest.fail("podman is not installed: run `bash setup.sh test` (it installs it)")
    # podman wants a runroot of at most 50 characters: a short temp dir; its
    # cgroups go under a parent of ours, removed at the end (conmon leaves
    # "<parent>/conmon").
    top = tempfile.mkdtemp(prefix="pycpod")
    parent = "pyctest-podman-" + os.path.basename(top)[6:]
    opts = ["--network", "none", "--cgroup-parent", "/" + parent,
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    base = [podman, "--root", f"{top}/root", "--runroot", f"{top}/run", "--tmpdir",
            f"{top}/tmp", "--storage-driver", "vfs", "--cgroup-manager=cgroupfs",
            "--events-backend=file", "--runtime", FRONT]
    with open(f"{top}/containers.conf", "w") as f:
        f.write('[engine]\nlock_type = "file"\n')
    env = {**os.environ, "CONTAINERS_CONF": f"{top}/containers.conf"}
    try:
        run(*base, "load", "-i", archive, env=env)
        out = run(*base, "run", "--rm", *opts, "busybox", "sh", "-c",
                  "echo hi; grep CapBnd /proc/self/status", env=env).decode()
        assert out.startswith("hi\nCapBnd:")
        # a detached one: exec, stop (kill), rm
        cid = run(*base, "run", "-d", *opts, "busybox", "sleep", "1000", env=env).decode().strip()
        assert run(*base, "exec", cid, "echo", "from exec", env=env) == b"from exec\n"
        run(*base, "stop", "-t", "1", cid, env=env)
        state = run(*base, "inspect", "--format", "{{.State.Status}}", cid, env=env)
        assert state.strip() in (b"exited", b"stopped")
        run(*base, "rm", cid, env=env)
    finally:
        subprocess.run(base + ["rm", "-a", "-f"], capture_output=True, timeout=120, env=env)
        subprocess.run(base + ["rmi", "-a", "-f"], capture_output=True, timeout=120, env=env)
        shutil.rmtree(top, ignore_errors=True)
        for mnt in leakcheck.cgroup_mounts():
            for d in (os.path.join(mnt, parent, "conmon"), os.path.join(mnt, parent)):
                with contextlib.suppress(OSError):
                    os.rmdir(d)
