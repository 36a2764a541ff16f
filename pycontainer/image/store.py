"""A content-addressed image store on the local disk.

Layout under the store root (see docs/image-store.md)::

    blobs/sha256/<hex>        layer tars, OCI image configs and manifests
    layers/<diffid hex>/diff  each layer unpacked once, shared by images
    repositories.json         image IDs and references -> manifest digests (index.py)
    images.lock               flock(2) taken by writers of repositories.json
    tmp/                      files being written, renamed into place

Blobs are written to a temporary file, hashed, fsynced and renamed, so a
blob's name always matches its content. Layers are unpacked into ``tmp/``
first. Everything becomes visible in one step under the writers' lock: the
layer directories and blobs are renamed into place, then
``repositories.json`` is replaced atomically (temporary file + rename). So
concurrent writers never lose each other's updates, readers never see a
half-written file, and removal (which holds the same lock) never deletes a
layer that a writer is about to reference.
"""

import contextlib
import copy
import datetime
import errno
import fcntl
import hashlib
import io
import json
import os
import tempfile
import threading
from collections import OrderedDict
from contextlib import contextmanager

from pycontainer import fstree
from pycontainer.errors import Conflict, ImageError, InvalidArgument, InvalidReference
from pycontainer.image import index as _index
from pycontainer.image import reference
from pycontainer.image.changes import apply_changes  # noqa: F401 (re-exported)
from pycontainer.image.extract import extract_layer, layer_stream
from pycontainer.image.index import Index
from pycontainer.image.limits import Budget, Limits, disk_op
from pycontainer.image.record import (ImageRecord, StagedLayer, fsync_dir, now, rfc3339,
                                      sha256_hex)

DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
JSON_CACHE_SIZE = 512   # manifests and configs kept parsed (two per image)
ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
        "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
        "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
# Order of the keys of the "config" sub-dict, as docker writes them.
CONFIG_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes",
               "WorkingDir", "Labels", "StopSignal")


class _Copy:
    """Hashes the decompressed layer and copies it to its blob file."""

    def __init__(self, out, budget):
        self.out = out
        self.budget = budget
        self.hash = hashlib.sha256()
        self.size = 0

    def __call__(self, data):
        self.budget.reserve(len(data), "the layer's blob")
        self.hash.update(data)
        if self.out is not None:
            self.out.write(data)
        self.size += len(data)


class ImageStore:
    """Images stored under ``root``.

    Args:
        root: directory of the store; created (mode 0700) when missing. It
            must not be readable by other users: layers keep setuid files.
        max_layer_size: cap in bytes on the file contents of one layer
            (default 16 GiB).
        max_image_size: cap in bytes on what one import, load or commit
            unpacks, all its new layers together (default 32 GiB).
        max_layer_entries: cap on the entries of one layer (default 1,000,000).
        min_free_space: bytes the store's filesystem keeps free; a layer
            that would use them is refused (default 1 GiB, or 5 % of the
            filesystem when less; 0: no check). See ``image/limits.py``.
        container_dirs: directories holding ``<id>/config.json`` of the
            containers that use images of this store, consulted before
            anything is removed; ``<root>/containers`` by default.

    >>> store = ImageStore("/var/lib/pycontainer")
    >>> store.get("busybox").tags
    ['busybox:latest']
    """

    def __init__(self, root, *, max_layer_size=None, max_image_size=None,
                 max_layer_entries=None, min_free_space=None, container_dirs=None):
        self.root = os.path.abspath(os.fspath(root))
        self.limits = Limits(max_layer_size, max_image_size, max_layer_entries, min_free_space)
        if not os.path.isdir(self.root):
            os.makedirs(self.root, exist_ok=True)
            os.chmod(self.root, 0o700)
        for sub in ("blobs/sha256", "layers", "tmp"):
            os.makedirs(os.path.join(self.root, sub), mode=0o700, exist_ok=True)
        if container_dirs is None:
            container_dirs = [os.path.join(self.root, "containers")]
        self.container_dirs = list(container_dirs)
        self._json_cache = LRU(JSON_CACHE_SIZE)

    # -- paths -----------------------------------------------------------

    @property
    def index_path(self):
        """Path of ``repositories.json``; its mtime changes on every update."""
        return os.path.join(self.root, "repositories.json")

    @property
    def tmp_dir(self):
        """Where files are written before they are renamed into place."""
        return os.path.join(self.root, "tmp")

    def blob_path(self, digest):
        """Path of the blob ``digest`` (it may not exist)."""
        return os.path.join(self.root, "blobs", "sha256", sha256_hex(digest))

    def layer_path(self, diff_id):
        """Path of the unpacked layer ``diff_id`` (it may not exist)."""
        return os.path.join(self.root, "layers", sha256_hex(diff_id), "diff")

    def has_layer(self, diff_id):
        """True when layer ``diff_id`` is unpacked and a blob of it is stored."""
        return os.path.isdir(self.layer_path(diff_id)) and self.layer_blob(diff_id) is not None

    def layer_blob(self, diff_id):
        """The descriptor of the stored blob of layer ``diff_id``: its
        uncompressed tar, else the compressed blob it was pulled as
        (``layers/<hex>/blob.json``); None when neither is stored."""
        tar = self.blob_path(diff_id)
        with contextlib.suppress(FileNotFoundError):
            return {"mediaType": MEDIA_LAYER, "digest": diff_id, "size": os.stat(tar).st_size}
        try:
            with open(os.path.join(os.path.dirname(self.layer_path(diff_id)), "blob.json"),
                      "rb") as f:
                desc = json.load(f)
            if os.path.exists(self.blob_path(desc["digest"])):
                return desc
        except (OSError, ValueError, KeyError, TypeError, ImageError):
            pass
        return None

    # -- blobs -----------------------------------------------------------

    def _tmpfile(self):
        fd, path = tempfile.mkstemp(prefix="blob-", dir=self.tmp_dir)
        return os.fdopen(fd, "wb"), path

    def _commit_blob(self, tmp_path, digest):
        """Rename a written, fsynced temp file to the blob ``digest``."""
        dest = self.blob_path(digest)
        if os.path.exists(dest):
            os.unlink(tmp_path)
            return
        os.rename(tmp_path, dest)
        fsync_dir(os.path.dirname(dest))

    def _write_blob(self, data, expected=None):
        """Store ``data`` as a blob and return its digest.

        Raises:
            ImageError: the content does not match ``expected``.
        """
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if expected is not None and expected != digest:
            raise ImageError(f"blob content does not match its digest {expected} "
                             f"(got {digest})")
        if os.path.exists(self.blob_path(digest)):
            return digest
        f, tmp = self._tmpfile()
        try:
            with f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._commit_blob(tmp, digest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return digest

    def _write_json_blob(self, obj):
        data = json.dumps(obj, separators=(",", ":")).encode()
        return self._write_blob(data), len(data)

    def _read_json_blob(self, digest):
        obj = self._json_cache.get(digest)
        if obj is not None:
            return obj
        try:
            with open(self.blob_path(digest), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ImageError(f"blob {digest} is missing from the store") from None
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise ImageError(f"blob {digest} is corrupt")
        try:
            obj = json.loads(data)
        except ValueError as e:
            raise ImageError(f"blob {digest} is not valid JSON: {e}") from None
        self._json_cache.put(digest, obj)
        return obj

    def forget_blob(self, digest):
        """Drop ``digest`` from the parsed-JSON cache (its blob is being removed)."""
        self._json_cache.pop(digest)

    # -- layers ----------------------------------------------------------

    def budget(self):
        """A fresh :class:`~pycontainer.image.limits.Budget` for one import,
        load or commit: what it may still unpack and write."""
        return Budget(self.limits, self.tmp_dir)

    def stage_layer(self, fileobj, diff_id=None, budget=None, keep_tar=True) -> StagedLayer:
        """Decompress, hash and unpack a layer under ``tmp/``, publishing nothing.

        One pass over the stream: the decompressed bytes are hashed, copied
        to ``layer.tar`` and unpacked into ``diff/`` at the same time.

        Args:
            fileobj: binary file object of the layer tar, plain or compressed.
            diff_id: the expected digest of the uncompressed tar, if known.
            budget: shared by the layers of one image (from :meth:`budget`);
                a fresh one by default.
            keep_tar: False keeps no ``layer.tar``: the caller keeps the
                compressed blob instead (:meth:`attach_blob`).

        Returns:
            A :class:`StagedLayer`; hand it to :meth:`add_image` and then
            :meth:`discard`.

        Raises:
            ImageError: corrupt, hostile, not ``diff_id``, or over a cap
                (ImageTooLarge, naming it).
            StorageError: a disk error (errno kept), or the layer would
                leave less than ``min_free_space`` free (ENOSPC).

        >>> staged = store.stage_layer(open("rootfs.tar.gz", "rb"))
        >>> staged.diff_id
        'sha256:...'
        """
        if budget is None:
            budget = self.budget()
        budget.start_layer()
        stage = disk_op(tempfile.mkdtemp, "stage a layer", prefix="layer-", dir=self.tmp_dir)
        try:
            copy = disk_op(self._unpack, "stage a layer", fileobj, stage, budget, keep_tar)
            got = "sha256:" + copy.hash.hexdigest()
            if diff_id is not None and got != diff_id:
                raise ImageError(f"layer content does not match its diff_id {diff_id} "
                                 f"(got {got})")
            return StagedLayer(got, copy.size, stage)
        except BaseException:
            fstree.remove(stage)
            raise

    def _unpack(self, fileobj, stage, budget, keep_tar=True):
        out = open(os.path.join(stage, "layer.tar"), "wb") if keep_tar else None
        with out or contextlib.nullcontext():
            copy = _Copy(out, budget)
            stream = layer_stream(fileobj, self.limits, sink=copy)
            extract_layer(stream, os.path.join(stage, "diff"), budget=budget)
            stream.drain()
            if out is not None:
                out.flush()
                os.fsync(out.fileno())
        return copy

    def attach_blob(self, staged, path, descriptor):
        """Keep the file at ``path`` (fsynced, its digest and size checked by
        the caller against ``descriptor``) as the compressed blob of
        ``staged``, a layer staged with ``keep_tar=False``: it is hard-linked
        into the staging dir and renamed into ``blobs/`` when the layer is
        published (``path`` stays for the caller to remove)."""
        desc = {k: descriptor[k] for k in ("mediaType", "digest", "size")}
        os.link(path, os.path.join(staged.path, "blob"))
        with open(os.path.join(staged.path, "blob.json"), "w") as f:
            json.dump(desc, f)
        staged.blob = desc

    def discard(self, staged):
        """Remove what is left of staged layers (those not published)."""
        for layer in staged:
            if isinstance(layer, StagedLayer):
                fstree.remove(layer.path)

    def _publish_layer(self, layer):
        """Rename a staged layer into place; the caller holds the lock."""
        if layer.blob is not None:
            blob, tar = self.blob_path(layer.blob["digest"]), os.path.join(layer.path, "blob")
        else:
            blob, tar = self.blob_path(layer.diff_id), os.path.join(layer.path, "layer.tar")
        if not os.path.exists(blob):
            os.rename(tar, blob)
        holder = os.path.dirname(self.layer_path(layer.diff_id))
        for _ in range(2):
            if os.path.isdir(os.path.join(holder, "diff")):
                return
            if os.path.exists(tar):
                os.unlink(tar)
            try:
                os.rename(layer.path, holder)  # replaces a missing or empty holder
                return
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            # A holder without diff/: left by a crash. Move it aside and retry.
            os.rename(holder, tempfile.mkdtemp(prefix="trash-", dir=self.tmp_dir) + "/x")
        raise ImageError(f"cannot publish layer {layer.diff_id}")

    # -- index (image/index.py) -------------------------------------------

    @contextmanager
    def lock(self):
        """Hold the writers' lock (``flock`` on ``images.lock``)."""
        fd = os.open(os.path.join(self.root, "images.lock"),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def snapshot(self) -> Index:
        """The index as it is now, read-only and without the lock."""
        return _index.read(self.index_path)

    @contextmanager
    def index(self):
        """Yield the :class:`~pycontainer.image.index.Index` under the
        writers' lock; its changes are written atomically when the block
        ends without an exception (see image/index.py).

        >>> with store.index() as index:
        ...     index.set_reference(parse_reference("app:2"), rec.manifest_digest)
        """
        with self.lock(), _index.writable(self.index_path, self.tmp_dir) as index:
            yield index

    # -- lookups ---------------------------------------------------------

    def record(self, manifest_digest, index) -> ImageRecord:
        """The :class:`ImageRecord` of the image whose manifest is
        ``manifest_digest``, its references taken from ``index``."""
        manifest = self._read_json_blob(manifest_digest)
        config_digest = manifest["config"]["digest"]
        config = self._read_json_blob(config_digest)
        refs = index.references_of(manifest_digest)
        return ImageRecord(
            id=config_digest,
            manifest_digest=manifest_digest,
            config=copy.deepcopy(config),  # callers may change it; the cache must not
            tags=[reference.parse(r).familiar for r in refs],
            repo_digests=index.digests_of(manifest_digest),
            layer_dirs=[self.layer_path(d) for d in config["rootfs"]["diff_ids"]],
            references=refs,
            layer_sizes=[d.get("size", 0) for d in manifest["layers"]],
            parent=index.parent_of(config_digest),
        )

    def lookup(self, ref):
        """``(record, reference key)``: :meth:`get`, and the normalised
        reference when ``ref`` is a tag (None for an ID or a digest)."""
        index = self.snapshot()
        manifest, key = index.resolve(ref)
        return self.record(manifest, index), key

    def get(self, ref) -> ImageRecord:
        """Find an image.

        Args:
            ref: a reference (``busybox``, ``busybox:latest``, ``name@sha256:..``
                with the manifest digest), a full ID ``sha256:<hex>``, or a
                unique prefix of at least 4 hex digits of an ID, with or
                without ``sha256:``. References are tried before ID prefixes.

        Returns:
            The :class:`ImageRecord`.

        Raises:
            ImageNotFound: nothing matches.
            NotFound: an ID prefix matches several images.
            InvalidReference: ``ref`` is neither a reference nor an ID.

        >>> store.get("busybox").id
        'sha256:...'
        """
        return self.lookup(ref)[0]

    def list(self):
        """All images, newest first.

        Returns:
            A list of :class:`ImageRecord`.

        >>> [r.tags for r in store.list()]
        [['busybox:latest']]
        """
        index = self.snapshot()
        records = [self.record(m, index) for m in sorted(set(index.images().values()))]
        records.sort(key=lambda r: (r.created, r.id), reverse=True)
        return records

    def tag(self, image_id, repository, tag=None) -> ImageRecord:
        """Point a reference at an image, moving it from any other image.

        Args:
            image_id: anything :meth:`get` accepts.
            repository: repository name, e.g. ``busybox`` or
                ``localhost:5000/x``; may carry the tag when ``tag`` is None.
            tag: the tag; ``latest`` when neither it nor ``repository`` has one.

        Returns:
            The updated :class:`ImageRecord`.

        Raises:
            ImageNotFound: no such image.
            InvalidReference: the resulting reference is malformed.

        >>> store.tag("busybox", "mybox", "v1").tags
        ['busybox:latest', 'mybox:v1']
        """
        ref = target_ref(repository, tag)
        with self.index() as index:
            manifest, _ = index.resolve(image_id)
            index.set_reference(ref, manifest)
        return self.record(manifest, index)

    # -- adding images ---------------------------------------------------

    def add_image(self, config, layers, references=(), parent=None) -> ImageRecord:
        """Publish an image whose layers are staged or already stored.

        Under the writers' lock: staged layers are renamed into place, the
        config and a manifest are written, then ``repositories.json``.

        Args:
            config: the image config, as a dict or as the exact bytes to
                store (the image ID is their digest, so loaded images keep
                their ID).
            layers: per ``rootfs.diff_ids`` entry, a :class:`StagedLayer` or
                the diff_id of a layer already in the store.
            references: :class:`~pycontainer.image.reference.Reference` objects
                to point at the image.
            parent: the ID of the local image it is made from (a commit's),
                when that image is still stored.

        Returns:
            The new :class:`ImageRecord`.

        Raises:
            ImageError: the layers do not match the config's diff_ids.
            Conflict: a stored layer was removed meanwhile; try again.

        >>> staged = store.stage_layer(open("rootfs.tar", "rb"))
        >>> rec = store.add_image(config, [staged], [parse_reference("x:1")])
        >>> store.discard([staged])
        """
        data = config if isinstance(config, bytes) else json.dumps(
            config, separators=(",", ":")).encode()
        with self.index() as index:
            image_id, manifest_digest = self.publish(index, data, layers)
            for ref in references:
                index.set_reference(ref, manifest_digest)
            if parent and parent in index.images():
                index.set_parent(image_id, parent)
        return self.record(manifest_digest, index)

    def publish(self, index, config, layers, manifest=None):
        """Publish an image's layers, config blob and manifest, and add it to
        ``index``, the writable index of a :meth:`index` block (whose lock
        keeps removal away until the index is written).

        Args:
            index: from ``with store.index() as index``.
            config: the exact bytes of the image config.
            layers: per ``rootfs.diff_ids`` entry, a :class:`StagedLayer` or
                the diff_id of a layer already in the store.
            manifest: the exact bytes of the manifest to keep (a pulled
                image's, so its digest stays the registry's); its config and
                layer descriptors must name ``config`` and the layers' blobs.
                By default an OCI manifest is made.

        Returns:
            ``(image id, manifest digest)``.

        Raises:
            ImageError: the layers do not match the config's diff_ids.
            Conflict: a stored layer was removed meanwhile; try again.

        >>> with store.index() as index:
        ...     image_id, manifest = store.publish(index, config_bytes, [staged])
        ...     index.set_reference(parse_reference("x:1"), manifest)
        """
        if not index.writable:
            raise TypeError("publish() needs the index of a store.index() block")
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        ids = [x.diff_id if isinstance(x, StagedLayer) else x for x in layers]
        if ids != diff_ids:
            raise ImageError("the layers do not match the diff_ids of the image config")
        wanted = None
        if manifest is not None:   # checked before anything is renamed into place
            wanted = _manifest_layers(manifest, len(layers))
            staged = [(x.blob or {}).get("digest") if isinstance(x, StagedLayer) else w["digest"]
                      for x, w in zip(layers, wanted)]
            if (staged != [w["digest"] for w in wanted] or json.loads(manifest)["config"].get(
                    "digest") != "sha256:" + hashlib.sha256(config).hexdigest()):
                raise ImageError("the manifest does not name the image's config and "
                                 "layer blobs")
        descs = []
        for i, layer in enumerate(layers):
            if isinstance(layer, StagedLayer):
                self._publish_layer(layer)
                desc = layer.blob or {"mediaType": MEDIA_LAYER, "digest": layer.diff_id,
                                      "size": layer.size}
            elif wanted is not None:   # the pulled manifest's blob of a stored layer
                desc = wanted[i] if os.path.exists(self.blob_path(wanted[i]["digest"])) else None
            else:
                desc = self.layer_blob(layer)
            if desc is None or not os.path.isdir(self.layer_path(ids[i])):
                raise Conflict(f"layer {ids[i]} was removed while the image was "
                               "being added; try again")
            descs.append(desc)
        fsync_dir(os.path.join(self.root, "layers"))
        config_digest = self._write_blob(config)
        if manifest is not None:
            manifest_digest = self._write_blob(manifest)
            index.add_image(config_digest, manifest_digest)
            return config_digest, manifest_digest
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest,
                       "size": len(config)},
            "layers": descs,
        }
        manifest_digest, _ = self._write_json_blob(manifest)
        index.add_image(config_digest, manifest_digest)
        return config_digest, manifest_digest

    def import_image(self, src, repository=None, tag=None, changes=None, *,
                     message=None, created=None) -> ImageRecord:
        """Create a one-layer image from a root filesystem tar, like ``docker import``.

        Args:
            src: path of a tar file, a binary file object, or the bytes of a
                tar; plain or compressed (gzip, bzip2, xz, zstd).
            repository: optional repository to tag the image with (may carry
                the tag).
            tag: optional tag, ``latest`` by default.
            changes: Dockerfile instructions applied to the config: a list
                of strings (or one string, one instruction a line) among
                ``CMD``, ``ENTRYPOINT``, ``ENV``, ``WORKDIR``, ``USER``,
                ``LABEL``, ``EXPOSE``, ``VOLUME`` and ``STOPSIGNAL``.
            message: history comment; ``Imported from <src>`` by default.
            created: creation time (RFC 3339 string or aware datetime); now
                by default. A fixed value makes the image ID reproducible.

        Returns:
            The new :class:`ImageRecord`.

        Raises:
            ImageError: the tar is malformed or hostile; the store is unchanged.
            InvalidArgument: bad ``changes``, ``repository`` or ``tag``.

        >>> store.import_image("rootfs.tar.gz", "app", "1", changes=['CMD ["sh"]']).tags
        ['app:1']
        """
        ref = target_ref(repository, tag) if repository or tag else None
        image_config = {"Env": [DEFAULT_PATH_ENV]}
        apply_changes(image_config, changes)
        if created is None:
            created = now()
        elif isinstance(created, datetime.datetime):
            created = rfc3339(created)
        with _open_src(src) as (f, desc):
            staged = self.stage_layer(f)
        try:
            config = {
                "architecture": ARCH.get(os.uname().machine, os.uname().machine),
                "os": "linux",
                "created": created,
                "config": {k: image_config[k] for k in CONFIG_KEYS if k in image_config},
                "rootfs": {"type": "layers", "diff_ids": [staged.diff_id]},
                "history": [{"created": created,
                             "comment": message if message is not None
                             else f"Imported from {desc}"}],
            }
            return self.add_image(config, [staged], [ref] if ref else [])
        finally:
            self.discard([staged])

    # -- removal, archives, commit (in their own modules) -------------------

    def remove(self, ref, force=False):
        """Untag or delete an image, like ``docker rmi``. See :func:`removal.remove`.

        >>> store.remove("app:1")
        [{'Untagged': 'app:1'}, {'Deleted': 'sha256:...'}]
        """
        from pycontainer.image import removal
        return removal.remove(self, ref, force=force)

    def prune(self, dangling_only=True, select=None):
        """Delete unused untagged images, layers and blobs. See :func:`removal.prune`.

        >>> store.prune()
        {'ImagesDeleted': [...], 'SpaceReclaimed': 1234}
        """
        from pycontainer.image import removal
        return removal.prune(self, dangling_only=dangling_only, select=select)

    def load(self, src):
        """Load a docker-archive or OCI layout. See :func:`archive.load`.

        >>> [r.tags for r in store.load(open("busybox.tar", "rb"))]
        [['busybox:latest']]
        """
        from pycontainer.image import archive
        return archive.load(self, src)

    def save(self, refs, chunk_size=2 << 20):
        """Yield a docker-archive (and OCI layout) tar in chunks. See :func:`archive.save`.

        >>> with open("out.tar", "wb") as f:
        ...     for chunk in store.save(["busybox:latest"]):
        ...         f.write(chunk)
        """
        from pycontainer.image import archive
        return archive.save(self, refs, chunk_size=chunk_size)


def _manifest_layers(data, count):
    """The layer descriptors of manifest bytes ``data``, which must have ``count``."""
    try:
        m = json.loads(data)
        descs = m["layers"]
        if isinstance(m["config"], dict) and len(descs) == count and all(isinstance(d["digest"], str) for d in descs):
            return descs
    except (ValueError, KeyError, TypeError):
        pass
    raise ImageError("the manifest is malformed or does not match the image config")


@contextmanager
def _open_src(src):
    if isinstance(src, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(src)), "-"
    elif isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as f:
            yield f, os.fspath(src)
    elif hasattr(src, "read"):
        yield src, "-"
    else:
        raise InvalidArgument(f"cannot import from {type(src).__name__}: give a path, "
                              "a binary file object or bytes")


class LRU:
    """A dict of at most ``size`` entries, the least recently used dropped
    first; safe to share between threads."""

    def __init__(self, size):
        self.size = size
        self._items = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value):
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, key):
        with self._lock:
            self._items.pop(key, None)

    def clear(self):
        with self._lock:
            self._items.clear()

    def __len__(self):
        return len(self._items)


def target_ref(repository, tag):
    """The reference ``repository`` [+ ``tag``] names, for tagging."""
    if not repository:
        raise InvalidArgument("a tag needs a repository")
    if tag is None:
        ref = reference.parse(repository)
    else:
        base = reference.parse(repository)
        if base.digest is not None or repository.rfind(":") > repository.rfind("/"):
            raise InvalidArgument(f"repository {repository!r} already has a tag; "
                                  f"cannot add tag {tag!r}")
        ref = reference.parse(f"{base.name}:{tag}")
    if ref.digest is not None:
        raise InvalidReference(f"cannot tag with a digest reference: {repository!r}")
    return ref

