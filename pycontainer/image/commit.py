"""``docker commit``: a container's writable layer becomes a new image layer.

The upper dir of the container's overlay holds exactly what the container
changed. It is walked with :func:`pycontainer.fstree.walk` (directory file
descriptors, no recursion, no symbolic link followed, any depth) and written
as a layer tar in the OCI/docker form:

* an overlay whiteout (a 0:0 character device) becomes an empty ``.wh.<name>``;
* a directory with ``trusted.overlay.opaque=y`` gets a ``.wh..wh..opq`` entry;
* ``trusted.overlay.*`` attributes are not copied; other extended attributes
  become ``SCHILY.xattr.*`` PAX records;
* hard links inside the layer stay hard links; sockets and device nodes
  (other than whiteouts) are left out, as the store refuses them.

The tar is streamed straight into :meth:`ImageStore.stage_layer`, which
hashes, keeps and unpacks it like any other layer, then the image is added.
Directories renamed with ``redirect_dir`` and metadata-only copies
(``metacopy``) keep their data in a lower layer; such an upper dir is refused
rather than committed wrong.
"""

import copy
import os
import stat
import tarfile

from pycontainer import fstree
from pycontainer.errors import ImageError, InvalidArgument, NotFound
from pycontainer.image.changes import apply_changes
from pycontainer.image.extract import OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from pycontainer.image.record import now
from pycontainer.image.store import CONFIG_KEYS, target_ref

_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
_UNSUPPORTED = ("redirect", "metacopy")
# Container config keys that describe a run, not an image: dropped from ``conf``.
_RUN_ONLY = {"Hostname", "Domainname", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
             "OpenStdin", "StdinOnce", "Image", "NetworkDisabled", "MacAddress"}
_EXTRA_KEYS = ("Healthcheck", "OnBuild", "Shell", "ArgsEscaped")
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 20


def commit(store, upper_dir, base_record, repository=None, tag=None, message=None,
           author=None, changes=None, conf=None):
    """Make an image of ``base_record`` plus the changes in ``upper_dir``.

    Args:
        store: the :class:`~pycontainer.image.store.ImageStore`.
        upper_dir: the overlay upper dir of the container.
        base_record: the :class:`ImageRecord` the container runs.
        repository: optional repository to tag the new image with (may
            carry the tag).
        tag: optional tag, ``latest`` by default.
        message: history comment.
        author: the ``author`` of the image and of its history entry.
        changes: Dockerfile instructions (``CMD``, ``ENV``, ``LABEL``...), as
            for :meth:`ImageStore.import_image`.
        conf: a docker container config dict (``{"Cmd": [...], "Env": [...]}``)
            whose image keys replace the base image's.

    Returns:
        The new :class:`~pycontainer.image.store.ImageRecord`.

    Raises:
        InvalidArgument: bad ``repository``, ``tag``, ``changes`` or ``conf``.
        NotFound: ``upper_dir`` does not exist (the container is gone).
        ImageError: the upper dir cannot be turned into a layer.

    >>> upper = json.load(open(client._runtime.config_path(cid)))["Runtime"]["LayerDir"]
    >>> rec = commit(store, upper + "/upper", store.get("busybox"), "mine", "v1",
    ...              changes=['CMD ["/bin/app"]'])
    >>> rec.tags
    ['mine:v1']
    """
    ref = target_ref(repository, tag) if repository or tag else None
    config = copy.deepcopy(base_record.config)
    image_config = dict(config.get("config") or {})
    _apply_conf(image_config, conf)
    apply_changes(image_config, changes)
    if not os.path.isdir(upper_dir):
        if not os.path.lexists(upper_dir):   # the container was removed meanwhile
            raise NotFound(f"cannot commit: the container's layer {upper_dir} is gone")
        raise ImageError(f"cannot commit: {upper_dir} is not a directory")
    staged = stage_upper(store, upper_dir)
    try:
        created = now()
        keys = list(CONFIG_KEYS) + [k for k in image_config if k not in CONFIG_KEYS]
        config["config"] = {k: image_config[k] for k in keys if k in image_config}
        config["created"] = created
        for old in ("container", "container_config", "docker_version"):
            config.pop(old, None)  # they described the base image's build
        entry = {"created": created, "created_by": "pycontainer commit"}
        if author:
            config["author"] = entry["author"] = author
        if message:
            entry["comment"] = message
        config.setdefault("history", []).append(entry)
        config["rootfs"] = {"type": "layers",
                            "diff_ids": base_record.diff_ids + [staged.diff_id]}
        layers = base_record.diff_ids + [staged]
        return store.add_image(config, layers, [ref] if ref else [], parent=base_record.id)
    finally:
        store.discard([staged])


def stage_upper(store, upper_dir, mtime_max=None):
    """Stage the layer of ``upper_dir``'s changes (whiteouts as OCI writes
    them); hand it to ``store.add_image``, then ``store.discard`` it.
    ``mtime_max`` clamps the entries' mtimes (SOURCE_DATE_EPOCH builds)."""
    reader = _Reader(_layer_tar(upper_dir, mtime_max))
    try:
        return store.stage_layer(reader)
    finally:
        reader.close()


def _apply_conf(image_config, conf):
    if conf is None:
        return
    if not isinstance(conf, dict):
        raise InvalidArgument(f"conf must be a dict, not {type(conf).__name__}")
    for key, value in conf.items():
        if key in _RUN_ONLY:
            continue
        if key not in CONFIG_KEYS and key not in _EXTRA_KEYS:
            raise InvalidArgument(f"conf: unsupported key {key!r}; use "
                                  f"{', '.join(CONFIG_KEYS)}")
        if value is None:
            image_config.pop(key, None)
        else:
            image_config[key] = copy.deepcopy(value)


class _Reader:
    """A file-like ``read(n)`` over a generator of byte pieces."""

    def __init__(self, pieces):
        self.pieces = pieces
        self.buf = bytearray()

    def read(self, n=-1):
        if n is None or n < 0:
            n = _CHUNK
        while len(self.buf) < n:
            piece = next(self.pieces, None)
            if piece is None:
                break
            self.buf += piece
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def close(self):
        self.pieces.close()  # runs the generator's cleanup: open fds are closed


def _header(name, st, kind, size=0, linkname="", xattrs=None):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    info.linkname = linkname
    for key, value in (xattrs or {}).items():
        info.pax_headers["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _xattrs(fd, where):
    """Extended attributes worth keeping; refuses overlay features we cannot follow."""
    out = {}
    try:
        names = os.listxattr(fd)
    except OSError:
        return out
    for name in sorted(names):
        if name.startswith(_OVERLAY_XATTRS):
            if name.split(".", 2)[2] in _UNSUPPORTED:
                raise ImageError(f"cannot commit {where!r}: overlay {name} means its data "
                                 "is in a lower layer (redirect_dir or metacopy is on)")
            continue
        try:
            out[name] = os.getxattr(fd, name)
        except OSError:
            continue  # removed meanwhile
    return out


def _opaque(fd):
    try:
        return os.getxattr(fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _layer_tar(upper_dir, mtime_max=None):
    walk = fstree.walk(upper_dir, sort=True)
    try:
        yield from _entries(walk, mtime_max)
    finally:
        walk.close()
    yield bytes(1024)  # end of archive


class _Clamped:
    """A stat result whose mtime is at most ``most``."""

    def __init__(self, st, most):
        self._st, self.st_mtime = st, min(st.st_mtime, most)

    def __getattr__(self, name):
        return getattr(self._st, name)


def _entries(walk, mtime_max=None):
    links = {}
    for entry in walk:
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue  # removed by a process of the running container
        if mtime_max is not None:
            st = _Clamped(st, mtime_max)
        name, mode = entry.path, st.st_mode
        if stat.S_ISCHR(mode) and st.st_rdev == 0:
            prefix = name[:len(name) - len(entry.name)]
            yield _header(prefix + WHITEOUT_PREFIX + entry.name, st, tarfile.REGTYPE)
        elif stat.S_ISDIR(mode):
            try:
                fd = entry.open_dir()
            except (FileNotFoundError, NotADirectoryError):
                entry.skip = True
                continue
            yield _header(name, st, tarfile.DIRTYPE, xattrs=_xattrs(fd, name))
            if _opaque(fd):
                yield _header(f"{name}/{WHITEOUT_OPAQUE}", st, tarfile.REGTYPE)
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                yield _header(name, st, tarfile.LNKTYPE, linkname=links[key])
                continue
            yield from _file(entry.dir_fd, entry.name, name, st)
            if st.st_nlink > 1:
                links[key] = name
        elif stat.S_ISLNK(mode):
            try:
                target = os.readlink(entry.name, dir_fd=entry.dir_fd)
            except FileNotFoundError:
                continue
            yield _header(name, st, tarfile.SYMTYPE, linkname=target)
        elif stat.S_ISFIFO(mode):
            yield _header(name, st, tarfile.FIFOTYPE)
        # Sockets and device nodes are left out: the store refuses devices.


def _file(dir_fd, base, name, st):
    try:
        fd = os.open(base, _FILE, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return  # replaced by something else since the scan
        size = st.st_size
        yield _header(name, st, tarfile.REGTYPE, size=size, xattrs=_xattrs(fd, name))
        # The header promised `size` bytes: a file that a running container
        # grows is cut there, one that shrinks is padded with zeros.
        left = size
        while left:
            data = os.read(fd, min(left, _CHUNK))
            if not data:
                yield bytes(left)
                break
            left -= len(data)
            yield data
        yield bytes(-size % 512)
    finally:
        os.close(fd)
