"""Where a verb runs: the local engine (the default, daemonless) or daemons.

The seam is one small adapter per verb family with the same methods either
way: :class:`Local` over the engine in this process, :class:`Remote` over
a ``pycontainerd`` (or any Docker Engine API) with httpx. A verb asks
``ctx.backends()`` for ``[(name, adapter)]``: one local adapter, or one per
``-H`` given (``ps``, ``images`` and ``events`` read them all and name the
daemon in a column; the other verbs take exactly one).

What an adapter returns is the engine's shape (containers as inspect dicts,
images as records with ``id``, ``tags``, ``created``, ``size``), so the
verbs' rows and ``--format`` fields are the same locally and remotely.
"""
import json
import sys

from . import UsageError

API = "v1.44"


class Local:
    """The engine of this process (made on first use)."""

    remote = False

    def __init__(self, ctx):
        self.ctx = ctx

    @property
    def engine(self):
        return self.ctx.engine

    def containers(self, all=False, filters=None, limit=-1):
        return self.engine.containers.list(all=all, filters=filters, limit=limit)

    def images(self, reference=None, filters=None):
        return self.engine.images.list(reference, filters)

    def events(self, since=None, until=None, filters=None):
        return self.engine.events.read(since, until, filters)


class ImageSummary:
    """An image of ``GET /images/json``, with the fields of a store record."""

    def __init__(self, d):
        import datetime
        self.id = d.get("Id", "")
        self.tags = [t for t in d.get("RepoTags") or [] if t != "<none>:<none>"]
        created = d.get("Created") or 0
        self.created = datetime.datetime.fromtimestamp(
            created, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.size = d.get("Size", 0)
        digests = d.get("RepoDigests") or []
        self.manifest_digest = digests[0].partition("@")[2] if digests else None


class Remote:
    """A daemon at ``url`` (``unix:///path``, ``tcp://host:port``, ``http://...``)."""

    remote = True

    def __init__(self, url):
        self.url = url
        self._http = None

    @property
    def http(self):
        if self._http is None:
            import httpx
            if self.url.startswith("unix://"):
                transport = httpx.HTTPTransport(uds=self.url[len("unix://"):])
                base = "http://pycontainerd"
            elif self.url.startswith(("tcp://", "http://")):
                transport = httpx.HTTPTransport()
                base = "http://" + self.url.split("://", 1)[1]
            else:
                raise UsageError(f"invalid host {self.url!r}: use unix:///path or "
                                 "tcp://host:port")
            self._http = httpx.Client(transport=transport, base_url=f"{base}/{API}",
                                      timeout=httpx.Timeout(60.0, read=None))
        return self._http

    def request(self, method, path, ok=(200, 201, 204, 304), **kw):
        import httpx
        try:
            r = self.http.request(method, path, **kw)
        except httpx.TransportError as err:
            raise self._unreachable(err) from err
        if r.status_code not in ok:
            raise _error(r, self.url)
        return r

    def json(self, method, path, **kw):
        r = self.request(method, path, **kw)
        return r.json() if r.content else None

    def stream(self, method, path, **kw):
        """(response context manager) of a streamed answer."""
        import httpx
        import contextlib

        @contextlib.contextmanager
        def opened():
            try:
                with self.http.stream(method, path, **kw) as r:
                    yield r
            except httpx.TransportError as err:
                raise self._unreachable(err) from err
        return opened()

    def _unreachable(self, err):
        from ..errors import PyContainerError
        why = str(err).replace("[Errno 2] ", "") or type(err).__name__
        return PyContainerError(f"cannot reach the daemon at {self.url}: {why} (is "
                                "pycontainerd running there? check -H/--host)")

    def close(self):
        if self._http is not None:
            self._http.close()

    # -- the verbs' needs -------------------------------------------------------------

    def containers(self, all=False, filters=None, limit=-1):
        params = {"all": "1" if all else "0"}
        if filters:
            params["filters"] = json.dumps(filters)
        if limit and limit > 0:
            params["limit"] = str(limit)
        found = self.json("GET", "/containers/json", params=params)
        out = []
        for c in found:
            try:
                out.append(self.json("GET", f"/containers/{c['Id']}/json"))
            except LookupError:       # removed meanwhile
                continue
        return out

    def images(self, reference=None, filters=None):
        f = dict(filters or {})
        if reference:
            f["reference"] = [reference]
        params = {"filters": json.dumps(f)} if f else {}
        return [ImageSummary(d) for d in self.json("GET", "/images/json", params=params)]

    def events(self, since=None, until=None, filters=None):
        params = {}
        if since is not None:
            params["since"] = str(since)
        if until is not None:
            params["until"] = str(until)
        if filters:
            params["filters"] = json.dumps(filters)
        with self.stream("GET", "/events", params=params) as r:
            if r.status_code != 200:
                r.read()
                raise _error(r, self.url)
            for text in r.iter_lines():
                if text.strip():
                    yield json.loads(text)

    def version(self):
        return self.json("GET", "/version")

    def inspect(self, key):
        return self.json("GET", f"/containers/{key}/json")

    def remove(self, key, force=False, volumes=False):
        self.request("DELETE", f"/containers/{key}", params={
            "force": "1" if force else "0", "v": "1" if volumes else "0"})

    def logs(self, key, follow=False, tail="all", timestamps=False, since=None, until=None):
        """(stream, bytes) of the log (docker's frames unless the container has a tty)."""
        tty = self.inspect(key)["Config"].get("Tty")
        params = {"stdout": "1", "stderr": "1", "follow": "1" if follow else "0",
                  "tail": str(tail), "timestamps": "1" if timestamps else "0"}
        if since is not None:
            params["since"] = str(since)
        if until is not None:
            params["until"] = str(until)
        with self.stream("GET", f"/containers/{key}/logs", params=params) as r:
            if r.status_code != 200:
                r.read()
                raise _error(r, self.url)
            yield from frames(r.iter_bytes(), tty)

    def create(self, body, name=None):
        params = {"name": name} if name else {}
        return self.json("POST", "/containers/create", json=body, params=params)["Id"]

    def start(self, cid):
        self.request("POST", f"/containers/{cid}/start")

    def run(self, body, name=None, remove=False):
        """create, start, follow the output, wait (and remove, ``--rm``: by this
        command, so the output is read whole first): the exit code."""
        cid = self.create(body, name)
        try:
            self.start(cid)
            for stream, data in self.logs(cid, follow=True):
                out = (sys.stdout if stream == 1 else sys.stderr).buffer
                out.write(data)
                out.flush()
            return self.json("POST", f"/containers/{cid}/wait")["StatusCode"]
        finally:
            if remove:
                try:
                    self.remove(cid, force=True)
                except LookupError:
                    pass


def frames(chunks, tty):
    """docker's multiplexed stream (8-byte headers) -> (stream, bytes); a tty's
    raw stream is all stdout."""
    if tty:
        for c in chunks:
            yield 1, c
        return
    buf = b""
    for c in chunks:
        buf += c
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + size:
                break
            yield (2 if buf[0] == 2 else 1), buf[8:8 + size]
            buf = buf[8 + size:]


def _error(r, url):
    try:
        text = r.json().get("message") or r.text
    except ValueError:
        text = r.text
    from .. import errors as E
    kind = {404: E.NotFound, 409: E.Conflict, 400: E.InvalidArgument}.get(r.status_code)
    if kind is not None:
        return kind(text.strip())
    return E.PyContainerError(f"the daemon at {url} answered {r.status_code}: {text.strip()}")


# -- run's flags as docker's create body ----------------------------------------------------

_BODY = {"environment": ("Env", None), "labels": ("Labels", None), "working_dir": ("WorkingDir",
         None), "user": ("User", None), "hostname": ("Hostname", None), "tty": ("Tty", None),
         "stdin_open": ("OpenStdin", None), "entrypoint": ("Entrypoint", None),
         "mem_limit": (None, "Memory"), "pids_limit": (None, "PidsLimit"),
         "nano_cpus": (None, "NanoCpus"), "network_mode": (None, "NetworkMode"),
         "read_only": (None, "ReadonlyRootfs"), "privileged": (None, "Privileged"),
         "cap_add": (None, "CapAdd"), "cap_drop": (None, "CapDrop"),
         "volumes": (None, "Binds"), "security_opt": (None, "SecurityOpt"),
         "cpu_shares": (None, "CpuShares")}


def create_body(image, cmd, kw):
    """docker's ``POST /containers/create`` body for run's keywords (those a
    daemon is sent so far; others are refused in one line)."""
    from ..units import parse_bytes
    body, host = {"Image": image}, {}
    if cmd:
        body["Cmd"] = cmd
    for key, value in kw.items():
        if key == "name":
            continue
        if key not in _BODY:
            raise UsageError(f"{key} is not sent to a daemon yet: run it locally (without "
                             "-H) or drop the flag")
        top, hc = _BODY[key]
        if key == "mem_limit":
            value = parse_bytes(value, "--memory")
        if top:
            body[top] = value
        else:
            host[hc] = value
    if host:
        body["HostConfig"] = host
    return body
