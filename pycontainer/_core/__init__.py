"""The only package that touches the compiled C core.

Every C function returns ``>= 0`` or ``-errno``; :func:`check` is the one place
that turns a negative value into an exception: a ``HostError`` (a
``PyContainerError`` and an ``OSError``: ``FileNotFoundError``,
``PermissionError``... by its errno).
"""
import errno
import os
import sys

from ..errors import os_error

try:
    from ._pyc import ffi, lib
except ImportError as err:  # pragma: no cover - a broken install
    raise ImportError(
        "pycontainer's C core is not built: run `pip install -e .` (or setup.sh)") from err

# Where cffi's backend module lives: a bare interpreter (python -I -S, the
# network release hook) adds it to sys.path to import this package.
BACKEND_DIR = os.path.dirname(sys.modules["_cffi_backend"].__file__)

__all__ = ["ffi", "lib", "check", "cgroup_apply", "openat2",
           "CLONE_NEWNS", "CLONE_NEWCGROUP", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWUSER",
           "CLONE_NEWPID", "CLONE_NEWNET", "MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_REMOUNT",
           "MS_BIND", "MS_REC", "MS_PRIVATE"]

# Kernel flags, as the C headers define them (csrc/pyc.h exports them).
CLONE_NEWNS = lib.PYC_CLONE_NEWNS
CLONE_NEWCGROUP = lib.PYC_CLONE_NEWCGROUP
CLONE_NEWUTS = lib.PYC_CLONE_NEWUTS
CLONE_NEWIPC = lib.PYC_CLONE_NEWIPC
CLONE_NEWUSER = lib.PYC_CLONE_NEWUSER
CLONE_NEWPID = lib.PYC_CLONE_NEWPID
CLONE_NEWNET = lib.PYC_CLONE_NEWNET
MS_RDONLY = lib.PYC_MS_RDONLY
MS_NOSUID = lib.PYC_MS_NOSUID
MS_NODEV = lib.PYC_MS_NODEV
MS_REMOUNT = lib.PYC_MS_REMOUNT
MS_BIND = lib.PYC_MS_BIND
MS_REC = lib.PYC_MS_REC
MS_PRIVATE = lib.PYC_MS_PRIVATE


def check(rc, what, path=None):
    """Return ``rc`` when >= 0, else raise a HostError (an OSError) for errno
    ``-rc`` naming ``what``."""
    if rc < 0:
        err = -rc
        raise os_error(err, f"{what}: {os.strerror(err)}", path)
    return rc


TREE_LEVELS = 1 << 30        # no limit: the C walk stops at 128 (ELOOP)


def watch_dirs(dirs):
    """An inotify fd (non-blocking) watching ``dirs`` for changed files."""
    keep = [ffi.new("char[]", os.fsencode(d)) for d in dirs]
    return check(lib.pyc_watch_dirs(ffi.new("char *[]", keep), len(keep)), "inotify watch")


def tree_stat(fd, levels=TREE_LEVELS, cap=1 << 20):
    """``(records, newest ctime ns)`` of the tree below ``fd``, ``levels``
    deep (csrc/tree.c); ``cap``: the first buffer's size (cffi zeroes it)."""
    while True:
        buf = ffi.new("char[]", cap)
        newest = ffi.new("int64_t *")
        n = lib.pyc_tree_stat(fd, levels, buf, cap, newest)
        if n != -errno.ERANGE or cap >= 1 << 30:
            check(n, "walk the tree")
            return ffi.buffer(buf, n)[:], newest[0]
        cap *= 8


def malloc_arenas(n):
    """At most ``n`` malloc arenas in this process (call before threads start)."""
    check(lib.pyc_malloc_arenas(n), "mallopt M_ARENA_MAX")


def malloc_trim():
    """The heap's free pages back to the system."""
    lib.pyc_malloc_trim()


def cgroup_apply(entries):
    """Carry out ``[(kind, path, value)]`` cgroup steps in one C call.

    ``kind`` is ``d`` (mkdir), ``w`` (write), ``r`` (rmdir), ``R`` (rmdir,
    retried while busy) or ``o`` (the ``trusted.pyc.owner`` xattr: who made
    the cgroup). Raises OSError naming the failing step's path.
    """
    if not entries:
        return
    batch = "".join(f"{k}\t{p}\t{v}\n" for k, p, v in entries).encode()
    failed = ffi.new("int *")
    rc = lib.pyc_cgroup_apply(batch, len(batch), failed)
    if rc < 0:
        kind, path, value = entries[failed[0]] if failed[0] >= 0 else ("?", None, "")
        verb = {"d": "mkdir", "w": f"write {value!r} to", "r": "rmdir", "R": "rmdir",
                "o": "set the owner of"}.get(kind, kind)
        check(rc, f"cgroup {verb} {path}", path)


def openat2(dirfd, path, flags, resolve, mode=0):
    """openat2(2): an fd for ``path`` resolved under ``dirfd`` with RESOLVE_* flags."""
    return check(lib.pyc_openat2(dirfd, os.fsencode(path), flags, mode, resolve), "openat2", path)


RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
