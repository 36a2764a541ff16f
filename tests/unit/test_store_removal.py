"""ImageStore.remove / prune: reference counts from images and containers."""
import io
import json
import os
import time

import pytest

from pycontainer.errors import Conflict, ImageError, ImageNotFound, InvalidArgument
from pycontainer.engine.images import prune
from pycontainer.image import ImageStore
from store_helpers import rootfs_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")



BASE = rootfs_tar({"base": b"b" * 1000})


@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path / "store", container_dirs=[tmp_path / "store" / "containers",
                                                          tmp_path / "run"])


def layers(store):
    return sorted(os.listdir(os.path.join(store.root, "layers")))


def blobs(store):
    return set(os.listdir(os.path.join(store.root, "blobs", "sha256")))


def two_layer(store, base, top, ref):
    """An image of two layers: ``base`` + ``top`` (built with add_image)."""
    a = store.stage_layer(io.BytesIO(base))
    b = store.stage_layer(io.BytesIO(top))
    try:
        cfg = {"architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
               "config": {}, "rootfs": {"type": "layers", "diff_ids": [a.diff_id, b.diff_id]}}
        from pycontainer.image import parse_reference
        return store.add_image(cfg, [a, b], [parse_reference(ref)])
    finally:
        store.discard([a, b])


def fake_container(store, cid, record, top="containers"):
    """A container's config.json as the runtime writes it."""
    d = os.path.join(os.path.dirname(store.root) if top == "run" else store.root, top, cid)
    os.makedirs(d, exist_ok=True)
    init = os.path.join(store.root, "init", record.id[7:])
    os.makedirs(init, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"Id": cid, "Image": record.id,
                   "Runtime": {"LayerDir": d,
                               "Lowers": [init] + list(reversed(record.layer_dirs))}}, f)
    return d


def test_untag_then_delete(store):
    rec = store.import_image(BASE, "app", "1")
    store.tag(rec.id, "app", "2")
    before = blobs(store)
    assert store.remove("app:1") == [{"Untagged": "app:1"}]
    assert store.get(rec.id).tags == ["app:2"] and blobs(store) == before
    out = store.remove("app:2")
    assert out == [{"Untagged": "app:2"}, {"Deleted": rec.id}, {"Deleted": rec.diff_ids[0]}]
    assert layers(store) == [] and blobs(store) == set()
    assert os.listdir(store.tmp_dir) == []
    with pytest.raises(ImageNotFound):
        store.get(rec.id)
    with pytest.raises(ImageNotFound):
        store.remove("app:2")


def test_shared_layers_stay(store):
    a = two_layer(store, BASE, rootfs_tar({"a": b"a"}), "a:1")
    b = two_layer(store, BASE, rootfs_tar({"b": b"b"}), "b:1")
    assert a.layer_dirs[0] == b.layer_dirs[0] and len(layers(store)) == 3
    out = store.remove("a:1")
    assert {"Deleted": a.diff_ids[1]} in out and {"Deleted": a.diff_ids[0]} not in out
    assert layers(store) == sorted(d[7:] for d in b.diff_ids)
    assert os.listdir(b.layer_dirs[0]) == ["base"]
    store.remove("b:1")
    assert layers(store) == [] and blobs(store) == set()


def test_id_with_several_tags_needs_force(store):
    rec = store.import_image(BASE, "app", "1")
    store.tag(rec.id, "other", "2")
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        store.remove(rec.id)
    out = store.remove(rec.short_id, force=True)
    assert out[:2] == [{"Untagged": "app:1"}, {"Untagged": "other:2"}]
    assert {"Deleted": rec.id} in out and store.list() == []


@pytest.mark.parametrize("top", ["containers", "run"])
def test_image_in_use_by_container(store, top):
    rec = store.import_image(BASE, "app", "1")
    d = fake_container(store, "c" * 64, rec, top)
    with pytest.raises(Conflict, match=r'remove repository reference "app:1" .*container cccc'):
        store.remove("app:1")
    with pytest.raises(Conflict, match="being used by container cccccccccccc"):
        store.remove(rec.id)
    assert prune(store, {"dangling": False})["ImagesDeleted"] == []
    assert store.get("app:1").id == rec.id
    # force: the image goes, what the container runs on stays.
    out = store.remove("app:1", force=True)
    assert out == [{"Untagged": "app:1"}, {"Deleted": rec.id}]
    assert os.path.isdir(rec.layer_dirs[0])
    assert os.path.isdir(os.path.join(store.root, "init", rec.id[7:]))
    assert store.prune()["ImagesDeleted"] == [] and os.path.isdir(rec.layer_dirs[0])
    # Once the container is gone, prune frees the layer and its init layer.
    os.unlink(os.path.join(d, "config.json"))
    os.rmdir(d)
    got = store.prune()
    assert got["ImagesDeleted"] == [{"Deleted": rec.diff_ids[0]}]
    assert got["SpaceReclaimed"] >= 1000
    assert layers(store) == [] and os.listdir(os.path.join(store.root, "init")) == []


def test_prune_dangling_labels_and_leftovers(store):
    keep = store.import_image(BASE, "keep")
    old = store.import_image(rootfs_tar({"old": b"o"}), "app", changes=["LABEL tier=x"])
    new = store.import_image(rootfs_tar({"new": b"n"}), "app")  # `old` is dangling now
    used = store.import_image(rootfs_tar({"used": b"u"}))
    fake_container(store, "d" * 64, used)
    # Crash leftovers: trash, a stale staging dir; a fresh staging dir is a writer at work.
    os.makedirs(os.path.join(store.tmp_dir, "trash-x", "x"))
    stale = os.path.join(store.tmp_dir, "layer-stale")
    os.makedirs(stale)
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    fresh = os.path.join(store.tmp_dir, "layer-fresh")
    os.makedirs(fresh)
    got = store.prune()
    assert got["ImagesDeleted"] == [{"Deleted": old.id}, {"Deleted": old.diff_ids[0]}]
    assert got["SpaceReclaimed"] > 0
    assert os.listdir(store.tmp_dir) == ["layer-fresh"]
    assert {r.id for r in store.list()} == {keep.id, new.id, used.id}
    with pytest.raises(InvalidArgument, match="untill"):
        prune(store, {"untill": "1h"})          # a misspelt key never prunes everything
    store.tag(new.id, "app", "2", )
    store.import_image(rootfs_tar({"l": b"l"}), "labelled", changes=["LABEL tier=x"])
    got = prune(store, {"dangling": "false", "label": "tier=x"})
    assert got["ImagesDeleted"][0] == {"Untagged": "labelled:latest"}
    assert {r.id for r in store.list()} == {keep.id, new.id, used.id}
    got = prune(store, {"dangling": False, "label!": ["tier"]})
    assert {r.id for r in store.list()} == {used.id}
    assert sorted(d["Untagged"] for d in got["ImagesDeleted"] if "Untagged" in d) == [
        "app:2", "app:latest", "keep:latest"]


def test_prune_until_keeps_newer_images(store):
    old = store.import_image(rootfs_tar({"o": b"o"}), "old", created="2020-01-01T00:00:00Z")
    mid = store.import_image(rootfs_tar({"m": b"m"}), "mid", created="2022-06-01T00:00:00+02:00")
    new = store.import_image(rootfs_tar({"n": b"n"}), "new")          # now
    with pytest.raises(InvalidArgument):
        prune(store, {"dangling": False, "until": "yesterday"})
    with pytest.raises(InvalidArgument):
        prune(store, {"dangling": False, "until": ["1h", "2h"]})
    got = prune(store, {"dangling": False, "until": "2021-01-01"})
    assert {"Deleted": old.id} in got["ImagesDeleted"]
    assert {r.id for r in store.list()} == {mid.id, new.id}
    got = prune(store, {"dangling": False, "until": "1h"})         # a Go duration before now
    assert {"Deleted": mid.id} in got["ImagesDeleted"]
    assert [r.id for r in store.list()] == [new.id]
    prune(store, {"dangling": False, "until": str(int(time.time()) + 60)})   # unix seconds
    assert store.list() == []


def test_a_broken_image_stops_collection(store):
    rec = store.import_image(BASE, "app")
    other = store.import_image(rootfs_tar({"x": b"x"}), "other")
    os.unlink(store.blob_path(rec.manifest_digest))
    store._json_cache.clear()
    with pytest.raises(ImageError, match="cannot count the references"):
        store.remove("other")
    assert store.get("other").id == other.id  # nothing deleted on a partial view
    assert os.path.isdir(other.layer_dirs[0])
    store.remove(rec.id)  # the broken image itself can go
    assert store.remove("other")[-1] == {"Deleted": other.diff_ids[0]}
    assert layers(store) == [] and blobs(store) == set()
