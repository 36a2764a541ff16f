"""Where COPY and ADD sources come from besides the context: another stage
or image (``--from``), a local tar archive that ``ADD`` unpacks, a URL."""
import contextlib
import hashlib
import os
import posixpath
import secrets
import stat
import tempfile
import urllib.parse

from ..errors import InvalidArgument, NotFound
from .context import Context, clean  # noqa: F401 (clean re-exported)

_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")
_GLOB = set("*?[")
MAX_URL_SIZE = 1 << 30


def is_url(src):
    return src.startswith(("http://", "https://", "git@")) or src.endswith(".git") and \
        "://" in src


def archive_of(ctx, rel, tmp_dir):
    """For ``ADD``: the unpacked context of ``rel`` when it is a tar archive
    (plain, gzip, bzip2, xz, zstd), else None."""
    try:
        fd = ctx.open(rel, os.O_RDONLY | os.O_NONBLOCK, "ADD")
    except (NotFound, IsADirectoryError):
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):     # a directory opens too (ADD . /dst)
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as f:
        head = f.read(512)
        if not (head.startswith(_MAGIC) or (len(head) >= 262 and head[257:262] == b"ustar")):
            return None
        f.seek(0)
        return Context.from_tar(f, tmp_dir, ignore=False)


def layer_context(layer_dirs, src):
    """``(context, path in it)`` reading ``src`` in place from the one layer of
    ``layer_dirs`` (lowest first, unpacked in overlay form) that holds all of
    it, or None when the merged view is needed (another layer has the path
    too, a link or whiteout is on the way, or ``src`` is the root): then
    :func:`image_context` takes it out through the engine."""
    parts = posixpath.normpath("/" + src).strip("/").split("/")
    fixed = []
    for part in parts:
        if not part or _GLOB & set(part):
            break
        fixed.append(part)
    if not fixed:
        return None
    found = None
    for layer in reversed(layer_dirs):
        for n in range(1, len(fixed) + 1):
            try:
                st = os.lstat(os.path.join(layer, *fixed[:n]))
            except (FileNotFoundError, NotADirectoryError):
                break
            if n < len(fixed):
                if not stat.S_ISDIR(st.st_mode):
                    if found is None:
                        return None         # a link or a whiteout above the path
                    break
                if found is None and _opaque(os.path.join(layer, *fixed[:n])) and \
                        not os.path.lexists(os.path.join(layer, *fixed)):
                    return None             # hidden below: not there at all
                continue
            if found is None:
                found = (layer, st)
                if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                    return None             # a link to resolve, or a whiteout
                if stat.S_ISREG(st.st_mode) or _opaque(os.path.join(layer, *fixed)):
                    break
            elif stat.S_ISDIR(found[1].st_mode):
                return None                 # two layers make this directory
        if found is not None and stat.S_ISREG(found[1].st_mode):
            break
    if found is None:
        return None
    return Context(found[0], ignore=False), "/".join(parts)


def _opaque(path):
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def image_context(engine, image_id, src, tmp_dir):
    """``(context, path in it)`` holding ``src`` of image ``image_id``: the
    non-glob directory part of ``src`` is taken out of a created (never
    started) container by the engine's get_archive, then unpacked by the
    store's safe extractor."""
    path = "/" + posixpath.normpath("/" + src).lstrip("/")
    parts = path.strip("/").split("/") if path != "/" else []
    fixed = []
    for part in parts:
        if _GLOB & set(part):
            break
        fixed.append(part)
    rest = parts[len(fixed):]
    prefix = "/" + "/".join(fixed)
    cid = engine.containers.create(image_id, ["true"], {"network_mode": "none",
                                                        "name": f"pyc_copy_{secrets.token_hex(6)}"})
    try:
        with tempfile.TemporaryFile(dir=tmp_dir) as f:
            try:
                chunks, _ = engine.containers.get_archive(cid, prefix if fixed else "/.")
            except NotFound as err:
                raise NotFound(f"COPY --from failed: {prefix} not found in the source "
                               f"image: {err}") from None
            for chunk in chunks:
                f.write(chunk)
            f.seek(0)
            ctx = Context.from_tar(f, tmp_dir, ignore=False)
    finally:
        with contextlib.suppress(NotFound):
            engine.containers.remove(cid, force=True)
    top = fixed[-1] if fixed else ""
    return ctx, "/".join([top] + rest) if top else "/".join(rest)


def add_url(job, url, dest, into, inst, checksum):
    """``ADD <url> <dest>``: the file, mode 0600 as docker gives it;
    ``--checksum=sha256:<hex>`` is verified before anything is added."""
    if url.startswith("git@") or url.endswith(".git"):
        raise inst.error(f"ADD of a git repository ({url}) is not supported")
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read(MAX_URL_SIZE + 1)
    except OSError as err:
        raise inst.error(f"ADD failed: cannot fetch {url}: {err}") from None
    if len(data) > MAX_URL_SIZE:
        raise inst.error(f"ADD failed: {url} is larger than {MAX_URL_SIZE} bytes")
    if checksum is not None:
        algo, _, want = checksum.partition(":")
        if algo != "sha256" or not want:
            raise inst.error(f"--checksum={checksum}: use sha256:<hex>")
        got = hashlib.sha256(data).hexdigest()
        if got != want.lower():
            raise InvalidArgument(f"{inst.filename}:{inst.line}: ADD {url}: checksum "
                                  f"mismatch: want sha256:{want}, got sha256:{got}")
    name = posixpath.basename(urllib.parse.urlsplit(url).path) or "index.html"
    target = posixpath.join(dest, name) if into or dest.endswith("/") else dest
    job.add_bytes(target, data, 0o600)
