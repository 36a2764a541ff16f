"""Network namespace files: the syscalls that join, make, pin and unpin a
namespace (through the C core), for the calling thread only.

Kept apart from :mod:`.netlink` (no sockets here) so that the monitor's
release hook, which only unmounts a pinned namespace, imports little.
"""
import errno
import os

from .._core import CLONE_NEWNET, MS_BIND, check, ffi, lib


def setns(fd, nstype=CLONE_NEWNET):
    """setns(2) for the calling thread."""
    check(lib.pyc_setns(fd, nstype), "setns")


def unshare(flags):
    """unshare(2) for the calling thread."""
    check(lib.pyc_unshare(flags), "unshare")


def bind_mount(src, target):
    check(lib.pyc_mount(os.fsencode(src), os.fsencode(target), ffi.NULL, MS_BIND, ffi.NULL),
          f"bind {src} on {target}", target)


def umount(target):
    """umount2(target, MNT_DETACH); False when ``target`` is not mounted."""
    rc = lib.pyc_umount(os.fsencode(target))
    if rc in (-errno.EINVAL, -errno.ENOENT):
        return False
    check(rc, f"umount {target}", target)
    return True

