"""``cp``: files between a container and this machine, with docker's rules.

``cp CONTAINER:SRC DEST`` and ``cp SRC CONTAINER:DEST`` (``-`` is a tar on
stdout or stdin). A DEST that is an existing directory receives SRC under
its own name; a DEST that does not exist becomes SRC's copy; ``SRC/.``
copies a directory's contents. Copied files belong to the user running the
command (to root in the container) unless ``-a`` keeps the archive's owners.

The container's files are hostile: what comes out is extracted with
tarfile's ``data`` filter (no absolute paths, no ``..``, no links leaving
the destination, no device files, no set-id bits).
"""
import os
import posixpath
import stat
import sys
import tarfile

from . import CLIError, UsageError
from .common import container_id

GO_DIR, GO_LINK = 1 << 31, 1 << 27


def args_cp(p):
    p.add_argument("-a", "--archive", action="store_true",
                   help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true",
                   help="Always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="(accepted; no progress is shown)")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dest", metavar="DEST")
    p.epilog = ("Use 'CONTAINER:PATH' on one side. Use '-' as SRC to read a tar archive from "
                "stdin, or as DEST to write one to stdout.")


def _split(arg):
    """``CONTAINER:PATH`` -> (container, path); a local path -> (None, path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    return name, path or "/"


def cmd_cp(ctx, args):
    (src_c, src), (dst_c, dst) = _split(args.src), _split(args.dest)
    if (src_c is None) == (dst_c is None):
        raise UsageError("copying between containers or between local paths is not "
                         "supported: use CONTAINER:PATH on exactly one side")
    if src_c is not None:
        return _from_container(ctx, container_id(ctx, src_c), src, dst, args)
    return _to_container(ctx, container_id(ctx, dst_c), src, dst, args)


# -- out of the container -----------------------------------------------------------

class _Reader:
    """A file object over an iterator of bytes (tarfile's stream mode reads it)."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.buf = b""

    def read(self, n=-1):
        while n < 0 or len(self.buf) < n:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buf += chunk
        if n < 0:
            data, self.buf = self.buf, b""
        else:
            data, self.buf = self.buf[:n], self.buf[n:]
        return data


def _archive(ctx, cid, path, follow):
    """get_archive of ``path``, following a link at its end with ``follow``."""
    c = ctx.engine.containers
    stream, st = c.get_archive(cid, path)
    if follow and st["mode"] & GO_LINK:
        stream.close()
        stream, st2 = c.get_archive(cid, st["linkTarget"])
        st = dict(st2, name=st["name"])
    return stream, st


def _from_container(ctx, cid, src, dst, args):
    stream, st = _archive(ctx, cid, src, args.follow_link)
    with stream:
        if dst == "-":
            out = sys.stdout.buffer
            for chunk in stream:
                out.write(chunk)
            out.flush()
            return 0
        contents = src.endswith("/.")
        is_dir = bool(st["mode"] & GO_DIR)
        if os.path.isdir(dst):
            parent, top = dst, None if contents else st["name"]
        elif os.path.lexists(dst):
            if is_dir:
                raise CLIError(f"pycontainer cp: cannot copy a directory to a file: {dst}")
            parent, top = os.path.dirname(os.path.abspath(dst)), os.path.basename(dst)
        else:
            if dst.endswith("/") and not is_dir:
                raise CLIError(f"pycontainer cp: destination directory {dst} does not exist")
            parent = os.path.dirname(os.path.abspath(dst.rstrip("/")))
            if not os.path.isdir(parent):
                raise CLIError(f"pycontainer cp: no such directory: {parent}")
            top = os.path.basename(dst.rstrip("/"))
            if contents:
                os.mkdir(dst)
                parent, top = dst, None
        _extract(stream, parent, st["name"], top, args.archive)
    return 0


def _extract(chunks, parent, name, top, keep_owner):
    """Extract the tar, its top entry ``name`` renamed to ``top`` (None: as is)."""
    uid, gid = os.getuid(), os.getgid()

    def filt(member, path):
        member = tarfile.data_filter(member, path)
        if member is None:
            return None
        if top is not None:
            first, sep, rest = member.name.partition("/")
            if first == name:
                member = member.replace(name=top + sep + rest, deep=False)
        if not keep_owner:
            member = member.replace(uid=uid, gid=gid, uname="", gname="", deep=False)
        return member
    with tarfile.open(fileobj=_Reader(chunks), mode="r|*") as tar:
        for member in tar:
            tar.extract(member, parent, filter=filt)


# -- into the container ---------------------------------------------------------------

class _Collector:
    def __init__(self):
        self.parts = []

    def write(self, data):
        self.parts.append(bytes(data))
        return len(data)

    def take(self):
        data, self.parts = b"".join(self.parts), []
        return data


def _tar_chunks(src, top, keep_owner):
    """A tar of the local ``src`` (its top entry named ``top``, or its contents
    when ``top`` is None), produced as it is read."""
    sink = _Collector()
    tar = tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT)

    def owner(ti):
        if not keep_owner:
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
        return ti

    def entries():
        if top is not None:
            yield src, top
        if os.path.isdir(src) and not os.path.islink(src):
            base = src.rstrip("/") or "/"
            for dirpath, dirs, files in os.walk(base):      # links are not followed
                dirs.sort()
                rel = os.path.relpath(dirpath, base)
                for n in dirs + sorted(files):
                    arc = n if rel == "." else os.path.join(rel, n)
                    yield os.path.join(dirpath, n), arc if top is None else f"{top}/{arc}"
    for path, arc in entries():
        tar.add(path, arcname=arc, recursive=False, filter=owner)
        yield sink.take()
    tar.close()
    yield sink.take()


def _probe(c, cid, path):
    """The docker stat of ``path`` in the container, or None when it is missing."""
    from ..errors import NotFound
    try:
        stream, st = c.get_archive(cid, path)
    except NotFound:
        return None
    stream.close()
    return st


def _to_container(ctx, cid, src, dst, args):
    c = ctx.engine.containers
    if not dst.startswith("/"):
        dst = "/" + dst
    if src == "-":
        st = _probe(c, cid, dst)
        if st is None or not st["mode"] & GO_DIR:
            raise CLIError(f"pycontainer cp: destination {dst} must be an existing directory "
                           "in the container to extract a tar from stdin")
        c.put_archive(cid, dst, sys.stdin.buffer)
        return 0
    try:
        src_st = os.lstat(src)
    except FileNotFoundError:
        raise CLIError(f"pycontainer cp: no such file or directory: {src}") from None
    if args.follow_link and stat.S_ISLNK(src_st.st_mode):
        src = os.path.realpath(src)
        src_st = os.stat(src)
    is_dir = stat.S_ISDIR(src_st.st_mode)
    contents = src.endswith("/.")
    st = _probe(c, cid, dst)
    if st is not None and st["mode"] & GO_DIR:
        parent, top = dst, None if contents else os.path.basename(os.path.abspath(src))
    elif st is not None:
        if is_dir:
            raise CLIError(f"pycontainer cp: cannot copy a directory to a file: {dst}")
        parent, top = posixpath.dirname(dst.rstrip("/")) or "/", posixpath.basename(dst)
    else:
        if dst.endswith("/") and not is_dir:
            raise CLIError(f"pycontainer cp: destination directory {dst} does not exist in "
                           "the container")
        parent = posixpath.dirname(dst.rstrip("/")) or "/"
        top = posixpath.basename(dst.rstrip("/"))
    c.put_archive(cid, parent, _tar_chunks(src, top, args.archive))
    return 0
