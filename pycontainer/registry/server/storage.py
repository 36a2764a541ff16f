"""The registry's state on disk, next to the image store it shares blobs with.

Layout under the store root::

    blobs/sha256/<hex>                  every blob and manifest (ImageStore.blob_path)
    registry/repos/<name>/_repo.json    one repository: its blobs, manifests and tags
    registry/uploads/<uuid>/data        an upload session's bytes so far
    registry/uploads/<uuid>/info.json   its repository and start time

``_repo.json`` is ``{"blobs": {hex: size}, "manifests": {digest: descriptor},
"tags": {tag: digest}}``; a descriptor keeps what the referrers API and the
tag list need (media type, size, artifact type, subject, annotations). No
repository name component can start with ``_``, so ``_repo.json`` never
collides with a nested repository.

Every change happens under the image store's writers' lock (``flock`` on
``images.lock``): the blob is renamed into ``blobs/`` and the repository file
replaced (temporary file + rename) in one critical section, so image-store GC
(image/removal.py, which holds the same lock and reads these files) never sees a
blob the registry is about to reference, and two registry processes on one store
never lose each other's updates. Readers read the files without the lock: each
is replaced whole.

Deleting a blob or a manifest only unlinks it from its repository; the bytes go
when image-store GC (``prune``) finds nothing holding them, as with the
Distribution registry's garbage collector.
"""
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid as _uuid

from pycontainer.image.record import fsync_dir
from pycontainer.image.store import ImageStore

from .errors import RegistryError
from .names import check_name

REPO_FILE = "_repo.json"
CHUNK = 1 << 20
STALE_UPLOAD_SECONDS = 24 * 3600    # an upload untouched this long was abandoned


def _empty():
    return {"blobs": {}, "manifests": {}, "tags": {}}


class Storage:
    """Repositories, tags and uploads of the registry serving the store ``root``."""

    def __init__(self, root):
        self.images = ImageStore(root)
        self.root = self.images.root
        self.dir = os.path.join(self.root, "registry")
        self.repos_dir = os.path.join(self.dir, "repos")
        self.uploads_dir = os.path.join(self.dir, "uploads")
        for d in (self.repos_dir, self.uploads_dir):
            os.makedirs(d, mode=0o700, exist_ok=True)

    # -- repositories ----------------------------------------------------

    def _repo_file(self, name):
        return os.path.join(self.repos_dir, check_name(name), REPO_FILE)

    def repo(self, name):
        """The record of repository ``name``, or None when it does not exist."""
        try:
            with open(self._repo_file(name), "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def repo_or_unknown(self, name):
        rec = self.repo(name)
        if rec is None:
            raise RegistryError("NAME_UNKNOWN", f"repository {name!r} is not known to the "
                                "registry", {"name": name})
        return rec

    def _write_repo(self, name, rec):
        path = self._repo_file(name)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".repo-", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(rec, f, separators=(",", ":"), sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        fsync_dir(os.path.dirname(path))

    def _change(self, name, fn, create=True):
        """Apply ``fn(record)`` to repository ``name`` under the lock and save it.
        The caller holds the lock."""
        rec = self.repo(name)
        if rec is None:
            if not create:
                self.repo_or_unknown(name)
            rec = _empty()
        result = fn(rec)
        self._write_repo(name, rec)
        return result

    def catalog(self):
        """Names of all repositories, sorted."""
        out = []
        for top, dirs, files in os.walk(self.repos_dir):
            dirs.sort()
            if REPO_FILE in files:
                out.append(os.path.relpath(top, self.repos_dir))
        return sorted(out)

    # -- blobs -----------------------------------------------------------

    def blob_path(self, digest):
        return self.images.blob_path(digest)

    def blob_size(self, name, digest):
        """Size of blob (or manifest) ``digest`` of repository ``name``, else None."""
        rec = self.repo(name)
        if rec is None:
            return None
        hexpart = digest[7:]
        if hexpart in rec["blobs"]:
            size = rec["blobs"][hexpart]
        elif digest in rec["manifests"]:
            size = rec["manifests"][digest]["size"]
        else:
            return None
        return size if os.path.exists(self.blob_path(digest)) else None

    def _place(self, tmp, digest):
        """Rename the verified file ``tmp`` to blob ``digest``; the lock is held."""
        dest = self.blob_path(digest)
        if os.path.exists(dest):
            os.unlink(tmp)
            return
        os.rename(tmp, dest)
        fsync_dir(os.path.dirname(dest))

    def mount(self, name, digest, source):
        """Link blob ``digest`` of repository ``source`` into ``name``; False when
        ``source`` does not have it (the client then uploads it)."""
        with self.images.lock():
            size = self.blob_size(source, digest)
            if size is None:
                return False
            self._change(name, lambda rec: rec["blobs"].__setitem__(digest[7:], size))
        return True

    def delete_blob(self, name, digest):
        def unlink(rec):
            if rec["blobs"].pop(digest[7:], None) is None:
                raise RegistryError("BLOB_UNKNOWN", f"blob {digest} is not in {name}",
                                    {"digest": digest})
        with self.images.lock():
            self._change(name, unlink, create=False)

    # -- uploads ---------------------------------------------------------

    def new_upload(self, name):
        """Start an upload session for repository ``name``; returns its id."""
        check_name(name)
        sid = str(_uuid.uuid4())
        path = tempfile.mkdtemp(prefix=".new-", dir=self.uploads_dir)
        with open(os.path.join(path, "info.json"), "w") as f:
            json.dump({"repo": name, "started": time.time()}, f)
        open(os.path.join(path, "data"), "wb").close()
        os.rename(path, os.path.join(self.uploads_dir, sid))
        return sid

    def upload_data(self, name, sid):
        """Path of session ``sid``'s data file, checking it belongs to ``name``."""
        try:
            _uuid.UUID(sid)
            with open(os.path.join(self.uploads_dir, sid, "info.json"), "rb") as f:
                info = json.load(f)
        except (ValueError, FileNotFoundError):
            info = None
        if info is None or info.get("repo") != name:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"no upload {sid!r} in {name}",
                                {"uuid": sid})
        return os.path.join(self.uploads_dir, sid, "data")

    def purge_uploads(self, older_than=STALE_UPLOAD_SECONDS):
        """Delete upload sessions (and leftovers of a crash) untouched for a day."""
        limit = time.time() - older_than
        for entry in os.scandir(self.uploads_dir):
            try:
                path = os.path.join(entry.path, "data") if entry.is_dir() else entry.path
                old = os.stat(path).st_mtime < limit
            except FileNotFoundError:
                old = entry.name.startswith(".")
            if old:
                if entry.is_dir():
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)

    def cancel_upload(self, sid):
        shutil.rmtree(os.path.join(self.uploads_dir, sid), ignore_errors=True)

    def finish_upload(self, name, sid, digest, hashed=None):
        """Verify session ``sid``'s bytes against ``digest`` and publish them as a
        blob of ``name``. ``hashed``: the sha256 of the data when the caller kept
        it while writing. A mismatch ends the session and stores nothing."""
        data = self.upload_data(name, sid)
        got = hashed or _hash_file(data)
        if got != digest:
            self.cancel_upload(sid)
            raise RegistryError("DIGEST_INVALID", f"the uploaded content has digest {got}, "
                                f"not {digest}", {"digest": digest})
        size = os.path.getsize(data)
        with self.images.lock():
            self._place(data, digest)
            self._change(name, lambda rec: rec["blobs"].__setitem__(digest[7:], size))
        self.cancel_upload(sid)
        return size

    # -- manifests and tags ----------------------------------------------

    def put_manifest(self, name, tag, data, descriptor, needs):
        """Store manifest bytes ``data`` (described by ``descriptor``) in ``name``,
        tagged ``tag`` unless None. ``needs``: (blob digests, manifest digests) it
        references, which must be in the repository (``MANIFEST_BLOB_UNKNOWN``)."""
        digest = descriptor["digest"]
        blobs, manifests = needs
        fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=self.uploads_dir)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

        def add(rec):
            missing = [d for d in blobs if d[7:] not in rec["blobs"]]
            missing += [d for d in manifests if d not in rec["manifests"]]
            if missing:
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"the manifest references "
                                    f"{missing[0]}, which {name} does not have",
                                    {"digest": missing[0]})
            self._place(tmp, digest)
            rec["manifests"][digest] = descriptor
            if tag is not None:
                rec["tags"][tag] = digest
        try:
            with self.images.lock():
                self._change(name, add)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def resolve(self, name, ref):
        """(digest, descriptor) of manifest ``ref`` (a tag or a digest) of ``name``."""
        rec = self.repo(name) or _empty()    # as docker's registry: MANIFEST_UNKNOWN
        digest = rec["tags"].get(ref) if ":" not in ref else ref
        desc = rec["manifests"].get(digest) if digest else None
        if desc is None or not os.path.exists(self.blob_path(digest)):
            raise RegistryError("MANIFEST_UNKNOWN", f"manifest {ref!r} is not in {name}",
                                {"name": name, "reference": ref})
        return digest, desc

    def delete_manifest(self, name, ref):
        """Delete tag ``ref``, or manifest ``ref`` (a digest) with its tags."""
        def drop(rec):
            if ":" not in ref:
                if rec["tags"].pop(ref, None) is None:
                    raise RegistryError("MANIFEST_UNKNOWN", f"tag {ref!r} is not in {name}",
                                        {"name": name, "reference": ref})
                return
            if rec["manifests"].pop(ref, None) is None:
                raise RegistryError("MANIFEST_UNKNOWN", f"manifest {ref} is not in {name}",
                                    {"name": name, "reference": ref})
            for t in [t for t, d in rec["tags"].items() if d == ref]:
                del rec["tags"][t]
        with self.images.lock():
            self._change(name, drop, create=False)

    def referrers(self, name, digest):
        """Descriptors of the manifests of ``name`` whose subject is ``digest``."""
        rec = self.repo(name) or _empty()
        out = []
        for d, desc in sorted(rec["manifests"].items()):
            if (desc.get("subject") or {}).get("digest") == digest:
                entry = {k: v for k, v in desc.items() if k != "subject"}
                entry["digest"] = d
                out.append(entry)
        return out


def _hash_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
