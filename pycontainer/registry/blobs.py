"""A layer blob read from a registry: one pass that downloads, keeps,
hashes and decompresses it.

:class:`LayerReader` is the file object handed to ``ImageStore.stage_layer``:
each ``read`` takes compressed bytes from the registry, appends them to a
download file in the store's ``tmp/``, hashes and counts them, and returns
them decompressed (gzip through ``isal`` when installed, else ``zlib``;
zstd through ``zstandard``). So the compressed digest, the size, the diff_id
(checked by the store on the decompressed bytes) and the extraction all
happen while the bytes stream in.

A dropped connection is resumed with ``Range`` from the bytes already
written. The download file (``tmp/pull-<hex>.part``, locked with ``flock``
so two pulls never write it at once) survives a ``kill -9``: the next pull
decompresses what it holds and fetches only the rest. A blob whose digest
and size matched is renamed ``tmp/pull-<hex>`` and is read from disk by the
next pull, not fetched again.
"""

import fcntl
import hashlib
import os
import zlib

from pycontainer.errors import ImageError, RegistryError

READ = 1 << 20
RESUMES = 3          # reconnections after a dropped connection, per blob
GZIP = ("application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
ZSTD = ("application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")
PLAIN = ("application/vnd.oci.image.layer.v1.tar",
         "application/vnd.oci.image.layer.nondistributable.v1.tar")
LAYER_TYPES = GZIP + ZSTD + PLAIN


def check_layer_type(desc):
    """Raise ImageError unless ``desc`` is a layer we can unpack."""
    if desc.get("mediaType") not in LAYER_TYPES:
        raise ImageError(f"layer {desc.get('digest')} has media type "
                         f"{desc.get('mediaType')!r}, which is not a layer pycontainer "
                         "can unpack")
    if not isinstance(desc.get("size"), int) or desc["size"] < 0:
        raise ImageError(f"layer {desc.get('digest')} has no valid size")


def _gzip():
    try:
        from isal import isal_zlib
        return isal_zlib.decompressobj(wbits=31), (isal_zlib.error,)
    except ImportError:
        return zlib.decompressobj(wbits=31), (zlib.error,)


def _zstd():
    import zstandard
    return zstandard.ZstdDecompressor().decompressobj(), (zstandard.ZstdError,)


class _Decoder:
    """Streaming decompression of ``media``; several gzip members or zstd
    frames in a row are one stream, as ``gzip -d`` has it."""

    def __init__(self, media, digest):
        self.make = _gzip if media in GZIP else _zstd if media in ZSTD else None
        self.digest = digest
        self.obj, self.errors = self.make() if self.make else (None, ())

    def feed(self, data):
        if self.obj is None:
            return data
        out = []
        try:
            while data:
                out.append(self.obj.decompress(data))
                if not self.obj.eof:
                    break
                data = self.obj.unused_data
                if data:
                    self.obj, self.errors = self.make()
        except self.errors as e:
            raise ImageError(f"layer {self.digest} is not valid compressed data "
                             f"({e})") from None
        return b"".join(out)

    def finish(self):
        if self.obj is not None and not self.obj.eof:
            raise ImageError(f"layer {self.digest}: the compressed stream is truncated")


class Download:
    """The download file of one blob in ``tmp_dir``, locked while in use."""

    def __init__(self, tmp_dir, digest):
        self.done = os.path.join(tmp_dir, "pull-" + digest[len("sha256:"):])
        self.part = self.done + ".part"
        self.f = open(self.part, "ab")
        fcntl.flock(self.f.fileno(), fcntl.LOCK_EX)     # another pull of it goes first
        if os.path.exists(self.done):
            self.f.close()
            self.f = None
            _unlink(self.part)

    def have(self):
        """Bytes already on disk (all of them when complete)."""
        return os.path.getsize(self.done if self.f is None else self.part)

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None

    def discard(self):
        self.close()
        _unlink(self.part)
        _unlink(self.done)


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class LayerReader:
    """The decompressed bytes of a layer blob (see the module docstring).

    Args:
        repo: the :class:`~pycontainer.registry.distribution.Repository`.
        desc: the manifest's layer descriptor.
        download: its :class:`Download`.
        progress: called with the count of compressed bytes received.
    """

    def __init__(self, repo, desc, download, progress=None, stop=None):
        check_layer_type(desc)
        self.stop = stop
        self.repo = repo
        self.digest = desc["digest"]
        self.size = desc["size"]
        self.dl = download
        self.progress = progress
        self.hash = hashlib.sha256()
        self.got = 0
        self.decoder = _Decoder(desc["mediaType"], self.digest)
        self.local = open(download.done if download.f is None else download.part, "rb")
        self.resp = self.chunks = None
        self.resumes = 0
        self.ended = False

    def read(self, n=-1):
        if self.stop is not None and self.stop.is_set():
            raise ImageError(f"layer {self.digest}: the pull stopped (another layer failed)")
        while not self.ended:
            data = self._raw()
            if data is None:
                self._end()
                break
            out = self.decoder.feed(data)
            if out:
                return out
        return b""

    def _raw(self):
        """The next compressed chunk (counted, hashed, kept), or None at the end."""
        if self.local is not None:
            data = self.local.read(READ)
            if data:
                return self._take(data, keep=False)
            self.local.close()
            self.local = None
            if self.dl.f is None:        # complete on disk
                return None
        if self.got >= self.size:
            self._close_resp()
            return None
        while True:
            try:
                if self.chunks is None:
                    self.resp = self.repo.open_blob(self.digest, self.got)
                    self._check_length()
                    self.chunks = self.resp.iter_raw()
                data = next(self.chunks, None)
            except _transport_errors() as e:
                self._close_resp()
                if self.resumes >= RESUMES:
                    raise RegistryError(f"blob {self.digest}: the connection dropped "
                                        f"after {self.got} of {self.size} bytes ({e})") from None
                self.resumes += 1
                continue
            if data is None:         # the response ended whole: it is the blob
                self._close_resp()
                return None
            return self._take(data, keep=True)

    def _check_length(self):
        length = self.resp.headers.get("content-length")
        if length is not None and length.isdigit() and self.got + int(length) != self.size:
            self._close_resp()
            self.dl.discard()
            raise ImageError(f"blob {self.digest} is {self.got + int(length)} bytes, its "
                             f"descriptor says {self.size}")

    def _take(self, data, keep):
        self.got += len(data)
        if self.got > self.size:
            self._close_resp()
            self.dl.discard()
            raise ImageError(f"blob {self.digest} is larger than its descriptor's size "
                             f"{self.size}")
        self.hash.update(data)
        if keep:
            self.dl.f.write(data)
        if self.progress:
            self.progress(len(data))
        return data

    def _end(self):
        self.ended = True
        got = "sha256:" + self.hash.hexdigest()
        if self.got != self.size or got != self.digest:
            self.dl.discard()     # bad bytes are never resumed from
            raise ImageError(f"blob {self.digest} does not match its descriptor "
                             f"(got {self.got} bytes, {got}; expected {self.size} bytes)")
        self.decoder.finish()
        if self.dl.f is not None:
            self.dl.f.flush()
            os.fsync(self.dl.f.fileno())
            os.rename(self.dl.part, self.dl.done)
            self.dl.close()

    def _close_resp(self):
        if self.resp is not None:
            self.resp.close()
        self.resp = self.chunks = None

    def close(self):
        self._close_resp()
        if self.local is not None:
            self.local.close()
            self.local = None


def _transport_errors():
    import httpx
    return (httpx.TransportError, OSError)

