"""``Container.diff()``: changes in the writable layer, read as metadata only
(through directory fds, never following links)."""
import os
import stat


_RDIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE = "trusted.overlay.opaque"


# -- diff (in this process: metadata of the writable layer only) ----------------

def _is_whiteout(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(fd_or_path):
    try:
        if isinstance(fd_or_path, int):
            return os.getxattr(fd_or_path, _OPAQUE) == b"y"
        return os.getxattr(fd_or_path, _OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _lower_entry(lowers, parts):
    """What the image layers (top-most first) show at ``parts``, merged as
    overlayfs does: ``(lstat or None, layers in which it is a directory)``."""
    active = list(lowers)
    for i, name in enumerate(parts):
        last = i == len(parts) - 1
        found, keep = None, []
        for layer in active:
            p = os.path.join(layer, *parts[:i + 1])
            try:
                st = os.lstat(p)        # every parent was checked to be a real dir
            except (FileNotFoundError, NotADirectoryError):
                continue
            if _is_whiteout(st):
                break
            if found is None:
                found = st
            if not stat.S_ISDIR(st.st_mode) or not stat.S_ISDIR(found.st_mode):
                break
            keep.append(layer)
            if _opaque(p):
                break
        if found is None:
            return None, []
        if last:
            return found, keep
        if not stat.S_ISDIR(found.st_mode):
            return None, []
        active = keep
    return None, list(lowers)


def _lower_names(layers, parts):
    names, hidden = set(), set()
    for layer in layers:
        p = os.path.join(layer, *parts)
        try:
            entries = os.listdir(p)
        except OSError:
            continue
        for n in entries:
            if n in names or n in hidden:
                continue
            try:
                st = os.lstat(os.path.join(p, n))
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
    stack = [(top, [])]
    try:
        while stack:
            fd, parts = stack.pop()
            try:
                for name in os.listdir(fd):
                    _diff_entry(fd, name, parts + [name], lowers, stack, changes)
            finally:
                os.close(fd)
    finally:
        for fd, _ in stack:
            os.close(fd)
    changes.sort(key=lambda c: c["Path"].split("/"))
    return changes


def _diff_entry(parent, name, sub, lowers, stack, out):
    path = "/" + "/".join(sub)
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except OSError:
        return
    lower, layers = _lower_entry(lowers, sub)
    if _is_whiteout(st):
        if lower is not None:
            out.append({"Path": path, "Kind": 2})
        return
    out.append({"Path": path, "Kind": 0 if lower is not None else 1})
    if not stat.S_ISDIR(st.st_mode):
        return
    try:
        fd = os.open(name, _RDIR, dir_fd=parent)
    except OSError:
        return
    try:
        if lower is not None and stat.S_ISDIR(lower.st_mode) and _opaque(fd):
            present = set(os.listdir(fd))
            for n in sorted(_lower_names(layers, sub) - present):
                out.append({"Path": f"{path}/{n}", "Kind": 2})
    except BaseException:
        os.close(fd)
        raise
    stack.append((fd, sub))
