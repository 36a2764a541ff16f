"""A container's storage: run()'s ``volumes=``, ``mounts=``, ``tmpfs=`` and the
image's VOLUMEs, as plain-data specs on ContainerConfig, then as plan ops.

:func:`parse` validates everything and creates nothing; named and anonymous
volumes are made (if missing) by :func:`resolve` when the container starts;
:func:`emit` adds one ``MOUNT_IN`` op per mount, shallow targets first. The
C core opens every target with ``openat2(RESOLVE_IN_ROOT)``, so a symlink in
the image cannot send a mount outside the container's root.

A spec (stored in config.json)::

    {"Type": "bind" | "volume" | "tmpfs", "Destination": "/data",
     "Source": host path ("" for a volume until it starts), "Name": volume name,
     "RW": bool, "IsFile": bool, "Options": "size=65536k,mode=1777",
     "Flags": ["nodev", "noexec", "nosuid"], "Anonymous": bool, "Labels": {}}

Example:
    >>> [s["Type"] for s in parse(volumes=["/srv:/srv:ro", "cache:/cache"],
    ...                           tmpfs={"/run": "size=64m"})]
    ['bind', 'volume', 'tmpfs']
"""
import os
import posixpath
import re
import secrets
import stat

from ..errors import InvalidArgument
from ..types import Mount, parse_bytes
from ..volumes import VolumeStore, valid_name

# MOUNT_ATTR_* (linux/mount.h)
ATTRS = {"ro": 0x1, "nosuid": 0x2, "nodev": 0x4, "noexec": 0x8}
# Mounted by the runtime itself; /sys comes after the user mounts and would hide them.
RESERVED = ("/proc", "/sys")
TMPFS_DEFAULT = ("nodev", "noexec", "nosuid")      # docker's defaults for tmpfs=
MOUNT_TMPFS_DEFAULT = ("nodev", "nosuid")          # and for Mount(type="tmpfs")
_TMPFS_VALUES = {"size": r"\d+[kmg%]?", "nr_inodes": r"\d+[kmg]?", "mode": r"[0-7]{1,4}",
                 "uid": r"\d+", "gid": r"\d+"}
# What the kernel takes (tmpfs silently wraps a larger size, to 0 = unlimited).
_TMPFS_MAX = {"size": (1 << 63) - 1, "nr_inodes": ((1 << 64) - 1) // 1024,
              "uid": (1 << 32) - 2, "gid": (1 << 32) - 2}
_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_FLAG_OFF = {"rw": "ro", "exec": "noexec", "suid": "nosuid", "dev": "nodev"}
_PROPAGATION_OK = (None, "", "rprivate", "private")   # a new mount namespace's default
# shared/rshared are refused: pivot_root needs the root's parent private
PROPAGATIONS = ("rprivate", "private", "rslave", "slave")


def _spec(kind, dest, source="", name="", rw=True, is_file=False, options="", flags=(),
          anonymous=False, labels=None, propagation=""):
    out = {"Type": kind, "Destination": dest, "Source": source, "Name": name, "RW": rw,
           "IsFile": is_file, "Options": options, "Flags": sorted(flags),
           "Anonymous": anonymous, "Labels": dict(labels or {})}
    if propagation and propagation != "rprivate":
        out["Propagation"] = propagation
    return out


def check_propagation(source, prop, what):
    """docker's rule: a slave bind needs a source on a shared or slave mount
    (else it would receive nothing, silently)."""
    if prop not in ("slave", "rslave"):
        return
    best, fields = "", []
    real = os.path.realpath(source)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            point = parts[4].replace("\\040", " ")
            if (real == point or real.startswith(point.rstrip("/") + "/")) and \
                    len(point) >= len(best):
                best, fields = point, parts[6:parts.index("-")]
    if not any(w.startswith(("shared:", "master:")) for w in fields):
        raise InvalidArgument(f"{what}: path {source} is mounted on {best} but it is not a "
                              f"shared or slave mount ({prop} propagation needs one)")


def target(path, what="mount"):
    """An absolute, normalised path in the container; ``..`` is refused."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidArgument(f"{what}: invalid mount target {path!r}")
    if not path.startswith("/"):
        raise InvalidArgument(f"{what}: mount target {path!r} must be an absolute path")
    if ".." in path.split("/"):
        raise InvalidArgument(f"{what}: mount target {path!r} must not contain '..'")
    norm = "/" + posixpath.normpath(path).lstrip("/")
    if norm == "/":
        raise InvalidArgument(f"{what}: the mount target cannot be '/'")
    for top in RESERVED:
        if norm == top or norm.startswith(top + "/"):
            raise InvalidArgument(f"{what}: cannot mount on {norm} (the runtime mounts {top})")
    return norm


def bind_source(path, what="bind"):
    """``(path, is_file)`` of an existing absolute host path."""
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise InvalidArgument(f"{what}: bind source {path!r} must be an absolute host path")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InvalidArgument(f"{what}: bind source path does not exist: {path}") from None
    except OSError as e:
        raise InvalidArgument(f"{what}: bind source {path}: {e.strerror}") from None
    return path.rstrip("/") or "/", not stat.S_ISDIR(st.st_mode)


def volume_name(name, what="volume"):
    if not valid_name(name):
        raise InvalidArgument(
            f"{what}: {name!r} is not a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+); "
            "a host directory must be an absolute path")
    return name


def _mode(mode, what):
    """``(rw, propagation)`` of a mode: ``rw``/``ro``, a propagation word
    (binds), ``nocopy``; anything else is refused."""
    if not isinstance(mode, str):
        raise InvalidArgument(f"{what}: mode must be a string, got {mode!r}")
    rw, prop = None, ""
    for word in mode.split(","):
        if word in ("ro", "rw"):
            if rw is not None and rw != (word == "rw"):
                raise InvalidArgument(f"{what}: mode {mode!r} is both ro and rw")
            rw = word == "rw"
        elif word in PROPAGATIONS:
            if prop and prop != word:
                raise InvalidArgument(f"{what}: mode {mode!r} has two propagations")
            prop = word
        elif word != "nocopy":
            raise InvalidArgument(f"{what}: unsupported mode {word!r} in {mode!r}: use ro or rw"
                                  f" and a propagation ({', '.join(PROPAGATIONS)})")
    return (True if rw is None else rw), prop


def _source_spec(source, dest, mode, what):
    """``volumes=`` entry: a host path is a bind, anything else a volume name."""
    dest = target(dest, what)
    rw, prop = mode
    if isinstance(source, str) and source.startswith("/"):
        path, is_file = bind_source(source, what)
        check_propagation(path, prop, what)
        return _spec("bind", dest, source=path, rw=rw, is_file=is_file, propagation=prop)
    if prop not in _PROPAGATION_OK:
        raise InvalidArgument(f"{what}: propagation {prop!r} is for binds of host paths only")
    if source is None:
        return _spec("volume", dest, name=secrets.token_hex(32), rw=rw, anonymous=True)
    return _spec("volume", dest, name=volume_name(source, what), rw=rw)


def _from_volumes(volumes):
    if isinstance(volumes, dict):
        for key, val in volumes.items():
            what = f"volumes[{key!r}]"
            if isinstance(val, str):
                dest, mode = val, "rw"
            elif isinstance(val, dict):
                dest = val.get("bind")
                mode = ("ro" if val["ro"] else "rw") if "ro" in val else (val.get("mode") or "rw")
            else:
                raise InvalidArgument(f"{what}: use {{'bind': '/path', 'mode': 'rw'}}")
            yield _source_spec(key, dest, _mode(mode, what), what)
        return
    if isinstance(volumes, str) or not isinstance(volumes, (list, tuple)):
        raise InvalidArgument("volumes must be a dict or a list of 'src:dst[:mode]' strings")
    for item in volumes:
        what = f"volumes entry {item!r}"
        if not isinstance(item, str):
            raise InvalidArgument(f"{what}: must be a 'src:dst[:mode]' string")
        parts = item.split(":")
        if len(parts) == 1:
            yield _source_spec(None, parts[0], (True, ""), what)
        elif len(parts) in (2, 3) and all(parts):
            yield _source_spec(parts[0], parts[1], _mode(parts[2] if len(parts) == 3 else "rw",
                                                         what), what)
        else:
            raise InvalidArgument(f"{what}: use 'src:dst[:mode]' or '/dst'")


def _from_mount(m):
    if isinstance(m, str):
        m = Mount.parse_mount_string(m)
    if not isinstance(m, dict):
        raise InvalidArgument(f"mounts entries must be Mount objects or dicts, got {m!r}")
    kind = m.get("Type") or "volume"
    what = f"mount on {m.get('Target')!r}"
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidArgument(f"{what}: unsupported mount type {kind!r}")
    dest, rw, source = target(m.get("Target"), what), not m.get("ReadOnly"), m.get("Source")
    if kind == "bind":
        prop = (m.get("BindOptions") or {}).get("Propagation") or ""
        if prop not in PROPAGATIONS + ("",):
            raise InvalidArgument(f"{what}: propagation {prop!r} is not supported (use one of "
                                  f"{', '.join(PROPAGATIONS)})")
        path, is_file = bind_source(source, what)
        check_propagation(path, prop, what)
        return _spec("bind", dest, source=path, rw=rw, is_file=is_file, propagation=prop)
    if kind == "tmpfs":
        if source:
            raise InvalidArgument(f"{what}: a tmpfs mount takes no source")
        t = m.get("TmpfsOptions") or {}
        opts = []
        if t.get("SizeBytes") is not None:
            size = parse_bytes(t["SizeBytes"], f"{what}: tmpfs SizeBytes")
            if size > _TMPFS_MAX["size"]:
                raise InvalidArgument(f"{what}: tmpfs SizeBytes {size} is above the kernel's "
                                      f"limit of {_TMPFS_MAX['size']}")
            opts.append(f"size={size}")
        if t.get("Mode") is not None:
            mode = t["Mode"]
            if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o7777:
                raise InvalidArgument(f"{what}: tmpfs mode must be an int up to 0o7777")
            opts.append(f"mode={mode:o}")
        return _spec("tmpfs", dest, source="tmpfs", rw=rw, options=",".join(opts),
                     flags=MOUNT_TMPFS_DEFAULT)
    v = m.get("VolumeOptions") or {}
    driver = v.get("DriverConfig") or {}
    if driver.get("Name") not in (None, "local") or driver.get("Options"):
        raise InvalidArgument(f"{what}: only the local volume driver without options is supported")
    if source is None or source == "":
        spec = _source_spec(None, dest, (rw, ""), what)
    else:
        spec = _spec("volume", dest, name=volume_name(source, what), rw=rw)
    spec["Labels"] = dict(v.get("Labels") or {})
    return spec


def tmpfs_options(text, what="tmpfs"):
    """``"size=64m,mode=1777,exec"`` -> ``(fs options, flags, rw)`` over docker's defaults."""
    if not isinstance(text, str) or "\0" in text:
        raise InvalidArgument(f"{what}: options must be a string like 'size=64m,mode=1777'")
    flags, data = set(TMPFS_DEFAULT), {}
    for word in filter(None, (w.strip() for w in text.split(","))):
        key, sep, val = word.partition("=")
        if sep:
            pattern = _TMPFS_VALUES.get(key)
            if pattern is None:
                raise InvalidArgument(f"{what}: unsupported tmpfs option {key!r}")
            kernel_value = val
            if re.fullmatch(pattern, val, re.IGNORECASE | re.ASCII):
                number = val.rstrip("kmgKMG%")
                value = int(number) * _SUFFIX.get(val[len(number):].lower(), 1)
            elif key == "size":
                # docker's other sizes (1.5g, 64MiB, 2t): the kernel takes bytes
                value = parse_bytes(val, f"{what}: tmpfs size")
                kernel_value = str(value)
            else:
                raise InvalidArgument(f"{what}: invalid tmpfs {key} {val!r}")
            if key in _TMPFS_MAX and value > _TMPFS_MAX[key]:
                raise InvalidArgument(f"{what}: tmpfs {key} {val!r} is above the kernel's "
                                      f"limit of {_TMPFS_MAX[key]}")
            data[key] = kernel_value
        elif key in ATTRS:
            flags.add(key)
        elif key in _FLAG_OFF:
            flags.discard(_FLAG_OFF[key])
        elif key not in _PROPAGATION_OK:
            raise InvalidArgument(f"{what}: unsupported tmpfs option {key!r}")
    rw = "ro" not in flags
    flags.discard("ro")
    return ",".join(f"{k}={v}" for k, v in data.items()), flags, rw


def _from_tmpfs(tmpfs):
    if isinstance(tmpfs, dict):
        items = tmpfs.items()
    elif isinstance(tmpfs, (list, tuple)) and all(isinstance(i, str) for i in tmpfs):
        items = [tuple(i.split(":", 1)) if ":" in i else (i, "") for i in tmpfs]
    else:
        raise InvalidArgument(
            "tmpfs must be a dict {'/path': 'options'} or a list of '/path:options'")
    for path, text in items:
        what = f"tmpfs {path!r}"
        opts, flags, rw = tmpfs_options(text or "", what)
        yield _spec("tmpfs", target(path, what), source="tmpfs", rw=rw, options=opts, flags=flags)


def parse(volumes=None, mounts=None, tmpfs=None, image_volumes=None):
    """Validate run()'s storage keywords; return the list of specs.

    Args:
        volumes: docker-py's ``volumes`` (dict or list of strings).
        mounts: list of :class:`pycontainer.types.Mount` (or dicts, or strings).
        tmpfs: dict ``{"/run": "size=64m,mode=1777"}`` or list ``["/run:size=64m"]``.
        image_volumes: the image config's ``Volumes`` dict: an anonymous volume
            for each path no other mount covers.

    Raises:
        InvalidArgument: bad shapes, relative targets or ``..``, missing bind
            sources, bad modes or options, duplicate targets.
    """
    specs = []
    if volumes:
        specs += _from_volumes(volumes)
    if mounts:
        if not isinstance(mounts, (list, tuple)):
            raise InvalidArgument("mounts must be a list of Mount objects")
        specs += [_from_mount(m) for m in mounts]
    if tmpfs:
        specs += _from_tmpfs(tmpfs)
    seen = set()
    for s in specs:
        if s["Destination"] in seen:
            raise InvalidArgument(f"duplicate mount point: {s['Destination']}")
        seen.add(s["Destination"])
    for path in image_volumes or {}:
        dest = target(path, f"image VOLUME {path!r}")
        if dest not in seen:
            seen.add(dest)
            specs.append(_source_spec(None, dest, (True, ""), f"image VOLUME {path!r}"))
    return specs


def volume_names(specs):
    return [s["Name"] for s in specs if s["Type"] == "volume"]


def resolve(specs, root):
    """Specs with each volume's data dir as ``Source``, creating missing
    volumes (docker creates a named volume on first use)."""
    store = VolumeStore(root) if any(s["Type"] == "volume" for s in specs) else None
    return [dict(s, Source=store.ensure(s["Name"], s.get("Labels"), s.get("Anonymous")))
            if s["Type"] == "volume" else s for s in specs]
