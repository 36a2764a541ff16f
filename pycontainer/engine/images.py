"""Image verbs: docker's filters and semantics over the content-addressed
store (image/). Records (image/record.py) are what they return: plain
data a face wraps in its own objects."""
import collections
import fnmatch
import os
import queue
import threading

from ..errors import ContainerNotFound, InvalidArgument, NotFound
from ..image import reference
from ..jsonfile import read_json
from . import filters as _filters

IMAGE_FILTERS = ("dangling", "label", "reference", "before", "since")
PRUNE_FILTERS = ("dangling", "label", "label!", "until")
CACHE_SIZE = 64          # references whose records run() looks up without the index


class Images:
    """``engine.images``: the image store with docker's verbs."""

    def __init__(self, engine):
        self.engine = engine
        self.store = engine.image_store
        self._cache = collections.OrderedDict()   # reference -> (index stat, record), LRU
        # The seam to registry/ (which stands on this room): a face installs
        # ``factory(store) -> Registry``; the engine never imports it.
        self.registry_factory = None
        self._registry = None

    def use_registry(self, factory):
        """Later registry calls use a client from ``factory`` (the daemon's SIGHUP);
        calls under way keep the client they have."""
        self.registry_factory, self._registry = factory, None

    @property
    def registry(self):
        """The registry client, made by ``registry_factory`` on first use."""
        if self._registry is None:
            if self.registry_factory is None:
                raise InvalidArgument("this engine has no registry client")
            self._registry = self.registry_factory(self.store)
        return self._registry

    def pull(self, ref, platform=None, auth_config=None, stream=False):
        """The pulled record; with ``stream``, a generator of docker's
        progress dicts (the pull runs on a thread meanwhile)."""
        def run(progress=None):
            rec = self.registry.pull(ref, platform=platform, auth_config=auth_config,
                                     progress=progress)
            self.engine.events.emit("image", "pull", str(ref), {"name": str(ref)})
            return rec
        return progress_stream(run) if stream else run()

    def push(self, ref, auth_config=None, stream=False):
        def run(progress=None):
            out = self.registry.push(ref, auth_config=auth_config, progress=progress)
            self.engine.events.emit("image", "push", str(ref), {"name": str(ref)})
            return out
        return progress_stream(run) if stream else run()

    def registry_tags(self, name, auth_config=None):
        return self.registry.tags(name, auth_config=auth_config)

    def registry_data(self, name, auth_config=None):
        return self.registry.registry_data(name, auth_config=auth_config)

    def login(self, username, password, registry=None):
        return self.registry.login(username, password, registry)

    def record(self, ref):
        """The store's record for ``ref``, cached while the index is unchanged
        (run()'s hot path); at most CACHE_SIZE references are kept."""
        try:
            st = os.stat(self.store.index_path)
            # The index is replaced by rename: a new inode and size tell a
            # change that the mtime granularity could hide.
            key = (st.st_mtime_ns, st.st_ino, st.st_size)
        except (AttributeError, FileNotFoundError):
            key = None
        hit = self._cache.get(ref)
        if hit and hit[0] == key and key is not None:
            self._cache.move_to_end(ref)
            return hit[1]
        record = self.store.get(ref)
        self._cache[ref] = (key, record)
        self._cache.move_to_end(ref)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return record

    def get(self, ref):
        return self.store.get(ref)

    def list(self, name=None, filters=None):
        """Records, newest first (see models/images.py for the filters)."""
        f = _filters.Filters(filters, IMAGE_FILTERS, "images.list()")
        dangling = f.flag("dangling")
        bounds = [(_created(self.store.get(f.one(k))), k == "since")
                  for k in ("before", "since") if k in f]

        def match(rec):
            when = _created(rec)
            return ((not name or _ref_match(rec, name))
                    and (dangling is None or dangling == (not rec.tags))
                    and f.labels(rec.labels)
                    and f.any("reference", lambda p: _ref_match(rec, p))
                    and not any(when <= t if newer else when >= t for t, newer in bounds))
        return [rec for rec in self.store.list() if match(rec)]

    def remove(self, ref, force=False):
        image_id = self._id_of(ref)
        return _emitted(lambda r: self.engine.events.emit_removal(r, image_id),
                        self.store.remove(ref, force=force))

    def _id_of(self, ref):
        """The image's id, the actor of its events (docker's); None if unknown."""
        try:
            return self.store.get(ref).id
        except NotFound:
            return None

    def prune(self, filters=None):
        result = prune(self.store, filters)
        self.engine.events.emit_removal((result or {}).get("ImagesDeleted"))
        return result

    def tag(self, image_id, repository, tag=None):
        rec = self.store.tag(image_id, repository, tag)
        self.engine.events.emit_image("tag", rec, f"{repository}:{tag or 'latest'}")
        return rec

    def save(self, refs, chunk_size):
        for ref in [refs] if isinstance(refs, str) else refs:
            self.engine.events.emit("image", "save", self._id_of(ref) or ref, {"name": ref})
        return self.store.save(refs, chunk_size=chunk_size)

    def load(self, data):
        return _emitted(lambda recs: [self.engine.events.emit_image("load", r) for r in recs],
                        self.store.load(data))

    def import_image(self, src, repository=None, tag=None, changes=None):
        try:
            return _emitted(lambda r: self.engine.events.emit_image("import", r),
                            self.store.import_image(src, repository=repository, tag=tag,
                                                    changes=changes))
        except (FileNotFoundError, IsADirectoryError) as err:
            if not isinstance(src, (str, os.PathLike)) or err.filename != os.fspath(src):
                raise
            if isinstance(err, IsADirectoryError):
                raise InvalidArgument(f"import_image: {src} is a directory, not a tar "
                                      "file") from err
            raise NotFound(f"import_image: no such file: {src}") from err

    def busybox(self, tag="latest"):
        from ..image import ensure_busybox
        return ensure_busybox(self.store, tag=tag)

    def commit(self, cid, repository=None, tag=None, message=None, author=None, changes=None,
               conf=None):
        """The container's upper layer becomes a new image (``docker commit``)."""
        from ..image.commit import commit
        cid = self.engine.containers.resolve(cid)
        try:
            attrs = read_json(self.engine.runtime.config_path(cid))
        except FileNotFoundError as err:            # removed meanwhile
            raise ContainerNotFound(f"No such container: {cid}") from err
        upper = os.path.join(attrs["Runtime"]["LayerDir"], "upper")
        base = self.store.get(attrs["Image"])
        rec = commit(self.store, upper, base, repository, tag, message, author, changes, conf)
        self.engine.containers._event("commit", cid, comment=message or "", imageID=rec.id)
        return rec


def progress_stream(run):
    """Run ``run(progress)`` on a thread; yield the events it reports, then
    raise its error, if any, after them (a docker progress stream)."""
    events = queue.Queue()
    box = {}

    def work():
        try:
            box["result"] = run(events.put)
        except BaseException as err:
            box["error"] = err
        finally:
            events.put(None)
    thread = threading.Thread(target=work, name="pyc-progress", daemon=True)
    thread.start()
    while (event := events.get()) is not None:
        yield event
    thread.join()
    if "error" in box:
        raise box["error"]


def prune(store, filters=None):
    """docker's ``image prune`` filters over the store's prune: ``dangling``
    (False: tagged images too), ``label``, ``label!``, ``until`` (keeps what
    was created after it); any other key raises InvalidArgument."""
    f = _filters.Filters(filters, PRUNE_FILTERS, "images.prune()")
    dangling_only, until = f.flag("dangling", True), f.until()
    select = None
    if "label" in f or "label!" in f or until is not None:
        def select(config):
            if not f.labels((config.get("config") or {}).get("Labels")):
                return False
            # docker keeps what was created after ``until``; no date counts as old
            return until is None or (_filters.timestamp(config.get("created")) or 0) <= until
    return store.prune(dangling_only=dangling_only, select=select)


def _emitted(emit, result):
    """``result``, once ``emit(result)`` has recorded its events."""
    emit(result)
    return result


def _created(rec):
    return _filters.timestamp(rec.created) or 0


def _ref_match(rec, pattern):
    """docker's ``reference`` filter: a glob on ``name`` or ``name:tag``."""
    for tag in rec.tags:
        name = reference.parse(tag).familiar_name
        if fnmatch.fnmatchcase(tag, pattern) or fnmatch.fnmatchcase(name, pattern):
            return True
    return False
