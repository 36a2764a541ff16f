"""Namespace teardown off the caller's path.

When a container's init exits, the kernel unmounts its whole mount namespace
before the exit status can be read. ``run()`` keeps a reference to that
namespace instead, reads the status at once, and drops the reference here, on
a background thread (``close`` releases the GIL), where the unmounts happen.
"""
import os
import queue
import threading

_queue = queue.SimpleQueue()
_thread = None
_lock = threading.Lock()


def _worker():
    while True:
        fds = _queue.get()
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass


def release(fds):
    """Close ``fds`` (namespace references) in the background."""
    global _thread
    if not fds:
        return
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_worker, name="pycontainer-teardown", daemon=True)
            _thread.start()
    _queue.put(list(fds))


def flush():
    """Close what is queued now (tests, interpreter exit)."""
    while True:
        try:
            fds = _queue.get_nowait()
        except queue.Empty:
            return
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
