"""The build cache: step key -> the layer that step made.

A key is the SHA-256 of everything a step's result depends on: the state it
starts from (image config without timestamps, and the layer chain), the
instruction after substitution, the build args it can see, and for
``COPY``/``ADD`` the content, mode and owner (not the mtime) of exactly the
files it copies. An entry is one small JSON file under
``<store>/build-cache/`` written to a temporary file and renamed, so
concurrent builds and later processes share it safely. An entry is only a
hint: its layer must still be in the store, or it is a miss, so a pruned
layer never gives a wrong image.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import tempfile

from ..jsonfile import read_json


def digest(*parts):
    """The SHA-256 (hex) of ``parts`` as canonical JSON."""
    data = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()


class Cache:
    def __init__(self, store):
        self.store = store
        self.dir = os.path.join(store.root, "build-cache")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)

    def mount_dir(self, mount_id):
        """The directory of a ``RUN --mount=type=cache`` mount (kept across builds)."""
        path = os.path.join(self.dir, "mounts", digest("cache-mount", mount_id))
        os.makedirs(path, mode=0o755, exist_ok=True)
        return path

    def get(self, key):
        """The entry of ``key`` (a dict with ``diff_id``) when its layer is stored."""
        try:
            entry = read_json(os.path.join(self.dir, key + ".json"))
        except (FileNotFoundError, ValueError, OSError):
            return None
        diff_id = entry.get("diff_id") if isinstance(entry, dict) else None
        if not diff_id or not self.store.has_layer(diff_id):
            return None
        return entry

    def date(self, key):
        """The ``created`` date a metadata step's entry recorded, or None."""
        try:
            entry = read_json(os.path.join(self.dir, key + ".json"))
        except (FileNotFoundError, ValueError, OSError):
            return None
        return entry.get("created") if isinstance(entry, dict) else None

    def put(self, key, entry):
        fd, tmp = tempfile.mkstemp(prefix="entry-", dir=self.dir)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(entry, f)
            os.rename(tmp, os.path.join(self.dir, key + ".json"))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


HISTORY_COMMENT = "buildkit.dockerfile.v0"
# A layer step's history comment carries its key, so that the image can
# serve another store as a cache source (cache_from).
KEY_NOTE = "pyc.cache-key="


def cache_sources(engine, refs):
    """``cache_from``: step key -> entry, from the history of local images
    built here (each step's comment names its key), or None when no image
    is named: as docker's legacy builder, a build given ``cache_from`` takes
    its cache from those images only. Names that are not local images are
    passed over, as docker does."""
    from ..errors import ImageNotFound, InvalidArgument
    if refs is None:
        return None
    if isinstance(refs, str):
        refs = [refs]
    if not isinstance(refs, (list, tuple)):
        raise InvalidArgument("cache_from must be a list of image names")
    if not refs:
        return None
    out = {}
    for ref in refs:
        try:
            record = engine.images.get(ref)
        except ImageNotFound:
            continue
        layers = iter(record.diff_ids)
        for entry in record.config.get("history") or []:
            diff_id = None if entry.get("empty_layer") else next(layers, None)
            if diff_id is None and not entry.get("empty_layer"):
                break
            note = (entry.get("comment") or "").rpartition(KEY_NOTE)[2]
            if KEY_NOTE in (entry.get("comment") or "") and len(note) == 64:
                out[note] = {"diff_id": diff_id} if diff_id else {"created": entry.get("created")}
    return out


class Lease:
    """A build's claim on the images it made on the way: while it runs, no
    other build (of this process or another) removes them as intermediates.

    The lease is a file under ``build-cache/leases/`` that the build holds
    locked (``flock``) and that lists the image IDs it uses; a build that
    drops its intermediates passes over the IDs of every live lease (one
    whose lock is held) and removes stale lease files. ``gc.lock`` orders
    the two: an ID is written to the lease and the image stored under the
    shared lock; leases are read and images removed under the exclusive one,
    so an image is either seen as leased or stored again after it went."""

    def __init__(self, cache_dir):
        import secrets
        self.dir = os.path.join(cache_dir, "leases")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.gc = os.path.join(cache_dir, "gc.lock")
        self.path = os.path.join(self.dir, f"{os.getpid()}-{secrets.token_hex(6)}")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.ids = set()

    @contextlib.contextmanager
    def using(self, image_id):
        """Hold ``image_id`` for this build while the block stores it."""
        with _flocked(self.gc, fcntl.LOCK_SH):
            if image_id not in self.ids:
                self.ids.add(image_id)
                data = "\n".join(sorted(self.ids)).encode()
                os.ftruncate(self.fd, 0)
                os.pwrite(self.fd, data, 0)
            yield

    def drop(self, remove, image_ids):
        """``remove(id)`` each of ``image_ids`` that no other live build holds."""
        with _flocked(self.gc, fcntl.LOCK_EX):
            held = set()
            for name in os.listdir(self.dir):
                path = os.path.join(self.dir, name)
                if path == self.path:
                    continue
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    os.unlink(path)               # its build is gone
                except BlockingIOError:
                    held.update(os.read(fd, 1 << 20).decode().split())
                finally:
                    os.close(fd)
            for image_id in image_ids:
                if image_id not in held:
                    remove(image_id)

    def close(self):
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            os.close(self.fd)
            self.fd = None


@contextlib.contextmanager
def _flocked(path, how):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)
