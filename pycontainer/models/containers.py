"""Containers, with docker-py's names: ``client.containers.run/create/get/list``
and :class:`Container` objects. The verbs live in runtime/lifecycle.py."""
import contextlib
import re
import signal as _signal

from .. import filters as _filters
from ..errors import Conflict, InvalidArgument, NotFound
from ..engine import archive as _archive
from ..engine import containers as lifecycle
from ..engine import state as _state
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

    def stop(self, timeout=None):
        """Send the stop signal, then SIGKILL after ``timeout`` seconds: by
        default the container's ``stop_timeout``, else 10 (docker's); a
        negative timeout waits for ever."""
        self._lc.stop(self.id, timeout)
        self.reload()

    def kill(self, signal=_signal.SIGKILL):
        """Send a signal (number or name, e.g. ``"SIGTERM"`` or ``"HUP"``)."""
        self._lc.kill(self.id, signal)
        self.reload()

    def restart(self, timeout=None):
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
        f = _filters.Filters(filters, CONTAINER_FILTERS, "containers.list()")
        match = self._matcher(f, before, since)
        all = all or "status" in f or (limit or 0) > 0 or match.bounded
        out = []
        for cid in self._lc.ids():
            with contextlib.suppress(NotFound, ValueError, KeyError):
                c = Container(self.client, _state.load(self.client._runtime, cid))
                if (all or c.attrs["State"]["Running"]) and match(c):
                    out.append(c)
        out.sort(key=lambda c: c.attrs.get("Created", ""), reverse=True)
        return out[:limit] if limit and limit > 0 else out

    def _matcher(self, f, before, since):
        """A test for one container from validated filters (lookups done once)."""
        statuses = f.values("status")
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise InvalidArgument(f"invalid filter 'status={bad[0]}': use one of {list(STATUSES)}")
        try:
            codes = {int(v) for v in f.values("exited")}
        except ValueError:
            raise InvalidArgument(f"invalid filter 'exited={f.values('exited')}': "
                                  "exit codes are integers") from None
        ancestors = self._ancestors(f.values("ancestor")) if "ancestor" in f else None
        bounds = []
        for key, given, newer in (("before", before, False), ("since", since, True)):
            ref = f.one(key) if given is None else given
            if ref is not None:
                created = _state.load(self.client._runtime, self._lc.resolve(ref))["Created"]
                bounds.append((_filters.timestamp(created) or 0, newer))

        def match(c):
            a, st = c.attrs, c.attrs["State"]
            when = _filters.timestamp(a.get("Created")) or 0
            return (f.any("id", lambda v: c.id.startswith(v))
                    and f.any("name", lambda v: _name_match(v, c.name))
                    and f.labels(c.labels)
                    and (not statuses or c.status in statuses)
                    and (not codes or (c.status in ("exited", "dead")
                                       and st.get("ExitCode") in codes))
                    and (ancestors is None or a.get("Image") in ancestors)
                    and all(when > t if newer else when < t for t, newer in bounds)
                    and f.any("network", lambda v: _on_network(a, v))
                    and f.any("volume", lambda v: _has_volume(a, v)))
        match.bounded = bool(bounds)
        return match

    def _ancestors(self, refs):
        """Ids of the images named by ``refs`` and of the images built on them
        (their layers extend its layers); an unknown name matches nothing."""
        store = self.client.images._store
        bases = []
        for ref in refs:
            with contextlib.suppress(NotFound, InvalidArgument):
                bases.append(store.get(ref))
        ids = {b.id for b in bases}
        if bases:
            for rec in store.list():
                layers = rec.diff_ids
                if any(len(layers) > len(b.diff_ids) and layers[:len(b.diff_ids)] == b.diff_ids
                       for b in bases):
                    ids.add(rec.id)
        return ids

    def prune(self, filters=None):
        """Remove every container that is not running.

        ``filters``: ``until`` (created before: unix seconds, RFC 3339 or a
        duration such as ``"24h"``), ``label`` / ``label!`` (``key`` or
        ``key=value``). Any other key raises InvalidArgument.

        >>> client.containers.prune(filters={"until": "1h", "label": "ci"})
        {'ContainersDeleted': [...], 'SpaceReclaimed': 0}
        """
        f = _filters.Filters(filters, ("until", "label", "label!"), "containers.prune()")
        until = f.until()
        deleted = []
        for c in self.list(all=True):
            if c.status not in ("exited", "created", "dead") or not f.labels(c.labels):
                continue
            if until is not None and not (_filters.timestamp(c.attrs.get("Created")) or 0) < until:
                continue
            with contextlib.suppress(NotFound, Conflict):
                c.remove()
                deleted.append(c.id)
        return {"ContainersDeleted": deleted, "SpaceReclaimed": 0}


CONTAINER_FILTERS = ("id", "name", "label", "status", "exited", "ancestor", "before", "since",
                     "network", "volume")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def _name_match(pattern, name):
    """docker's: the pattern is a regex searched in ``/name``; a plain name also matches."""
    if pattern.lstrip("/") == name:
        return True
    try:
        return re.search(pattern, "/" + name) is not None
    except re.error:
        return False


def _on_network(attrs, value):
    nets = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return value in nets or any(value and (n or {}).get("NetworkID", "").startswith(value)
                                for n in nets.values())


def _has_volume(attrs, value):
    specs = attrs.get("Runtime", {}).get("Config", {}).get("mounts") or []
    return any(value in (s.get("Name"), s.get("Source"), s.get("Destination"))
               for s in specs if s.get("Type") in ("volume", "bind"))
