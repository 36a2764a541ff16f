"""Push: an image of the store to a registry, sending only what it lacks.

The store's exact blobs and manifest bytes are sent, so a pulled image
pushed elsewhere keeps its manifest digest. Each blob is checked with
``HEAD`` first; one the registry holds in another repository of ours (a
RepoDigest on the same registry) is mounted across repositories; the rest
are uploaded at once (one thread a blob), monolithically or in chunks. The
manifest goes last, and the repository becomes one of the image's
RepoDigests.
"""

import concurrent.futures
import json

from pycontainer.errors import ImageError
from pycontainer.image import reference
from pycontainer.registry import distribution as dist

MAX_THREADS = 8


class Pusher:
    """One push of the store's image ``ref`` (a tagged reference)."""

    def __init__(self, store, transport, ref, auth=None, progress=None, chunk_size=None):
        self.store = store
        self.t = transport
        self.ref = ref
        self.auth = transport.credentials(ref.domain, auth)
        self.progress = progress or (lambda event: None)
        self.chunk_size = chunk_size
        self.sent = 0          # bytes of blobs uploaded (not mounted, not present)

    def run(self):
        """Push; return ``{"Tag", "Digest", "Size"}``."""
        record = self.store.get(str(self.ref))
        with open(self.store.blob_path(record.manifest_digest), "rb") as f:
            data = f.read()
        manifest = json.loads(data)
        media = manifest.get("mediaType") or dist.OCI_MANIFEST
        named = [reference.parse(d) for d in record.repo_digests]
        sources = [r.path for r in named
                   if r.domain == self.ref.domain and r.path != self.ref.path]
        host = self.t.config.endpoints(self.ref.domain, push=True)[-1]
        repo = dist.Repository(self.t, host, self.ref.path, self.auth, push=True,
                               mount_from=sources[:3])
        self.progress({"status": f"The push refers to repository [{self.ref.name}]"})
        descs = list(manifest["layers"]) + [manifest["config"]]
        for d in descs[:-1]:
            self.progress({"status": "Preparing", "progressDetail": {}, "id": d["digest"][7:19]})
        self.t.base(host)   # found once, before the threads ask
        order = sorted(descs, key=lambda d: -d.get("size", 0))     # the largest first
        with concurrent.futures.ThreadPoolExecutor(min(MAX_THREADS, len(descs))) as pool:
            for fut in [pool.submit(self._blob, repo, d, sources) for d in order]:
                fut.result()
        tag = self.ref.tag
        repo.put_manifest(tag, data, media)
        with self.store.index() as index:
            index.add_digest(self.ref.name, record.manifest_digest)
        self.progress({"status": f"{tag}: digest: {record.manifest_digest} size: {len(data)}"})
        aux = {"Tag": tag, "Digest": record.manifest_digest, "Size": len(data)}
        self.progress({"progressDetail": {}, "aux": aux})
        return aux

    def _blob(self, repo, desc, sources):
        digest, short = desc["digest"], desc["digest"][7:19]
        layer = "layer" in desc.get("mediaType", "")
        if repo.has_blob(digest):
            if layer:
                self.progress({"status": "Layer already exists", "progressDetail": {},
                               "id": short})
            return
        for src in sources:
            if repo.mount(digest, src):
                self.progress({"status": f"Mounted from {src}", "progressDetail": {},
                               "id": short})
                return
        path = self.store.blob_path(digest)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise ImageError(f"blob {digest} of the image is missing from the store") from None
        done = [0]

        def moved(n):
            done[0] += n
            self.sent += n
            if layer:
                self.progress({"status": "Pushing", "id": short, "progressDetail": {
                    "current": done[0], "total": desc["size"]}})
        with f:
            repo.upload(digest, f, desc["size"], self.chunk_size, moved)
        if layer:
            self.progress({"status": "Pushed", "progressDetail": {}, "id": short})
