"""Removing images: ``docker rmi`` and ``docker image prune`` with reference counts.

What is in use is counted from two places:

* images: each image in ``repositories.json`` holds its manifest, config and
  layer blobs and its unpacked layers;
* the store's registry (registry/server/storage.py): each
  ``registry/repos/<name>/_repo.json`` holds its blobs and manifests;
* containers: each ``<dir>/<id>/config.json`` of the store's
  ``container_dirs`` holds its image (``"Image"``) and every directory in
  ``"Runtime": {"Lowers": [...]}`` (layers and the per-image init layer).

Everything happens under the store's writers' lock, in an order that a crash
cannot turn into a broken image: ``repositories.json`` is written first (the
image is gone), then unreferenced layers are renamed into ``tmp/trash-*``
(a layer directory is present and complete, or absent) and blobs unlinked.
The trash is deleted after the lock is released; :func:`prune` also empties
trash that a crash left.
"""

import contextlib
import json
import os
import tempfile
import time

from pycontainer import fstree
from pycontainer.errors import Conflict, ImageError
from pycontainer.image import reference
from pycontainer.image.record import is_hex

# Staging dirs in tmp/ older than this are leftovers of a crash, not a writer at work.
STALE_TMP_SECONDS = 24 * 3600


class _Usage:
    """Images and directories used by containers (from their config.json)."""

    def __init__(self, store):
        self.images = {}   # image id -> a container id using it
        self.dirs = set()  # real paths of lower dirs in use
        for top in store.container_dirs:
            try:
                names = os.listdir(top)
            except FileNotFoundError:
                continue
            for cid in names:
                try:
                    with open(os.path.join(top, cid, "config.json"), "rb") as f:
                        cfg = json.load(f)
                except (OSError, ValueError):
                    continue  # not a container dir, or removed meanwhile
                if not isinstance(cfg, dict):
                    continue
                if isinstance(cfg.get("Image"), str):
                    self.images.setdefault(cfg["Image"], cfg.get("Id") or cid)
                lowers = (cfg.get("Runtime") or {}).get("Lowers") or []
                self.dirs.update(os.path.normpath(d) for d in lowers if isinstance(d, str))


def _familiar(ref):
    return reference.parse(ref).familiar


def remove(store, ref, force=False):
    """Untag or delete an image, like ``docker rmi``.

    A reference (``app:1``) of an image that has other references is only
    untagged. Otherwise the image goes, with its layers and blobs unless
    another image or a container still uses them.

    Args:
        store: the :class:`~pycontainer.image.store.ImageStore`.
        ref: anything :meth:`ImageStore.get` accepts.
        force: delete even when a container uses the image (its layers stay
            until no container uses them) or, given an ID, when the image
            has several references (all are removed).

    Returns:
        docker's list of ``{"Untagged": ref}`` and ``{"Deleted": digest}``.

    Raises:
        ImageNotFound: no such image.
        Conflict: a container uses it, or an ID names an image with several
            references; and ``force`` is false.

    >>> remove(store, "app:1")
    [{'Untagged': 'app:1'}, {'Deleted': 'sha256:...'}]
    """
    trash = []
    with store.index() as index:
        manifest, key = index.resolve(ref)
        image_id = index.image_id(manifest)
        refs = index.references_of(manifest)
        usage = _Usage(store)
        user = usage.images.get(image_id)
        out = []
        if key is not None:
            if user and not force and len(refs) == 1:
                raise Conflict(f'conflict: unable to remove repository reference "{ref}" '
                               f"(must force) - container {user[:12]} is using its "
                               f"referenced image {image_id[7:19]}")
            index.drop_reference(key)
            out.append({"Untagged": _familiar(key)})
            if len(refs) > 1:
                return out
        else:
            if len(refs) > 1 and not force:
                raise Conflict(f"conflict: unable to delete {image_id[7:19]} (must be "
                               "forced) - image is referenced in multiple repositories")
            if user and not force:
                raise Conflict(f"conflict: unable to delete {image_id[7:19]} (must be "
                               f"forced) - image is being used by container {user[:12]}")
        out += [{"Untagged": _familiar(r)} for r in index.drop_image(image_id)]
        out.append({"Deleted": image_id})
        held = _referenced(store, index)  # before any write: a broken image stops us here
        index.commit()                    # the image is gone before its layers go
        out += _collect(store, held, index, usage, trash)
    _empty_trash(trash)
    return out


def prune(store, dangling_only=True, select=None):
    """Delete unused images, then unreferenced layers and blobs, like
    ``docker image prune``.

    Args:
        store: the :class:`~pycontainer.image.store.ImageStore`.
        dangling_only: False prunes tagged images as well (all images no
            container uses).
        select: ``select(config) -> bool`` narrows the images pruned (the
            engine builds it from docker's filters); None takes them all.

    Returns:
        ``{"ImagesDeleted": [{"Untagged": ..} | {"Deleted": ..}], "SpaceReclaimed": bytes}``.

    >>> prune(store)["SpaceReclaimed"]
    1234
    """
    trash = []
    with store.index() as index:
        usage = _Usage(store)
        out = []
        for image_id, manifest in sorted(index.images().items()):
            if (index.references_of(manifest) and dangling_only) or image_id in usage.images:
                continue
            if select is not None:
                try:
                    config = store._read_json_blob(image_id)
                except ImageError:
                    config = {}
                if not select(config):
                    continue
            out += [{"Untagged": _familiar(r)} for r in index.drop_image(image_id)]
            out.append({"Deleted": image_id})
        held = _referenced(store, index)
        index.commit()
        out += _collect(store, held, index, usage, trash)
        trash += _stale_tmp(store)
    reclaimed = _empty_trash(trash)
    return {"ImagesDeleted": out, "SpaceReclaimed": reclaimed}


def _referenced(store, index):
    """(blob hex digests, layer hex digests) that the images of ``index`` hold."""
    blobs, layers = set(), set()
    for image_id, manifest in index.images().items():
        blobs.update((image_id[7:], manifest[7:]))
        try:
            m = store._read_json_blob(manifest)
            config = store._read_json_blob(m["config"]["digest"])
            blobs.update(d["digest"][7:] for d in m["layers"])
            layers.update(d[7:] for d in config["rootfs"]["diff_ids"])
        except (ImageError, KeyError, TypeError) as e:
            # Deleting on a partial view could break an image: stop instead.
            raise ImageError(f"cannot count the references of image {image_id} ({e}); "
                             "nothing was removed: remove that image first") from None
    blobs.update(_registry_held(store))
    return blobs, layers


def _registry_held(store):
    """Hex digests of the blobs and manifests the store's registry references; its
    files change only under the lock we hold."""
    held = set()
    for top, _, files in os.walk(os.path.join(store.root, "registry", "repos")):
        if "_repo.json" not in files:
            continue
        try:
            with open(os.path.join(top, "_repo.json"), "rb") as f:
                rec = json.load(f)
            held.update(rec["blobs"])
            held.update(d[7:] for d in rec["manifests"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ImageError(f"cannot read the registry's repository {top} ({e}); "
                             "nothing was removed") from None
    return held


class _Trash:
    """A dir under tmp/ that removed things are renamed into, deleted later."""

    def __init__(self, store, trash):
        self.store = store
        self.trash = trash
        self.holder = None

    def take(self, path, name):
        if self.holder is None:
            self.holder = tempfile.mkdtemp(prefix="trash-", dir=self.store.tmp_dir)
            self.trash.append(self.holder)
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, os.path.join(self.holder, name))


def _collect(store, held, index, usage, trash):
    """Move unreferenced layers, init layers and blobs away; the lock is held."""
    blobs, layers = held
    bin_ = _Trash(store, trash)
    out = []
    layers_dir = os.path.join(store.root, "layers")
    for name in sorted(os.listdir(layers_dir)):
        path = os.path.join(layers_dir, name)
        if name in layers or os.path.join(path, "diff") in usage.dirs:
            continue
        if len(name) == 64 and is_hex(name):
            out.append({"Deleted": "sha256:" + name})
        bin_.take(path, "layer-" + name)
    init_dir = os.path.join(store.root, "init")
    images = {i[7:] for i in index.images()}
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(init_dir)):
            path = os.path.join(init_dir, name)
            if name not in images and path not in usage.dirs:
                bin_.take(path, "init-" + name)
    blob_dir = os.path.join(store.root, "blobs", "sha256")
    for name in os.listdir(blob_dir):
        if name not in blobs and name not in layers:
            bin_.take(os.path.join(blob_dir, name), "blob-" + name)
            store.forget_blob("sha256:" + name)
    return out


def _stale_tmp(store):
    """Trash that a crash left, and staging files older than a day."""
    out = []
    limit = time.time() - STALE_TMP_SECONDS
    with os.scandir(store.tmp_dir) as it:
        for entry in it:
            try:
                old = entry.stat(follow_symlinks=False).st_mtime < limit
            except FileNotFoundError:
                continue
            if entry.name.startswith("trash-") or old:
                out.append(entry.path)
    return out


def _empty_trash(trash):
    """Delete trash dirs and files; return the bytes they held."""
    total = 0
    for path in trash:
        total += fstree.size(path)
        fstree.remove(path)
    return total
