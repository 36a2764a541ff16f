"""Volume verbs: docker's filters and prune rules over the volume store
(pycontainer/volumes.py). They return docker's inspect dicts."""
from ..errors import Conflict, InvalidArgument, NotFound
from ..volumes import ANON_LABEL
from . import filters as _filters


class Volumes:
    """``engine.volumes``."""

    def __init__(self, engine):
        self.store = engine.volume_store
        self.events = engine.events

    def create(self, name=None, **kwargs):
        unknown = set(kwargs) - {"driver", "driver_opts", "labels"}
        if unknown:
            raise InvalidArgument(
                f"unsupported keyword(s) for volumes.create(): {sorted(unknown)}")
        # dockerd marks a volume made without a name anonymous: prune takes it
        attrs = self.store.create(name, anonymous=name is None, **kwargs)
        self.events.emit("volume", "create", attrs["Name"], {"driver": attrs.get("Driver")})
        return attrs

    def get(self, name):
        return self.store.get(name)

    def remove(self, name, force=False):
        self.store.remove(name, force=force)
        self.events.emit("volume", "destroy", name)

    def list(self, filters=None):
        f = _filters.Filters(filters, ("name", "label", "driver", "dangling"), "volumes.list()")
        dangling = f.flag("dangling")
        used = self.store.users() if dangling is not None else {}
        return [a for a in self.store.list()
                if (dangling is None or dangling != (a["Name"] in used))
                and f.any("name", lambda w: w in a["Name"])
                and f.any("driver", lambda w: w == a["Driver"])
                and f.labels(a.get("Labels"))]

    def prune(self, filters=None):
        f = _filters.Filters(filters, ("all", "label", "label!"), "volumes.prune()")
        every = f.flag("all", False)

        def keep(attrs):
            labels = attrs.get("Labels") or {}
            return not f.labels(labels) or not (every or ANON_LABEL in labels)
        removed, size = self.store.prune(keep=keep)
        for name in removed:
            self.events.emit("volume", "destroy", name)
        return {"VolumesDeleted": removed, "SpaceReclaimed": size}

    def remove_anonymous(self, specs):
        """``Container.remove(v=True)``: drop the anonymous volumes among a
        container's mount specs that no other container uses."""
        for spec in specs or ():
            if spec.get("Type") == "volume" and spec.get("Anonymous"):
                try:
                    self.store.remove(spec["Name"])
                except (NotFound, Conflict):
                    pass
