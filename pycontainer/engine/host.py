"""Host calls the faces need that are nobody's room: the faces reach the C
core only through the engine (pyproject.toml's import rules)."""
from .. import _core


def watch_dirs(dirs):
    """An inotify fd (non-blocking) readable once a file in ``dirs`` changes."""
    return _core.watch_dirs(dirs)


def malloc_arenas(n):
    """At most ``n`` malloc arenas in this process (call before threads start)."""
    _core.malloc_arenas(n)


def trim_memory():
    """Collect, then give free heap pages back: for a long-lived server once
    its start-up (imports, the store's repair) is done."""
    import gc
    gc.collect()
    _core.malloc_trim()
