"""Volumes, with docker-py's names: ``client.volumes.create/get/list/prune``
and :class:`Volume` objects. The on-disk store is pycontainer/volumes.py."""
from .base import Collection, Model


class Volume(Model):
    """A named volume: ``id`` (= ``name``), ``name``, ``attrs``.

    Example:
        >>> v = client.volumes.create("data")
        >>> v.attrs["Mountpoint"]
        '/var/lib/pycontainer/volumes/data/_data'
        >>> v.remove()
    """

    id_attribute = "Name"
    id = property(lambda self: self.attrs["Name"])
    name = property(lambda self: self.attrs["Name"])

    def reload(self):
        """Refresh ``attrs`` from the store."""
        self.attrs = self.client._backend.volumes.get(self.id)

    def remove(self, force=False):
        """Remove the volume and its data.

        Raises:
            Conflict: a container uses it (any state); ``force=True`` removes it anyway.
            NotFound: it is gone already.
        """
        self.client._backend.volumes.remove(self.id, force=force)


class VolumeCollection(Collection):
    """``client.volumes``."""

    model = Volume

    @property
    def _engine(self):
        return self.client._backend.volumes

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
        return Volume(self.client, self._engine.create(name, **kwargs))

    def get(self, volume_id):
        """By name; NotFound otherwise."""
        return Volume(self.client, self._engine.get(volume_id))

    def list(self, filters=None):
        """Every volume, or those matching ``filters``.

        ``filters``: ``name`` (substring), ``label`` (``key`` or ``key=value``),
        ``driver``, ``dangling`` (True: used by no container). Any other key
        raises InvalidArgument.
        """
        return [Volume(self.client, a) for a in self._engine.list(filters)]

    def prune(self, filters=None):
        """Remove the anonymous volumes no container uses, as docker 23+ (API
        1.42) does; ``filters={"all": True}`` removes unused named ones too.

        ``filters``: ``all``, ``label`` / ``label!`` (``key`` or ``key=value``)
        narrow it. Any other key raises InvalidArgument.

        Returns:
            ``{"VolumesDeleted": [names], "SpaceReclaimed": bytes}``.
        """
        return self._engine.prune(filters)
