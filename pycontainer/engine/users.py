"""Resolve ``user=`` against the image's own /etc/passwd and /etc/group.

The files are read as text from the image layers (resolved inside each layer
root), never through the host's NSS, so no code of the image runs in our
process (CVE-2019-14271).
"""
import errno
import os
import stat
from dataclasses import dataclass

from .. import _core
from ..errors import InvalidArgument, UnknownUser

_MAX = 1 << 20   # a passwd file larger than this is not a passwd file


@dataclass(frozen=True)
class Who:
    uid: int
    gid: int
    groups: tuple
    home: str


def read_image_file(layer_dirs, rel):
    """Text of ``rel`` from the top-most layer that has it, or None."""
    for layer in reversed(layer_dirs):
        try:
            dfd = os.open(layer, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            try:
                fd = _core.openat2(dfd, rel, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW,
                                   _core.RESOLVE_IN_ROOT | _core.RESOLVE_NO_MAGICLINKS)
            except OSError as err:
                if err.errno == errno.ELOOP:   # the file itself is a symlink; not followed
                    return None
                # Deleted in this layer (overlay whiteout: a 0/0 char device)?
                try:
                    st = os.stat(rel, dir_fd=dfd, follow_symlinks=False)
                    if stat.S_ISCHR(st.st_mode):
                        return None
                except OSError:
                    pass
                continue
            with os.fdopen(fd, "rb") as f:
                return f.read(_MAX).decode("utf-8", "replace")
        finally:
            os.close(dfd)
    return None


def _entries(text, nfields):
    for line in (text or "").splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) >= nfields:
            yield parts


def _num(text):
    return int(text) if text.isdigit() else None


_cache = {}


def resolve(spec, layer_dirs):
    """Cached :func:`lookup`: image layers never change once stored."""
    key = (spec, tuple(layer_dirs))
    who = _cache.get(key)
    if who is None:
        who = _cache[key] = lookup(spec, layer_dirs)
        if len(_cache) > 256:
            _cache.pop(next(iter(_cache)))
    return who


def lookup(spec, layer_dirs):
    """``""``, ``name``, ``uid``, ``name:group``, ``uid:gid`` -> :class:`Who`.

    Raises InvalidArgument when a name is not in the image's files.
    """
    spec = spec or ""
    user, _, group = spec.partition(":")
    if spec and not user:
        raise InvalidArgument(f"invalid user {spec!r}")
    passwd = read_image_file(layer_dirs, "etc/passwd")
    uid, gid, home, uname = _num(user) if user else 0, None, None, None
    for p in _entries(passwd, 7):
        if (user and p[0] == user) or (uid is not None and _num(p[2]) == uid and not uname):
            if _num(p[2]) is None or _num(p[3]) is None:
                continue
            uname, uid, gid, home = p[0], int(p[2]), int(p[3]), p[5]
            if p[0] == user:
                break
    if uid is None:
        raise UnknownUser(
            f"unable to find user {user}: no matching entries in the image's /etc/passwd")
    groups_text = read_image_file(layer_dirs, "etc/group")
    if group:
        gid = _num(group)
        if gid is None:
            for g in _entries(groups_text, 4):
                if g[0] == group and _num(g[2]) is not None:
                    gid = int(g[2])
                    break
            else:
                raise UnknownUser(
                    f"unable to find group {group}: no matching entries in the image's /etc/group")
    if gid is None:
        gid = 0
    extra = []
    if uname and not group:
        for g in _entries(groups_text, 4):
            if uname in g[3].split(",") and _num(g[2]) is not None and int(g[2]) not in extra:
                extra.append(int(g[2]))
    groups = tuple([gid] + [g for g in extra if g != gid])
    if not 0 <= uid < 2**32 - 1 or not 0 <= gid < 2**32 - 1:
        raise InvalidArgument(f"user {spec!r} is out of range")
    return Who(uid, gid, groups, home or ("/root" if uid == 0 else "/"))


def group_id(group, layer_dirs):
    """A gid, or a group name looked up in the image's /etc/group."""
    gid = _num(str(group))
    if gid is None:
        for g in _entries(read_image_file(layer_dirs, "etc/group"), 4):
            if g[0] == group and _num(g[2]) is not None:
                gid = int(g[2])
                break
        else:
            raise UnknownUser(f"unable to find group {group}: no matching entries in "
                                  "the image's /etc/group")
    if not 0 <= gid < 2**32 - 1:
        raise InvalidArgument(f"group {group!r} is out of range")
    return gid
