"""Volumes, with docker-py's names: ``client.volumes.create/get/list/prune``
and :class:`Volume` objects. The on-disk store is pycontainer/volumes.py."""
from .. import filters as _filters
from ..errors import Conflict, InvalidArgument, NotFound
from ..volumes import ANON_LABEL, VolumeStore
from .base import Model


class Volume(Model):
    """A named volume: ``id`` (= ``name``), ``name``, ``attrs``.

    Example:
        >>> v = client.volumes.create("data")
        >>> v.attrs["Mountpoint"]
        '/var/lib/pycontainer/volumes/data/_data'
        >>> v.remove()
    """

    id = property(lambda self: self.attrs["Name"])
    name = property(lambda self: self.attrs["Name"])

    def reload(self):
        """Refresh ``attrs`` from the store."""
        self.attrs = self.client.volumes._store.get(self.id)

    def remove(self, force=False):
        """Remove the volume and its data.

        Raises:
            Conflict: a container uses it (any state); ``force=True`` removes it anyway.
            NotFound: it is gone already.
        """
        self.client.volumes._store.remove(self.id, force=force)


class VolumeCollection:
    """``client.volumes``."""

    def __init__(self, client):
        self.client = client
        self._store = VolumeStore(client.root, client._runtime.run_root)

    def create(self, name=None, **kwargs):
        """Create a volume, or return the existing one with that name (as docker).

        Args:
            name: ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``; random when None.
            driver: ``local`` (the only driver).
            driver_opts: not supported yet (must be empty).
            labels: dict of labels.

        Example:
            >>> client.volumes.create("cache", labels={"app": "web"}).name
            'cache'
        """
        unknown = set(kwargs) - {"driver", "driver_opts", "labels"}
        if unknown:
            raise InvalidArgument(
                f"unsupported keyword(s) for volumes.create(): {sorted(unknown)}")
        return Volume(self.client, self._store.create(name, **kwargs))

    def get(self, volume_id):
        """By name; NotFound otherwise."""
        return Volume(self.client, self._store.get(volume_id))

    def list(self, filters=None):
        """Every volume, or those matching ``filters``.

        ``filters``: ``name`` (substring), ``label`` (``key`` or ``key=value``),
        ``driver``, ``dangling`` (True: used by no container). Any other key
        raises InvalidArgument.
        """
        f = _filters.Filters(filters, ("name", "label", "driver", "dangling"), "volumes.list()")
        dangling = f.flag("dangling")
        used = self._store.users() if dangling is not None else {}
        return [Volume(self.client, a) for a in self._store.list()
                if (dangling is None or dangling != (a["Name"] in used))
                and f.any("name", lambda w: w in a["Name"])
                and f.any("driver", lambda w: w == a["Driver"])
                and f.labels(a.get("Labels"))]

    def prune(self, filters=None):
        """Remove the anonymous volumes no container uses, as docker 23+ (API
        1.42) does; ``filters={"all": True}`` removes unused named ones too.

        ``filters``: ``all``, ``label`` / ``label!`` (``key`` or ``key=value``)
        narrow it. Any other key raises InvalidArgument.

        Returns:
            ``{"VolumesDeleted": [names], "SpaceReclaimed": bytes}``.
        """
        f = _filters.Filters(filters, ("all", "label", "label!"), "volumes.prune()")
        every = f.flag("all", False)

        def keep(attrs):
            labels = attrs.get("Labels") or {}
            return not f.labels(labels) or not (every or ANON_LABEL in labels)
        removed, size = self._store.prune(keep=keep)
        return {"VolumesDeleted": removed, "SpaceReclaimed": size}

    def _remove_anonymous(self, specs):
        """``Container.remove(v=True)``: drop the anonymous volumes among a
        container's mount specs that no other container uses."""
        for spec in specs or ():
            if spec.get("Type") == "volume" and spec.get("Anonymous"):
                try:
                    self._store.remove(spec["Name"])
                except (NotFound, Conflict):
                    pass
