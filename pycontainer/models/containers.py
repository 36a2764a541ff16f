"""Containers, with docker-py's names: ``client.containers.run/create/get/list``
and :class:`Container` objects."""
import contextlib
import os
import secrets
import select
import signal as _signal
import time

from ..errors import ContainerError, InvalidArgument, NotFound
from ..runtime import config as _config
from ..runtime.engine import _now, read_json, write_json_atomic
from ..runtime.timing import mark

_RUN_KEYS = {"command", "entrypoint", "environment", "hostname", "working_dir", "user",
             "read_only", "network_mode", "labels", "name", "volatile", "mem_limit",
             "memswap_limit", "pids_limit", "nano_cpus", "cpu_shares", "cpu_quota",
             "cpu_period", "cpuset_cpus"}


def _proc_start_time(pid):
    """Field 22 of /proc/<pid>/stat: tells a reused pid from the original."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


class Container:
    """A container: ``id``, ``short_id``, ``name``, ``status``, ``attrs``.

    >>> with client.containers.run("busybox", ["sleep", "60"], detach=True) as c:
    ...     c.status
    'running'
    """

    def __init__(self, client, attrs):
        self.client = client
        self.attrs = attrs

    def __repr__(self):
        return f"<Container: {self.short_id}>"

    def __eq__(self, other):
        return isinstance(other, Container) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        with contextlib.suppress(NotFound):
            self.remove(force=True)

    id = property(lambda self: self.attrs["Id"])
    short_id = property(lambda self: self.id[:12])
    name = property(lambda self: self.attrs["Name"].lstrip("/"))
    labels = property(lambda self: self.attrs["Config"].get("Labels") or {})
    status = property(lambda self: self.attrs["State"]["Status"])

    @property
    def image(self):
        return self.client.images.get(self.attrs["Image"])

    def reload(self):
        """Refresh ``attrs`` from the store."""
        self.attrs = self.client.containers._load(self.id)

    def wait(self, timeout=None):
        """Block until the container stops; returns ``{"StatusCode": n}``.

        Raises TimeoutError when ``timeout`` seconds pass first.
        """
        code = self.client.containers._wait(self.id, timeout)
        self.reload()
        return {"StatusCode": code, "Error": None}

    def logs(self, stdout=True, stderr=True):
        """What a detached container wrote (bytes)."""
        d = self.client._runtime.dir(self.id)
        out = b""
        for want, name in ((stdout, "stdout.log"), (stderr, "stderr.log")):
            if want:
                with contextlib.suppress(FileNotFoundError), open(os.path.join(d, name), "rb") as f:
                    out += f.read()
        return out

    def kill(self, signal=_signal.SIGKILL):
        """Send a signal (number or name like ``"SIGTERM"``) to the init."""
        sig = _signal.Signals[signal if str(signal).startswith("SIG") else f"SIG{signal}"] \
            if isinstance(signal, str) else signal
        proc = self.client.containers._procs.get(self.id)
        if proc is None:
            from ..errors import Conflict
            raise Conflict(f"container {self.short_id} is not running")
        proc.kill(sig)

    def stop(self, timeout=10):
        """Send the stop signal, then SIGKILL after ``timeout`` seconds."""
        proc = self.client.containers._procs.get(self.id)
        if proc is not None:
            proc.kill(_signal.Signals[self.attrs["Config"].get("StopSignal") or "SIGTERM"])
            if proc.wait(timeout) is None:
                proc.kill(_signal.SIGKILL)
            self.client.containers._wait(self.id, None)
        self.reload()

    def remove(self, force=False):
        """Remove the container; ``force`` kills it first if running."""
        self.client.containers._remove(self.id, force)


class ContainerCollection:
    """``client.containers``."""

    def __init__(self, client):
        self.client = client
        self._procs = {}     # id -> InitProcess of detached containers started here

    @property
    def _rt(self):
        return self.client._runtime

    # -- run ---------------------------------------------------------------
    def run(self, image, command=None, stdout=True, stderr=False, remove=False, detach=False,
            **kwargs):
        """Run a command in a new container.

        Returns its output (bytes) or, with ``detach=True``, a Container.
        Raises ContainerError on a non-zero exit, ImageNotFound for an unknown
        image and InvalidArgument for bad keywords (before anything exists).

        >>> client.containers.run("busybox", ["echo", "hi"], remove=True)
        b'hi\\n'
        """
        cid, cfg, record = self._prepare(image, command, kwargs)
        ephemeral = remove and not detach
        cfg.volatile = cfg.volatile or ephemeral   # its upper layer is never reused
        self._rt.create(cid, cfg, record, ephemeral=ephemeral)
        mark("prepare")
        try:
            if detach:
                return self._start_detached(cid, cfg, record, remove)
            return self._run_attached(cid, cfg, record, stdout, stderr, ephemeral)
        finally:
            if remove and not detach:
                self._discard(cid, cfg.name)
                mark("cleanup")

    def create(self, image, command=None, **kwargs):
        """Create a container without starting it (status ``created``)."""
        cid, cfg, record = self._prepare(image, command, kwargs)
        self._rt.create(cid, cfg, record)
        write_json_atomic(os.path.join(self._rt.dir(cid), "state.json"),
                          {"Status": "created", "Running": False, "Pid": 0, "ExitCode": 0,
                           "OOMKilled": False, "StartedAt": None, "FinishedAt": None})
        return self.get(cid)

    def _prepare(self, image, command, kwargs):
        unknown = set(kwargs) - _RUN_KEYS
        if unknown:
            raise InvalidArgument(f"unsupported keyword(s) for run(): {sorted(unknown)}")
        record = self.client.images._record(image)
        cid = secrets.token_hex(32)
        if not kwargs.get("name"):
            kwargs = dict(kwargs, name=f"pyc_{cid[:12]}")
        cfg = _config.build_config(image, record, cid, command=command, **kwargs)
        return cid, cfg, record

    def _lowers(self, record):
        return self._rt.lowers(record)

    def _run_attached(self, cid, cfg, record, want_out, want_err, ephemeral):
        rt = self._rt
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC) if not (want_out and want_err) else (None, out_w)
        status = None
        try:
            try:
                proc = rt.start(cid, cfg, self._lowers(record), (-1, out_w, err_w),
                                pdeathsig=_signal.SIGKILL, ephemeral=ephemeral)
            finally:
                os.close(out_w)
                if err_r is not None:
                    os.close(err_w)
            out, err = _drain(out_r, err_r)
            status = proc.wait()
            mark("wait")
            oom = rt.oom_killed(cid)
        finally:
            os.close(out_r)
            if err_r is not None:
                os.close(err_r)
            rt.remove_cgroups(cid)
        both = want_out and want_err
        if status != 0:
            container = Container(self.client, {"Id": cid, "Name": "/" + cfg.name,
                                                "Config": {}, "State": {"Status": "exited"}})
            raise ContainerError(container, status, cfg.argv, cfg.image, out if both else err,
                                 oom_killed=oom)
        if both:
            return out
        return out if want_out else (err if want_err else b"")

    def _start_detached(self, cid, cfg, record, auto_remove):
        d = self._rt.dir(cid)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fds = [os.open(os.path.join(d, n), flags, 0o640) for n in ("stdout.log", "stderr.log")]
        try:
            try:
                proc = self._rt.start(cid, cfg, self._lowers(record), (-1, fds[0], fds[1]))
            except BaseException:
                self._discard(cid, cfg.name)
                raise
        finally:
            for fd in fds:
                os.close(fd)
        self._procs[cid] = proc
        state = {"Status": "running", "Running": True, "Pid": proc.pid,
                 "PidStartTime": _proc_start_time(proc.pid), "ExitCode": 0,
                 "OOMKilled": False, "StartedAt": _now(), "FinishedAt": None,
                 "AutoRemove": bool(auto_remove)}
        write_json_atomic(os.path.join(d, "state.json"), state)
        return self.get(cid)

    def _wait(self, cid, timeout):
        proc = self._procs.get(cid)
        if proc is None:
            state = self._load(cid)["State"]
            if state["Status"] == "running" and _proc_start_time(state["Pid"]) == state.get("PidStartTime"):
                deadline = None if timeout is None else time.monotonic() + timeout
                while _proc_start_time(state["Pid"]) == state.get("PidStartTime"):
                    if deadline is not None and time.monotonic() > deadline:
                        raise TimeoutError(f"container {cid[:12]} still running after {timeout}s")
                    time.sleep(0.01)
            return self._load(cid)["State"]["ExitCode"]
        code = proc.wait(timeout)
        if code is None:
            raise TimeoutError(f"container {cid[:12]} still running after {timeout}s")
        self._finish(cid, proc)
        return code

    def _finish(self, cid, proc):
        """Record the exit and release what the running container held."""
        self._procs.pop(cid, None)
        oom = self._rt.oom_killed(cid)
        self._rt.remove_cgroups(cid)
        path = os.path.join(self._rt.dir(cid), "state.json")
        state = read_json(path)
        state.update(Status="exited", Running=False, Pid=0, ExitCode=proc.status,
                     OOMKilled=oom, FinishedAt=_now())
        write_json_atomic(path, state)
        if state.get("AutoRemove"):
            self._discard(cid, self._load(cid)["Name"].lstrip("/"))

    def _remove(self, cid, force):
        from ..errors import Conflict
        attrs = self._load(cid)
        proc = self._procs.get(cid)
        if proc is not None:
            if not force:
                raise Conflict(f"container {cid[:12]} is running: stop it or use force=True")
            proc.kill()
            proc.wait()
            self._finish(cid, proc)
        if os.path.isdir(self._rt.dir(cid)):
            self._discard(cid, attrs["Name"].lstrip("/"))

    def _discard(self, cid, name):
        self._rt.remove_dir(cid)
        self._rt.release_name(name, cid)

    # -- lookup ------------------------------------------------------------
    def _load(self, cid):
        d = self._rt.dir(cid)
        try:
            attrs = read_json(self._rt.config_path(cid))
        except FileNotFoundError:
            raise NotFound(f"No such container: {cid}") from None
        try:
            state = read_json(os.path.join(d, "state.json"))
        except FileNotFoundError:
            state = {"Status": "running" if cid in self._procs else "created"}
        attrs["State"] = state
        return attrs

    def get(self, container_id):
        """By full id, unique id prefix or name; NotFound otherwise."""
        key = str(container_id).lstrip("/")
        owner = self._rt.name_owner(key)
        if owner:
            return Container(self.client, self._load(owner))
        ids = self._ids()
        if key in ids:
            return Container(self.client, self._load(key))
        matches = [c for c in ids if c.startswith(key)] if key else []
        if len(matches) == 1:
            return Container(self.client, self._load(matches[0]))
        if len(matches) > 1:
            raise NotFound(f"container id prefix {key!r} is ambiguous ({len(matches)} matches)")
        raise NotFound(f"No such container: {container_id}")

    def _ids(self):
        ids = set(os.listdir(self._rt.containers))
        ids.update(n for n in os.listdir(self._rt.run_root) if len(n) == 64)
        return ids

    def list(self, all=False):
        """Running containers, or every one with ``all=True``."""
        out = []
        for cid in sorted(self._ids()):
            with contextlib.suppress(NotFound, ValueError):
                c = Container(self.client, self._load(cid))
                if all or c.status == "running":
                    out.append(c)
        return out


def _drain(out_r, err_r):
    """Read stdout/stderr pipes to EOF without deadlocking on either."""
    bufs = {out_r: [], err_r: []}
    fds = [fd for fd in (out_r, err_r) if fd is not None]
    while fds:
        ready, _, _ = select.select(fds, [], [])
        for fd in ready:
            chunk = os.read(fd, 65536)
            if chunk:
                bufs[fd].append(chunk)
            else:
                fds.remove(fd)
    return b"".join(bufs[out_r]), b"".join(bufs.get(err_r) or [])
