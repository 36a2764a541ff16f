"""Images: references, safe layer extraction and the local image store.

The names below load with their module on first use: making busybox needs
subprocess and tarfile, which the start of a container never does.
"""
import importlib

_WHERE = {
    "ImageRecord": "store",
    "ImageStore": "store",
    "LayerStats": "extract",
    "Reference": "reference",
    "StagedLayer": "record",
    "busybox_rootfs_tar": "busybox",
    "ensure_busybox": "busybox",
    "extract_layer": "extract",
    "parse_reference": ("reference", "parse"),
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = where if isinstance(where, tuple) else (where, name)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value
    return value
