"""Containers, with docker-py's names: ``client.containers.run/create/get/list``
and :class:`Container` objects. The verbs live in the engine
(engine/containers.py); each method here is one call to it."""
from ..errors import ContainerError, ImageNotFound, InvalidArgument, NotFound, RegistryError
from .base import Collection, Model

# json, contextlib and signal are not imported here: `import pycontainer` must stay
# cheap (benchmarks/startup.py), and only a few methods need json.

CHUNK_SIZE = 2 << 20          # docker-py's DEFAULT_DATA_CHUNK_SIZE


class Container(Model):
    """A container: ``id``, ``short_id``, ``name``, ``status``, ``attrs``.

    >>> with client.containers.run("busybox", ["sleep", "60"], detach=True) as c:
    ...     c.status
    'running'
    """

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.remove(force=True)
        except NotFound:
            pass

    name = property(lambda self: self.attrs["Name"].lstrip("/"))
    labels = property(lambda self: self.attrs["Config"].get("Labels") or {})
    status = property(lambda self: self.attrs["State"]["Status"])
    # {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}]}: the ports chosen at start
    ports = property(lambda self: (self.attrs.get("NetworkSettings") or {}).get("Ports") or {})

    @property
    def health(self):
        """``starting``, ``healthy`` or ``unhealthy`` (as of the last
        ``reload()``); ``unknown`` without a healthcheck, as docker-py says."""
        return (self.attrs["State"].get("Health") or {}).get("Status", "unknown")

    @property
    def _lc(self):
        return self.client._backend.containers

    @property
    def image(self):
        return self.client.images.get(self.attrs["Image"])

    def reload(self):
        """Refresh ``attrs`` from the store."""
        self.attrs = self._lc.inspect(self.id)

    def start(self):
        """Start a created or exited container."""
        self._lc.start(self.id)
        self.reload()

    def stop(self, timeout=None):
        """Send the stop signal, then SIGKILL after ``timeout`` seconds: by
        default the container's ``stop_timeout``, else 10 (docker's); a
        negative timeout waits for ever."""
        self._lc.stop(self.id, timeout)
        self.reload()

    def kill(self, signal=None):
        """Send a signal (number or name, e.g. ``"SIGTERM"`` or ``"HUP"``); SIGKILL by default."""
        self._lc.kill(self.id, 9 if signal is None else signal)     # SIGKILL
        self.reload()

    def restart(self, timeout=None):
        """Stop (as :meth:`stop`) and start again."""
        self._lc.restart(self.id, timeout)
        self.reload()

    def pause(self):
        """Freeze every process of the container."""
        self._lc.pause(self.id, True)
        self.reload()

    def unpause(self):
        self._lc.pause(self.id, False)
        self.reload()

    def wait(self, timeout=None, condition="not-running"):
        """Block until the container stops; returns ``{"StatusCode": n, "Error": None}``.

        ``condition``: ``not-running`` (default), ``next-exit``, ``removed``
        or ``healthy`` (podman's: returns with StatusCode 0 once the
        healthcheck passes; raises Conflict when it turns unhealthy or the
        container stops first, InvalidArgument without a healthcheck).
        Raises TimeoutError when ``timeout`` seconds pass first.

        >>> c.wait(condition="healthy", timeout=30)
        {'StatusCode': 0, 'Error': None}
        """
        code = self._lc.wait(self.id, timeout, condition)
        try:
            self.reload()
        except NotFound:
            pass
        return {"StatusCode": code, "Error": None}

    def logs(self, stdout=True, stderr=True, stream=False, timestamps=False, tail="all",
             since=None, until=None, follow=None):
        """What the container wrote: bytes, or an iterator with ``stream=True``
        (``follow`` defaults to ``stream`` and ends when the container stops)."""
        it = self._lc.logs(self.id, stdout, stderr, timestamps, tail, since, until,
                           follow if follow is not None else stream)
        return it if stream else b"".join(it)

    def remove(self, v=False, link=False, force=False):
        """Remove the container; ``force`` kills it first if running, ``v``
        also removes its anonymous volumes (unless another container uses them).
        ``link=True`` (remove a legacy link, not the container) is refused."""
        if link:
            raise InvalidArgument("remove(link=True): removing a legacy link alone is not "
                                  "supported; remove the linking container instead")
        self._lc.remove(self.id, force, v)

    def rename(self, name):
        self._lc.rename(self.id, name)
        self.reload()

    def exec_run(self, cmd, stdout=True, stderr=True, stdin=False, tty=False, privileged=False,
                 user="", detach=False, stream=False, socket=False, environment=None,
                 workdir=None, demux=False, timeout=None, detach_keys=None):
        """Run ``cmd`` in the running container; returns ``(exit_code, output)``.

        With ``stream=True`` output is an iterator of chunks and ``exit_code``
        is set on the result once the iterator is exhausted; ``timeout``
        (seconds; not with socket=True) kills the process and raises
        TimeoutError. ``tty=True``: a pty of the container's own devpts.
        ``socket=True``: output is a socket-like object (``send``/``sendall``
        write stdin when ``stdin=True``, ``shutdown()`` sends EOF, ``recv``
        reads raw bytes with a tty, docker's 8-byte frames without,
        ``resize(height, width)``); unlike docker-py, ``exit_code`` (on the
        result and the socket) is set once the stream ended.

        >>> c.exec_run(["sh", "-c", "echo $HOSTNAME"]).output
        b'f00dcafe1234\n'
        >>> r = c.exec_run("cat", stdin=True, socket=True)
        >>> r.output.sendall(b"x\n"); r.output.shutdown(); r.output.recv(64)
        b'\x01\x00\x00\x00\x00\x00\x00\x02x\n'
        """
        return self._lc.exec_run(self.id, cmd, stdout, stderr, stdin, tty, privileged, user,
                                 detach, stream, socket, environment, workdir, demux, timeout,
                                 detach_keys)

    def attach(self, stdout=True, stderr=True, stream=False, logs=False, demux=False):
        """The container's output from now on (``logs=True``: its log first):
        bytes once it exits, or an iterator of chunks with ``stream=True``
        (``demux``: ``(stdout, stderr)`` pairs). Needs a detached container."""
        return self._lc.attach(self.id, stdout, stderr, stream, logs, demux)

    def attach_socket(self, params=None, ws=False, stdin=True, stdout=True, stderr=True,
                      detach_keys=None):
        """A socket-like object on the container's stdio, served by its monitor:
        ``recv`` gives the raw pty stream with a tty, docker's multiplexed
        frames (8-byte header: stream 1/2, 3 zero bytes, big-endian length)
        without; ``sendall`` writes stdin (``stdin_open=True``); ``shutdown()``
        sends EOF; ``resize(h, w)``; the detach keys (``"ctrl-p,ctrl-q"``)
        end it and leave the container running. ``exit_code`` once it ended.

        ``params``: docker-py's dict (``stdin``, ``stdout``, ``stderr``,
        ``stream``, ``logs``: true or 1; ``detachKeys``), as docker's API takes
        it: a key left out is off, and it replaces the keywords. ``ws=True``
        (docker's websocket attach) is refused: there is no HTTP here.

        >>> s = c.attach_socket(); s.sendall(b"echo hi\n"); s.recv(4096)
        >>> s = c.attach_socket(params={"stdout": 1, "logs": 1, "stream": 0})
        """
        if ws:
            raise InvalidArgument("attach_socket(ws=True): docker's websocket attach needs "
                                  "its HTTP API; this socket is the monitor's own")
        if params is None:
            return self._lc.attach_socket(self.id, stdin, stdout, stderr, detach_keys)
        return self._lc.attach_socket(self.id, **_attach_params(params))

    def resize(self, height, width):
        """Set the container's pty size (``tty=True``); the process gets SIGWINCH."""
        self._lc.resize(self.id, height, width)

    def top(self, ps_args=None):
        """Processes in the container: ``{"Titles": [...], "Processes": [[...]]}``;
        ``ps_args`` (e.g. ``"aux"``) runs the host's ``ps`` with them, as docker
        does, and keeps the container's rows."""
        return self._lc.top(self.id, ps_args) if ps_args else self._lc.top(self.id)

    def stats(self, decode=None, stream=True, one_shot=None):
        """Resource usage in docker's JSON shape (``cpu_stats``,
        ``precpu_stats``, ``memory_stats``, ``pids_stats``, ``blkio_stats``,
        ``networks``), as docker-py's: by default an iterator of one JSON line
        (bytes) a second, dicts with ``decode=True``; ``stream=False``: one
        dict, sampled twice a second apart so that ``precpu_stats`` is set,
        unless ``one_shot=True``. The first streamed one has an empty
        ``precpu_stats``, as docker's.

        >>> s = c.stats(stream=False)
        >>> cpu = s["cpu_stats"]["cpu_usage"]["total_usage"] - s["precpu_stats"]["cpu_usage"]["total_usage"]
        """
        if one_shot and stream:
            raise InvalidArgument("one_shot is only available in conjunction with stream=False")
        if decode and not stream:
            raise InvalidArgument("decode is only available in conjunction with stream=True")
        if not stream:
            return self._lc.stats(self.id, False, bool(one_shot))
        it = self._lc.stats(self.id, True)
        import json
        return it if decode else (json.dumps(d).encode() + b"\n" for d in it)

    def update(self, **resources):
        """Change limits of a container (mem_limit, pids_limit, cpu_shares...) or its
        restart_policy (a running one takes it from its next exit)."""
        self._lc.update(self.id, **resources)
        self.reload()

    def put_archive(self, path, data):
        """Extract a tar (bytes or file object) into the existing directory ``path``; True."""
        return self._lc.put_archive(self.id, path, data)

    def get_archive(self, path, chunk_size=CHUNK_SIZE, encode_stream=False):
        """``(iterator of tar bytes, stat dict)`` of ``path`` (docker-py's shape);
        ``encode_stream`` is about docker's HTTP transport: the same bytes here."""
        return self._lc.get_archive(self.id, path, chunk_size)

    def put_file(self, path, data, mode=0o644):
        """Write bytes (or str) to the file ``path`` in the container (owner root)."""
        return self._lc.put_file(self.id, path, data, mode)

    def get_file(self, path):
        """The bytes of the regular file ``path`` in the container."""
        return self._lc.get_file(self.id, path)

    def diff(self):
        """Changed paths: ``[{"Path": ..., "Kind": 0 modified | 1 added | 2 deleted}]``."""
        return self._lc.diff(self.id)

    def export(self, chunk_size=CHUNK_SIZE):
        """An iterator of tar bytes of the container's root filesystem."""
        return self._lc.export(self.id, chunk_size)

    def commit(self, repository=None, tag=None, message=None, author=None, changes=None,
               conf=None):
        """A new image of the container's changes (its upper layer), like ``docker commit``."""
        from .images import Image
        return Image(self.client, self.client._backend.images.commit(
            self.id, repository, tag, message, author, changes, conf))


class ContainerCollection(Collection):
    """``client.containers``."""

    model = Container

    @property
    def _lc(self):
        return self.client._backend.containers

    def run(self, image, command=None, stdout=True, stderr=False, remove=False, detach=False,
            **kwargs):
        """Run a command in a new container.

        Returns its output (bytes) or, with ``detach=True``, a running
        Container managed by its own monitor process. Raises ContainerError on
        a non-zero exit, ImageNotFound for an unknown image and
        InvalidArgument for bad keywords (before anything exists).

        >>> client.containers.run("busybox", ["echo", "hi"], remove=True)
        b'hi\\n'
        """
        remove = remove or kwargs.pop("auto_remove", False)
        stream = kwargs.pop("stream", False)
        policy = self._pull_first(image, kwargs.pop("pull_policy", "missing"))
        if stream and not detach:
            return self._run_stream(policy, image, command, stdout, stderr, remove, kwargs)
        if detach:
            cid = self._pulling(policy, image, self._lc.create, image, command, kwargs,
                                auto_remove=remove)
            try:
                self._lc.start(cid)
            except BaseException:
                try:
                    self._lc.remove(cid, force=True)
                except NotFound:
                    pass
                raise
            return self.get(cid)
        try:
            return self._pulling(policy, image, self._lc.run_attached, image, command, kwargs,
                                 stdout, stderr, remove)
        except ContainerError as err:       # the engine's record becomes a model
            err.container = Container(self.client, err.container)
            raise

    def _run_stream(self, policy, image, command, stdout, stderr, remove, kwargs):
        """run(stream=True): the output as it comes (docker-py's logs stream);
        ContainerError after the last chunk when the exit code is not 0."""
        c = self.get(self._pulling(policy, image, self._lc.create, image, command, kwargs))
        try:
            c.start()
        except BaseException:
            try:
                c.remove(force=True)
            except NotFound:
                pass
            raise

        def gen():
            try:
                yield from c.logs(stdout=stdout, stderr=stderr, stream=True, follow=True)
                code = c.wait()["StatusCode"]
                if code != 0:
                    err = c.logs(stdout=False, stderr=True)
                    raise ContainerError(c, code, command, image, err)
            finally:
                if remove:
                    try:
                        c.remove(force=True)
                    except NotFound:
                        pass
        return gen()

    def create(self, image, command=None, **kwargs):
        """Create a container without starting it (status ``created``)."""
        auto_remove = kwargs.pop("auto_remove", False)
        policy = self._pull_first(image, kwargs.pop("pull_policy", "missing"))
        return self.get(self._pulling(policy, image, self._lc.create, image, command, kwargs,
                                      auto_remove=auto_remove))

    def _pull_first(self, image, policy):
        """``pull_policy`` (podman's): ``missing`` pulls an image the store
        lacks (docker's ``run``), ``always`` pulls first, ``never`` does not."""
        if policy not in ("missing", "always", "never"):
            raise InvalidArgument(f"pull_policy must be 'missing', 'always' or 'never', "
                                  f"not {policy!r}")
        if policy == "always":
            self.client.images.pull(image)
        return policy

    def _pulling(self, policy, image, verb, *args, **kwargs):
        try:
            return verb(*args, **kwargs)
        except ImageNotFound as err:
            if policy != "missing" or not _pullable(image):
                raise
            try:
                self.client.images.pull(image)
            except RegistryError as pull_err:
                raise ImageNotFound(f"{err} (and pulling it failed: {pull_err})") from pull_err
        return verb(*args, **kwargs)

    def get(self, container_id):
        """By full id, unique id prefix or name; NotFound otherwise."""
        return Container(self.client, self._lc.inspect(container_id))

    def list(self, all=False, before=None, filters=None, limit=-1, since=None, sparse=False,
             ignore_removed=False):
        """Running containers, newest first; every one with ``all=True``.

        Args:
            all: stopped ones too (implied by a ``status`` filter, ``limit``,
                ``before`` and ``since``, as docker does).
            before / since: only containers created before / after this one (id or name).
            filters: ``id`` (prefix), ``name`` (docker's regex on ``/name``),
                ``label`` (``key`` or ``key=value``; all must match), ``status``,
                ``exited`` (exit code), ``ancestor`` (image name[:tag], id or
                short id, and the images built on it), ``before``, ``since``,
                ``network`` (name or id prefix), ``volume`` (volume name, bind
                source or mount point). Each takes a value or a list (any
                matches); an unknown key raises InvalidArgument (``health``,
                ``publish``, ``expose``, ``isolation`` and ``is-task`` are not
                supported yet).
            limit: at most this many (the newest).

        >>> client.containers.list(all=True, filters={"ancestor": "busybox", "status": "exited"})
        [<Container: 4c2b9e0c1d7f>]
        """
        return [Container(self.client, a)
                for a in self._lc.list(all, before, filters, limit, since)]

    def prune(self, filters=None):
        """Remove every container that is not running.

        ``filters``: ``until`` (created before: unix seconds, RFC 3339 or a
        duration such as ``"24h"``), ``label`` / ``label!`` (``key`` or
        ``key=value``). Any other key raises InvalidArgument.

        >>> client.containers.prune(filters={"until": "1h", "label": "ci"})
        {'ContainersDeleted': [...], 'SpaceReclaimed': 0}
        """
        return self._lc.prune(filters)


def _pullable(image):
    """A reference a registry could serve (not an image ID or ID prefix)."""
    if not isinstance(image, str) or image.startswith("sha256:"):
        return False
    return not (len(image) >= 4 and all(c in "0123456789abcdef" for c in image))


_ATTACH_PARAMS = ("stdin", "stdout", "stderr", "stream", "logs", "detachKeys")


def _attach_params(params):
    """docker-py's ``attach_socket(params=...)`` -> the backend's keywords; as
    docker's API, a flag left out is off (1, True, "1", "true" are on)."""
    if not isinstance(params, dict):
        raise InvalidArgument(f"attach_socket params must be a dict, got {params!r}")
    unknown = sorted(set(params) - set(_ATTACH_PARAMS))
    if unknown:
        raise InvalidArgument(f"attach_socket params: unknown key(s) {unknown}; "
                              f"known: {list(_ATTACH_PARAMS)}")

    def on(key):
        v = params.get(key, False)
        return v.strip().lower() in ("1", "true") if isinstance(v, str) else bool(v)
    kw = {"stdin": on("stdin"), "stdout": on("stdout"), "stderr": on("stderr"),
          "detach_keys": params.get("detachKeys")}
    if on("logs"):
        kw["logs"] = True
    if not on("stream"):
        kw["stream"] = False
    return kw
