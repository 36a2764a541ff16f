"""One daemon's HTTP connection (httpx): ``unix://``, ``tcp://`` and
``https://`` with client certificates; the API version prefix; docker's
``{"message": ...}`` errors back to pycontainer's typed errors."""
import base64
import json
import struct
import urllib.parse

from .. import errors

API_VERSION = "1.44"
DEFAULT_TIMEOUT = 60.0


def _error(status, message, path):
    """The typed error for a status, as the daemon's status.py maps them."""
    if status == 404:
        kind = errors.ImageNotFound if "image" in message.lower() or \
            path.startswith(("/images", "/distribution")) else errors.NotFound
        return kind(message)
    if status == 409:
        return errors.Conflict(message)
    if status == 400:
        return errors.InvalidArgument(message)
    if status in (401, 403):
        return errors.Unauthorized(message, status)
    if status == 408:
        return TimeoutError(message)
    if status == 501:
        return errors.InvalidArgument(f"not supported by the daemon: {message}")
    return errors.PyContainerError(f"the daemon failed ({status}): {message}")


class Http:
    """Requests to one daemon. ``base_url``: ``unix:///run/pycontainer/pycontainer.sock``,
    ``tcp://127.0.0.1:2375``, ``https://host:2376``; ``tls``: ``{"ca", "cert", "key"}``
    paths (``tcp://`` becomes https with them)."""

    def __init__(self, base_url, tls=None, timeout=None, version=API_VERSION):
        import httpx
        u = urllib.parse.urlsplit(base_url)
        kw = {"timeout": httpx.Timeout(timeout or DEFAULT_TIMEOUT, read=None)}
        if u.scheme == "unix" or base_url.startswith("/"):
            path = base_url if base_url.startswith("/") else (u.netloc + u.path)
            kw["transport"] = httpx.HTTPTransport(uds=path)
            self.base = "http://localhost"
        elif u.scheme in ("tcp", "http", "https"):
            if not u.hostname or not u.port:
                raise errors.InvalidArgument(f"base_url {base_url!r}: use tcp://HOST:PORT")
            secure = u.scheme == "https" or bool(tls)
            self.base = f"{'https' if secure else 'http'}://{u.netloc}"
            if secure:
                import ssl
                tls = tls or {}
                ctx = ssl.create_default_context(cafile=tls.get("ca"))
                if tls.get("cert"):
                    ctx.load_cert_chain(tls["cert"], tls.get("key"))
                kw["verify"] = ctx
        else:
            raise errors.InvalidArgument(f"base_url {base_url!r}: use unix:///PATH, "
                                         "tcp://HOST:PORT or https://HOST:PORT")
        self.prefix = f"/v{version}"
        self.client = httpx.Client(**kw)
        self.httpx = httpx

    def close(self):
        self.client.close()

    def request(self, method, path, params=None, json_body=None, content=None, headers=None,
                stream=False, ok=(200, 201, 204, 304), timeout=None):
        """The response (unread with ``stream``); a typed error for a status outside ``ok``."""
        # None, not {}: httpx replaces a query already in ``path`` with an empty one
        params = {k: _param(v) for k, v in (params or {}).items() if v is not None} or None
        hdrs = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        kw = {} if timeout is None else {"timeout": self.httpx.Timeout(timeout)}
        req = self.client.build_request(method, self.base + self.prefix + path, params=params,
                                        content=content, headers=hdrs, **kw)
        try:
            resp = self.client.send(req, stream=stream)
        except self.httpx.TimeoutException as err:
            raise TimeoutError(f"{method} {path}: the daemon did not answer in time") from err
        except self.httpx.TransportError as err:
            raise errors.PyContainerError(f"cannot reach the daemon at {self.base}: {err}") \
                from err
        if resp.status_code not in ok:
            body = resp.read()
            resp.close()
            try:
                message = json.loads(body).get("message") or body.decode(errors="replace")
            except (ValueError, AttributeError):
                message = body.decode(errors="replace")
            raise _error(resp.status_code, message.strip(), path)
        return resp

    def json(self, method, path, **kw):
        resp = self.request(method, path, **kw)
        return resp.json() if resp.content.strip() else None


def _param(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return v


def auth_header(auth):
    """``X-Registry-Auth``: base64url JSON of the credentials."""
    if not auth:
        return {}
    return {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()}


def json_lines(resp):
    """A JSON progress stream's dicts; its ``error`` line raises (after the others)."""
    try:
        for line in resp.iter_lines():
            if not line.strip():
                continue
            msg = json.loads(line)
            yield msg
    finally:
        resp.close()


def raise_errors(messages, kind=errors.PyContainerError):
    for msg in messages:
        if "error" in msg:
            detail = msg.get("errorDetail") or {}
            raise kind(detail.get("message") or msg["error"])
        yield msg


def frames(resp, demux=False):
    """Payloads of docker's multiplexed stream: bytes, or ``(out, err)`` with ``demux``."""
    buf = b""
    try:
        for chunk in resp.iter_bytes():
            buf += chunk
            while len(buf) >= 8:
                stream, size = struct.unpack(">BxxxL", buf[:8])
                if len(buf) < 8 + size:
                    break
                data, buf = buf[8:8 + size], buf[8 + size:]
                if demux:
                    yield (data, None) if stream != 2 else (None, data)
                else:
                    yield data
    finally:
        resp.close()


def chunks(resp, size=None):
    """The body in chunks of ``size`` bytes; the response is closed at its end."""
    try:
        yield from resp.iter_bytes(size)
    finally:
        resp.close()


def raw(resp, demux=False):
    for chunk in chunks(resp):
        yield (chunk, None) if demux else chunk


def output(resp, demux=False):
    """The stream as the daemon framed it (its Content-Type says)."""
    if "multiplexed" in resp.headers.get("content-type", ""):
        return frames(resp, demux)
    return raw(resp, demux)
