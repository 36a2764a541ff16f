"""Image archives: ``docker save``/``docker load`` and the OCI image layout.

:func:`save` streams one tar that both kinds of tools read, as docker 25+
writes it::

    blobs/sha256/<hex>   layer tars (uncompressed), image configs, OCI manifests
    index.json           OCI image index (one entry per name, annotated)
    oci-layout           {"imageLayoutVersion": "1.0.0"}
    manifest.json        docker-archive: [{"Config", "RepoTags", "Layers"}]
    repositories         legacy docker: {"name": {"tag": "<top layer hex>"}}

:func:`load` reads a docker-archive (``manifest.json``; docker's old layout
with ``<id>/layer.tar`` too) or an OCI image layout (``index.json`` and
``oci-layout``), as a tar (plain or compressed) or a directory. Layers may be
plain, gzip or zstd. Every blob is checked against its digest and size, and
every layer against the ``diff_id`` of its config, before anything is
published: bad input raises :class:`~pycontainer.errors.ImageError` and
leaves the store as it was.
"""

import dataclasses
import hashlib
import io
import json
import os
import platform
import posixpath
import tarfile
import tempfile
from contextlib import contextmanager

from pycontainer.errors import ImageError, InvalidArgument, InvalidReference
from pycontainer.image import reference
from pycontainer.image.extract import _TarInfo, clean_name, open_layer_stream, stream_limit
from pycontainer.image.record import is_hex
from pycontainer.image.store import ARCH

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json",
                "application/vnd.docker.container.image.v1+json")
LAYER_TYPES = frozenset(
    [f"application/vnd.oci.image.layer.{kind}v1.tar{c}"
     for kind in ("", "nondistributable.") for c in ("", "+gzip", "+zstd")]
    + ["application/vnd.docker.image.rootfs.diff.tar.gzip",
       "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"])
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
MAX_JSON = 8 << 20
MAX_MEMBERS = 100_000
MAX_LINKS = 10
DEFAULT_CHUNK = 2 << 20
_BLOCK = 512
_RECORD = 20 * _BLOCK


# -- save ------------------------------------------------------------------

def save(store, refs, chunk_size=DEFAULT_CHUNK):
    """Write images as one tar stream: docker-archive and OCI layout at once.

    Args:
        store: the :class:`~pycontainer.image.store.ImageStore`.
        refs: references or IDs (anything ``store.get`` takes). A reference
            names its image in the archive (``RepoTags``, ``index.json``);
            an ID saves the image without a name, as ``docker save <id>``.
        chunk_size: size of the chunks yielded.

    Returns:
        An iterator of ``bytes`` chunks. Images are looked up now; blobs are
        opened when the iteration starts.

    Raises:
        ImageNotFound: a reference names no image.

    >>> with open("busybox.tar", "wb") as f:
    ...     for chunk in save(store, ["busybox:latest"]):
    ...         f.write(chunk)
    """
    if isinstance(refs, str):
        refs = [refs]
    if chunk_size is None or chunk_size < 1:
        raise InvalidArgument(f"chunk_size must be positive, not {chunk_size!r}")
    images = {}  # id -> (record, [reference strings])
    for ref in refs:
        record, key = store.lookup(ref)
        names = images.setdefault(record.id, (record, []))[1]
        if key is not None and key not in names:
            names.append(key)
    return _rechunk(_save_stream(store, list(images.values())), chunk_size)


def _info(name, size=0, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    info.mode = 0o644 if kind == tarfile.REGTYPE else 0o755
    info.mtime = 0  # reproducible archives: the content is content-addressed anyway
    return info


def _member(name, data):
    yield _info(name, len(data)).tobuf(tarfile.PAX_FORMAT)
    yield data
    yield _padding(len(data))


def _padding(size):
    return bytes(-size % _BLOCK)


def _save_stream(store, images):
    files = {}
    try:
        # Open every blob under the lock: a removal cannot pull one away
        # halfway, and open files stay readable even if unlinked later.
        with store.lock():
            for record, _ in images:
                for digest in [record.id, record.manifest_digest] + record.diff_ids:
                    if digest not in files:
                        try:
                            files[digest] = open(store.blob_path(digest), "rb")
                        except FileNotFoundError:
                            raise ImageError(f"image {record.id} was removed while "
                                             "being saved") from None
        yield _info("blobs/", kind=tarfile.DIRTYPE).tobuf(tarfile.PAX_FORMAT)
        yield _info("blobs/sha256/", kind=tarfile.DIRTYPE).tobuf(tarfile.PAX_FORMAT)
        for digest, f in files.items():
            yield from _blob_member(digest, f)
        index, manifests, repositories = [], [], {}
        for record, names in images:
            layers = [f"blobs/sha256/{d[7:]}" for d in record.diff_ids]
            desc = {"mediaType": MEDIA_MANIFEST, "digest": record.manifest_digest,
                    "size": os.fstat(files[record.manifest_digest].fileno()).st_size}
            top = record.diff_ids[-1][7:] if record.diff_ids else ""
            for name in names:
                ref = reference.parse(name)
                index.append({**desc, "annotations": {NAME_ANNOTATION: name,
                                                      REF_ANNOTATION: ref.tag}})
                repositories.setdefault(ref.familiar_name, {})[ref.tag] = top
            if not names:
                index.append(desc)
            manifests.append({"Config": f"blobs/sha256/{record.id[7:]}",
                              "RepoTags": [reference.parse(n).familiar for n in names] or None,
                              "Layers": layers})
        yield from _member("index.json", _json({"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                                                "manifests": index}))
        yield from _member("manifest.json", _json(manifests))
        yield from _member("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        if repositories:
            yield from _member("repositories", _json(repositories))
        yield bytes(2 * _BLOCK)  # end of archive; _rechunk pads the last record
    finally:
        for f in files.values():
            f.close()


def _json(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def _blob_member(digest, f):
    size = os.fstat(f.fileno()).st_size
    yield _info(f"blobs/sha256/{digest[7:]}", size).tobuf(tarfile.PAX_FORMAT)
    h = hashlib.sha256()
    left = size
    while left:
        data = f.read(min(left, 1 << 20))
        if not data:
            raise ImageError(f"blob {digest} is truncated in the store")
        h.update(data)
        left -= len(data)
        yield data
    if "sha256:" + h.hexdigest() != digest:
        raise ImageError(f"blob {digest} is corrupt in the store")
    yield _padding(size)


def _rechunk(pieces, size):
    buf = bytearray()
    total = 0
    for piece in pieces:
        buf += piece
        total += len(piece)
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    buf += bytes(-total % _RECORD)
    while buf:
        yield bytes(buf[:size])
        del buf[:size]


# -- sources ---------------------------------------------------------------

class _TarSource:
    """Files of a tar archive, by cleaned name; links resolved inside it."""

    def __init__(self, fileobj):
        fileobj.seek(0, os.SEEK_END)
        end = fileobj.tell()
        fileobj.seek(0)
        try:
            self.tf = tarfile.open(fileobj=fileobj, mode="r:", tarinfo=_TarInfo)
        except (tarfile.TarError, ImageError) as e:
            raise ImageError(f"not an image archive: not a valid tar ({e})") from None
        self.members = {}
        while True:
            try:
                m = self.tf.next()
            except (tarfile.TarError, ImageError) as e:
                raise ImageError(f"image archive is not a valid tar: {e}") from None
            if m is None:
                break
            if len(self.members) >= MAX_MEMBERS:
                raise ImageError(f"image archive has more than {MAX_MEMBERS} entries")
            if m.isreg() and m.offset_data + m.size > end:
                raise ImageError(f"image archive is truncated (in {m.name!r})")
            try:
                self.members["/".join(clean_name(m.name))] = m
            except ValueError:
                continue  # never looked up: names are cleaned the same way

    def _find(self, name):
        for _ in range(MAX_LINKS):
            try:
                key = "/".join(clean_name(name))
            except ValueError as e:
                raise ImageError(f"bad path {name!r} in the archive: {e}") from None
            m = self.members.get(key)
            if m is None:
                return None
            if m.issym():
                name = posixpath.join("/" + posixpath.dirname(key), m.linkname)
            elif m.islnk():
                name = "/" + m.linkname
            elif m.isreg():
                return m
            else:
                raise ImageError(f"{name!r} in the archive is not a file")
        raise ImageError(f"too many links for {name!r} in the archive")

    def exists(self, name):
        return self._find(name) is not None

    def open(self, name):
        m = self._find(name)
        if m is None:
            raise ImageError(f"the archive has no file {name!r}")
        return self.tf.extractfile(m), m.size


class _DirSource:
    """Files of a directory (an OCI layout, or an unpacked docker-archive)."""

    def __init__(self, path):
        self.root = os.path.realpath(path)

    def _path(self, name):
        try:
            path = os.path.join(self.root, *clean_name(name))
        except ValueError as e:
            raise ImageError(f"bad path {name!r}: {e}") from None
        real = os.path.realpath(path)
        if not real.startswith(self.root + os.sep):
            raise ImageError(f"{name!r} leads out of {self.root}")
        return real

    def exists(self, name):
        return os.path.isfile(self._path(name))

    def open(self, name):
        path = self._path(name)
        try:
            f = open(path, "rb")
        except OSError as e:
            raise ImageError(f"cannot read {name!r} of the image layout: {e.strerror}") from None
        return f, os.fstat(f.fileno()).st_size


@contextmanager
def _source(store, src):
    if isinstance(src, (str, os.PathLike)) and os.path.isdir(src):
        yield _DirSource(src)
        return
    if isinstance(src, (bytes, bytearray, memoryview)):
        src = io.BytesIO(bytes(src))
    if isinstance(src, (str, os.PathLike)):
        try:
            f = open(src, "rb")
        except OSError as e:
            raise ImageError(f"cannot read {os.fspath(src)}: {e.strerror}") from None
        with f:
            with _source(store, f) as s:
                yield s
        return
    if not hasattr(src, "read"):
        raise InvalidArgument(f"cannot load from {type(src).__name__}: give bytes, a binary "
                              "file object or a path (tar file or OCI layout directory)")
    head = b""
    if _seekable(src):
        start = src.tell()
        head = src.read(6)
        src.seek(start)
        if start == 0 and not _compressed(head):
            yield _TarSource(src)
            return
    # Compressed or not seekable: spool the plain tar to a temp file.
    lim, budget = store.limits, store.budget()
    limit = stream_limit(lim.max_image_size, lim.max_layer_entries)
    with tempfile.TemporaryFile(dir=store.tmp_dir) as tmp:
        stream = open_layer_stream(src, limit, lambda d: budget.reserve(len(d), "the archive"),
                                   ("max_image_size", lim.max_image_size))
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            tmp.write(chunk)
        yield _TarSource(tmp)


def _seekable(f):
    try:
        return f.seekable() and f.tell() is not None
    except (AttributeError, OSError, ValueError):
        return False


def _compressed(head):
    return head.startswith((b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00"))


# -- load ------------------------------------------------------------------

class _Verified:
    """Reads a blob, checking its size and digest once it has been read."""

    def __init__(self, f, size, digest, what):
        self.f, self.size, self.digest, self.what = f, size, digest, what
        self.hash = hashlib.sha256()
        self.count = 0

    def read(self, n=-1):
        data = self.f.read(n if n is not None and 0 <= n <= (1 << 20) else 1 << 20)
        if self.digest is not None:
            self.hash.update(data)
        self.count += len(data)
        return data

    def finish(self):
        while self.read(1 << 20):
            pass
        if self.size is not None and self.count != self.size:
            raise ImageError(f"{self.what} has {self.count} bytes, its descriptor says "
                             f"{self.size} (truncated or corrupt)")
        got = "sha256:" + self.hash.hexdigest()
        if self.digest is not None and got != self.digest:
            raise ImageError(f"{self.what} does not match its digest {self.digest} "
                             f"(got {got})")


def _read_blob(source, name, digest=None, size=None, what=None):
    what = what or repr(name)
    f, actual = source.open(name)
    if actual > MAX_JSON:
        raise ImageError(f"{what} is {actual} bytes, more than the {MAX_JSON} allowed")
    v = _Verified(f, size, digest, what)
    data = f.read(actual)
    v.hash.update(data)
    v.count = len(data)
    v.finish()
    f.close()
    return data


def _parse_json(data, what, kind):
    try:
        obj = json.loads(data)
    except ValueError as e:
        raise ImageError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(obj, kind):
        raise ImageError(f"{what} is not a JSON {kind.__name__}")
    return obj


def _digest_of(desc, what):
    if not isinstance(desc, dict):
        raise ImageError(f"{what}: descriptor is not an object")
    digest = desc.get("digest")
    if not isinstance(digest, str) or not digest.startswith("sha256:") \
            or len(digest) != 71 or not is_hex(digest[7:]):
        raise ImageError(f"{what}: unsupported or bad digest {digest!r}")
    size = desc.get("size")
    if not isinstance(size, int) or size < 0:
        raise ImageError(f"{what}: bad size {size!r}")
    return digest, size


def _check_config(data, what):
    config = _parse_json(data, what, dict)
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or rootfs.get("type") != "layers":
        raise ImageError(f"{what} has no rootfs.diff_ids")
    for d in diff_ids:
        if not isinstance(d, str) or not d.startswith("sha256:") or len(d) != 71 \
                or not is_hex(d[7:]):
            raise ImageError(f"{what}: bad diff_id {d!r}")
    if config.get("os", "linux") != "linux":
        raise ImageError(f"{what} is for {config.get('os')!r}, not linux")
    return diff_ids


def _parse_refs(names, what):
    refs = []
    for name in names:
        try:
            ref = reference.parse(name)
        except InvalidReference as e:
            raise ImageError(f"{what}: {e}") from None
        if ref.digest is not None:
            continue  # a digest names the source manifest, which we do not keep
        refs.append(ref)
    return refs


class _Image:
    """One image found in an archive: config bytes, layers, names."""

    def __init__(self, config, diff_ids, layers, refs):
        self.config = config
        self.diff_ids = diff_ids
        self.layers = layers  # (path in the source, blob digest or None, size or None)
        self.refs = refs


def _docker_archive(source):
    entries = _parse_json(_read_blob(source, "manifest.json"), "manifest.json", list)
    if not entries:
        raise ImageError("manifest.json lists no image")
    images = []
    for n, entry in enumerate(entries):
        what = f"manifest.json entry {n}"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                or not isinstance(entry.get("Layers"), list):
            raise ImageError(f"{what} needs Config and Layers")
        path = entry["Config"]
        base = posixpath.basename(path)
        expected = None
        if base.endswith(".json") and len(base) == 69 and is_hex(base[:64]):
            expected = "sha256:" + base[:64]
        elif len(base) == 64 and is_hex(base):  # blobs/sha256/<hex>
            expected = "sha256:" + base
        config = _read_blob(source, path, expected, what=f"image config {path!r}")
        diff_ids = _check_config(config, f"image config {path!r}")
        if len(diff_ids) != len(entry["Layers"]):
            raise ImageError(f"{what} has {len(entry['Layers'])} layers, its config "
                             f"{len(diff_ids)}")
        layers = []
        for p in entry["Layers"]:
            if not isinstance(p, str):
                raise ImageError(f"{what}: bad layer path {p!r}")
            b = posixpath.basename(p)
            layers.append((p, "sha256:" + b if len(b) == 64 and is_hex(b) else None, None))
        tags = entry.get("RepoTags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ImageError(f"{what}: RepoTags must be a list of strings")
        images.append(_Image(config, diff_ids, layers, _parse_refs(tags, what)))
    return images


def _names(desc):
    """References an OCI index entry gives its image."""
    notes = desc.get("annotations") or {}
    if not isinstance(notes, dict):
        return []
    name = notes.get(NAME_ANNOTATION)
    if isinstance(name, str) and name:
        return [name]
    ref = notes.get(REF_ANNOTATION)
    # A bare tag ("latest") names no repository: the image is loaded untagged.
    if isinstance(ref, str) and (":" in ref or "/" in ref):
        return [ref]
    return []


def _platform_ok(desc):
    p = desc.get("platform") or {}
    arch = ARCH.get(platform.machine(), platform.machine())
    return p.get("os", "linux") == "linux" and p.get("architecture", arch) == arch


def _oci_manifest(source, desc, names, depth=0):
    what = f"manifest {desc.get('digest')!r}" if isinstance(desc, dict) else "manifest"
    digest, size = _digest_of(desc, what)
    media = desc.get("mediaType")
    data = _read_blob(source, f"blobs/sha256/{digest[7:]}", digest, size, what)
    doc = _parse_json(data, what, dict)
    media = media or doc.get("mediaType")
    if media in (MEDIA_INDEX, MEDIA_DOCKER_LIST):
        children = [d for d in doc.get("manifests") or [] if isinstance(d, dict)]
        fits = [d for d in children if _platform_ok(d)]
        if depth > 1 or not fits:
            raise ImageError(f"{what}: no linux image for this machine in the index")
        return _oci_manifest(source, fits[0], names, depth + 1)
    if media not in (MEDIA_MANIFEST, MEDIA_DOCKER_MANIFEST):
        raise ImageError(f"{what}: unsupported media type {media!r}")
    cdesc = doc.get("config")
    cdigest, csize = _digest_of(cdesc, f"{what} config")
    if cdesc.get("mediaType") not in CONFIG_TYPES:
        raise ImageError(f"{what}: unsupported config media type {cdesc.get('mediaType')!r}")
    config = _read_blob(source, f"blobs/sha256/{cdigest[7:]}", cdigest, csize,
                        f"image config {cdigest}")
    diff_ids = _check_config(config, f"image config {cdigest}")
    layers = []
    for ldesc in doc.get("layers") or []:
        ldigest, lsize = _digest_of(ldesc, f"{what} layer")
        if ldesc.get("mediaType") not in LAYER_TYPES:
            raise ImageError(f"{what}: unknown layer media type {ldesc.get('mediaType')!r}")
        layers.append((f"blobs/sha256/{ldigest[7:]}", ldigest, lsize))
    if len(layers) != len(diff_ids):
        raise ImageError(f"{what} has {len(layers)} layers, its config {len(diff_ids)}")
    return _Image(config, diff_ids, layers, _parse_refs(names, what))


def _oci_layout(source):
    layout = _parse_json(_read_blob(source, "oci-layout"), "oci-layout", dict)
    version = layout.get("imageLayoutVersion")
    if not isinstance(version, str) or not version.startswith("1."):
        raise ImageError(f"unsupported OCI layout version {version!r}")
    index = _parse_json(_read_blob(source, "index.json"), "index.json", dict)
    descs = [d for d in index.get("manifests") or [] if isinstance(d, dict)]
    if not descs:
        raise ImageError("index.json lists no image")
    images = {}  # manifest digest -> _Image, names merged
    for desc in descs:
        found = _oci_manifest(source, desc, _names(desc))
        key = desc.get("digest")
        if key in images:
            images[key].refs += found.refs
        else:
            images[key] = found
    return list(images.values())


def load(store, src):
    """Load images from a docker-archive or an OCI image layout.

    Args:
        store: the :class:`~pycontainer.image.store.ImageStore`.
        src: bytes, a binary file object, or a path: a tar file (plain,
            gzip, bzip2, xz or zstd) or an OCI layout directory.

    Returns:
        The loaded :class:`~pycontainer.image.store.ImageRecord` list.

    Raises:
        ImageError: not an archive, a blob missing, truncated or not
            matching its digest, a config that is not JSON, an unknown layer
            media type, a hostile layer or one over the limits. Nothing is
            stored then.

    >>> [r.tags for r in load(store, open("busybox.tar", "rb"))]
    [['busybox:latest']]
    """
    with _source(store, src) as source:
        if source.exists("manifest.json"):
            images = _docker_archive(source)
        elif source.exists("index.json"):
            images = _oci_layout(source)
        else:
            raise ImageError("not an image archive: no manifest.json (docker-archive) and "
                             "no index.json (OCI image layout)")
        staged, wanted, budget = {}, {}, store.budget()
        for image in images:
            for diff_id, layer in zip(image.diff_ids, image.layers):
                wanted.setdefault(diff_id, layer)
        try:
            for diff_id, (path, digest, size) in wanted.items():
                if store.has_layer(diff_id):
                    continue
                f, actual = source.open(path)
                with f:
                    # An uncompressed blob's digest is its diff_id, which
                    # stage_layer checks: no need to hash it twice.
                    v = _Verified(f, size if size is not None else actual,
                                  None if digest == diff_id else digest, f"layer {path!r}")
                    try:
                        staged[diff_id] = store.stage_layer(v, diff_id, budget)
                    except ImageError:
                        v.finish()  # a blob that fails its digest: say so, not why tar choked
                        raise
                    v.finish()
            return [dataclasses.replace(
                store.add_image(image.config, [staged.get(d, d) for d in image.diff_ids],
                                image.refs), loaded=[r.familiar for r in image.refs])
                    for image in images]
        finally:
            store.discard(staged.values())
