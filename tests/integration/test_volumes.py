"""Storage in real containers: binds, named and anonymous volumes, tmpfs, and
symlinks in an image that try to point a mount at the host."""
import contextlib
import errno
import io
import os
import subprocess
import tarfile

import pytest

from pycontainer import errors
from pycontainer.image.busybox import busybox_rootfs_tar
from pycontainer.types import Mount

# (name, symlink text) added to busybox's files for the escape tests
SYMLINKS = (("data", "/etc"), ("top", "/"), ("rel", "../../../../etc"), ("pw", "/etc/passwd"))


def sh(client, script, image="busybox", **kw):
    kw.setdefault("remove", True)
    return client.containers.run(image, ["sh", "-c", script], **kw).decode()


@contextlib.contextmanager
def volume(client, name=None, **kw):
    v = client.volumes.create(name, **kw)
    try:
        yield v
    finally:
        with contextlib.suppress(errors.NotFound):
            v.remove(force=True)


def _image_tar(extra=()):
    """busybox's root filesystem plus symlinks ``extra``, as tar bytes."""
    src, out = io.BytesIO(), io.BytesIO()
    busybox_rootfs_tar(src)
    src.seek(0)
    with tarfile.open(fileobj=src) as tin, tarfile.open(fileobj=out, mode="w") as tout:
        for m in tin.getmembers():
            tout.addfile(m, tin.extractfile(m) if m.isfile() else None)
        for name, text in extra:
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, text
            tout.addfile(link)
    return out.getvalue()


@pytest.fixture(scope="module")
def symlink_image(client, busybox):
    return client.images.import_image(_image_tar(SYMLINKS), repository="pyc-test-volsym", tag="1")


@pytest.fixture(scope="module")
def volume_image(client, busybox):
    return client.images.import_image(_image_tar(), repository="pyc-test-volimg", tag="1",
                                      changes=['VOLUME ["/vol"]', 'CMD ["sh"]'])


def _anonymous(c):
    return [s["Name"] for s in c.attrs["Runtime"]["Config"]["mounts"] if s.get("Anonymous")]


def _names(client):
    return {v.name for v in client.volumes.list()}


# --- binds ---------------------------------------------------------------------------

def test_bind_rw_and_ro(client, busybox, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "f").write_text("host\n")
    out = sh(client, "cat /ro/f; echo new > /rw/new; { echo x > /ro/f; } 2>&1; touch /ro/g 2>&1; "
                     "grep ' /ro ' /proc/mounts",
             volumes={str(rw): {"bind": "/rw", "mode": "rw"}},
             mounts=[Mount("/ro", str(ro), type="bind", read_only=True)])
    assert out.startswith("host\n")
    assert out.count("Read-only file system") == 2
    assert " ro," in out.splitlines()[-1]
    assert (rw / "new").read_text() == "new\n"
    assert (ro / "f").read_text() == "host\n" and not (ro / "g").exists()


def test_read_only_bind_is_recursive(client, busybox, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "pyc-test-sub", str(src / "sub")], check=True)
    try:
        out = sh(client, "touch /ro/sub/x 2>&1; echo rc=$?", volumes=[f"{src}:/ro:ro"])
        assert "Read-only file system" in out and "rc=0" not in out
        out = sh(client, "touch /rw/sub/x && echo ok", volumes=[f"{src}:/rw"])
        assert out == "ok\n" and (src / "sub" / "x").exists()
    finally:
        subprocess.run(["umount", str(src / "sub")], check=True)


def test_bind_file_and_over_etc_hosts(client, busybox, tmp_path):
    f = tmp_path / "hosts"
    f.write_text("10.0.0.1 mine\n")
    out = sh(client, "cat /etc/hosts /conf/app.conf",
             volumes=[f"{f}:/etc/hosts:ro", f"{f}:/conf/app.conf"])
    assert out == "10.0.0.1 mine\n" * 2


def test_bind_under_read_only_root(client, busybox, tmp_path):
    out = sh(client, "touch /etc/x 2>&1; echo a > /w/a; echo b > /t/b; cat /w/a /t/b",
             read_only=True, volumes=[f"{tmp_path}:/w"], tmpfs={"/t": ""})
    assert "Read-only file system" in out and out.endswith("a\nb\n")


# --- named and anonymous volumes ---------------------------------------------------

def test_named_volume_shared_and_persists(client, busybox):
    name = "pyc-test-shared"
    assert name not in _names(client)
    waiter = client.containers.run(
        "busybox", ["sh", "-c", "while [ ! -f /data/ping ]; do sleep 0.02; done; cat /data/ping"],
        detach=True, volumes={name: {"bind": "/data", "mode": "rw"}})
    try:
        assert name in _names(client)          # made on first use
        # written whole, then renamed: the waiter never sees it empty
        sh(client, "echo pong > /data/ping.tmp && mv /data/ping.tmp /data/ping",
           volumes=[f"{name}:/data"])
        assert waiter.wait(timeout=10)["StatusCode"] == 0
        assert waiter.logs() == b"pong\n"
        with pytest.raises(errors.Conflict):
            client.volumes.get(name).remove()      # the exited container still uses it
    finally:
        waiter.remove(force=True, v=True)      # a named volume is never removed by v=True
    assert sh(client, "cat /data/ping", volumes=[f"{name}:/data:ro"]) == "pong\n"
    v = client.volumes.get(name)
    assert open(os.path.join(v.attrs["Mountpoint"], "ping")).read() == "pong\n"
    v.remove()
    assert name not in _names(client)
    assert not os.path.exists(os.path.dirname(v.attrs["Mountpoint"]))


def test_volume_in_use_refuses_removal_unless_forced(client, busybox):
    with volume(client, "pyc-test-inuse", labels={"pyc-test": "inuse"}) as v:
        c = client.containers.create("busybox", ["true"], volumes=["pyc-test-inuse:/d"])
        try:
            with pytest.raises(errors.Conflict, match=c.short_id):
                v.remove()
            assert client.volumes.prune(filters={"label": "pyc-test=inuse"}) == {
                "VolumesDeleted": [], "SpaceReclaimed": 0}
            assert v not in client.volumes.list(filters={"dangling": True})
        finally:
            c.remove()
        assert v in client.volumes.list(filters={"dangling": True})
        c = client.containers.create("busybox", ["true"], volumes=["pyc-test-inuse:/d"])
        try:
            v.remove(force=True)
            assert v.name not in _names(client)
            # a removed volume is made again when the container starts (docker: on create)
            c.start()
            assert c.wait(timeout=10)["StatusCode"] == 0
            assert v.name in _names(client)
        finally:
            c.remove()


def test_anonymous_volumes_and_remove_v(client, busybox):
    before = _names(client)
    c = client.containers.run("busybox", ["sh", "-c", "echo hi > /anon/f"], detach=True,
                              volumes=["/anon"])
    try:
        assert c.wait(timeout=10)["StatusCode"] == 0
        (anon,) = _anonymous(c)
        v = client.volumes.get(anon)
        assert "com.docker.volume.anonymous" in v.attrs["Labels"] and len(anon) == 64
        assert open(os.path.join(v.attrs["Mountpoint"], "f")).read() == "hi\n"
    finally:
        c.remove(v=True)
    assert _names(client) == before


def test_remove_without_v_keeps_anonymous_volume(client, busybox):
    c = client.containers.run("busybox", ["true"], detach=True, mounts=[Mount("/a", None)])
    c.wait(timeout=10)
    (anon,) = _anonymous(c)
    c.remove()
    v = client.volumes.get(anon)
    v.remove()


def test_remove_v_keeps_anonymous_volume_another_container_uses(client, busybox):
    c1 = client.containers.run("busybox", ["true"], detach=True, volumes=["/a"])
    c1.wait(timeout=10)
    (anon,) = _anonymous(c1)
    c2 = client.containers.create("busybox", ["true"], volumes=[f"{anon}:/b"])
    try:
        c1.remove(v=True)
        assert anon in _names(client)
    finally:
        c2.remove()
        client.volumes.get(anon).remove()


def test_image_volume_gets_anonymous_volume(client, volume_image):
    c = client.containers.run("pyc-test-volimg:1", ["sh", "-c", "echo x > /vol/f; grep ' /vol ' "
                                                                "/proc/mounts"], detach=True)
    try:
        assert c.wait(timeout=10)["StatusCode"] == 0
        assert c.logs().strip()
        (anon,) = _anonymous(c)
        assert anon in _names(client)
    finally:
        c.remove(v=True)
    # a mount on the same path replaces the image's volume
    with volume(client, "pyc-test-imgvol") as v:
        sh(client, "echo y > /vol/g", image="pyc-test-volimg:1", volumes=[f"{v.name}:/vol"])
        assert os.listdir(v.attrs["Mountpoint"]) == ["g"]


def test_volume_api(client, busybox):
    with volume(client, "pyc-test-api", labels={"team": "a"}) as v:
        assert v.id == v.name == "pyc-test-api"
        assert client.volumes.create("pyc-test-api") == v          # existing: returned
        assert client.volumes.get("pyc-test-api").attrs == v.attrs
        assert v.attrs["Driver"] == "local" and v.attrs["Labels"] == {"team": "a"}
        assert client.volumes.list(filters={"label": "team=a"}) == [v]
        assert client.volumes.list(filters={"name": "pyc-test-api", "label": "team=b"}) == []
        for bad in ("a", "../etc", "x/y"):
            with pytest.raises(errors.InvalidArgument):
                client.volumes.create(bad)
        with pytest.raises(errors.NotFound):            # dockerd's: no such plugin
            client.volumes.create("pyc-x", driver="nfs")
    with pytest.raises(errors.NotFound):
        client.volumes.get("pyc-test-api")


def test_prune_removes_only_unused(client, busybox):
    label = {"pyc-test": "prune"}
    with volume(client, "pyc-test-unused", labels=label) as unused, \
            volume(client, "pyc-test-used", labels=label) as used, \
            volume(client, "pyc-test-other") as other:
        open(os.path.join(unused.attrs["Mountpoint"], "f"), "wb").write(b"x" * 1000)
        c = client.containers.create("busybox", ["true"], volumes=[f"{used.name}:/u"])
        try:
            # named volumes need all=true (docker 23+, API 1.42: anonymous ones only otherwise)
            assert client.volumes.prune(filters={"label": "pyc-test=prune"}) == {
                "VolumesDeleted": [], "SpaceReclaimed": 0}
            res = client.volumes.prune(filters={"label": "pyc-test=prune", "all": "true"})
        finally:
            c.remove()
        assert res == {"VolumesDeleted": ["pyc-test-unused"], "SpaceReclaimed": 1000}
        assert used.name in _names(client) and other.name in _names(client)


# --- tmpfs ---------------------------------------------------------------------------

def test_tmpfs_size_and_mode(client, busybox):
    out = sh(client, "stat -c %a /t; dd if=/dev/zero of=/t/f bs=4096 count=512 2>&1; "
                     "cp /bin/busybox /t/bb 2>/dev/null; /t/bb true 2>&1; "
                     "grep ' /t ' /proc/mounts", tmpfs={"/t": "size=1m,mode=1777"})
    assert out.startswith("1777\n")
    assert "No space left on device" in out
    assert "Permission denied" in out                  # noexec: docker's default for tmpfs=
    assert "nosuid,nodev,noexec" in out and "size=1024k" in out


def test_tmpfs_mount_type(client, busybox):
    out = sh(client, "stat -c %a /t; dd if=/dev/zero of=/t/f bs=1024 count=20 2>&1; true",
             mounts=[Mount("/t", None, type="tmpfs", tmpfs_size="8k", tmpfs_mode=0o700)])
    assert out.startswith("700\n") and "No space left on device" in out


def test_nested_targets_mount_in_depth_order(client, busybox, tmp_path):
    (tmp_path / "f").write_text("deep\n")
    out = sh(client, "cat /a/b/c/f; grep -c ' /a' /proc/mounts",
             volumes=[f"{tmp_path}:/a/b/c:ro"], tmpfs={"/a": "", "/a/b": ""})
    assert out == "deep\n3\n"


# --- symlinks in the image must not redirect a mount onto the host -------------------

def _host_state():
    with open("/proc/self/mountinfo") as f:
        points = sorted(line.split()[4] for line in f)
    return points, sorted(os.listdir("/etc")), sorted(os.listdir("/"))


@pytest.mark.parametrize("kw,inside", [
    (dict(volumes={"{src}": {"bind": "/data"}}), ["/etc"]),                # /data -> /etc
    (dict(volumes={"{src}": {"bind": "/data/pyc-escape"}}), ["/etc/pyc-escape"]),
    (dict(volumes={"{src}": {"bind": "/top/etc/pyc-escape"}}), ["/etc/pyc-escape"]),  # /top -> /
    (dict(volumes={"{src}": {"bind": "/rel/pyc-escape"}}), ["/etc/pyc-escape"]),  # ../../../../etc
    (dict(volumes={"{src}/marker": {"bind": "/pw"}}), ["/pw", "/etc/passwd"]),  # -> /etc/passwd
    (dict(volumes={"{src}/marker": {"bind": "/data/passwd"}}), ["/etc/passwd"]),
    (dict(tmpfs={"/data": "size=1m"}), ["/etc"]),
    (dict(tmpfs={"/top/etc/pyc-escape": ""}), ["/etc/pyc-escape"]),
    (dict(volumes=["pyc-test-escape:/data"]), ["/etc"]),
    (dict(mounts=[Mount("/top/pyc-escape", None)]), ["/pyc-escape"]),
])
def test_symlink_in_image_cannot_redirect_a_mount(client, symlink_image, tmp_path, kw, inside):
    """Either the C core refuses (a mount on a symlink itself), or the mount
    lands where the link points inside the container's root; the host never
    changes."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("marker\n")
    kw = {k: ({key.format(src=src): v for key, v in val.items()} if isinstance(val, dict) else val)
          for k, val in kw.items()}
    before, names = _host_state(), _names(client)
    passwd = open("/etc/passwd").read()
    try:
        out = sh(client, "cat /proc/self/mountinfo", image="pyc-test-volsym:1", **kw)
    except errors.OperationError as e:
        assert e.errno in (errno.EINVAL, errno.ENOTDIR)
        out = None
    finally:
        for name in _names(client) - names:
            client.volumes.get(name).remove()
    assert _host_state() == before
    assert open("/etc/passwd").read() == passwd
    assert not os.path.lexists("/etc/pyc-escape") and not os.path.lexists("/pyc-escape")
    if out is not None:
        points = [line.split()[4] for line in out.splitlines()]
        assert any(p in points for p in inside), points


# --- bad inputs: refused before anything exists --------------------------------------

@pytest.mark.parametrize("kw", [
    dict(volumes=["pyc-test-never:/ok", "/nonexistent-pyc-src:/x"]),
    dict(volumes=["pyc-test-never:relative"]),
    dict(volumes=["pyc-test-never:/d:rx"]),
    dict(volumes=["pyc-test-never:/d", "/etc:/d"]),
    dict(volumes=["pyc-test-never:/a/../b"]),
    dict(volumes=["pyc-test-never:/proc/x"]),
    dict(mounts=[Mount("/ok", "pyc-test-never"), Mount("/t", None, type="tmpfs")],
         tmpfs={"/t": "size=1m"}),
    dict(tmpfs={"/t": "size=huge"}),
    dict(volumes={"./rel": {"bind": "/d"}}),
])
@pytest.mark.parametrize("detach", [False, True])
def test_bad_inputs_create_nothing(client, busybox, kw, detach):
    names = _names(client)
    count = len(client.containers.list(all=True))
    with pytest.raises(errors.InvalidArgument):
        client.containers.run("busybox", ["true"], remove=True, detach=detach, **kw)
    assert _names(client) == names
    assert len(client.containers.list(all=True)) == count
