"""Images, with docker-py's names: ``client.images.get/list/remove/prune/load/
import_image`` and :class:`Image` (``tags``, ``history()``, ``tag()``, ``save()``)."""
import datetime

from ..errors import InvalidArgument
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
        self.record = self.client._backend.images.get(self.id)

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
        self.record = self.client._backend.images.tag(self.id, repository, tag)
        return True

    def remove(self, force=False, noprune=False):
        """Remove this image (``client.images.remove(self.id, ...)``)."""
        return self.client.images.remove(self.id, force=force, noprune=noprune)

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
            check_named(self.tags, named)
            ref = named
        return self.client._backend.images.save([ref], chunk_size)


class ImageCollection:
    """``client.images``."""

    def __init__(self, client):
        self.client = client

    @property
    def _engine(self):
        return self.client._backend.images

    def get(self, name):
        """An image by reference, id or unique id prefix; ImageNotFound otherwise.

        >>> client.images.get("busybox:latest").tags
        ['busybox:latest']
        """
        return Image(self.client, self._engine.get(name))

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
        return [Image(self.client, rec) for rec in self._engine.list(name, filters)]

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
        return self._engine.remove(image, force=force)

    def prune(self, filters=None):
        """Delete untagged images that no container uses, then unused layers.

        ``filters``: ``{"dangling": False}`` also prunes unused tagged images;
        ``label`` / ``label!`` select by label; ``until`` keeps images created
        after it (unix seconds, RFC 3339 or a duration such as ``"24h"``).
        Any other key raises InvalidArgument.

        >>> client.images.prune()
        {'ImagesDeleted': [], 'SpaceReclaimed': 0}
        """
        return self._engine.prune(filters)

    def load(self, data):
        """Load images from a ``docker save`` archive or an OCI image layout.

        ``data``: bytes, a binary file object, or a path (tar or OCI layout dir).
        Returns the loaded Images.

        >>> client.images.load(open("busybox.tar", "rb"))
        [<Image: 'busybox:latest'>]
        """
        return [Image(self.client, r) for r in self._engine.load(data)]

    def import_image(self, src, repository=None, tag=None, changes=None):
        """Import a rootfs tarball (path, file object or bytes) as a one-layer image,
        like ``docker import``.

        Raises NotFound when the path does not exist, InvalidArgument when it is a
        directory, ImageError when the tar is malformed.

        >>> client.images.import_image("rootfs.tar.gz", "app", "1").tags
        ['app:1']
        """
        return Image(self.client, self._engine.import_image(src, repository=repository, tag=tag,
                                                            changes=changes))

    def busybox(self, tag="latest"):
        """The embedded default base image (``busybox:latest``), made on first use
        from Debian's busybox-static."""
        return Image(self.client, self._engine.busybox(tag))


def check_named(tags, named):
    if named not in tags:
        raise InvalidArgument(f"{named!r} is not a tag of this image: {tags}")
