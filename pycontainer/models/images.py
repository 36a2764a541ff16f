"""Images, with docker-py's names: ``client.images.get/list/remove/prune/load/
import_image`` and :class:`Image` (``tags``, ``history()``, ``tag()``, ``save()``)."""
import datetime
import fnmatch
import json
import os

from ..errors import InvalidArgument, NotFound
from ..image import reference
from .base import Model

DEFAULT_CHUNK = 2 << 20  # docker-py's DEFAULT_DATA_CHUNK_SIZE


def _epoch(text):
    """RFC 3339 -> seconds since the epoch (docker's history ``Created``)."""
    if not text:
        return 0
    try:
        when = datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
        return int(when.replace(tzinfo=datetime.timezone.utc).timestamp())
    except ValueError:
        return 0


class Image(Model):
    """An image: ``id``, ``short_id``, ``tags``, ``labels``, ``attrs``.

    >>> img = client.images.get("busybox")
    >>> img.tags, img.short_id
    (['busybox:latest'], 'sha256:6d3e4188a38a')
    """

    def __init__(self, client, record):   # attrs are computed from the record
        self.client = client
        self.record = record

    def __repr__(self):
        return f"<Image: {', '.join(repr(t) for t in self.tags) or self.short_id}>"

    id = property(lambda self: self.record.id)
    short_id = property(lambda self: self.record.short_id)
    tags = property(lambda self: list(self.record.tags))

    @property
    def labels(self):
        return ((self.record.config or {}).get("config") or {}).get("Labels") or {}

    @property
    def attrs(self):
        """``docker image inspect``'s fields."""
        cfg = self.record.config or {}
        history = cfg.get("history") or []
        return {"Id": self.id, "RepoTags": self.tags, "RepoDigests": [], "Parent": "",
                "Comment": (history[-1].get("comment", "") if history else ""),
                "Created": cfg.get("created"), "Author": cfg.get("author", ""),
                "Config": cfg.get("config") or {}, "Architecture": cfg.get("architecture"),
                "Os": cfg.get("os"), "Size": self.record.size,
                "RootFS": {"Type": "layers", "Layers": self.record.diff_ids}}

    def reload(self):
        """Refresh from the store (tags may have moved)."""
        self.record = self.client.images._store.get(self.id)

    def history(self):
        """The build steps, newest first, as ``docker history`` gives them.

        >>> [h["Comment"] for h in client.images.get("busybox").history()]
        ['pycontainer embedded busybox']
        """
        cfg = self.record.config or {}
        sizes = list(self.record.layer_sizes)
        out = []
        for step in cfg.get("history") or [{}] * len(sizes):
            size = 0 if step.get("empty_layer") or not sizes else sizes.pop(0)
            out.append({"Id": "<missing>", "Created": _epoch(step.get("created")),
                        "CreatedBy": step.get("created_by", ""), "Tags": None, "Size": size,
                        "Comment": step.get("comment", "")})
        out.reverse()
        if out:
            out[0].update(Id=self.id, Tags=self.tags or None)
        return out

    def tag(self, repository, tag=None, **kwargs):
        """Add a reference to the image (moving it from any other image).

        >>> client.images.get("busybox").tag("mybox", "v1")
        True
        """
        self.record = self.client.images._store.tag(self.id, repository, tag)
        return True

    def save(self, chunk_size=DEFAULT_CHUNK, named=False):
        """The image as a tar stream (docker-archive + OCI layout), in chunks.

        Args:
            chunk_size: bytes per chunk.
            named: False saves it by ID (no name in the archive, as docker-py
                does), True under its first tag, or a string: that tag.

        >>> with open("busybox.tar", "wb") as f:
        ...     for chunk in client.images.get("busybox").save(named=True):
        ...         f.write(chunk)
        """
        ref = self.id
        if named is True:
            ref = self.tags[0] if self.tags else self.id
        elif isinstance(named, str):
            if named not in self.tags:
                raise InvalidArgument(f"{named!r} is not a tag of this image: {self.tags}")
            ref = named
        return self.client.images._store.save([ref], chunk_size=chunk_size)


class ImageCollection:
    """``client.images``."""

    def __init__(self, client, store):
        self.client = client
        self._store = store
        self._cache = {}      # reference -> (index stat, record): run()'s hot path
        run_root = getattr(getattr(client, "_runtime", None), "run_root", None)
        if run_root and run_root not in store.container_dirs:
            store.container_dirs.append(run_root)   # ephemeral containers live there

    def _record(self, ref):
        """The store's record for ``ref``, cached while the index is unchanged."""
        try:
            st = os.stat(self._store.index_path)
            # The index is replaced by rename: a new inode and size tell a
            # change that the mtime granularity could hide.
            key = (st.st_mtime_ns, st.st_ino, st.st_size)
        except (AttributeError, FileNotFoundError):
            key = None
        hit = self._cache.get(ref)
        if hit and hit[0] == key and key is not None:
            return hit[1]
        record = self._store.get(ref)
        self._cache[ref] = (key, record)
        return record

    def get(self, name):
        """An image by reference, id or unique id prefix; ImageNotFound otherwise.

        >>> client.images.get("busybox:latest").tags
        ['busybox:latest']
        """
        return Image(self.client, self._store.get(name))

    def list(self, name=None, all=False, filters=None):
        """Images, newest first.

        Args:
            name: only this repository (``busybox``) or reference (``busybox:1``).
            all: accepted for docker-py; there are no intermediate images.
            filters: ``dangling`` (bool), ``label`` (``key`` or ``key=value``,
                one or a list), ``reference`` (glob on ``repo:tag``),
                ``before`` / ``since`` (an image).

        >>> client.images.list(filters={"dangling": True})
        []
        """
        filters = dict(filters or {})
        unknown = set(filters) - {"dangling", "label", "reference", "before", "since"}
        if unknown:
            raise InvalidArgument(f"unsupported image filter(s) {sorted(unknown)}")
        bounds = {k: self._store.get(filters[k]).created for k in ("before", "since")
                  if k in filters}
        return [Image(self.client, rec) for rec in self._store.list()
                if (not name or _ref_match(rec, name)) and _matches(rec, filters, bounds)]

    def remove(self, image, force=False, noprune=False):
        """Untag or delete an image, like ``docker rmi``.

        A tag of an image with other tags is only untagged; otherwise the
        image goes, with the layers no other image or container uses.
        Raises Conflict when a container uses it (unless ``force``).

        >>> client.images.remove("mybox:v1")
        [{'Untagged': 'mybox:v1'}]
        """
        if isinstance(image, Image):
            image = image.id
        return self._store.remove(image, force=force)

    def prune(self, filters=None):
        """Delete untagged images that no container uses, then unused layers.

        ``filters``: ``{"dangling": False}`` also prunes unused tagged images;
        ``label`` / ``label!`` select by label.

        >>> client.images.prune()
        {'ImagesDeleted': [], 'SpaceReclaimed': 0}
        """
        return self._store.prune(filters=filters)

    def load(self, data):
        """Load images from a ``docker save`` archive or an OCI image layout.

        ``data``: bytes, a binary file object, or a path (tar or OCI layout dir).
        Returns the loaded Images.

        >>> client.images.load(open("busybox.tar", "rb"))
        [<Image: 'busybox:latest'>]
        """
        return [Image(self.client, r) for r in self._store.load(data)]

    def import_image(self, src, repository=None, tag=None, changes=None):
        """Import a rootfs tarball (path, file object or bytes) as a one-layer image,
        like ``docker import``.

        Raises NotFound when the path does not exist, InvalidArgument when it is a
        directory, ImageError when the tar is malformed.

        >>> client.images.import_image("rootfs.tar.gz", "app", "1").tags
        ['app:1']
        """
        try:
            record = self._store.import_image(src, repository=repository, tag=tag,
                                              changes=changes)
        except (FileNotFoundError, IsADirectoryError) as err:
            if not isinstance(src, (str, os.PathLike)) or err.filename != os.fspath(src):
                raise
            if isinstance(err, IsADirectoryError):
                raise InvalidArgument(f"import_image: {src} is a directory, not a tar "
                                      "file") from err
            raise NotFound(f"import_image: no such file: {src}") from err
        return Image(self.client, record)

    def busybox(self, tag="latest"):
        """The embedded default base image (``busybox:latest``), made on first use
        from Debian's busybox-static."""
        from ..image import ensure_busybox
        return Image(self.client, ensure_busybox(self._store, tag=tag))

    def _commit(self, container, repository=None, tag=None, message=None, author=None,
                changes=None, conf=None):
        """``Container.commit``: the container's upper layer becomes a new image."""
        from ..image.commit import commit
        try:
            with open(self.client._runtime.config_path(container.id)) as f:
                upper = os.path.join(json.load(f)["Runtime"]["LayerDir"], "upper")
        except FileNotFoundError as err:
            raise NotFound(f"No such container: {container.id}") from err
        base = self._store.get(container.attrs["Image"])
        return Image(self.client, commit(self._store, upper, base, repository, tag, message,
                                         author, changes, conf))


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def _truth(value):
    value = _as_list(value)[0]
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _ref_match(rec, pattern):
    """docker's ``reference`` filter: a glob on ``name`` or ``name:tag``."""
    for tag in rec.tags:
        name = reference.parse(tag).familiar_name
        if fnmatch.fnmatchcase(tag, pattern) or fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def _matches(rec, filters, bounds):
    if "dangling" in filters and _truth(filters["dangling"]) != (not rec.tags):
        return False
    for want in _as_list(filters.get("label", [])):
        key, eq, value = want.partition("=")
        if key not in rec.labels or (eq and rec.labels[key] != value):
            return False
    refs = _as_list(filters.get("reference", []))
    if refs and not any(_ref_match(rec, p) for p in refs):
        return False
    if "before" in bounds and not rec.created < bounds["before"]:
        return False
    if "since" in bounds and not rec.created > bounds["since"]:
        return False
    return True
