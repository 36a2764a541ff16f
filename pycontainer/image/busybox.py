"""The embedded default base image: a one-layer busybox root filesystem.

pycontainer needs no registry for its first image: it builds ``busybox:latest``
from the statically linked busybox binary of the host (Debian/Ubuntu package
``busybox-static``). The layer holds:

* ``bin/busybox`` and a relative symbolic link for every applet that
  ``busybox --list-full`` prints (``bin/sh -> busybox``,
  ``usr/bin/wget -> ../../bin/busybox``...);
* ``etc/passwd`` and ``etc/group`` with the usual system accounts
  (root 0, daemon 1, bin 2, sys 3, nobody 65534...);
* empty ``dev``, ``home``, ``proc``, ``root`` (0700), ``sys``, ``tmp`` (1777)
  and ``var`` directories.

The tar is deterministic (sorted entries, fixed owner and mtime), so its
digest only depends on the busybox binary; :func:`ensure_busybox` also uses a
fixed creation time, so the image ID is stable on a given host.
"""

import io
import os
import posixpath
import shutil
import struct
import subprocess
import tarfile

from pycontainer.errors import ImageError, ImageNotFound

#: mtime of every entry and creation time of the image (2000-01-01T00:00:00Z).
FIXED_MTIME = 946684800
FIXED_CREATED = "2000-01-01T00:00:00Z"
INSTALL_HINT = "install it with 'apt-get install busybox-static'"

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""

GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
users:x:100:
nogroup:x:65534:
"""

# Directories of the image and their modes (parents of applets are added).
_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555,
         "root": 0o700, "sys": 0o555, "tmp": 0o1777, "var": 0o755}


def find_busybox():
    """Return the path of a statically linked busybox binary.

    Raises:
        ImageError: none found, or it is dynamically linked.
    """
    path = "/bin/busybox" if os.path.isfile("/bin/busybox") else shutil.which("busybox")
    if not path:
        raise ImageError(f"busybox not found: {INSTALL_HINT}")
    if not _is_static_elf(path):
        raise ImageError(f"{path} is not a statically linked busybox: {INSTALL_HINT}")
    return path


def _is_static_elf(path):
    """True when ``path`` is an ELF executable without a program interpreter."""
    with open(path, "rb") as f:
        ident = f.read(64)
        if len(ident) < 52 or ident[:4] != b"\x7fELF":
            return False
        bits, order = ident[4], "<" if ident[5] == 1 else ">"
        if bits == 2:
            phoff, = struct.unpack_from(order + "Q", ident, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", ident, 54)
        else:
            phoff, = struct.unpack_from(order + "I", ident, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", ident, 42)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, = struct.unpack_from(order + "I", table, i * phentsize)
        if p_type == 3:  # PT_INTERP: needs a dynamic loader
            return False
    return True


def _applets(busybox):
    try:
        out = subprocess.run([busybox, "--list-full"], check=True, capture_output=True,
                             timeout=30).stdout.decode()
    except (OSError, subprocess.SubprocessError) as e:
        raise ImageError(f"cannot list the applets of {busybox}: {e}") from None
    paths = set()
    for line in out.split():
        path = posixpath.normpath(line.strip("/"))
        if path and not path.startswith("..") and path != "bin/busybox":
            paths.add(path)
    return sorted(paths)


def _info(name, kind, mode, size=0, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def busybox_rootfs_tar(fileobj):
    """Write the busybox root filesystem as an uncompressed tar.

    Args:
        fileobj: binary file object to write to.

    Raises:
        ImageError: no statically linked busybox on the host.
    """
    busybox = find_busybox()
    with open(busybox, "rb") as f:
        binary = f.read()
    applets = _applets(busybox)
    dirs = dict(_DIRS)
    for path in applets:
        parent = posixpath.dirname(path)
        while parent:
            dirs.setdefault(parent, 0o755)
            parent = posixpath.dirname(parent)
    entries = {d: ("dir", mode) for d, mode in dirs.items()}
    entries["bin/busybox"] = ("file", binary, 0o755)
    entries["etc/passwd"] = ("file", PASSWD.encode(), 0o644)
    entries["etc/group"] = ("file", GROUP.encode(), 0o644)
    for path in applets:
        if path not in entries:
            link = posixpath.relpath("bin/busybox", posixpath.dirname(path) or ".")
            entries[path] = ("link", link)
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(entries):
            kind, *rest = entries[name]
            if kind == "dir":
                tf.addfile(_info(name, tarfile.DIRTYPE, rest[0]))
            elif kind == "file":
                data, mode = rest
                tf.addfile(_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
            else:
                tf.addfile(_info(name, tarfile.SYMTYPE, 0o777, linkname=rest[0]))


def ensure_busybox(store, tag="latest"):
    """Import the embedded busybox image as ``busybox:<tag>`` unless present.

    Args:
        store: an :class:`~pycontainer.image.store.ImageStore`.
        tag: tag to look for and to give.

    Returns:
        The :class:`~pycontainer.image.store.ImageRecord` of ``busybox:<tag>``.

    Raises:
        ImageError: no statically linked busybox on the host.
    """
    try:
        return store.get(f"busybox:{tag}")
    except ImageNotFound:
        pass
    buf = io.BytesIO()
    busybox_rootfs_tar(buf)
    buf.seek(0)
    return store.import_image(buf, repository="busybox", tag=tag, changes=['CMD ["sh"]'],
                              message="pycontainer embedded busybox", created=FIXED_CREATED)
