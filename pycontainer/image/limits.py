"""How much unpacking images may write into the store.

A compressed layer can unpack to a thousand times its size, so the store
counts what it writes while it writes it, and stops at the first cap passed,
before the bytes that would pass it are written:

* ``max_layer_size``: the file contents of one layer (default 16 GiB).
* ``max_image_size``: the file contents of all the layers one import, load
  or commit unpacks; layers already in the store are not counted again
  (default 32 GiB).
* ``min_free_space``: what the store's filesystem keeps free (default
  1 GiB, or 5 % of the filesystem when that is less; 0 turns the check
  off). A stored layer takes about twice its size, since its uncompressed
  tar is kept as its blob next to the unpacked files; both count here.
  ``statvfs`` is read again after at most every 8 MiB written.

A cap passed raises :class:`~pycontainer.errors.ImageTooLarge`; the reserve,
:class:`~pycontainer.errors.StorageError` with ``ENOSPC``; both name the limit
and its value. A disk error while unpacking (ENOSPC, EDQUOT, EIO...) is a
``StorageError`` with its errno, never an image error.
"""

import errno
import os
from dataclasses import dataclass

from pycontainer.errors import ImageTooLarge, InvalidArgument, PyContainerError, StorageError

DEFAULT_MAX_LAYER_SIZE = 16 << 30
DEFAULT_MAX_IMAGE_SIZE = 32 << 30
DEFAULT_MAX_ENTRIES = 1_000_000
DEFAULT_MIN_FREE = 1 << 30
MIN_FREE_FRACTION = 20          # at most 1/20 of the filesystem by default
_RECHECK = 8 << 20
# errnos that say the disk or the machine failed, not the image
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG,
                         errno.ENOMEM, errno.EMFILE, errno.ENFILE})


@dataclass(frozen=True)
class Limits:
    """The caps of a store, in bytes (``None``: the default)."""

    max_layer_size: int | None = None
    max_image_size: int | None = None
    max_layer_entries: int | None = None
    min_free_space: int | None = None

    def __post_init__(self):
        for name, default, low in (("max_layer_size", DEFAULT_MAX_LAYER_SIZE, 1),
                                   ("max_image_size", DEFAULT_MAX_IMAGE_SIZE, 1),
                                   ("max_layer_entries", DEFAULT_MAX_ENTRIES, 1),
                                   ("min_free_space", None, 0)):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, default)
            elif not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InvalidArgument(f"{name} must be an integer of at least {low} (bytes), "
                                      f"not {value!r}")

    def min_free(self, st):
        """The reserve in bytes on the filesystem ``st`` (an ``os.statvfs`` result)."""
        if self.min_free_space is not None:
            return self.min_free_space
        return min(DEFAULT_MIN_FREE, st.f_blocks * st.f_frsize // MIN_FREE_FRACTION)


class Budget:
    """What one import, load or commit may still write.

    Args:
        limits: the store's :class:`Limits`.
        path: a directory on the filesystem written to; None skips the
            free space check.
    """

    def __init__(self, limits, path=None):
        self.limits = limits
        self.path = path
        self.layer = 0
        self.image = 0
        self._headroom = 0          # bytes that may be written before statvfs again

    def start_layer(self):
        self.layer = 0

    def take(self, size, what):
        """Count ``size`` bytes of file content about to be unpacked.

        Raises:
            ImageTooLarge: the layer or the image would pass its cap.
            StorageError: the file and its copy in the blob would not fit.
        """
        lim = self.limits
        for name, used, cap, whose in (("max_layer_size", self.layer, lim.max_layer_size, "layer"),
                                       ("max_image_size", self.image, lim.max_image_size, "image")):
            if used + size > cap:
                raise ImageTooLarge(f"{what}: {size} bytes would take the {whose} over "
                                    f"{name}={cap} bytes", name, cap)
        self.layer += size
        self.image += size
        self.fits(2 * size, what)

    def allowance(self):
        """(content, disk): what :meth:`take` and :meth:`reserve` let through
        now without a check (disk None: unchecked). A writer that counts by
        itself (the C extractor) stops past either and asks again."""
        lim = self.limits
        content = min(lim.max_layer_size - self.layer, lim.max_image_size - self.image)
        if self.path is None or lim.min_free_space == 0:
            return content, None
        return content, self._headroom

    def fits(self, size, what):
        """Check that ``size`` more bytes leave the reserve free; counts nothing."""
        if self.path is not None and self.limits.min_free_space != 0 and size > self._headroom:
            self._check(size, what)

    def reserve(self, size, what):
        """Account for ``size`` bytes about to be written."""
        self.fits(size, what)
        self._headroom = max(self._headroom - size, 0)

    def _check(self, size, what):
        st = os.statvfs(self.path)
        free = st.f_bavail * st.f_frsize
        keep = self.limits.min_free(st)
        if free - size < keep:
            raise StorageError(errno.ENOSPC,
                               f"{what}: {size} more bytes would leave less than "
                               f"min_free_space={keep} bytes free on the store's filesystem "
                               f"({free} free)", self.path, "min_free_space", keep)
        self._headroom = min(free - keep, max(_RECHECK, size))


def storage_error(err, what):
    """``err`` as a :class:`StorageError` when it is a disk error, else None."""
    if isinstance(err, PyContainerError) or not isinstance(err, OSError):
        return None
    if err.errno not in DISK_ERRNOS:
        return None
    return StorageError(err.errno, f"{what}: {err.strerror}", err.filename)


def disk_op(fn, what, *args, **kwargs):
    """``fn(*args, **kwargs)``, a disk error raised as StorageError (errno kept)."""
    try:
        return fn(*args, **kwargs)
    except OSError as e:
        err = storage_error(e, what)
        if err is None:
            raise
        raise err from e
