"""``RUN``: one real container of the engine per step (its defaults:
capabilities, seccomp, masks, cgroups, the build's network), whose upper
dir becomes the step's layer (image/commit.py's walk: whiteouts as OCI).

``--mount`` kinds: ``cache`` (a directory of the store kept across builds,
keyed by its ``id``, default the target), ``bind`` (a context path, or with
``from=`` a stage's or an image's, unpacked for the step; read only unless
``rw``, and a write never reaches the context), ``tmpfs``
and ``secret`` (a file on the run root's tmpfs, bound read-only at
``/run/secrets/<id>``; never in a layer, the history or the cache key).
Mount points the image did not have are taken out of the layer, as
BuildKit does.
"""
import os
import posixpath
import secrets as _secrets
import stat

from .. import fstree
from ..errors import ContainerError, NotFound
from ..jsonfile import read_json
from .layer import image_kind


# The engine binds these over files it makes in the rootfs when the image
# lacks them: mount points, not changes of the step (docker's init layer).
ETC_MOUNTS = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def _options(text, inst):
    out = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        out[key] = value if eq else None
    return out


class Mounts:
    """The ``--mount`` flags of one RUN as run() keywords."""

    def __init__(self, builder, inst, values):
        self.volumes, self.tmpfs, self.targets, self.files = {}, {}, [], []
        self.contexts = []     # a stage's files unpacked for a bind from=
        self.key = []          # what of the mounts goes into the cache key
        for text in values or ():
            opts = _options(text, inst)
            kind = (opts.pop("type", None) or "bind").lower()
            target = opts.pop("target", None) or opts.pop("dst", None) or \
                opts.pop("destination", None)
            if kind == "secret":
                sid = opts.get("id") or (posixpath.basename(target) if target else None)
                if not sid:
                    raise inst.error("--mount=type=secret needs an id")
                target = target or f"/run/secrets/{sid}"
                self._secret(builder, inst, sid, target, opts)
                self.key.append(("secret", sid, target))
                continue
            if not target:
                raise inst.error(f"--mount=type={kind} needs a target")
            if not target.startswith("/"):
                target = posixpath.join(builder.state.image_config.get("WorkingDir") or "/",
                                        target)
            self.targets.append(target)
            if kind == "cache":
                mid = opts.get("id") or target
                self.volumes[builder.cache.mount_dir(mid)] = {"bind": target, "mode": "rw"}
                self.key.append(("cache", target))
            elif kind == "tmpfs":
                size = opts.get("size")
                self.tmpfs[target] = f"size={size}" if size else ""
                self.key.append(("tmpfs", target, size))
            elif kind == "bind":
                source = opts.get("source") or opts.get("src") or "."
                if opts.get("from"):
                    ctx, rel, image_id = builder.from_context(opts["from"], source, inst)
                    self.contexts.append(ctx)
                    host = os.path.join(ctx.path, rel) if rel else ctx.path
                    digest = (image_id, source)
                else:
                    host, digest = builder.bind_source(source, inst)
                rw = "rw" in opts or opts.get("readwrite") is not None
                self.volumes[host] = {"bind": target, "mode": "rw" if rw else "ro"}
                self.key.append(("bind", target, source, digest, rw))
            else:
                raise inst.error(f"unknown mount type {kind!r}: use cache, bind, tmpfs or "
                                 "secret")

    def _secret(self, builder, inst, sid, target, opts):
        data = builder.secrets.get(sid)
        if data is None:
            if opts.get("required", "false") in (None, "true"):
                raise inst.error(f"secret {sid} not found: pass secrets={{{sid!r}: ...}}")
            return
        if isinstance(data, str):
            with open(data, "rb") as f:
                data = f.read()
        mode = int(opts.get("mode") or "0400", 8)
        uid, gid = int(opts.get("uid") or 0), int(opts.get("gid") or 0)
        path = os.path.join(builder.secret_dir(), _secrets.token_hex(8))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        self.files.append(path)
        self.targets.append(target)
        self.volumes[path] = {"bind": target, "mode": "ro"}

    def close(self):
        for ctx in self.contexts:
            ctx.close()
        for path in self.files:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def run_step(builder, image_id, argv, env, mounts, network):
    """Run ``argv`` in a container of ``image_id``: ``(status, output, cid,
    upper dir)``, ``output`` the ``(stream, bytes)`` pieces in the order they
    came; the container is kept (the caller removes it)."""
    engine = builder.engine
    cfg = builder.state.image_config
    name = f"pyc_build_{_secrets.token_hex(6)}"
    kwargs = {"entrypoint": [], "environment": env, "name": name, **builder.limits,
              **builder.run_options}
    if cfg.get("WorkingDir"):
        kwargs["working_dir"] = cfg["WorkingDir"]
    if cfg.get("User"):
        kwargs["user"] = cfg["User"]
    if network:
        kwargs["network_mode"] = network
    if mounts.volumes:
        kwargs["volumes"] = mounts.volumes
    if mounts.tmpfs:
        kwargs["tmpfs"] = mounts.tmpfs
    status, output = 0, []
    try:
        engine.containers.run_attached(image_id, argv, kwargs, True, True, False,
                                       echo=lambda stream, chunk: output.append((stream, chunk)))
    except ContainerError as err:
        status = err.exit_status
    try:
        cid = engine.containers.resolve(name)
    except NotFound:
        return status, output, None, None
    attrs = read_json(engine.runtime.config_path(cid))
    upper = os.path.join(attrs["Runtime"]["LayerDir"], "upper")
    if status == 0:
        _drop_mount_points(upper, mounts.targets + list(cfg.get("Volumes") or {}) +
                           list(ETC_MOUNTS), builder.state.layer_dirs)
    return status, output, cid, upper


def _drop_mount_points(upper, targets, layer_dirs):
    """Take out of the layer the mount points made for this run only: the
    top-most directory of each target's path that the image lacked."""
    for target in targets:
        parts = target.strip("/").split("/")
        for n in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:n])
            if image_kind(layer_dirs, path) is None:
                rel = path.lstrip("/")
                try:
                    st = os.lstat(os.path.join(upper, rel))
                except OSError:
                    break
                if stat.S_ISDIR(st.st_mode):
                    if _only_mount_points(os.path.join(upper, rel)):
                        fstree.remove(os.path.join(upper, rel))
                elif st.st_size == 0:
                    os.unlink(os.path.join(upper, rel))
                break


def _only_mount_points(path):
    """A directory holding nothing but empty directories and empty files."""
    for entry in fstree.walk(path):
        st = entry.stat()
        if not (stat.S_ISDIR(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_size == 0)):
            return False
    return True


def run_options(extra_hosts, shmsize):
    """``extra_hosts`` and ``shmsize`` of build() as the RUN containers' keywords
    (checked now: a bad value fails before any step runs)."""
    from ..errors import InvalidArgument
    from ..units import parse_bytes
    out = {}
    if extra_hosts:       # the engine checks each entry (names, IPs, host-gateway)
        if not isinstance(extra_hosts, (dict, list, tuple)):
            raise InvalidArgument(f"extra_hosts must be a dict or a list, got {extra_hosts!r}")
        out["extra_hosts"] = extra_hosts
    if shmsize:
        out["shm_size"] = parse_bytes(shmsize, "shmsize")
    return out


def check_network(value, inst):
    if value is None:
        return None
    if value not in ("none", "host", "default"):
        raise inst.error(f"--network={value}: use none, host or default")
    return None if value == "default" else value


