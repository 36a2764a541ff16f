"""Images, with docker-py's names: ``client.images.get/list/import_image``."""
import os
import stat

from ..errors import ImageNotFound


class Image:
    """An image: ``id``, ``short_id``, ``tags``, ``labels``, ``attrs``."""

    def __init__(self, client, record):
        self.client = client
        self.record = record

    def __repr__(self):
        return f"<Image: {', '.join(repr(t) for t in self.tags) or self.short_id}>"

    def __eq__(self, other):
        return isinstance(other, Image) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    id = property(lambda self: self.record.id)
    short_id = property(lambda self: self.record.short_id)
    tags = property(lambda self: list(self.record.tags))

    @property
    def labels(self):
        return ((self.record.config or {}).get("config") or {}).get("Labels") or {}

    @property
    def attrs(self):
        cfg = self.record.config or {}
        return {"Id": self.id, "RepoTags": self.tags, "Config": cfg.get("config") or {},
                "Architecture": cfg.get("architecture"), "Os": cfg.get("os"),
                "Created": cfg.get("created"), "RootFS": cfg.get("rootfs")}

    def reload(self):
        self.record = self.client.images._store.get(self.id)


class ImageCollection:
    """``client.images``."""

    def __init__(self, client, store):
        self.client = client
        self._store = store
        self._cache = {}      # reference -> (index mtime, record): run()'s hot path

    def _record(self, ref):
        """The store's record for ``ref``, cached while the index is unchanged."""
        try:
            mtime = os.stat(self._store.index_path).st_mtime_ns
        except (AttributeError, FileNotFoundError):
            mtime = None
        hit = self._cache.get(ref)
        if hit and hit[0] == mtime and mtime is not None:
            return hit[1]
        record = self._store.get(ref)
        self._cache[ref] = (mtime, record)
        return record

    def get(self, name):
        """An image by reference, id or unique id prefix; ImageNotFound otherwise."""
        return Image(self.client, self._store.get(name))

    def list(self):
        return [Image(self.client, r) for r in self._store.list()]

    def import_image(self, src, repository=None, tag=None, changes=None):
        """Import a rootfs tarball (path, file object or bytes) as a one-layer image,
        like ``docker import``."""
        return Image(self.client, self._store.import_image(src, repository=repository, tag=tag,
                                                           changes=changes))

    def busybox(self, tag="latest"):
        """The embedded default base image (``busybox:latest``), made on first use
        from Debian's busybox-static."""
        from ..image import ensure_busybox
        return Image(self.client, ensure_busybox(self._store, tag=tag))
