"""cgroups: Python decides what to write (v1, v2, hybrid); the C core writes.

``detect()`` reads the mount table once and returns a driver; a driver turns a
container id and its :class:`Resources` into batches of ``(kind, path, value)``
steps that :func:`pycontainer._core.cgroup_apply` carries out.
"""
from .layout import Layout, detect, favor_dynmods
from .resources import Resources
from .v1 import V1Driver
from .v2 import V2Driver

__all__ = ["favor_dynmods", "Layout", "Resources", "V1Driver", "V2Driver", "detect", "driver_for"]


def driver_for(layout, parent="/"):
    """The driver for a layout: v1 controllers where any are mounted (v1 and
    hybrid hosts), else the unified tree."""
    if layout.v1:
        return V1Driver(layout, parent)
    return V2Driver(layout.v2, parent)
