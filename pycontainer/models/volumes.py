"""Volumes, with docker-py's names: ``client.volumes.create/get/list/prune``
and :class:`Volume` objects. The on-disk store is pycontainer/volumes.py."""
from ..errors import Conflict, InvalidArgument, NotFound
from ..volumes import VolumeStore
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
        ``driver``, ``dangling`` (True: used by no container).
        """
        filters = dict(filters or {})
        unknown = set(filters) - {"name", "label", "driver", "dangling"}
        if unknown:
            raise InvalidArgument(f"unsupported volume filter(s): {sorted(unknown)}")
        used = self._store.users() if "dangling" in filters else {}
        out = []
        for attrs in self._store.list():
            if "dangling" in filters and _truthy(filters["dangling"]) == (attrs["Name"] in used):
                continue
            if _matches(attrs, filters):
                out.append(Volume(self.client, attrs))
        return out

    def prune(self, filters=None):
        """Remove every volume no container uses.

        ``filters``: ``label`` / ``label!`` (``key`` or ``key=value``) narrow it.

        Returns:
            ``{"VolumesDeleted": [names], "SpaceReclaimed": bytes}``.
        """
        filters = dict(filters or {})
        unknown = set(filters) - {"label", "label!"}
        if unknown:
            raise InvalidArgument(f"unsupported prune filter(s): {sorted(unknown)}")
        removed, size = self._store.prune(keep=lambda attrs: not _labels_match(attrs, filters))
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


def _as_list(v):
    return list(v) if isinstance(v, (list, tuple, set)) else [v]


def _truthy(v):
    return str(v).lower() in ("1", "true")


def _label_ok(labels, want):
    k, sep, v = want.partition("=")
    return k in labels and (not sep or labels[k] == v)


def _labels_match(attrs, filters):
    labels = attrs.get("Labels") or {}
    return (all(_label_ok(labels, w) for w in _as_list(filters.get("label", [])))
            and not any(_label_ok(labels, w) for w in _as_list(filters.get("label!", []))))


def _matches(attrs, filters):
    if "name" in filters and not any(w in attrs["Name"] for w in _as_list(filters["name"])):
        return False
    if "driver" in filters and attrs["Driver"] not in _as_list(filters["driver"]):
        return False
    return _labels_match(attrs, filters)

