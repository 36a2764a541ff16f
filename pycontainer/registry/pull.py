"""Pull: a registry's image into the store, all or nothing.

1. The manifest (an index or list picks this machine's platform), then the
   config, both checked against their digests, sizes and media types.
2. Every layer the store lacks is fetched at once (one thread a layer,
   earliest first), each in one pass: download + compressed digest +
   decompress + diff_id + extract (:mod:`~pycontainer.registry.blobs`).
3. Under the store's writers' lock: the layers, the config and the
   registry's exact manifest bytes are published and the tag and the
   RepoDigest are set, in one write of the index.

Any failure (a bad digest, size or media type, a truncated stream, no
manifest for this platform) raises before step 3: staged layers and the
downloads of this pull are removed, no tag moves. A pull killed with
``kill -9`` leaves its download files in ``tmp/``; the next pull reuses them.
"""

import concurrent.futures
import json
import os
import platform as _platform
import threading

from pycontainer.errors import ImageError, ImageNotFound, InvalidArgument, RegistryError
from pycontainer.image import reference
from pycontainer.image.store import ARCH
from pycontainer.registry import blobs, distribution as dist

CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json",
                "application/vnd.docker.container.image.v1+json")
MAX_THREADS = 8


def this_platform():
    """``(os, architecture, variant)`` of this machine, as OCI spells them."""
    machine = _platform.machine()
    arch = ARCH.get(machine, machine)
    variant = {"aarch64": "v8", "arm64": "v8", "armv7l": "v7", "armv6l": "v6"}.get(machine)
    return "linux", arch, variant


def parse_platform(text):
    """``linux/arm64/v8`` -> ``(os, arch, variant)``; None -> this machine's."""
    if text is None:
        return this_platform()
    parts = text.split("/")
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise InvalidArgument(f"platform {text!r} is not os/arch[/variant]")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def select(index_bytes, want, what):
    """The descriptor of ``index_bytes`` (an OCI index / manifest list) for
    platform ``want``; ImageNotFound naming it when there is none."""
    try:
        entries = json.loads(index_bytes)["manifests"]
    except (ValueError, KeyError, TypeError):
        raise ImageError(f"{what}: the image index is malformed") from None
    os_, arch, variant = want
    fits = []
    for d in entries:
        p = d.get("platform") or {}
        if p.get("os") == os_ and p.get("architecture") == arch:
            if variant is None or p.get("variant") in (variant, None):
                fits.append(d)
    fits.sort(key=lambda d: (d.get("platform") or {}).get("variant") != variant)
    if not fits:
        name = "/".join(x for x in want if x)
        raise ImageNotFound(f"{what}: no matching manifest for {name} in the manifest "
                            "list entries")
    return fits[0]


class Puller:
    """One pull of ``ref`` into ``store`` (see the module docstring)."""

    def __init__(self, store, transport, ref, platform=None, auth=None, progress=None):
        self.store = store
        self.t = transport
        self.ref = ref
        self.want = parse_platform(platform)
        self.auth = transport.credentials(ref.domain, auth)
        self.progress = progress or (lambda event: None)
        self.stop = threading.Event()

    def run(self):
        """Pull; return the new :class:`~pycontainer.image.record.ImageRecord`."""
        last = None
        hosts = self.t.config.endpoints(self.ref.domain)
        for host in hosts:
            repo = dist.Repository(self.t, host, self.ref.path, self.auth)
            try:
                return self._pull(repo)
            except (ImageNotFound, RegistryError) as err:   # a mirror may lack it
                if host == hosts[-1]:
                    raise
                last = err
        raise last

    def _pull(self, repo):
        tag = self.ref.digest or self.ref.tag or reference.DEFAULT_TAG
        self.progress({"status": f"Pulling from {self.ref.path}", "id": self.ref.tag or tag})
        data, media, digest = repo.manifest(tag)
        if media in dist.INDEXES:
            desc = select(data, self.want, f"{self.ref.name}:{tag}")
            data, media, digest = repo.manifest(desc["digest"])
        if media not in dist.MANIFESTS:
            raise ImageError(f"{self.ref.name}:{tag}: manifest media type {media!r} is not "
                             "an image manifest pycontainer can pull")
        manifest = _parse_manifest(data, self.ref.name)
        cdesc = manifest["config"]
        config = repo.get_small_blob(cdesc["digest"], dist.MAX_CONFIG, "the image config")
        if len(config) != cdesc.get("size"):
            raise ImageError(f"the image config {cdesc['digest']} has the wrong size")
        diff_ids = _diff_ids(config, len(manifest["layers"]))
        for d in manifest["layers"]:
            blobs.check_layer_type(d)
        layers, downloads = self._layers(repo, manifest["layers"], diff_ids)
        try:
            with self.store.index() as index:
                _, mdigest = self.store.publish(index, config, layers, manifest=data)
                if self.ref.digest is None:
                    index.set_reference(self.ref_with_tag(tag), mdigest)
                index.add_digest(self.ref.name, mdigest)
            record = self.store.record(mdigest, index)
        finally:
            self.store.discard(layers)
            for dl in downloads:
                dl.discard()
        self.progress({"status": f"Digest: {digest}"})
        shown = self.ref.familiar if self.ref.digest else self.ref_with_tag(tag).familiar
        self.progress({"status": f"Status: Downloaded newer image for {shown}"})
        return record

    def ref_with_tag(self, tag):
        return reference.parse(f"{self.ref.name}:{tag}")

    def _layers(self, repo, descs, diff_ids):
        """Stage every missing layer at once; return (layers, downloads)."""
        todo, layers = [], list(diff_ids)
        for i, (d, diff_id) in enumerate(zip(descs, diff_ids)):
            short = d["digest"][7:19]
            if (os.path.isdir(self.store.layer_path(diff_id))
                    and os.path.exists(self.store.blob_path(d["digest"]))):
                self.progress({"status": "Already exists", "progressDetail": {}, "id": short})
            else:
                self.progress({"status": "Pulling fs layer", "progressDetail": {}, "id": short})
                todo.append(i)
        budget = self.store.budget()
        downloads = []
        if not todo:
            return layers, downloads
        with concurrent.futures.ThreadPoolExecutor(min(MAX_THREADS, len(todo))) as pool:
            futures = {}
            for i in todo:   # earliest first: the pool starts them in this order
                dl = blobs.Download(self.store.tmp_dir, descs[i]["digest"])
                downloads.append(dl)
                futures[pool.submit(self._stage, repo, descs[i], diff_ids[i], dl, budget)] = i
            failure = None
            for fut in concurrent.futures.as_completed(futures):
                try:
                    layers[futures[fut]] = fut.result()
                except BaseException as err:       # keep the first; stop the others
                    failure = failure or err
                    self.stop.set()
                    for other in futures:
                        other.cancel()
        if failure is not None:
            self.store.discard(layers)
            for dl in downloads:
                dl.discard()
            raise failure
        return layers, downloads

    def _stage(self, repo, desc, diff_id, dl, budget):
        short = desc["digest"][7:19]
        done = [0]

        def moved(n):
            done[0] += n
            self.progress({"status": "Downloading", "id": short,
                           "progressDetail": {"current": done[0], "total": desc["size"]},
                           "progress": _bar(done[0], desc["size"])})
        reader = blobs.LayerReader(repo, desc, dl, moved, self.stop)
        try:
            staged = self.store.stage_layer(reader, diff_id=diff_id, budget=budget,
                                            keep_tar=False)
        finally:
            reader.close()
        try:
            self.store.attach_blob(staged, dl.done, desc)
        except BaseException:
            self.store.discard([staged])
            raise
        self.progress({"status": "Download complete", "progressDetail": {}, "id": short})
        self.progress({"status": "Pull complete", "progressDetail": {}, "id": short})
        return staged


def _parse_manifest(data, what):
    try:
        m = json.loads(data)
        ok = (m.get("schemaVersion") == 2 and isinstance(m["config"], dict)
              and isinstance(m["layers"], list)
              and all(isinstance(d, dict) and isinstance(d.get("digest"), str)
                      for d in m["layers"] + [m["config"]]))
    except (ValueError, KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise ImageError(f"{what}: the manifest is malformed")
    if m["config"].get("mediaType") not in CONFIG_TYPES:
        raise ImageError(f"{what}: config media type {m['config'].get('mediaType')!r} is "
                         "not an image config")
    return m


def _diff_ids(config, count):
    try:
        ids = json.loads(config)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError):
        raise ImageError("the image config is malformed (no rootfs.diff_ids)") from None
    if not isinstance(ids, list) or len(ids) != count:
        raise ImageError(f"the image config has {len(ids) if isinstance(ids, list) else 0} "
                         f"diff_ids for {count} layers")
    return ids


def _bar(done, total, width=50):
    filled = width * done // total if total else width
    arrow = ">" if filled < width else ""
    return (f"[{'=' * max(filled - 1, 0)}{arrow}{' ' * (width - filled)}] "
            f"{_human(done)}/{_human(total)}")


def _human(n):
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{n}B"
        n /= 1000
    return f"{n}B"
