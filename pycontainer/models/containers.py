"""Containers, with docker-py's names: ``client.containers.run/create/get/list``
and :class:`Container` objects. The verbs live in runtime/lifecycle.py."""
import contextlib
import signal as _signal

from ..errors import NotFound
from ..runtime import archive as _archive
from ..runtime import lifecycle
from ..runtime import state as _state
from .base import Model


class Container(Model):
    """A container: ``id``, ``short_id``, ``name``, ``status``, ``attrs``.

    >>> with client.containers.run("busybox", ["sleep", "60"], detach=True) as c:
    ...     c.status
    'running'
    """

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        with contextlib.suppress(NotFound):
            self.remove(force=True)

    name = property(lambda self: self.attrs["Name"].lstrip("/"))
    labels = property(lambda self: self.attrs["Config"].get("Labels") or {})
    status = property(lambda self: self.attrs["State"]["Status"])

    @property
    def _lc(self):
        return self.client.containers._lc

    @property
    def image(self):
        return self.client.images.get(self.attrs["Image"])

    def reload(self):
        """Refresh ``attrs`` from the store."""
        self.attrs = _state.load(self.client._runtime, self.id)

    def start(self):
        """Start a created or exited container."""
        self._lc.start(self.id)
        self.reload()

    def stop(self, timeout=10):
        """Send the stop signal, then SIGKILL after ``timeout`` seconds."""
        self._lc.stop(self.id, timeout)
        self.reload()

    def kill(self, signal=_signal.SIGKILL):
        """Send a signal (number or name, e.g. ``"SIGTERM"`` or ``"HUP"``)."""
        self._lc.kill(self.id, signal)
        self.reload()

    def restart(self, timeout=10):
        """Stop (as :meth:`stop`) and start again."""
        self._lc.stop(self.id, timeout)
        self._lc.start(self.id)
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

        ``condition``: ``not-running`` (default), ``next-exit`` or ``removed``.
        Raises TimeoutError when ``timeout`` seconds pass first.
        """
        code = self._lc.wait(self.id, timeout, condition)
        with contextlib.suppress(NotFound):
            self.reload()
        return {"StatusCode": code, "Error": None}

    def logs(self, stdout=True, stderr=True, stream=False, timestamps=False, tail="all",
             since=None, until=None, follow=None):
        """What the container wrote: bytes, or an iterator with ``stream=True``
        (``follow`` defaults to ``stream`` and ends when the container stops)."""
        it = self._lc.logs(self.id, stdout, stderr, timestamps, tail, since, until,
                           follow if follow is not None else stream)
        return it if stream else b"".join(it)

    def remove(self, force=False, v=False):
        """Remove the container; ``force`` kills it first if running, ``v``
        also removes its anonymous volumes (unless another container uses them)."""
        self._lc.remove(self.id, force, v)

    def rename(self, name):
        self._lc.rename(self.id, name)
        self.reload()

    def exec_run(self, cmd, stdout=True, stderr=True, stdin=False, tty=False, privileged=False,
                 user="", detach=False, stream=False, socket=False, environment=None,
                 workdir=None, demux=False, timeout=None):
        """Run ``cmd`` in the running container; returns ``(exit_code, output)``.

        With ``stream=True`` output is an iterator of chunks and ``exit_code``
        is set on the result once the iterator is exhausted; ``timeout``
        (seconds) kills the process and raises TimeoutError.

        >>> c.exec_run(["sh", "-c", "echo $HOSTNAME"]).output
        b'f00dcafe1234\n'
        """
        return self._lc.exec_run(self.id, cmd, stdout, stderr, stdin, tty, privileged, user,
                                 detach, stream, socket, environment, workdir, demux, timeout)

    def top(self):
        """Processes in the container: ``{"Titles": [...], "Processes": [[...]]}``."""
        return self._lc.top(self.id)

    def stats(self, stream=False):
        """Resource usage read from the container's cgroup files."""
        return self._lc.stats(self.id, stream)

    def update(self, **resources):
        """Change limits of a container (mem_limit, pids_limit, cpu_shares...)."""
        self._lc.update(self.id, **resources)
        self.reload()

    def put_archive(self, path, data):
        """Extract a tar (bytes or file object) into the existing directory ``path``; True."""
        return _archive.put_archive(self.client._runtime, self.id, path, data)

    def get_archive(self, path, chunk_size=_archive.CHUNK_SIZE):
        """``(iterator of tar bytes, stat dict)`` of ``path`` (docker-py's shape)."""
        return _archive.get_archive(self.client._runtime, self.id, path, chunk_size)

    def put_file(self, path, data, mode=0o644):
        """Write bytes (or str) to the file ``path`` in the container (owner root)."""
        return _archive.put_file(self.client._runtime, self.id, path, data, mode)

    def get_file(self, path):
        """The bytes of the regular file ``path`` in the container."""
        return _archive.get_file(self.client._runtime, self.id, path)

    def diff(self):
        """Changed paths: ``[{"Path": ..., "Kind": 0 modified | 1 added | 2 deleted}]``."""
        return _archive.diff(self.client._runtime, self.id)

    def export(self, chunk_size=_archive.CHUNK_SIZE):
        """An iterator of tar bytes of the container's root filesystem."""
        return _archive.export(self.client._runtime, self.id, chunk_size)

    def commit(self, repository=None, tag=None, message=None, author=None, changes=None,
               conf=None):
        """A new image of the container's changes (its upper layer), like ``docker commit``."""
        return self.client.images._commit(self, repository, tag, message, author, changes, conf)


class ContainerCollection:
    """``client.containers``."""

    def __init__(self, client):
        self.client = client
        self._lc = lifecycle.Lifecycle(client)

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
        if detach:
            cid = self._lc.create(image, command, kwargs, auto_remove=remove)
            try:
                self._lc.start(cid)
            except BaseException:
                with contextlib.suppress(NotFound):
                    self._lc.remove(cid, force=True)
                raise
            return self.get(cid)
        return self._lc.run_attached(image, command, kwargs, stdout, stderr, remove)

    def create(self, image, command=None, **kwargs):
        """Create a container without starting it (status ``created``)."""
        auto_remove = kwargs.pop("auto_remove", False)
        return self.get(self._lc.create(image, command, kwargs, auto_remove=auto_remove))

    def get(self, container_id):
        """By full id, unique id prefix or name; NotFound otherwise."""
        return Container(self.client, _state.load(self.client._runtime,
                                                  self._lc.resolve(container_id)))

    def list(self, all=False, filters=None, limit=-1):
        """Running containers, or every one with ``all=True``.

        ``filters``: ``status``, ``label`` (``key`` or ``key=value``), ``name``,
        ``id``; each takes a value or a list of values.
        """
        out = []
        for cid in sorted(self._lc.ids()):
            with contextlib.suppress(NotFound, ValueError, KeyError):
                c = Container(self.client, _state.load(self.client._runtime, cid))
                if (all or filters and "status" in filters or c.status == "running") \
                        and _matches(c, filters or {}):
                    out.append(c)
        out.sort(key=lambda c: c.attrs.get("Created", ""), reverse=True)
        return out[:limit] if limit and limit > 0 else out

    def prune(self, filters=None):
        """Remove every stopped container."""
        deleted = []
        for c in self.list(all=True, filters=filters):
            if c.status in ("exited", "created", "dead"):
                with contextlib.suppress(NotFound):
                    c.remove()
                    deleted.append(c.id)
        return {"ContainersDeleted": deleted, "SpaceReclaimed": 0}


def _as_list(v):
    return v if isinstance(v, (list, tuple, set)) else [v]


def _matches(c, filters):
    for key, wanted in filters.items():
        wanted = _as_list(wanted)
        if key == "status" and c.status not in wanted:
            return False
        if key == "name" and not any(w.lstrip("/") in c.name for w in wanted):
            return False
        if key == "id" and not any(c.id.startswith(w) for w in wanted):
            return False
        if key == "label":
            for w in wanted:
                k, sep, v = w.partition("=")
                if k not in c.labels or (sep and c.labels[k] != v):
                    return False
    return True
