"""run(cgroup_parent=...): a container's cgroups under a parent of its own
(``<parent>/pycontainer/<id>``) instead of the driver's.

Every driver method takes only the container id, so the parent of an id
is asked of ``parent_of(id)`` (the runtime reads the container's config)
and kept: an id is never reused, and its parent never changes.
"""


class Parents:
    """Mixed into the drivers: ``parent_of`` and the per-id cache."""

    parent_of = None          # id -> "/ci/jobs", "" (the driver's), None (unknown yet)

    def know_parent(self, cid, parent):
        """The parent, from a caller that has the config at hand (a listing
        would read every config twice)."""
        cache = self.__dict__.setdefault("_parents", {})
        if len(cache) > 4096:
            cache.clear()
        cache[cid] = parent or ""

    def _parent(self, cid):
        cache = self.__dict__.setdefault("_parents", {})
        parent = cache.get(cid)
        if parent is None and self.parent_of is not None:
            parent = self.parent_of(cid)
            if parent is not None:
                if len(cache) > 4096:
                    cache.clear()
                cache[cid] = parent
        parent = (parent or "").strip("/")
        return None if not parent or parent == self.parent else parent
