"""Archives that other tools read and write: skopeo, umoci, podman (setup.sh installs them)."""
import contextlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import leakcheck
import pytest

from test_images import run_and_commit

try:
    import zstandard
except ImportError:
    zstandard = None


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `bash setup.sh test` (it installs it)",
                    pytrace=False)
    return path


def run(*argv, **kw):
    proc = subprocess.run(argv, capture_output=True, timeout=180, **kw)
    assert proc.returncode == 0, (argv, proc.stderr.decode())
    return proc.stdout


@pytest.fixture
def saved(client, busybox, tmp_path):
    """A committed image saved by pycontainer (by name) to a tar file."""
    img = run_and_commit(client, "echo interop > /hello && rm /etc/group",
                         repository="pyc-test/interop", tag="1",
                         changes=['CMD ["cat", "/hello"]'])
    path = tmp_path / "saved.tar"
    try:
        with open(path, "wb") as f:
            for chunk in img.save(named=True):
                f.write(chunk)
    finally:
        client.images.remove(img.id)
    return img, str(path)


def test_skopeo_reads_and_converts_saved_archive(saved, fresh_client, tmp_path):
    img, path = saved
    skopeo = tool("skopeo")
    info = json.loads(run(skopeo, "inspect", f"docker-archive:{path}"))
    assert info["Layers"] == img.record.diff_ids and info["Os"] == "linux"
    # The same tar is an OCI layout too (index.json + oci-layout).
    # docker 25+ puts only the tag in org.opencontainers.image.ref.name
    info = json.loads(run(skopeo, "inspect", f"oci-archive:{path}:1"))
    assert info["Digest"] == img.record.manifest_digest
    config = json.loads(run(skopeo, "inspect", "--config", f"docker-archive:{path}"))
    assert config["config"]["Cmd"] == ["cat", "/hello"]
    # skopeo copy to an OCI layout (gzip layers), which we load and run.
    layout = tmp_path / "oci"
    run(skopeo, "copy", "-q", f"docker-archive:{path}", f"oci:{layout}:interop")
    loaded = fresh_client.images.load(str(layout))
    assert loaded[0].record.diff_ids == img.record.diff_ids
    assert fresh_client.containers.run(loaded[0].id, remove=True) == b"interop\n"
    assert fresh_client.containers.run(loaded[0].id, ["sh", "-c", "test -e /etc/group || "
                                       "echo gone"], remove=True) == b"gone\n"
    if zstandard is not None:
        zlayout = tmp_path / "oci-zstd"
        run(skopeo, "copy", "-q", "--dest-compress-format", "zstd",
            f"docker-archive:{path}", f"oci:{zlayout}:z")
        manifest = _only_manifest(zlayout)
        assert manifest["layers"][-1]["mediaType"].endswith("+zstd")
        zimg = fresh_client.images.load(str(zlayout))[0]
        assert fresh_client.containers.run(zimg.id, remove=True) == b"interop\n"


def _only_manifest(layout):
    with open(os.path.join(layout, "index.json")) as f:
        digest = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs", "sha256", digest[7:])) as f:
        return json.load(f)


def test_podman_loads_and_runs_saved_archive(saved):
    img, path = saved
    podman = tool("podman")
    # Everything podman keeps goes under tmp_path; vfs storage mounts nothing;
    # --network none creates no bridge or firewall rules on the host. crun
    # refuses hybrid cgroup hosts ("cgroups in hybrid mode not supported"), so
    # podman runs the container with runc when it is there.
    # podman wants a runroot of at most 50 characters: a short temp dir. Its
    # cgroups go under a parent of our own, removed at the end (podman leaves
    # an empty "<parent>/conmon" in every hierarchy).
    top = tempfile.mkdtemp(prefix="pycpod")
    parent = "pyctest-podman-" + os.path.basename(top)[6:]
    opts = ["--rm", "--network", "none", "--cgroup-parent", "/" + parent,
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    base = [podman, "--root", f"{top}/root", "--runroot", f"{top}/run", "--tmpdir",
            f"{top}/tmp", "--storage-driver", "vfs", "--cgroup-manager=cgroupfs",
            "--events-backend=file"]
    if shutil.which("runc"):
        base += ["--runtime", shutil.which("runc")]
    # File locks under --tmpdir rather than podman's lock file in /dev/shm.
    with open(f"{top}/containers.conf", "w") as f:
        f.write('[engine]\nlock_type = "file"\n')
    env = {**os.environ, "CONTAINERS_CONF": f"{top}/containers.conf"}
    try:
        out = run(*base, "load", "-i", path, env=env).decode()
        assert "pyc-test/interop:1" in out
        listed = json.loads(run(*base, "images", "--format", "json", env=env))
        assert listed[0]["Id"] == img.id[7:]
        run(*base, "run", *opts, "pyc-test/interop:1", "true", env=env)
        assert run(*base, "run", *opts, "pyc-test/interop:1", env=env) == b"interop\n"
        assert run(*base, "run", *opts, img.id[7:], "sh", "-c",
                   "test -e /etc/group || echo gone", env=env) == b"gone\n"
    finally:
        subprocess.run(base + ["rmi", "-a", "-f"], capture_output=True, timeout=120, env=env)
        shutil.rmtree(top, ignore_errors=True)
        for mnt in leakcheck.cgroup_mounts():
            for d in (os.path.join(mnt, parent, "conmon"), os.path.join(mnt, parent)):
                with contextlib.suppress(OSError):
                    os.rmdir(d)


def test_umoci_layout_loads_and_runs(fresh_client, tmp_path):
    umoci = tool("umoci")
    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    run(umoci, "init", "--layout", str(layout))
    run(umoci, "new", "--image", f"{layout}:v1")
    run(umoci, "unpack", "--image", f"{layout}:v1", str(bundle))
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir()
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    os.symlink("busybox", rootfs / "bin" / "sh")
    os.symlink("busybox", rootfs / "bin" / "cat")
    (rootfs / "hello").write_text("from umoci\n")
    run(umoci, "repack", "--image", f"{layout}:v1", str(bundle))
    run(umoci, "config", "--image", f"{layout}:v1", "--config.cmd", "/bin/cat",
        "--config.cmd", "/hello", "--config.env", "FROM=umoci")
    manifest = _only_manifest(layout)
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    img = fresh_client.images.load(str(layout))[0]
    assert img.tags == []       # umoci names it "v1": a tag without a repository
    assert fresh_client.containers.run(img.id, remove=True) == b"from umoci\n"
    assert fresh_client.containers.run(img.id, ["sh", "-c", "echo $FROM"],
                                       remove=True) == b"umoci\n"
    # The same layout as a tar (an oci-archive) loads to the same image.
    archive = tmp_path / "layout.tar"
    with tarfile.open(archive, "w") as tf:
        for name in sorted(os.listdir(layout)):
            tf.add(layout / name, arcname=name)
    fresh_client.images.remove(img.id)
    assert fresh_client.images.load(str(archive))[0].id == img.id
