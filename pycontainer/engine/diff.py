"""``Container.diff()``: changes in the writable layer, read as metadata only
(through directory fds, never following links)."""
import os
import stat

from .. import fstree


_RDIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE = "trusted.overlay.opaque"
_LOWER_FDS = 4      # per image layer: a deep walk reopens the rest through ".."


# -- diff (in this process: metadata of the writable layer only) ----------------

def _is_whiteout(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(fd):
    try:
        return os.getxattr(fd, _OPAQUE) == b"y"
    except OSError:
        return False


def _opaque_at(dir_fd, name):
    """Whether the directory ``name`` in ``dir_fd`` is opaque, without an open."""
    try:
        return os.getxattr(f"/proc/self/fd/{dir_fd}/{name}", _OPAQUE,
                           follow_symlinks=False) == b"y"
    except OSError:
        return False


class _Lowers:
    """The image layers (top-most first) at the directory the walk of the
    upper dir is in, merged as overlayfs does: one :class:`fstree.DirStack`
    per layer, kept at the same depth as the walk while the layer still shows
    that directory (not whited out, hidden by an opaque one or a file)."""

    def __init__(self, paths):
        self.stacks = []
        for path in paths:
            try:
                fd = os.open(path, _RDIR)
            except OSError:
                continue
            self.stacks.append(fstree.DirStack(fd, max_open=_LOWER_FDS))
        # levels[k]: the layers showing the directory whose entries are at depth k
        self.levels = [list(range(len(self.stacks)))]

    def close(self):
        for ds in self.stacks:
            ds.close()

    def at(self, depth):
        """Back up to the directory whose entries are at ``depth``."""
        while len(self.levels) > depth + 1:
            for i in self.levels.pop():
                self.stacks[i].pop()

    def entry(self, name):
        """``(lstat or None, layers in which it is a directory)`` of ``name``."""
        found, keep = None, []
        for i in self.levels[-1]:
            fd = self.stacks[i].fd
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if _is_whiteout(st):
                break
            if found is None:
                found = st
            if not stat.S_ISDIR(st.st_mode) or not stat.S_ISDIR(found.st_mode):
                break
            keep.append(i)
            if _opaque_at(fd, name):
                break
        return found, keep

    def enter(self, name, layers):
        """Follow the walk into the directory ``name`` (shown by ``layers``)."""
        level = []
        for i in layers:
            try:
                self.stacks[i].push(name)
            except OSError:
                continue
            level.append(i)
        self.levels.append(level)

    def names(self):
        """Names the layers show in the current directory (not whited out)."""
        names, hidden = set(), set()
        for i in self.levels[-1]:
            fd = self.stacks[i].fd
            try:
                entries = os.listdir(fd)
            except OSError:
                continue
            for n in entries:
                if n in names or n in hidden:
                    continue
                try:
                    st = os.stat(n, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    continue
                (hidden if _is_whiteout(st) else names).add(n)
        return names


def _diff(upper, lowers):
    changes = []
    try:
        top = os.open(upper, _RDIR)
    except FileNotFoundError:
        return changes
    # fds all the way: the container may be changing its layer meanwhile, so
    # no path in it is ever followed.
    below = _Lowers(lowers)
    walk = fstree.walk(top)
    try:
        for e in walk:
            below.at(e.depth)
            _diff_entry(e, below, changes)
    finally:
        walk.close()
        below.close()
        os.close(top)
    # By component ("/" sorts first), without a list per path: deep paths are long.
    changes.sort(key=lambda c: c["Path"].replace("/", "\0"))
    return changes


def _diff_entry(e, below, out):
    try:
        st = e.stat()
    except OSError:
        return
    path = "/" + e.path
    lower, layers = below.entry(e.name)
    if _is_whiteout(st):
        if lower is not None:
            out.append({"Path": path, "Kind": 2})
        return
    out.append({"Path": path, "Kind": 0 if lower is not None else 1})
    if not stat.S_ISDIR(st.st_mode):
        return
    try:
        fd = e.open_dir()
    except OSError:
        e.skip = True
        return
    lower_dir = lower is not None and stat.S_ISDIR(lower.st_mode)
    below.enter(e.name, layers if lower_dir else [])
    if lower_dir and _opaque(fd):
        present = set(os.listdir(fd))
        for n in sorted(below.names() - present):
            out.append({"Path": f"{path}/{n}", "Kind": 2})
