"""Plain data of the image store: records, staged layers, digests and times."""

import datetime
import os
from dataclasses import dataclass, field

from pycontainer.errors import ImageError

_HEXCHARS = frozenset("0123456789abcdef")


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
        layer_sizes: size in bytes of each layer blob, lowest first.
        repo_digests: ``name@<manifest digest>`` of each repository the
            image was pulled from or pushed to, fully normalised.
        loaded: on a record ``load`` returns, the names the archive gave the
            image (short form); the image may have more tags.
        parent: the ID of the local image it was committed from ("").
    """

    id: str
    manifest_digest: str
    config: dict = field(repr=False)
    tags: list
    layer_dirs: list = field(repr=False)
    references: list = field(repr=False, default_factory=list)
    layer_sizes: list = field(repr=False, default_factory=list)
    repo_digests: list = field(repr=False, default_factory=list)
    loaded: list = field(repr=False, default_factory=list, compare=False)
    parent: str = field(repr=False, default="")

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

    @property
    def diff_ids(self) -> list:
        """Digests of the uncompressed layers, lowest first."""
        return list(self.config["rootfs"]["diff_ids"])

    @property
    def size(self) -> int:
        """Sum of the layer blob sizes (as stored: compressed when pulled)."""
        return sum(self.layer_sizes)


@dataclass
class StagedLayer:
    """A layer unpacked under ``tmp/``, not yet visible in the store.

    Attributes:
        diff_id: ``sha256:`` digest of the uncompressed tar.
        size: bytes of the uncompressed tar.
        path: the staging directory, holding ``layer.tar`` (or ``blob``,
            the compressed blob) and ``diff/``.
        blob: the descriptor (``mediaType``, ``digest``, ``size``) of the
            compressed blob kept instead of ``layer.tar`` (a pulled layer),
            or None.
    """

    diff_id: str
    size: int
    path: str
    blob: dict = None


def is_hex(text):
    return bool(text) and set(text) <= _HEXCHARS


def sha256_hex(digest):
    algorithm, _, hexpart = digest.partition(":")
    if algorithm != "sha256" or len(hexpart) != 64 or not is_hex(hexpart):
        raise ImageError(f"bad digest {digest!r}")
    return hexpart


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def now():
    """The current time as docker writes it (RFC 3339, UTC, microseconds)."""
    return rfc3339(datetime.datetime.now(datetime.timezone.utc))


def rfc3339(when):
    """An aware datetime as an RFC 3339 string in UTC."""
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
