"""Images: references, safe layer extraction and the local image store."""

from pycontainer.image.busybox import busybox_rootfs_tar, ensure_busybox
from pycontainer.image.extract import LayerStats, extract_layer
from pycontainer.image.reference import Reference
from pycontainer.image.reference import parse as parse_reference
from pycontainer.image.record import StagedLayer
from pycontainer.image.store import ImageRecord, ImageStore

__all__ = [
    "ImageRecord",
    "ImageStore",
    "LayerStats",
    "Reference",
    "StagedLayer",
    "busybox_rootfs_tar",
    "ensure_busybox",
    "extract_layer",
    "parse_reference",
]
