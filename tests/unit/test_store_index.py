"""The image index (image/index.py): one API for repositories.json, and the
store's bounded caches."""
import io
import json
import os

import pytest

from pycontainer.errors import ImageError, ImageNotFound
from pycontainer.image import ImageStore, parse_reference
from pycontainer.image import store as store_mod
from pycontainer.image import index as index_mod
from pycontainer.image.index import Index
from pycontainer.image.store import LRU
from store_helpers import rootfs_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path / "store")


def on_disk(store):
    with open(store.index_path) as f:
        return json.load(f)


def config_for(staged, created="2020-01-01T00:00:00Z"):
    return json.dumps({"architecture": "amd64", "os": "linux", "created": created,
                       "config": {}, "rootfs": {"type": "layers",
                                                "diff_ids": [staged.diff_id]}},
                      separators=(",", ":")).encode()


def test_the_file_format(store):
    rec = store.import_image(rootfs_tar(), "x")
    assert on_disk(store) == {
        "version": 1,
        "images": {rec.id: rec.manifest_digest},
        "references": {"docker.io/library/x:latest": rec.manifest_digest}}
    snap = store.snapshot()
    assert snap.images() == {rec.id: rec.manifest_digest}
    assert snap.references() == {"docker.io/library/x:latest": rec.manifest_digest}
    assert snap.image_id(rec.manifest_digest) == rec.id
    assert snap.resolve("x") == (rec.manifest_digest, "docker.io/library/x:latest")
    assert snap.resolve(rec.id) == (rec.manifest_digest, None)


def test_an_empty_store_has_an_empty_index(store):
    snap = store.snapshot()
    assert (snap.images(), snap.references()) == ({}, {})
    with pytest.raises(ImageNotFound):
        snap.resolve("x")
    with store.index():
        pass                      # nothing changed: nothing written
    assert not os.path.exists(store.index_path)


def test_a_snapshot_is_read_only(store):
    rec = store.import_image(rootfs_tar(), "x")
    snap = store.snapshot()
    assert not snap.writable
    for change in (lambda: snap.set_reference("docker.io/library/y:1", rec.manifest_digest),
                   lambda: snap.drop_reference("docker.io/library/x:latest"),
                   lambda: snap.drop_image(rec.id),
                   lambda: snap.add_image(rec.id, rec.manifest_digest),
                   snap.commit):
        with pytest.raises(TypeError, match="store.index"):
            change()
    assert store.get("x").id == rec.id


def test_the_index_is_unusable_after_its_block(store):
    rec = store.import_image(rootfs_tar(), "x")
    with store.index() as index:
        assert index.writable
    with pytest.raises(TypeError):   # the lock is gone: a late change would be lost
        index.set_reference("docker.io/library/y:1", rec.manifest_digest)


def test_an_exception_in_the_block_writes_nothing(store):
    rec = store.import_image(rootfs_tar(), "x")
    before = on_disk(store)
    with pytest.raises(KeyError):
        with store.index() as index:
            index.set_reference(parse_reference("y:1"), rec.manifest_digest)
            index.drop_image(rec.id)
            raise KeyError("boom")
    assert on_disk(store) == before
    assert store.get("x").tags == ["x:latest"]


def test_commit_writes_before_the_block_ends(store):
    rec = store.import_image(rootfs_tar(), "x")
    with store.index() as index:
        index.set_reference(parse_reference("y:1"), rec.manifest_digest)
        assert "docker.io/library/y:1" not in store.snapshot().references()
        index.commit()
        assert "docker.io/library/y:1" in store.snapshot().references()
        index.drop_reference("docker.io/library/y:1")
    assert store.get("x").tags == ["x:latest"]


def test_a_reference_must_name_an_image(store):
    with store.index() as index:
        with pytest.raises(ImageError, match="not an image"):
            index.set_reference("docker.io/library/y:1", "sha256:" + "0" * 64)
        with pytest.raises(ImageNotFound):
            index.drop_reference("docker.io/library/y:1")


def test_references_follow_every_change(store):
    a = store.import_image(rootfs_tar(), "a")
    b = store.import_image(rootfs_tar({"f": b"b"}), "b")
    with store.index() as index:
        assert index.references_of(a.manifest_digest) == ["docker.io/library/a:latest"]
        index.set_reference("docker.io/library/z:1", a.manifest_digest)
        index.set_reference("docker.io/library/m:1", a.manifest_digest)
        assert index.references_of(a.manifest_digest) == [
            "docker.io/library/a:latest", "docker.io/library/m:1", "docker.io/library/z:1"]
        index.set_reference("docker.io/library/m:1", b.manifest_digest)   # moved
        assert index.references_of(a.manifest_digest) == [
            "docker.io/library/a:latest", "docker.io/library/z:1"]
        assert index.references_of(b.manifest_digest) == [
            "docker.io/library/b:latest", "docker.io/library/m:1"]
        index.drop_reference("docker.io/library/z:1")
        assert index.drop_image(b.id) == ["docker.io/library/b:latest",
                                          "docker.io/library/m:1"]
        assert index.references_of(b.manifest_digest) == []
        assert index.references() == {"docker.io/library/a:latest": a.manifest_digest}
    assert [r.tags for r in store.list()] == [["a:latest"]]


def test_a_registry_pull_is_one_write(store, monkeypatch):
    """What a registry client needs: stage a layer, publish an image with its
    config and manifest, and move a tag to it, in one atomic index update."""
    old = store.import_image(rootfs_tar(), "app", "1")
    staged = store.stage_layer(io.BytesIO(rootfs_tar({"new": b"new"})))
    writes = []
    write = index_mod.write
    monkeypatch.setattr(index_mod, "write", lambda *a: (writes.append(1), write(*a)))
    try:
        with store.index() as index:
            image_id, manifest = store.publish(index, config_for(staged), [staged])
            index.set_reference(parse_reference("app:1"), manifest)
            assert store.get("app:1").id == old.id     # nothing visible yet
    finally:
        store.discard([staged])
    assert writes == [1]
    assert store.get("app:1").id == image_id
    assert store.get(old.id).tags == []
    assert store.get(image_id).manifest_digest == manifest


def test_publish_needs_the_writers_index(store):
    staged = store.stage_layer(io.BytesIO(rootfs_tar()))
    try:
        with pytest.raises(TypeError, match="store.index"):
            store.publish(store.snapshot(), config_for(staged), [staged])
        with store.index() as index:
            with pytest.raises(ImageError, match="diff_ids"):
                store.publish(index, config_for(staged), [])
    finally:
        store.discard([staged])
    assert store.list() == []


def test_a_corrupt_index_is_refused(store):
    for text in ("{", '{"version": 2}', '{"version": 1, "images": []}', "[]"):
        with open(store.index_path, "w") as f:
            f.write(text)
        with pytest.raises(ImageError, match="repositories.json"):
            store.snapshot()
        with pytest.raises(ImageError):
            with store.index():
                pass


def test_index_from_plain_dicts():
    index = Index({"sha256:" + "a" * 64: "sha256:" + "b" * 64}, {})
    assert index.resolve("aaaa") == ("sha256:" + "b" * 64, None)


# -- bounded caches ----------------------------------------------------------------


def test_lru_drops_the_least_recently_used():
    lru = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1          # a is now the most recent
    lru.put("c", 3)
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
    assert len(lru) == 2
    lru.pop("a")
    lru.pop("missing")
    assert len(lru) == 1
    lru.clear()
    assert len(lru) == 0


def test_the_json_cache_is_bounded(monkeypatch, tmp_path):
    monkeypatch.setattr(store_mod, "JSON_CACHE_SIZE", 4, raising=False)
    small = ImageStore(tmp_path / "small")
    recs = [small.import_image(rootfs_tar({"f": str(i).encode()}), f"i{i}") for i in range(5)]
    assert sorted(r.id for r in small.list()) == sorted(r.id for r in recs)
    for rec in recs:
        assert small.get(rec.id).tags == [f"i{recs.index(rec)}:latest"]
    assert len(small._json_cache) <= 4
