"""The image index: ``repositories.json``, the one place that names images.

It maps image IDs (config digests) and fully normalised references to
manifest digests::

    {"version": 1,
     "images": {"sha256:<config hex>": "sha256:<manifest hex>"},
     "references": {"docker.io/library/busybox:latest": "sha256:<manifest hex>"},
     "digests": {"docker.io/library/busybox@sha256:<manifest hex>": "sha256:<manifest hex>"},
     "parents": {"sha256:<config hex>": "sha256:<config hex>"}}

``digests`` are docker's ``RepoDigests``: the repositories a manifest was
pulled from or pushed to. They name an image but do not hold it: removing
its last tag removes it, as ``docker rmi`` does. ``parents`` are docker's
``Parent``: the local image a commit was made from (store metadata, in no
image config); an image that goes takes its children's entries with it.

Every reader and writer goes through :class:`Index`; nothing else in the
store touches the file or its keys. Readers take an unlocked snapshot
(``store.snapshot()``): the file is replaced by rename, so they see the old
or the new one, never a mix. Writers use ``store.index()``, which holds the
store's writers' lock, reads the file, yields an :class:`Index`, and writes
it back atomically (temporary file, fsync, rename, fsync of the directory)
when the block ends without an exception; an exception leaves the file as
it was. Inside the block :meth:`Index.commit` writes it at once, for callers
that must order the index update before other work under the same lock
(removal: the image is gone before its layers are).

A registry pull, say, is one block::

    with store.index() as index:
        # layers, config and manifest blobs, then index.add_image()
        image_id, manifest = store.publish(index, config_bytes, staged_layers)
        index.set_reference(ref, manifest)   # moves the tag in the same write
"""

import bisect
import functools
import json
import os
import tempfile
from contextlib import contextmanager

from pycontainer.errors import ImageError, ImageNotFound, InvalidArgument, NotFound
from pycontainer.image import reference
from pycontainer.image.record import fsync_dir, is_hex

VERSION = 1
MIN_PREFIX = 4   # hex digits an ID prefix needs


def read(path):
    """The :class:`Index` stored at ``path`` (empty when there is none)."""
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        return Index({}, {})
    except ValueError as e:
        raise ImageError(f"{path} is corrupt: {e}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ImageError(f"{path} has an unknown format")
    images, refs = data.get("images", {}), data.get("references", {})
    digests, parents = data.get("digests", {}), data.get("parents", {})
    if not all(isinstance(x, dict) for x in (images, refs, digests, parents)):
        raise ImageError(f"{path} has an unknown format")
    return Index(images, refs, digests, parents)


def write(path, tmp_dir, index):
    """Replace the file at ``path`` by ``index``, atomically and durably."""
    data = {"version": VERSION, "images": index._images, "references": index._refs}
    if index._digests:
        data["digests"] = index._digests
    if index._parents:
        data["parents"] = index._parents
    fd, tmp = tempfile.mkstemp(prefix="repositories-", dir=tmp_dir)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(os.path.dirname(path))


@contextmanager
def writable(path, tmp_dir):
    """Yield the :class:`Index` at ``path``, writable; write it back when the
    block ends without an exception. The caller holds the writers' lock."""
    index = read(path)
    index._saver = functools.partial(write, path, tmp_dir)
    try:
        yield index
        index.commit()
    finally:
        index._saver = None   # the lock goes with the block: no write after it


class Index:
    """Image IDs and references -> manifest digests, as read at one moment.

    Changes stay in memory until the ``store.index()`` block that yielded it
    ends (or :meth:`commit`); a snapshot from ``store.snapshot()`` refuses
    them.
    """

    def __init__(self, images, refs, digests=None, parents=None):
        self._images = dict(images)   # image id -> manifest digest
        self._refs = dict(refs)       # normalised reference -> manifest digest
        self._digests = dict(digests or {})   # name@manifest digest -> manifest digest
        self._parents = dict(parents or {})   # image id -> the image id it was made from
        self._by_manifest = None      # manifest digest -> [references], built on demand
        self._saver = None            # set by store.index(): writes the file
        self.dirty = False

    # -- reading ---------------------------------------------------------

    def images(self):
        """``{image id: manifest digest}`` (a copy)."""
        return dict(self._images)

    def references(self):
        """``{normalised reference: manifest digest}`` (a copy)."""
        return dict(self._refs)

    def parent_of(self, image_id):
        """The ID of the image ``image_id`` was committed from ("" for none)."""
        return self._parents.get(image_id, "")

    def image_id(self, manifest):
        """The ID of the image whose manifest is ``manifest``."""
        for image_id, m in self._images.items():
            if m == manifest:
                return image_id
        raise ImageError(f"manifest {manifest} is not an image of the store")

    def references_of(self, manifest):
        """The sorted normalised references that point at ``manifest``."""
        if self._by_manifest is None:
            by = {}
            for ref, m in sorted(self._refs.items()):
                by.setdefault(m, []).append(ref)
            self._by_manifest = by
        return list(self._by_manifest.get(manifest, ()))

    def digests_of(self, manifest):
        """The sorted ``name@digest`` references (RepoDigests) of ``manifest``."""
        return sorted(d for d, m in self._digests.items() if m == manifest)

    def resolve(self, ref):
        """``(manifest digest, reference key)`` of what ``ref`` names.

        ``ref`` is a reference (normalised first), ``name@<manifest digest>``,
        a full ID, or a unique ID prefix of at least 4 hex digits with or
        without ``sha256:``. References are tried before ID prefixes. The
        key is the normalised reference when ``ref`` is a tag, else None.

        Raises:
            ImageNotFound: nothing matches.
            NotFound: an ID prefix matches several images.
            InvalidReference: ``ref`` is neither a reference nor an ID.
        """
        if not isinstance(ref, str) or not ref:
            raise InvalidArgument(f"image reference must be a non-empty string, not {ref!r}")
        if ref.startswith("sha256:"):
            prefix = ref[len("sha256:"):]
            if len(prefix) < MIN_PREFIX or len(prefix) > 64 or not is_hex(prefix):
                raise ImageNotFound(f"No such image: {ref}")
            return self._search_id(prefix, ref), None
        if len(ref) == 64 and is_hex(ref):
            return self._search_id(ref, ref), None
        parsed = reference.parse(ref)
        if parsed.digest is not None:
            # name@digest: the digest is the manifest's.
            if parsed.digest in self._images.values():
                return parsed.digest, None
        elif str(parsed) in self._refs:
            return self._refs[str(parsed)], str(parsed)
        if len(ref) >= MIN_PREFIX and is_hex(ref):
            return self._search_id(ref, ref), None
        raise ImageNotFound(f"No such image: {ref}")

    def _search_id(self, prefix, ref):
        matches = [i for i in self._images if i[len("sha256:"):].startswith(prefix)]
        if not matches:
            raise ImageNotFound(f"No such image: {ref}")
        if len(matches) > 1:
            raise NotFound(f"image ID prefix {ref!r} is ambiguous: it matches "
                           f"{len(matches)} images")
        return self._images[matches[0]]

    # -- changing (inside store.index()) ---------------------------------

    def add_image(self, image_id, manifest):
        """Record the image ``image_id`` (its config digest) with its manifest;
        its blobs and layers must already be published (``store.publish``)."""
        self._change()
        self._images[image_id] = manifest

    def set_reference(self, ref, manifest):
        """Point ``ref`` (a Reference or its normalised string) at an image
        of the index, moving it from any other image."""
        if manifest not in self._images.values():
            raise ImageError(f"manifest {manifest} is not an image of the store")
        self._change()
        ref = str(ref)
        if ref in self._refs:
            self._unlink(ref)
        self._refs[ref] = manifest
        if self._by_manifest is not None:
            bisect.insort(self._by_manifest.setdefault(manifest, []), ref)

    def add_digest(self, name, manifest):
        """Record that repository ``name`` (normalised, no tag) serves
        ``manifest`` (a RepoDigest)."""
        if manifest not in self._images.values():
            raise ImageError(f"manifest {manifest} is not an image of the store")
        self._change()
        self._digests[f"{name}@{manifest}"] = manifest

    def set_parent(self, image_id, parent_id):
        """Record that ``image_id`` was made from the local image ``parent_id``."""
        if image_id not in self._images or parent_id not in self._images:
            raise ImageError(f"{image_id} or {parent_id} is not an image of the store")
        if image_id != parent_id:
            self._change()
            self._parents[image_id] = parent_id

    def drop_reference(self, ref):
        """Remove the reference ``ref``; the image stays."""
        ref = str(ref)
        if ref not in self._refs:
            raise ImageNotFound(f"No such image: {ref}")
        self._change()
        self._unlink(ref)
        del self._refs[ref]

    def drop_image(self, image_id):
        """Remove the image ``image_id`` and the references to it.

        Returns:
            The references removed, sorted.
        """
        self._change()
        manifest = self._images.pop(image_id)
        self._parents.pop(image_id, None)
        for child in [c for c, p in self._parents.items() if p == image_id]:
            del self._parents[child]
        if manifest in self._images.values():
            return []   # another ID names the same manifest: its references stay
        for key in [d for d, m in self._digests.items() if m == manifest]:
            del self._digests[key]
        dropped = self.references_of(manifest)
        for ref in dropped:
            del self._refs[ref]
        self._by_manifest.pop(manifest, None)
        return dropped

    def _unlink(self, ref):
        if self._by_manifest is not None:
            refs = self._by_manifest[self._refs[ref]]
            refs.remove(ref)

    @property
    def writable(self):
        """True inside the ``store.index()`` block that yielded it."""
        return self._saver is not None

    def commit(self):
        """Write the changes now (the writers' lock is still held)."""
        if self._saver is None:
            raise TypeError("a snapshot of the image index cannot be written: "
                            "change it inside store.index()")
        if self.dirty:
            self._saver(self)
            self.dirty = False

    def _change(self):
        if self._saver is None:
            raise TypeError("a snapshot of the image index is read-only: "
                            "change it inside store.index()")
        self.dirty = True
