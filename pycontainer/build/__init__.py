"""Dockerfile builds: ``client.images.build()`` over the engine and the store.

The room stands on the engine (every ``RUN`` is a container of
``engine.containers``, with its defaults) and on the image store (layers,
images and the build cache live there); the engine never imports it. A
:class:`Builds` is attached to an engine as ``engine.builds`` by the client.

What it guarantees:

* a bad Dockerfile line raises :class:`~pycontainer.errors.DockerfileError`
  with its file, line and column, before anything runs (dockerfile.py);
* ``COPY``/``ADD`` read nothing outside the context: paths are resolved by
  the kernel beneath the context's fd, links that leave it fail (context.py);
* the cache is never wrong: a step's key covers its parent state, the
  instruction after substitution, the build args it sees and the content,
  mode and owner of the files it copies, and a hit needs its layer stored
  (cache.py); ``nocache`` rebuilds every step;
* a secret mounted into a ``RUN`` is in no layer, history entry or key;
* a failure is one ``error`` message (``errorDetail`` with the exit code of
  a failing ``RUN`` and the type of the typed error), and nothing half-made
  is left in the store but the layers of the steps that finished (they are
  cached).
"""
import os
import tempfile

from ..errors import InvalidArgument, NotFound, PyContainerError

BUILD_KEYS = {"path", "fileobj", "dockerfile", "tag", "buildargs", "target", "nocache",
              "pull", "rm", "forcerm", "labels", "network_mode", "platform", "cache_from",
              "squash", "extra_hosts", "shmsize", "container_limits", "custom_context",
              "encoding", "quiet", "timeout", "decode", "gzip", "isolation",
              "use_config_proxy", "secrets"}


class Builds:
    """``engine.builds``: the build verb of one engine."""

    def __init__(self, engine):
        self.engine = engine

    def build(self, **options):
        """Build an image; yields docker's build messages (dicts).

        Options are docker-py's ``images.build()`` keywords (see
        models/images.py), plus ``secrets={"id": bytes or a file path}`` for
        ``RUN --mount=type=secret``. The last messages are ``aux`` with the
        image ID and ``Successfully built`` / ``Successfully tagged``; a
        failure ends the stream with ``error`` / ``errorDetail``.

        >>> for msg in engine.builds.build(path="app", tag="app:1"):
        ...     print(msg.get("stream", ""), end="")
        Step 1/2 : FROM busybox
        ...
        """
        unknown = set(options) - BUILD_KEYS
        if unknown:
            raise InvalidArgument(f"unsupported keyword(s) for build(): {sorted(unknown)}")
        return self._stream(options)

    def _stream(self, options):
        from .executor import StepFailed
        try:
            ctx, builder = self._prepare(options)
        except PyContainerError as err:
            yield _error(err)
            return
        try:
            yield from builder.run()
        except StepFailed as err:
            yield from builder.flush()
            yield _error(err.error or err, err.exit_code, message=str(err))
        except PyContainerError as err:
            yield from builder.flush()
            yield _error(err)
        finally:
            ctx.close()

    def _prepare(self, options):
        from .context import Context
        from .dockerfile import parse
        from .executor import Builder
        o = dict(options)
        path, fileobj = o.get("path"), o.get("fileobj")
        dockerfile = o.get("dockerfile") or "Dockerfile"
        store = self.engine.image_store
        text = None
        if path is None and fileobj is None:
            raise InvalidArgument("build(): give path= (a context directory) or fileobj=")
        if fileobj is not None and o.get("custom_context"):
            ctx = Context.from_tar(fileobj, store.tmp_dir, dockerfile)
        elif fileobj is not None:
            data = fileobj.read()
            text = data.decode(o.get("encoding") or "utf-8") if isinstance(data, bytes) else data
            holder = tempfile.mkdtemp(prefix="build-context-", dir=store.tmp_dir)
            ctx = Context(holder, dockerfile, owned=holder)
        else:
            ctx = Context(os.fspath(path), dockerfile)
        try:
            if text is None:
                if os.path.isabs(dockerfile):
                    with open(dockerfile, "rb") as f:
                        text = f.read()
                else:
                    try:
                        text = ctx.read_file(dockerfile)
                    except NotFound:
                        raise NotFound(f"Cannot locate specified Dockerfile: {dockerfile}") \
                            from None
            df = parse(text, os.path.basename(dockerfile))
            tags = o.get("tag") or ()
            if isinstance(tags, str):
                tags = [tags]
            builder = Builder(
                self.engine, ctx, df, buildargs=o.get("buildargs"), target=o.get("target"),
                nocache=o.get("nocache", False), pull=o.get("pull", False),
                rm=o.get("rm", True), forcerm=o.get("forcerm", False), labels=o.get("labels"),
                network_mode=o.get("network_mode"), platform=o.get("platform"), tags=tags,
                secrets=o.get("secrets"), container_limits=o.get("container_limits"),
                extra_hosts=o.get("extra_hosts"), shmsize=o.get("shmsize"),
                squash=o.get("squash", False), cache_from=o.get("cache_from"))
            return ctx, builder
        except BaseException:
            ctx.close()
            raise


def _error(err, code=None, message=None):
    message = message or str(err)
    detail = {"message": message, "type": type(err).__name__}
    if code is not None:
        detail["code"] = code
    return {"error": message, "errorDetail": detail}
