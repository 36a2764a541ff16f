import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from pycontainer.errors import (ImageError, ImageNotFound, InvalidArgument, InvalidReference,
                                NotFound)
from pycontainer.image import (ImageRecord, ImageStore, busybox_rootfs_tar, ensure_busybox,
                               parse_reference)
from pycontainer.image import busybox as busybox_mod
from pycontainer.image.store import DEFAULT_PATH_ENV, apply_changes
from store_helpers import rootfs_tar, tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")




@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path / "store")


def test_import_bytes(store):
    tar = rootfs_tar()
    rec = store.import_image(tar, repository="example", tag="v1")
    assert isinstance(rec, ImageRecord)
    assert rec.id.startswith("sha256:") and len(rec.id) == 71
    assert rec.short_id == rec.id[:19]
    assert rec.tags == ["example:v1"]
    assert rec.references == ["docker.io/library/example:v1"]
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    cfg = rec.config
    assert cfg["os"] == "linux" and cfg["architecture"]
    assert cfg["created"].endswith("Z")
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": [diff_id]}
    assert cfg["config"] == {"Env": [DEFAULT_PATH_ENV]}
    assert cfg["history"][0]["comment"] == "Imported from -"
    # The id is the digest of the stored config blob.
    with open(store.blob_path(rec.id), "rb") as f:
        blob = f.read()
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == rec.id
    assert json.loads(blob) == cfg
    with open(store.blob_path(rec.manifest_digest), "rb") as f:
        manifest = json.load(f)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["digest"] == rec.id
    assert manifest["layers"] == [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": diff_id, "size": len(tar)}]
    with open(store.blob_path(diff_id), "rb") as f:
        assert f.read() == tar
    assert rec.layer_dirs == [os.path.join(store.root, "layers", diff_id[7:], "diff")]
    assert tree(rec.layer_dirs[0]) == {"bin": None, "bin/tool": b"#!/bin/sh\n",
                                       "etc": None, "etc/hello": b"hello\n"}


def test_import_path_fileobj_gzip_share_layer(store, tmp_path):
    tar = rootfs_tar()
    path = tmp_path / "rootfs.tar.gz"
    path.write_bytes(gzip.compress(tar))
    a = store.import_image(str(path), "a")
    b = store.import_image(io.BytesIO(tar), "b", "latest")
    c = store.import_image(tar, "c")
    assert a.config["history"][0]["comment"] == f"Imported from {path}"
    assert a.config["rootfs"] == b.config["rootfs"] == c.config["rootfs"]
    assert a.layer_dirs == b.layer_dirs == c.layer_dirs
    assert len(os.listdir(os.path.join(store.root, "layers"))) == 1
    layer_blobs = [n for n in os.listdir(os.path.join(store.root, "blobs", "sha256"))
                   if n == a.config["rootfs"]["diff_ids"][0][7:]]
    assert len(layer_blobs) == 1
    assert os.listdir(os.path.join(store.root, "tmp")) == []


def test_reproducible_id(store):
    a = store.import_image(rootfs_tar(), created="2020-01-01T00:00:00Z")
    b = store.import_image(rootfs_tar(), created="2020-01-01T00:00:00Z")
    assert a.id == b.id and a.tags == [] and len(store.list()) == 1


def test_changes(store):
    rec = store.import_image(rootfs_tar(), "x", changes=[
        'CMD ["/bin/tool", "--flag"]',
        "entrypoint /bin/sh -c 'echo hi'",
        "ENV A=1 B=\"two words\"",
        "ENV LEGACY some value",
        "ENV PATH=/opt/bin",
        "WORKDIR /app",
        "WORKDIR sub",
        "USER nobody:nogroup",
        'LABEL "com.example.name"="a b" version=1',
        "EXPOSE 80 53/udp 8000-8001",
        'VOLUME ["/data"]',
        "STOPSIGNAL SIGTERM",
    ])
    cfg = rec.config["config"]
    assert cfg["Cmd"] == ["/bin/tool", "--flag"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "/bin/sh -c 'echo hi'"]
    assert cfg["Env"] == ["A=1", "B=two words", "LEGACY=some value", "PATH=/opt/bin"]
    assert cfg["WorkingDir"] == "/app/sub"
    assert cfg["User"] == "nobody:nogroup"
    assert cfg["Labels"] == {"com.example.name": "a b", "version": "1"}
    assert rec.labels == cfg["Labels"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["StopSignal"] == "SIGTERM"


@pytest.mark.parametrize("changes,message", [
    (["RUN echo hi"], "unsupported change instruction 'RUN'"),
    (["CMD"], "CMD needs an argument"),
    (["ENV A"], "needs a value"),
    (["ENV A='x"], "ENV"),
    (["LABEL =x"], "not key=value"),
    (["EXPOSE 70000"], "bad port"),
    (["EXPOSE 80/icmp"], "bad protocol"),
    (["USER"], "USER needs an argument"),
    ([1], "must be strings"),
])
def test_bad_changes_leave_store_unchanged(store, changes, message):
    before = tree(store.root)
    with pytest.raises(InvalidArgument, match=message):
        store.import_image(rootfs_tar(), "x", changes=changes)
    assert tree(store.root) == before


def test_changes_string_and_shell_cmd():
    cfg = {}
    apply_changes(cfg, "CMD echo $HOME\n# comment\nWORKDIR rel")
    assert cfg == {"Cmd": ["/bin/sh", "-c", "echo $HOME"], "WorkingDir": "/rel"}


def test_get_forms(store):
    rec = store.import_image(rootfs_tar(), "busybox")
    hexid = rec.id[7:]
    for ref in ("busybox", "busybox:latest", "docker.io/library/busybox",
                "docker.io/library/busybox:latest", rec.id, hexid, hexid[:4], rec.short_id,
                "sha256:" + hexid[:6], f"busybox@{rec.manifest_digest}"):
        assert store.get(ref).id == rec.id, ref
    for ref in ("busybox:other", "nothere", "sha256:" + "0" * 64, "sha256:ab", "abc",
                "sha256:xyz!", f"busybox@sha256:{'0' * 64}"):
        with pytest.raises(ImageNotFound):
            store.get(ref)
    with pytest.raises(InvalidReference):
        store.get("Not/Valid")
    with pytest.raises(InvalidArgument):
        store.get("")


def test_ambiguous_prefix(store):
    rec = store.import_image(rootfs_tar(), "a")
    twin = "sha256:" + rec.id[7:11] + "f" * 60
    if twin == rec.id:
        twin = "sha256:" + rec.id[7:11] + "e" * 60
    with store.index() as index:
        index.add_image(twin, rec.manifest_digest)
    with pytest.raises(NotFound, match="ambiguous") as info:
        store.get(rec.id[7:11])
    assert not isinstance(info.value, ImageNotFound)
    assert store.get(rec.id).id == rec.id


def test_hex_name_reference_before_prefix(store):
    a = store.import_image(rootfs_tar(), "x")
    name = a.id[7:13]  # a repository named like an id prefix
    b = store.import_image(rootfs_tar({"f": b"other"}), name)
    assert store.get(name).id == b.id
    assert store.get("sha256:" + name).id == a.id


def test_tag_and_list(store):
    old = store.import_image(rootfs_tar(), "app", "1", created="2020-01-01T00:00:00Z")
    new = store.import_image(rootfs_tar({"f": b"new"}), "app", "2",
                             created="2021-01-01T00:00:00Z")
    moved = store.tag(new.id, "app", "1")
    assert moved.tags == ["app:1", "app:2"]
    assert store.get("app:1").id == new.id
    listed = store.list()
    assert [r.id for r in listed] == [new.id, old.id]  # newest first
    assert listed[1].tags == []  # dangling, still listed
    assert store.tag(old.short_id, "localhost:5000/app:v9").tags == ["localhost:5000/app:v9"]
    assert store.tag(old.id, "app").tags == ["app:latest", "localhost:5000/app:v9"]
    with pytest.raises(InvalidArgument, match="already has a tag"):
        store.tag(old.id, "app:1", "2")
    with pytest.raises(InvalidReference, match="digest"):
        store.tag(old.id, f"app@sha256:{'a' * 64}")
    with pytest.raises(InvalidReference):
        store.tag(old.id, "app", "bad tag")
    with pytest.raises(ImageNotFound):
        store.tag("missing", "app", "3")
    with pytest.raises(InvalidArgument):
        store.import_image(rootfs_tar(), tag="only-tag")


def test_hostile_layer_leaves_store_unchanged(store):
    store.import_image(rootfs_tar(), "ok")
    before = tree(store.root)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("good")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
        tf.addfile(tarfile.TarInfo("../escape"))
    with pytest.raises(ImageError, match="escape"):
        store.import_image(buf.getvalue(), "bad")
    assert tree(store.root) == before
    with pytest.raises(ImageError):
        store.import_image(b"not a tar at all" * 64, "bad")
    assert tree(store.root) == before


def test_decompression_bomb_is_capped(tmp_path):
    small = ImageStore(tmp_path / "s", max_layer_size=1 << 20, max_layer_entries=10)
    bomb = gzip.compress(b"\1" * (32 << 20))
    with pytest.raises(ImageError, match="not a valid tar"):   # stops at the first header
        small.import_image(bomb)
    big = io.BytesIO()
    with tarfile.open(fileobj=big, mode="w") as tf:
        info = tarfile.TarInfo("zeros")
        info.size = 32 << 20
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    with pytest.raises(ImageError, match="max_layer_size=1048576"):
        small.import_image(gzip.compress(big.getvalue()))
    assert os.listdir(os.path.join(small.root, "tmp")) == []
    assert os.listdir(os.path.join(small.root, "layers")) == []


def test_blob_verification(store):
    with pytest.raises(ImageError, match="does not match"):
        store._write_blob(b"data", expected="sha256:" + "0" * 64)
    rec = store.import_image(rootfs_tar(), "x")
    path = store.blob_path(rec.id)
    os.chmod(path, 0o644)
    with open(path, "ab") as f:
        f.write(b" ")
    with pytest.raises(ImageError, match="corrupt"):
        ImageStore(store.root).get("x")


def test_store_permissions_and_lock(store):
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700
    store.import_image(rootfs_tar(), "x")
    assert os.path.exists(os.path.join(store.root, "images.lock"))
    assert "docker.io/library/x:latest" in store.snapshot().references()


def test_concurrent_writers(store):
    rec = store.import_image(rootfs_tar(), "base")
    pids = []
    for child in range(4):
        pid = os.fork()
        if pid == 0:
            try:
                mine = ImageStore(store.root)
                for i in range(15):
                    mine.tag(rec.id, f"r{child}", f"t{i}")
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0
    tags = store.get(rec.id).tags
    assert len(tags) == 1 + 4 * 15
    assert "r3:t14" in tags


# -- busybox -------------------------------------------------------------------

def test_busybox_tar_is_deterministic_and_complete():
    one, two = io.BytesIO(), io.BytesIO()
    busybox_rootfs_tar(one)
    busybox_rootfs_tar(two)
    assert one.getvalue() == two.getvalue()
    one.seek(0)
    with tarfile.open(fileobj=one) as tf:
        members = {m.name: m for m in tf.getmembers()}
        passwd = tf.extractfile("etc/passwd").read().decode()
        group = tf.extractfile("etc/group").read().decode()
    names = list(members)
    assert names == sorted(names)
    assert members["bin/busybox"].isreg() and members["bin/busybox"].mode == 0o755
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    applets = subprocess.run(["/bin/busybox", "--list-full"], capture_output=True,
                             text=True, check=True).stdout.split()
    for applet in applets:
        if applet == "bin/busybox":
            continue
        assert members[applet].issym()
        target = os.path.normpath(os.path.join(os.path.dirname(applet),
                                               members[applet].linkname))
        assert target == "bin/busybox"
    if "usr/bin/wget" in members:
        assert members["usr/bin/wget"].linkname == "../../bin/busybox"
    assert members["tmp"].mode == 0o1777 and members["root"].mode == 0o700
    for d in ("proc", "sys", "dev", "home", "etc"):
        assert members[d].isdir()
    assert "etc/hosts" not in members
    assert {m.mtime for m in members.values()} == {busybox_mod.FIXED_MTIME}
    assert "root:x:0:0:root:/root:/bin/sh" in passwd.splitlines()
    assert "nobody:x:65534:65534:nobody:/home:/bin/false" in passwd.splitlines()
    gids = {line.split(":")[0]: int(line.split(":")[2]) for line in group.splitlines()}
    assert gids == {"root": 0, "daemon": 1, "bin": 2, "sys": 3, "adm": 4, "tty": 5,
                    "disk": 6, "wheel": 10, "users": 100, "nogroup": 65534}


def test_ensure_busybox(store):
    rec = ensure_busybox(store)
    assert rec.tags == ["busybox:latest"]
    assert rec.config["config"]["Cmd"] == ["sh"]
    again = ensure_busybox(store)
    assert again.id == rec.id and len(store.list()) == 1
    other = ImageStore(os.path.join(store.root, "..", "other"))
    assert ensure_busybox(other).id == rec.id  # reproducible
    assert ensure_busybox(store, tag="stable").tags == ["busybox:latest", "busybox:stable"]
    root = rec.layer_dirs[0]
    assert os.readlink(os.path.join(root, "bin/sh")) == "busybox"
    # The layer is a usable root filesystem.
    out = subprocess.run(["chroot", root, "/bin/sh", "-c", "echo ok; id -un"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.split() == ["ok", "root"]


def test_busybox_missing_or_dynamic(monkeypatch):
    monkeypatch.setattr(busybox_mod.os.path, "isfile", lambda p: False)
    monkeypatch.setattr(busybox_mod.shutil, "which", lambda name: None)
    with pytest.raises(ImageError, match="apt-get install busybox-static"):
        busybox_rootfs_tar(io.BytesIO())
    dynamic = shutil.which("ls") or "/bin/ls"
    monkeypatch.setattr(busybox_mod.shutil, "which", lambda name: dynamic)
    with pytest.raises(ImageError, match="not a statically linked busybox"):
        busybox_rootfs_tar(io.BytesIO())


def test_parse_reference_alias():
    assert str(parse_reference("busybox")) == "docker.io/library/busybox:latest"
