"""A content-addressed image store on the local disk.

Layout under the store root (see docs/image-store.md)::

    blobs/sha256/<hex>        layer tars, OCI image configs and manifests
    layers/<diffid hex>/diff  each layer unpacked once, shared by images
    repositories.json         image IDs and references -> manifest digests
    images.lock               flock(2) taken by writers of repositories.json
    tmp/                      files being written, renamed into place

Blobs are written to a temporary file, hashed, fsynced and renamed, so a
blob's name always matches its content. ``repositories.json`` is replaced
atomically (temporary file + rename) while holding an exclusive lock, so
concurrent writers never lose each other's updates and readers never see a
half-written file.
"""

import copy
import datetime
import fcntl
import hashlib
import io
import json
import os
import platform
import posixpath
import shlex
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field

from pycontainer.errors import (Conflict, ImageError, ImageNotFound, InvalidArgument,
                                InvalidReference, NotFound)
from pycontainer.image import reference
from pycontainer.image.extract import (DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, extract_layer,
                                       open_layer_stream, stream_limit)

DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
INDEX_VERSION = 1
MIN_PREFIX = 4
_HEXCHARS = frozenset("0123456789abcdef")
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
# Order of the keys of the "config" sub-dict, as docker writes them.
_CONFIG_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes",
                "WorkingDir", "Labels", "StopSignal")


@dataclass(frozen=True)
class ImageRecord:
    """One image of the store.

    Attributes:
        id: ``sha256:<hex>`` digest of the image config.
        manifest_digest: ``sha256:<hex>`` digest of the OCI manifest.
        config: the full OCI image config.
        tags: the references naming the image, in docker's short form
            (``busybox:latest``).
        layer_dirs: absolute paths of the unpacked layers, lowest first.
        references: the same references, fully normalised.
    """

    id: str
    manifest_digest: str
    config: dict = field(repr=False)
    tags: list
    layer_dirs: list = field(repr=False)
    references: list = field(repr=False, default_factory=list)

    def __hash__(self):
        return hash((self.id, self.manifest_digest))

    @property
    def short_id(self) -> str:
        """``sha256:`` and the first 12 hex digits, as docker-py shows it."""
        return self.id[:19]

    @property
    def labels(self) -> dict:
        """The image labels (``config.Labels``)."""
        return dict(self.config.get("config", {}).get("Labels") or {})

    @property
    def created(self) -> str:
        """Creation time, RFC 3339."""
        return self.config.get("created", "")


def _is_hex(text):
    return bool(text) and set(text) <= _HEXCHARS


def _sha256_digest(digest):
    algorithm, _, hexpart = digest.partition(":")
    if algorithm != "sha256" or len(hexpart) != 64 or not _is_hex(hexpart):
        raise ImageError(f"bad digest {digest!r}")
    return hexpart


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ImageStore:
    """Images stored under ``root``.

    Args:
        root: directory of the store; created (mode 0700) when missing. It
            must not be readable by other users: layers keep setuid files.
        max_layer_bytes: cap on the content of one layer.
        max_layer_entries: cap on the entries of one layer.
    """

    def __init__(self, root, *, max_layer_bytes=DEFAULT_MAX_BYTES,
                 max_layer_entries=DEFAULT_MAX_ENTRIES):
        self.root = os.path.abspath(os.fspath(root))
        self.max_layer_bytes = max_layer_bytes
        self.max_layer_entries = max_layer_entries
        if not os.path.isdir(self.root):
            os.makedirs(self.root, exist_ok=True)
            os.chmod(self.root, 0o700)
        for sub in ("blobs/sha256", "layers", "tmp"):
            os.makedirs(os.path.join(self.root, sub), mode=0o700, exist_ok=True)
        self._json_cache = {}

    # -- paths -----------------------------------------------------------

    @property
    def index_path(self):
        """Path of ``repositories.json``; its mtime changes on every update."""
        return os.path.join(self.root, "repositories.json")

    def blob_path(self, digest):
        """Path of the blob ``digest`` (it may not exist)."""
        return os.path.join(self.root, "blobs", "sha256", _sha256_digest(digest))

    def layer_path(self, diff_id):
        """Path of the unpacked layer ``diff_id`` (it may not exist)."""
        return os.path.join(self.root, "layers", _sha256_digest(diff_id), "diff")

    # -- blobs -----------------------------------------------------------

    def _tmpfile(self):
        fd, path = tempfile.mkstemp(prefix="blob-", dir=os.path.join(self.root, "tmp"))
        return os.fdopen(fd, "wb"), path

    def _commit_blob(self, tmp_path, digest):
        """Rename a written, fsynced temp file to the blob ``digest``."""
        dest = self.blob_path(digest)
        if os.path.exists(dest):
            os.unlink(tmp_path)
            return
        os.rename(tmp_path, dest)
        _fsync_dir(os.path.dirname(dest))

    def _write_blob(self, data, expected=None):
        """Store ``data`` as a blob and return its digest.

        Raises:
            ImageError: the content does not match ``expected``.
        """
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if expected is not None and expected != digest:
            raise ImageError(f"blob content does not match its digest {expected} "
                             f"(got {digest})")
        if os.path.exists(self.blob_path(digest)):
            return digest
        f, tmp = self._tmpfile()
        try:
            with f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._commit_blob(tmp, digest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return digest

    def _write_json_blob(self, obj):
        data = json.dumps(obj, separators=(",", ":")).encode()
        return self._write_blob(data), len(data)

    def _read_json_blob(self, digest):
        if digest in self._json_cache:
            return self._json_cache[digest]
        try:
            with open(self.blob_path(digest), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ImageError(f"blob {digest} is missing from the store") from None
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise ImageError(f"blob {digest} is corrupt")
        try:
            obj = json.loads(data)
        except ValueError as e:
            raise ImageError(f"blob {digest} is not valid JSON: {e}") from None
        self._json_cache[digest] = obj
        return obj

    # -- layers ----------------------------------------------------------

    def _spool_layer(self, fileobj):
        """Decompress a layer into a temp file; return (path, diff_id, size)."""
        limit = stream_limit(self.max_layer_bytes, self.max_layer_entries)
        stream = open_layer_stream(fileobj, limit)
        h = hashlib.sha256()
        size = 0
        f, tmp = self._tmpfile()
        try:
            with f:
                while True:
                    chunk = stream.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp, "sha256:" + h.hexdigest(), size

    def _unpack_layer(self, diff_id, tar_path):
        """Unpack the tar at ``tar_path`` as layer ``diff_id`` unless present."""
        diff = self.layer_path(diff_id)
        if os.path.isdir(diff):
            return
        holder = os.path.dirname(diff)
        os.makedirs(holder, mode=0o700, exist_ok=True)
        try:
            with open(tar_path, "rb") as f:
                extract_layer(f, diff, max_bytes=self.max_layer_bytes,
                              max_entries=self.max_layer_entries)
        except Conflict:
            if not os.path.isdir(diff):  # another process did not win the race
                raise
        except BaseException:
            try:
                os.rmdir(holder)
            except OSError:
                pass
            raise

    # -- index -----------------------------------------------------------

    def _read_index(self):
        try:
            with open(self.index_path, "rb") as f:
                index = json.load(f)
        except FileNotFoundError:
            return {"version": INDEX_VERSION, "images": {}, "references": {}}
        except ValueError as e:
            raise ImageError(f"{self.index_path} is corrupt: {e}") from None
        if not isinstance(index, dict) or index.get("version") != INDEX_VERSION:
            raise ImageError(f"{self.index_path} has an unknown format")
        index.setdefault("images", {})
        index.setdefault("references", {})
        return index

    def _write_index(self, index):
        fd, tmp = tempfile.mkstemp(prefix="repositories-", dir=os.path.join(self.root, "tmp"))
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(index, f, indent=1, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, self.index_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        _fsync_dir(self.root)

    @contextmanager
    def _locked_index(self):
        """Yield the index under the writers' lock; save it on success."""
        fd = os.open(os.path.join(self.root, "images.lock"),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            index = self._read_index()
            yield index
            self._write_index(index)
        finally:
            os.close(fd)  # releases the lock

    # -- lookups ---------------------------------------------------------

    def _search_id(self, index, prefix, ref):
        matches = [i for i in index["images"] if i[len("sha256:"):].startswith(prefix)]
        if not matches:
            raise ImageNotFound(f"No such image: {ref}")
        if len(matches) > 1:
            raise NotFound(f"image ID prefix {ref!r} is ambiguous: it matches "
                           f"{len(matches)} images")
        return index["images"][matches[0]]

    def _resolve(self, index, ref):
        """Return the manifest digest ``ref`` names."""
        if not isinstance(ref, str) or not ref:
            raise InvalidArgument(f"image reference must be a non-empty string, not {ref!r}")
        if ref.startswith("sha256:"):
            prefix = ref[len("sha256:"):]
            if len(prefix) < MIN_PREFIX or len(prefix) > 64 or not _is_hex(prefix):
                raise ImageNotFound(f"No such image: {ref}")
            return self._search_id(index, prefix, ref)
        if len(ref) == 64 and _is_hex(ref):
            return self._search_id(index, ref, ref)
        parsed = reference.parse(ref)
        if parsed.digest is not None:
            # name@digest: the digest is the manifest's.
            for manifest in index["images"].values():
                if manifest == parsed.digest:
                    return manifest
        elif str(parsed) in index["references"]:
            return index["references"][str(parsed)]
        if len(ref) >= MIN_PREFIX and _is_hex(ref):
            return self._search_id(index, ref, ref)
        raise ImageNotFound(f"No such image: {ref}")

    def _record(self, manifest_digest, index):
        manifest = self._read_json_blob(manifest_digest)
        config_digest = manifest["config"]["digest"]
        config = self._read_json_blob(config_digest)
        refs = sorted(r for r, m in index["references"].items() if m == manifest_digest)
        return ImageRecord(
            id=config_digest,
            manifest_digest=manifest_digest,
            config=copy.deepcopy(config),  # callers may change it; the cache must not
            tags=[reference.parse(r).familiar for r in refs],
            layer_dirs=[self.layer_path(d) for d in config["rootfs"]["diff_ids"]],
            references=refs,
        )

    def get(self, ref) -> ImageRecord:
        """Find an image.

        Args:
            ref: a reference (``busybox``, ``busybox:latest``, ``name@sha256:..``
                with the manifest digest), a full ID ``sha256:<hex>``, or a
                unique prefix of at least 4 hex digits of an ID, with or
                without ``sha256:``. References are tried before ID prefixes.

        Returns:
            The :class:`ImageRecord`.

        Raises:
            ImageNotFound: nothing matches.
            NotFound: an ID prefix matches several images.
            InvalidReference: ``ref`` is neither a reference nor an ID.
        """
        index = self._read_index()
        return self._record(self._resolve(index, ref), index)

    def list(self):
        """All images, newest first.

        Returns:
            A list of :class:`ImageRecord`.
        """
        index = self._read_index()
        records = [self._record(m, index) for m in sorted(set(index["images"].values()))]
        records.sort(key=lambda r: (r.created, r.id), reverse=True)
        return records

    def tag(self, image_id, repository, tag=None) -> ImageRecord:
        """Point a reference at an image, moving it from any other image.

        Args:
            image_id: anything :meth:`get` accepts.
            repository: repository name, e.g. ``busybox`` or
                ``localhost:5000/x``; may carry the tag when ``tag`` is None.
            tag: the tag; ``latest`` when neither it nor ``repository`` has one.

        Returns:
            The updated :class:`ImageRecord`.

        Raises:
            ImageNotFound: no such image.
            InvalidReference: the resulting reference is malformed.
        """
        ref = _target_ref(repository, tag)
        with self._locked_index() as index:
            manifest = self._resolve(index, image_id)
            index["references"][str(ref)] = manifest
        return self._record(manifest, index)

    # -- import ----------------------------------------------------------

    def import_image(self, src, repository=None, tag=None, changes=None, *,
                     message=None, created=None) -> ImageRecord:
        """Create a one-layer image from a root filesystem tar, like ``docker import``.

        Args:
            src: path of a tar file, a binary file object, or the bytes of a
                tar; plain or gzip-compressed.
            repository: optional repository to tag the image with (may carry
                the tag).
            tag: optional tag, ``latest`` by default.
            changes: Dockerfile instructions applied to the config: a list
                of strings (or one string, one instruction a line) among
                ``CMD``, ``ENTRYPOINT``, ``ENV``, ``WORKDIR``, ``USER``,
                ``LABEL``, ``EXPOSE``, ``VOLUME`` and ``STOPSIGNAL``.
            message: history comment; ``Imported from <src>`` by default.
            created: creation time (RFC 3339 string or aware datetime); now
                by default. A fixed value makes the image ID reproducible.

        Returns:
            The new :class:`ImageRecord`.

        Raises:
            ImageError: the tar is malformed or hostile; the store is unchanged.
            InvalidArgument: bad ``changes``, ``repository`` or ``tag``.
        """
        ref = _target_ref(repository, tag) if repository or tag else None
        image_config = {"Env": [DEFAULT_PATH_ENV]}
        apply_changes(image_config, changes)
        if created is None:
            created = _now()
        elif isinstance(created, datetime.datetime):
            created = created.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        with _open_src(src) as (f, desc):
            tmp, diff_id, size = self._spool_layer(f)
        try:
            self._unpack_layer(diff_id, tmp)
            self._commit_blob(tmp, diff_id)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

        config = {
            "architecture": _ARCH.get(platform.machine(), platform.machine()),
            "os": "linux",
            "created": created,
            "config": {k: image_config[k] for k in _CONFIG_KEYS if k in image_config},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": created,
                         "comment": message if message is not None else f"Imported from {desc}"}],
        }
        config_digest, config_size = self._write_json_blob(config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest,
                       "size": config_size},
            "layers": [{"mediaType": MEDIA_LAYER, "digest": diff_id, "size": size}],
        }
        manifest_digest, _ = self._write_json_blob(manifest)
        with self._locked_index() as index:
            index["images"][config_digest] = manifest_digest
            if ref is not None:
                index["references"][str(ref)] = manifest_digest
        return self._record(manifest_digest, index)


@contextmanager
def _open_src(src):
    if isinstance(src, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(src)), "-"
    elif isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as f:
            yield f, os.fspath(src)
    elif hasattr(src, "read"):
        yield src, "-"
    else:
        raise InvalidArgument(f"cannot import from {type(src).__name__}: give a path, "
                              "a binary file object or bytes")


def _target_ref(repository, tag):
    """The reference ``repository`` [+ ``tag``] names, for tagging."""
    if not repository:
        raise InvalidArgument("a tag needs a repository")
    if tag is None:
        ref = reference.parse(repository)
    else:
        base = reference.parse(repository)
        if base.digest is not None or repository.rfind(":") > repository.rfind("/"):
            raise InvalidArgument(f"repository {repository!r} already has a tag; "
                                  f"cannot add tag {tag!r}")
        ref = reference.parse(f"{base.name}:{tag}")
    if ref.digest is not None:
        raise InvalidReference(f"cannot tag with a digest reference: {repository!r}")
    return ref


# -- docker's "changes" ----------------------------------------------------

def _json_or_shell(keyword, rest, shell=True):
    rest = rest.strip()
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    if not rest:
        raise InvalidArgument(f"{keyword} needs an argument")
    return ["/bin/sh", "-c", rest] if shell else rest.split()


def _pairs(keyword, rest):
    """``key=value ...`` (shell quoting) or the legacy ``key value`` form."""
    rest = rest.strip()
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise InvalidArgument(f"{keyword}: {e}") from None
    if not words:
        raise InvalidArgument(f"{keyword} needs an argument")
    if "=" not in words[0]:
        key, _, value = rest.partition(" ")
        if not value.strip():
            raise InvalidArgument(f"{keyword} {key} needs a value")
        return [(key, value.strip())]
    out = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"{keyword}: {word!r} is not key=value")
        out.append((key, value))
    return out


def _ports(rest):
    ports = {}
    for item in rest.split():
        port, _, proto = item.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f"EXPOSE: bad protocol {proto!r}")
        lo, _, hi = port.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise InvalidArgument(f"EXPOSE: bad port {port!r}") from None
        if not 1 <= first <= last <= 65535:
            raise InvalidArgument(f"EXPOSE: bad port {port!r}")
        for n in range(first, last + 1):
            ports[f"{n}/{proto}"] = {}
    if not ports:
        raise InvalidArgument("EXPOSE needs an argument")
    return ports


def apply_changes(config, changes):
    """Apply docker ``--change`` instructions to an image ``config`` dict.

    Args:
        config: the ``config`` sub-dict of an image config, updated in place.
        changes: None, a list of instructions, or a string of instructions
            one a line. ``$VAR`` substitution is not done.

    Raises:
        InvalidArgument: an unsupported or malformed instruction.
    """
    if changes is None:
        return
    if isinstance(changes, str):
        changes = changes.splitlines()
    for line in changes:
        if not isinstance(line, str):
            raise InvalidArgument(f"changes must be strings, not {type(line).__name__}")
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(None, 1)
        keyword, rest = words[0].upper(), (words[1] if len(words) > 1 else "")
        if keyword in ("CMD", "ENTRYPOINT"):
            config["Cmd" if keyword == "CMD" else "Entrypoint"] = _json_or_shell(keyword, rest)
        elif keyword == "ENV":
            env = list(config.get("Env") or [])
            for key, value in _pairs(keyword, rest):
                env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
            config["Env"] = env
        elif keyword == "LABEL":
            labels = dict(config.get("Labels") or {})
            labels.update(_pairs(keyword, rest))
            config["Labels"] = labels
        elif keyword == "WORKDIR":
            if not rest.strip():
                raise InvalidArgument("WORKDIR needs an argument")
            path = posixpath.join(config.get("WorkingDir") or "/", rest.strip())
            config["WorkingDir"] = posixpath.normpath(path)
        elif keyword == "USER":
            if not rest.strip():
                raise InvalidArgument("USER needs an argument")
            config["User"] = rest.strip()
        elif keyword == "EXPOSE":
            config["ExposedPorts"] = {**(config.get("ExposedPorts") or {}), **_ports(rest)}
        elif keyword == "VOLUME":
            volumes = dict(config.get("Volumes") or {})
            volumes.update((v, {}) for v in _json_or_shell(keyword, rest, shell=False))
            config["Volumes"] = volumes
        elif keyword == "STOPSIGNAL":
            if not rest.strip():
                raise InvalidArgument("STOPSIGNAL needs an argument")
            config["StopSignal"] = rest.strip()
        else:
            raise InvalidArgument(
                f"unsupported change instruction {words[0]!r}: use CMD, ENTRYPOINT, ENV, "
                "WORKDIR, USER, LABEL, EXPOSE, VOLUME or STOPSIGNAL")
