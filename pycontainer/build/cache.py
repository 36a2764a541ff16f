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
