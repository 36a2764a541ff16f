"""HTTP to registries: endpoints, TLS, and the auth flow, over ``httpx``.

``httpx`` (imported here, never on the container start path) gives a
connection pool per host shared by threads, HTTP/1.1 streaming of bodies
both ways, and TLS through an ``ssl.SSLContext`` we build from ``certs.d``.

Auth follows the distribution spec: a request answered 401 with
``WWW-Authenticate: Basic`` is sent again with the credentials;
``Bearer realm=..,service=..,scope=..`` sends us to the token server
(anonymously, or with Basic credentials; an identity token becomes a
``refresh_token`` grant), and the token is cached per (host, scope) until
it expires.
"""

import base64
import ssl
import threading
import time
import urllib.parse

import httpx

from pycontainer.errors import ImageNotFound, RegistryError, Unauthorized

TIMEOUT = httpx.Timeout(60.0, connect=15.0)
USER_AGENT = "pycontainer/0.1"


class Transport:
    """One client's connections to every registry it talks to.

    Args:
        config: a :class:`~pycontainer.registry.config.RegistryConfig`.
        logins: ``{domain: auth dict}`` given by ``client.login`` (in memory).
    """

    def __init__(self, config, logins=None):
        self.config = config
        self.logins = logins if logins is not None else {}
        self._clients = {}      # (host, secure) -> httpx.Client
        self._bases = {}        # host -> "https://host" or "http://host", once found
        self._tokens = {}       # (host, scope, user) -> (header, expiry)
        self._lock = threading.Lock()
        self._probes = {}       # host or token key -> lock held while it is found

    def close(self):
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()

    def credentials(self, domain, auth_config=None):
        if auth_config:
            return auth_config
        return self.logins.get(domain) or self.config.credentials(domain)

    # -- connections ------------------------------------------------------

    def _client(self, host, secure):
        key = (host, secure)
        with self._lock:
            c = self._clients.get(key)
        if c is not None:
            return c
        # made outside the lock: a TLS context costs tens of ms, and the
        # other hosts' requests need not wait for it
        c = httpx.Client(verify=self._tls(host, secure) if secure else False,
                         cert=None, timeout=TIMEOUT, follow_redirects=True,
                         headers={"User-Agent": USER_AGENT},
                         limits=httpx.Limits(max_connections=32,
                                             max_keepalive_connections=16))
        with self._lock:
            kept = self._clients.setdefault(key, c)
        if kept is not c:
            c.close()
        return kept

    def _tls(self, host, secure):
        cas, client = self.config.tls_files(host)
        ctx = ssl.create_default_context()
        for ca in cas:
            ctx.load_verify_locations(cafile=ca)
        if client:
            ctx.load_cert_chain(*client)
        if not cas and self.config.is_insecure(host):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def base(self, host):
        """``https://host`` or, for an insecure host without TLS, ``http://host``."""
        with self._lock:
            if host in self._bases:
                return self._bases[host]
            probe = self._probes.setdefault(host, threading.Lock())
        with probe:         # one probe per host, however many threads ask at once
            with self._lock:
                if host in self._bases:
                    return self._bases[host]
            base = self._probe(host)
            with self._lock:
                self._bases[host] = base
            return base

    def _probe(self, host):
        if host.startswith(("http://", "https://")):
            base = host
        else:
            base = "https://" + host
            try:
                self._client(host, True).get(base + "/v2/", timeout=10)
            except httpx.ConnectError as e:
                if not self.config.is_insecure(host) or _cert_error(e):
                    raise _unreachable(host, e) from None
                base = "http://" + host
            except httpx.TransportError as e:
                if not self.config.is_insecure(host):
                    raise _unreachable(host, e) from None
                base = "http://" + host
        return base

    # -- requests ---------------------------------------------------------

    def request(self, method, host, path, *, scope=None, auth=None, headers=None,
                content=None, stream=False, ok=(200,), what=None):
        """Send a request to ``host`` (auth handled); return the response.

        ``stream=True`` returns it unread (the caller closes it). A status
        outside ``ok`` raises: 404 with a manifest/blob/name unknown code
        ImageNotFound, 401/403 Unauthorized, others RegistryError.
        """
        base = self.base(host)
        secure = base.startswith("https://")
        client = self._client(_netloc(base), secure)
        url = path if path.startswith(("http://", "https://")) else base + path
        hdrs = dict(headers or {})
        tried_auth = False
        while True:
            cached = self._token(host, scope, auth)
            if cached:
                hdrs["Authorization"] = cached
            sent = cached
            try:
                req = client.build_request(method, url, headers=hdrs, content=content)
                resp = client.send(req, stream=True)
            except httpx.TransportError as e:
                raise _unreachable(host, e) from None
            if resp.status_code == 401 and not tried_auth:
                challenge = resp.headers.get("www-authenticate", "")
                resp.close()
                tried_auth = True
                if self._authenticate(host, scope, auth, challenge, sent):
                    if hasattr(content, "seek"):
                        content.seek(0)
                    continue
                raise Unauthorized(f"{host}: authentication required", 401)
            break
        if resp.status_code not in ok:
            try:
                resp.read()
            finally:
                resp.close()
            raise _status_error(resp, what or f"{method} {path}")
        if not stream:
            try:
                resp.read()
            finally:
                resp.close()
        return resp

    def _token(self, host, scope, auth):
        key = (host, scope, _who(auth))
        with self._lock:
            hit = self._tokens.get(key)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        return None

    def _authenticate(self, host, scope, auth, challenge, sent=None):
        """Get an Authorization header for ``challenge``; False when none can be had.

        One thread at a time asks for a given (host, scope, user): the
        threads of a parallel push that were all answered 401 at once wait
        for the first one's token instead of each asking the token server.
        """
        key = (host, scope, _who(auth))
        with self._lock:
            flight = self._probes.setdefault(key, threading.Lock())
        with flight:
            fresh = self._token(host, scope, auth)
            if fresh and fresh != sent:
                return True         # another thread got it while we waited
            return self._authenticate_now(host, scope, auth, challenge)

    def _authenticate_now(self, host, scope, auth, challenge):
        kind, _, params = challenge.partition(" ")
        kind = kind.lower()
        creds = auth
        if kind == "basic":
            if not creds or "username" not in creds:
                return False
            header = "Basic " + base64.b64encode(
                f"{creds['username']}:{creds.get('password', '')}".encode()).decode()
            expiry = time.monotonic() + 3600
        elif kind == "bearer":
            header, expiry = self._bearer(host, _params(params), scope, creds)
        else:
            return False
        with self._lock:
            self._tokens[(host, scope, _who(auth))] = (header, expiry)
        return True

    def _bearer(self, host, params, scope, creds):
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{host}: Bearer challenge without a realm", 401)
        query = {"service": params.get("service", "")} if params.get("service") else {}
        scopes = [s for s in (scope or params.get("scope", "")).split(" ") if s]
        client = self._client(_netloc(realm), realm.startswith("https://"))
        try:
            if creds and creds.get("identitytoken"):
                resp = client.post(realm, data={
                    "grant_type": "refresh_token", "refresh_token": creds["identitytoken"],
                    "service": params.get("service", ""), "scope": " ".join(scopes),
                    "client_id": "pycontainer"})
            else:
                q = list(query.items()) + [("scope", s) for s in scopes]
                basic = None
                if creds and creds.get("username"):
                    basic = (creds["username"], creds.get("password", ""))
                resp = client.get(realm, params=q, auth=basic)
        except httpx.TransportError as e:
            raise _unreachable(_netloc(realm), e) from None
        if resp.status_code in (401, 403):
            raise Unauthorized(f"{host}: the token server refused the credentials "
                               f"({resp.status_code})", resp.status_code)
        if resp.status_code != 200:
            raise _status_error(resp, "get a token")
        try:
            data = resp.json()
        except ValueError:
            raise RegistryError(f"{host}: the token server gave no JSON") from None
        token = data.get("token") or data.get("access_token")
        if not token:
            raise RegistryError(f"{host}: the token server gave no token")
        life = max(int(data.get("expires_in") or 60), 60)
        return "Bearer " + token, time.monotonic() + life - 10


def _who(auth):
    if not auth:
        return None
    return auth.get("username") or auth.get("identitytoken")


def _params(text):
    """``realm="x",service="y"`` -> dict (quoted values may hold commas)."""
    out, i = {}, 0
    while i < len(text):
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().strip(",").strip().lower()
        if eq + 1 < len(text) and text[eq + 1] == '"':
            end = text.find('"', eq + 2)
            end = len(text) if end < 0 else end
            out[key] = text[eq + 2:end]
            i = end + 1
        else:
            end = text.find(",", eq)
            end = len(text) if end < 0 else end
            out[key] = text[eq + 1:end].strip()
            i = end
        i += 1 if i < len(text) and text[i] == "," else 0
    return out


def _netloc(url):
    return urllib.parse.urlsplit(url).netloc


def _cert_error(err):
    return "CERTIFICATE_VERIFY_FAILED" in str(err) or "certificate" in str(err).lower()


def _unreachable(host, err):
    return RegistryError(f"cannot reach registry {host}: {err}")


def _status_error(resp, what):
    errors = []
    try:
        errors = resp.json().get("errors") or []
    except (ValueError, AttributeError):
        pass
    codes = {e.get("code") for e in errors if isinstance(e, dict)}
    detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors
                       if isinstance(e, dict)) or resp.reason_phrase
    msg = f"{what}: {resp.status_code} {detail}"
    if resp.status_code in (401, 403):
        return Unauthorized(msg, resp.status_code, errors)
    if resp.status_code == 404 and (codes & {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"} or not codes):
        err = ImageNotFound(msg)
        err.status_code, err.errors = 404, errors
        return err
    return RegistryError(msg, resp.status_code, errors)
