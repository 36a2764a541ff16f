"""``list()`` and ``prune()`` of containers with docker's filters, over the
engine's container records (attrs dicts)."""
import contextlib
import os
import re
import time

from ..errors import Conflict, InvalidArgument, NotFound
from . import filters as _filters
from . import state as _state


def list_containers(engine, all=False, before=None, filters=None, limit=-1, since=None,
                    shared=False):
    """Records of running containers (every one with ``all``), newest first;
    the filters as models/containers.py documents them.

    ``shared``: records of containers at rest may be the ones an earlier
    call read, unchanged on disk since (``engine.at_rest``); for callers
    that only read them (the daemon's list), never handed to a user."""
    f = _filters.Filters(filters, CONTAINER_FILTERS, "containers.list()")
    match = _matcher(engine, f, before, since)
    all = all or "status" in f or (limit or 0) > 0 or match.bounded
    if f.empty() and not match.bounded:
        match = None            # no filter: the per-record test is most of a large listing
    if shared:
        records = _shared_records(engine, engine.at_rest)
    else:
        records = _records(engine, engine.ids())
    out = [c for c in records if (all or c["State"]["Running"]) and (match is None or match(c))]
    out.sort(key=lambda c: c.get("Created", ""), reverse=True)
    return out[:limit] if limit and limit > 0 else out


def _records(engine, ids):
    out = []
    for cid in ids:
        with contextlib.suppress(NotFound, ValueError, KeyError):
            out.append(_state.load(engine.rt, cid))
    return out


def _shared_records(engine, cache):
    """Every container's record, from ``cache`` (cid -> (top, key, record):
    the directory holding its record's) while its directory's key is the
    one it was read with, else read (and kept when at rest). A hit is the
    loop of a large listing: the keys of the store's directories come from
    one call. The run root holds a directory for most containers, but a
    record only for those removed at their exit (mostly running): their
    keys are read one by one."""
    rt = engine.rt
    since = time.time_ns()      # before the keys: a write after them is later
    store = _state.entry_keys(rt.containers)
    ids = {n for n in store if len(n) == 64}
    with contextlib.suppress(FileNotFoundError):
        ids.update(n for n in os.listdir(rt.run_root) if len(n) == 64)

    def key(top, cid):
        return store.get(cid) if top == rt.containers else _state.dir_key(rt.rundir(cid))
    out = []
    for cid in ids:
        hit = cache.get(cid)
        if hit is not None and key(hit[0], cid) == hit[1]:
            out.append(hit[2])
            continue
        cache.pop(cid, None)
        try:
            c = _load_at_rest(rt, cid, key, since, cache)
        except (NotFound, ValueError, KeyError):
            continue
        if c is not None:
            out.append(c)
    for gone in cache.keys() - ids:
        del cache[gone]
    return out


def _load_at_rest(rt, cid, key, since, cache):
    """The record of ``cid`` (None: not a container, yet or any more), kept
    in ``cache`` when at rest and its key (read after ``since``, before the
    record) settled. A running record is read each time: it also depends on
    its monitor."""
    d = _state.record_dir(rt, cid)
    if d is None:
        return None
    top = os.path.dirname(d)
    k = key(top, cid)
    c = _state.load(rt, cid)
    st = c["State"]
    if not (st["Running"] or st["Restarting"] or st["Paused"]) and _state.settled(k, since):
        cache[cid] = (top, k, c)
    return c


def _matcher(engine, f, before, since):
    """A test for one container from validated filters (lookups done once)."""
    statuses = f.values("status")
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise InvalidArgument(f"invalid filter 'status={bad[0]}': use one of {list(STATUSES)}")
    try:
        codes = {int(v) for v in f.values("exited")}
    except ValueError:
        raise InvalidArgument(f"invalid filter 'exited={f.values('exited')}': "
                              "exit codes are integers") from None
    ancestors = _ancestors(engine, f.values("ancestor")) if "ancestor" in f else None
    bounds = []
    for key, given, newer in (("before", before, False), ("since", since, True)):
        ref = f.one(key) if given is None else given
        if ref is not None:
            created = _state.load(engine.rt, engine.resolve(ref))["Created"]
            bounds.append((_filters.timestamp(created) or 0, newer))

    def match(a):
        st = a["State"]
        cid, name, status = a["Id"], a["Name"].lstrip("/"), st["Status"]
        when = (_filters.timestamp(a.get("Created")) or 0) if bounds else 0
        return (f.any("id", lambda v: cid.startswith(v))
                and f.any("name", lambda v: _name_match(v, name))
                and f.labels(a["Config"].get("Labels") or {})
                and (not statuses or status in statuses)
                and (not codes or (status in ("exited", "dead")
                                   and st.get("ExitCode") in codes))
                and (ancestors is None or a.get("Image") in ancestors)
                and all(when > t if newer else when < t for t, newer in bounds)
                and f.any("network", lambda v: _on_network(a, v))
                and f.any("volume", lambda v: _has_volume(a, v)))
    match.bounded = bool(bounds)
    return match


def _ancestors(engine, refs):
    """Ids of the images named by ``refs`` and of the images built on them
    (their layers extend its layers); an unknown name matches nothing."""
    store = engine.engine.image_store
    bases = []
    for ref in refs:
        with contextlib.suppress(NotFound, InvalidArgument):
            bases.append(store.get(ref))
    ids = {b.id for b in bases}
    if bases:
        for rec in store.list():
            layers = rec.diff_ids
            if any(len(layers) > len(b.diff_ids) and layers[:len(b.diff_ids)] == b.diff_ids
                   for b in bases):
                ids.add(rec.id)
    return ids


def prune(engine, filters=None):
    """Remove every container that is not running (``until``, ``label``, ``label!``)."""
    f = _filters.Filters(filters, ("until", "label", "label!"), "containers.prune()")
    until = f.until()
    deleted, reclaimed = [], 0
    for c in list_containers(engine, all=True):
        stopped = c["State"]["Status"] in ("exited", "created", "dead")
        if not stopped or not f.labels(c["Config"].get("Labels") or {}):
            continue
        if until is not None and not (_filters.timestamp(c.get("Created")) or 0) < until:
            continue
        size = _writable_size(c)
        with contextlib.suppress(NotFound, Conflict):
            engine.remove(c["Id"])
            deleted.append(c["Id"])
            reclaimed += size
    return {"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed}


def _writable_size(attrs):
    """Bytes in the container's own layer (docker's SizeRw)."""
    from .. import fstree
    layer = (attrs.get("Runtime") or {}).get("LayerDir")
    return fstree.size(os.path.join(layer, "upper")) if layer else 0


CONTAINER_FILTERS = ("id", "name", "label", "status", "exited", "ancestor", "before", "since",
                     "network", "volume")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def _name_match(pattern, name):
    """docker's: the pattern is a regex searched in ``/name``; a plain name also matches."""
    if pattern.lstrip("/") == name:
        return True
    try:
        return re.search(pattern, "/" + name) is not None
    except re.error:
        return False


def _on_network(attrs, value):
    nets = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return value in nets or any(value and (n or {}).get("NetworkID", "").startswith(value)
                                for n in nets.values())


def _has_volume(attrs, value):
    specs = attrs.get("Runtime", {}).get("Config", {}).get("mounts") or []
    return any(value in (s.get("Name"), s.get("Source"), s.get("Destination"))
               for s in specs if s.get("Type") in ("volume", "bind"))
