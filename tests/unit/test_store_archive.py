"""ImageStore.save / load: docker-archive and OCI layout, and bad input."""
import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from pycontainer.errors import ImageError, ImageNotFound, InvalidArgument
from pycontainer.image import ImageStore
from store_helpers import rootfs_tar, tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

try:
    import zstandard
except ImportError:
    zstandard = None



def tar_of(members):
    """A tar of ``{name: bytes}`` (or ``{name: ("link", target)}`` for symlinks)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()



def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_for(layers, **extra):
    return json.dumps({"architecture": "amd64", "os": "linux",
                       "created": "2020-01-01T00:00:00Z",
                       "config": {"Cmd": ["sh"], **extra},
                       "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in layers]},
                       "history": [{"created": "2020-01-01T00:00:00Z"}] * len(layers)}).encode()


def oci_layout(images, layout=b'{"imageLayoutVersion":"1.0.0"}'):
    """{path: bytes} of an OCI layout. ``images``: (config bytes, [(media type,
    blob bytes)], annotations or None)."""
    files = {"oci-layout": layout}
    index = []
    for config, layers, notes in images:
        files[f"blobs/sha256/{sha(config)[7:]}"] = config
        descs = []
        for media, blob in layers:
            files[f"blobs/sha256/{sha(blob)[7:]}"] = blob
            descs.append({"mediaType": media, "digest": sha(blob), "size": len(blob)})
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha(config), "size": len(config)},
            "layers": descs}).encode()
        files[f"blobs/sha256/{sha(manifest)[7:]}"] = manifest
        desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha(manifest), "size": len(manifest)}
        if notes:
            desc["annotations"] = notes
        index.append(desc)
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": index}).encode()
    return files


def write_dir(root, files):
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return root


@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path / "store")


@pytest.fixture
def other(tmp_path):
    return ImageStore(tmp_path / "other")


def saved(store, refs, **kw):
    return b"".join(store.save(refs, **kw))


def members(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: (tf.extractfile(m).read() if m.isreg() else None)
                for m in tf.getmembers()}


def test_save_layout_is_docker_and_oci(store):
    rec = store.import_image(rootfs_tar(), "app", "1", changes=["LABEL a=b"])
    store.tag(rec.id, "app", "2")
    data = saved(store, ["app:1", "app:2"])
    assert len(data) % 10240 == 0
    files = members(data)
    layer, config = rec.diff_ids[0][7:], rec.id[7:]
    assert set(files) == {"blobs", "blobs/sha256", f"blobs/sha256/{layer}",
                          f"blobs/sha256/{config}", f"blobs/sha256/{rec.manifest_digest[7:]}",
                          "index.json", "manifest.json", "oci-layout", "repositories"}
    for name, body in files.items():
        if name.startswith("blobs/sha256/"):
            assert sha(body)[7:] == name[13:]
    assert json.loads(files["manifest.json"]) == [{
        "Config": f"blobs/sha256/{config}", "RepoTags": ["app:1", "app:2"],
        "Layers": [f"blobs/sha256/{layer}"]}]
    index = json.loads(files["index.json"])
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["annotations"] for m in index["manifests"]] == [
        {"io.containerd.image.name": "docker.io/library/app:1",
         "org.opencontainers.image.ref.name": "1"},
        {"io.containerd.image.name": "docker.io/library/app:2",
         "org.opencontainers.image.ref.name": "2"}]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads(files["repositories"]) == {"app": {"1": layer, "2": layer}}
    # By ID: no name, as `docker save <id>`.
    files = members(saved(store, [rec.id]))
    assert json.loads(files["manifest.json"])[0]["RepoTags"] is None
    assert "annotations" not in json.loads(files["index.json"])["manifests"][0]
    assert "repositories" not in files


def test_save_chunks(store):
    rec = store.import_image(rootfs_tar({"big": os.urandom(300_000)}), "x")
    chunks = list(store.save(["x"], chunk_size=65536))
    assert all(len(c) == 65536 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 65536
    assert b"".join(chunks) == saved(store, ["x"])
    assert members(saved(store, [rec.id[7:19]]))  # an ID prefix works too
    with pytest.raises(ImageNotFound):
        store.save(["missing"])
    with pytest.raises(InvalidArgument):
        store.save(["x"], chunk_size=0)
    # An abandoned stream closes its files.
    it = store.save(["x"])
    next(it)
    it.close()


def test_round_trip_keeps_id_tags_and_content(store, other):
    rec = store.import_image(rootfs_tar(), "app", "1", changes=['CMD ["/bin/tool"]'])
    loaded = other.load(saved(store, ["app:1"]))
    assert [r.id for r in loaded] == [rec.id]
    got = other.get("app:1")
    assert got.id == rec.id and got.config == rec.config and got.tags == ["app:1"]
    assert tree(got.layer_dirs[0]) == tree(rec.layer_dirs[0])
    assert os.listdir(other.tmp_dir) == []
    # Again: idempotent; by ID: untagged.
    assert other.load(saved(store, [rec.id]))[0].tags == ["app:1"]
    third = ImageStore(os.path.join(store.root, "..", "third"))
    assert third.load(saved(store, [rec.id]))[0].tags == []


def test_save_several_images_sharing_a_layer(store, other):
    base = rootfs_tar()
    a = store.import_image(base, "a")
    b = store.import_image(base, "b", changes=["ENV X=1"])
    assert a.id != b.id and a.diff_ids == b.diff_ids
    data = saved(store, ["a", "b"])
    layer_members = [n for n in members(data) if n.endswith(a.diff_ids[0][7:])]
    assert len(layer_members) == 1
    loaded = other.load(io.BytesIO(data))
    assert sorted(r.tags[0] for r in loaded) == ["a:latest", "b:latest"]
    assert len(os.listdir(os.path.join(other.root, "layers"))) == 1


def test_load_sources(store, other, tmp_path):
    store.import_image(rootfs_tar(), "app")
    data = saved(store, ["app"])
    path = tmp_path / "app.tar"
    path.write_bytes(data)
    assert other.load(str(path))[0].tags == ["app:latest"]
    other.remove("app")
    assert other.load(gzip.compress(data))[0].tags == ["app:latest"]
    other.remove("app")

    class Pipe:  # not seekable
        def __init__(self, data):
            self.f = io.BytesIO(data)

        def read(self, n=-1):
            return self.f.read(min(n, 1000) if n and n > 0 else 1000)

        def seekable(self):
            return False
    assert other.load(Pipe(data))[0].tags == ["app:latest"]
    if zstandard is not None:
        other.remove("app")
        assert other.load(zstandard.ZstdCompressor().compress(data))[0].tags == ["app:latest"]
    with pytest.raises(InvalidArgument):
        other.load(12)


@pytest.mark.parametrize("compress,media", [
    (lambda b: b, "application/vnd.oci.image.layer.v1.tar"),
    (gzip.compress, "application/vnd.oci.image.layer.v1.tar+gzip"),
    (gzip.compress, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
    ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
])
def test_load_oci_layout_dir_and_tar(store, tmp_path, compress, media):
    if compress == "zstd":
        assert zstandard is not None, "zstandard is a dependency (pyproject.toml)"
        compress = zstandard.ZstdCompressor().compress
    one, two = rootfs_tar(), rootfs_tar({"etc/two": b"2"})
    config = config_for([one, two], Labels={"k": "v"})
    files = oci_layout([(config, [(media, compress(one)), (media, compress(two))],
                         {"org.opencontainers.image.ref.name": "localhost/app:7"})])
    recs = store.load(write_dir(tmp_path / "layout", files))
    assert [r.id for r in recs] == [sha(config)]
    assert recs[0].tags == ["localhost/app:7"] and recs[0].labels == {"k": "v"}
    assert recs[0].diff_ids == [sha(one), sha(two)]
    assert tree(recs[0].layer_dirs[1]) == {"etc": None, "etc/two": b"2"}
    store.remove(recs[0].id)
    assert store.load(tar_of(files))[0].id == sha(config)


def test_oci_names_and_nested_index(store, tmp_path):
    layer = rootfs_tar()
    config = config_for([layer])
    media = "application/vnd.oci.image.layer.v1.tar"
    files = oci_layout([(config, [(media, layer)], {"org.opencontainers.image.ref.name": "v1"}),
                        (config, [(media, layer)],
                         {"io.containerd.image.name": "docker.io/library/x:2",
                          "org.opencontainers.image.ref.name": "2"})])
    recs = store.load(tar_of(files))
    assert [r.tags for r in recs] == [["x:2"]]   # a bare tag names no repository
    # An index pointing at a multi-platform index.
    manifest_desc = json.loads(files["index.json"])["manifests"][0]
    inner = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [
                            {**manifest_desc, "platform": {"os": "windows",
                                                           "architecture": "amd64"}},
                            {**manifest_desc, "platform": {"os": "linux",
                                                           "architecture": recs[0].config[
                                                               "architecture"]}}]}).encode()
    files[f"blobs/sha256/{sha(inner)[7:]}"] = inner
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(inner),
        "size": len(inner), "annotations": {"org.opencontainers.image.ref.name": "y:1"}}]}
    ).encode()
    assert store.load(tar_of(files))[0].tags == ["x:2", "y:1"]


def test_load_old_docker_layout_with_symlinked_layer(store):
    layer = rootfs_tar()
    config = config_for([layer, layer])
    files = {f"{'a' * 64}/layer.tar": layer, f"{'b' * 64}/layer.tar": ("link", f"../{'a' * 64}/layer.tar"),
             f"{sha(config)[7:]}.json": config,
             "manifest.json": json.dumps([{"Config": f"{sha(config)[7:]}.json",
                                           "RepoTags": ["old:1"],
                                           "Layers": [f"{'a' * 64}/layer.tar",
                                                      f"{'b' * 64}/layer.tar"]}]).encode()}
    rec = store.load(tar_of(files))[0]
    assert rec.tags == ["old:1"] and rec.layer_dirs[0] == rec.layer_dirs[1]


# -- bad input: a clear ImageError and an unchanged store ---------------------

def good_layout():
    layer = rootfs_tar()
    config = config_for([layer])
    return oci_layout([(config, [("application/vnd.oci.image.layer.v1.tar+gzip",
                                  gzip.compress(layer))], None)]), layer, config


def layer_name(files):
    index = json.loads(files["index.json"])["manifests"][0]["digest"]
    manifest = json.loads(files[f"blobs/sha256/{index[7:]}"])
    return f"blobs/sha256/{manifest['layers'][0]['digest'][7:]}", manifest


def _bad_cases():
    def not_tar(_):
        return b"this is not a tar archive " * 100

    def empty(_):
        return b""

    def truncated(store):
        store.import_image(rootfs_tar({"big": os.urandom(200_000)}), "t")
        data = saved(store, ["t"])
        store.remove("t")
        return data[:150_000]

    def corrupt_blob(_):
        files, _, _ = good_layout()
        name, _ = layer_name(files)
        blob = bytearray(files[name])
        blob[len(blob) // 2] ^= 0xFF
        files[name] = bytes(blob)
        return tar_of(files)

    def short_blob(_):
        files, _, _ = good_layout()
        name, _ = layer_name(files)
        files[name] = files[name][:-10]
        return tar_of(files)

    def diff_id_mismatch(_):
        layer = rootfs_tar()
        config = config_for([rootfs_tar({"other": b"x"})])
        return tar_of({"layer.tar": layer, "c.json": config, "manifest.json": json.dumps(
            [{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["layer.tar"]}]).encode()})

    def config_digest_mismatch(_):
        layer = rootfs_tar()
        config = config_for([layer])
        return tar_of({"layer.tar": layer, f"{'0' * 64}.json": config,
                       "manifest.json": json.dumps([{"Config": f"{'0' * 64}.json",
                                                     "Layers": ["layer.tar"]}]).encode()})

    def unknown_media(_):
        layer = rootfs_tar()
        return tar_of(oci_layout([(config_for([layer]),
                                   [("application/x-unknown-layer", layer)], None)]))

    def config_not_json(_):
        layer = rootfs_tar()
        return tar_of(oci_layout([(b"{not json", [(
            "application/vnd.oci.image.layer.v1.tar", layer)], None)]))

    def missing_blob(_):
        files, _, _ = good_layout()
        del files[layer_name(files)[0]]
        return tar_of(files)

    def wrong_layer_count(_):
        layer = rootfs_tar()
        return tar_of({"layer.tar": layer, "c.json": config_for([layer, layer]),
                       "manifest.json": json.dumps([{"Config": "c.json",
                                                     "Layers": ["layer.tar"]}]).encode()})

    def hostile_layer(_):
        layer = tar_of({"../escape": b"x"})
        return tar_of({"layer.tar": layer, "c.json": config_for([layer]),
                       "manifest.json": json.dumps([{"Config": "c.json",
                                                     "Layers": ["layer.tar"]}]).encode()})

    def windows(_):
        layer = rootfs_tar()
        config = json.loads(config_for([layer]))
        config["os"] = "windows"
        config = json.dumps(config).encode()
        return tar_of({"layer.tar": layer, "c.json": config,
                       "manifest.json": json.dumps([{"Config": "c.json",
                                                     "Layers": ["layer.tar"]}]).encode()})

    def no_manifest(_):
        return tar_of({"hello": b"world"})

    def escaping_path(_):
        return tar_of({"manifest.json": json.dumps([{"Config": "../../etc/passwd",
                                                     "Layers": []}]).encode()})

    return [
        (not_tar, "not a valid tar"), (empty, "not a valid tar"),
        (truncated, "truncated"), (corrupt_blob, "does not match|corrupt|CRC|invalid"),
        (short_blob, "bytes|truncated|corrupt|end"), (diff_id_mismatch, "diff_id"),
        (config_digest_mismatch, "does not match its digest"),
        (unknown_media, "unknown layer media type"), (config_not_json, "not valid JSON"),
        (missing_blob, "has no file"), (wrong_layer_count, "layers"),
        (hostile_layer, "climbs above"), (windows, "not linux"),
        (no_manifest, "not an image archive"), (escaping_path, "climbs above|no file"),
    ]


@pytest.mark.parametrize("make,message", _bad_cases(), ids=lambda v: getattr(v, "__name__", ""))
def test_bad_input_stores_nothing(store, make, message):
    store.import_image(rootfs_tar({"keep": b"me"}), "keep")
    data = make(store)
    before = tree(store.root)
    with pytest.raises(ImageError, match=message):
        store.load(data)
    assert tree(store.root) == before


def test_gzip_bomb_layer_is_capped(tmp_path):
    small = ImageStore(tmp_path / "small", max_layer_size=1 << 20, max_image_size=2 << 20,
                       max_layer_entries=10)
    big = tar_of({"zeros": bytes(32 << 20)})
    bomb = gzip.compress(big, compresslevel=9)
    assert len(bomb) < 100_000
    files = oci_layout([(config_for([big]), [
        ("application/vnd.oci.image.layer.v1.tar+gzip", bomb)], None)])
    with pytest.raises(ImageError, match="max_layer_size=1048576"):
        small.load(tar_of(files))
    assert os.listdir(small.tmp_dir) == []
    assert os.listdir(os.path.join(small.root, "layers")) == []
    # The same cap holds for a compressed archive around it.
    with pytest.raises(ImageError, match="decompressed.*max_image_size=2097152"):
        small.load(gzip.compress(tar_of({"pad": bytes(16 << 20)})))
    assert os.listdir(small.tmp_dir) == []
