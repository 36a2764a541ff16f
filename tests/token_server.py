"""A token server for the registry's Bearer flow (Distribution's ``auth: token``).

It answers ``GET /token?service=..&scope=..`` with a JWT signed by an EC key
made here (its self-signed certificate is the registry's ``rootcertbundle``),
after checking optional Basic credentials, and grants of each scope asked
for what ``grant(user, repository)`` allows. Every request is recorded
(``requests``: ``(user, [scopes])``), so tests can count them. Served by
aiohttp from a thread on 127.0.0.1; ``stop()`` ends it.
"""
import asyncio
import base64
import datetime
import hashlib
import os
import threading
import time
import uuid

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def libtrust_kid(public_key):
    """The key id Distribution's libtrust gives a key: base32 of the first 240
    bits of the SHA-256 of its DER, in groups of four joined by ``:``."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def _self_signed(key, d):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pyc-test-token")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .sign(key, hashes.SHA256()))
    path = os.path.join(d, "token.crt")
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return path


class TokenServer:
    """Args: ``d``, a directory for its certificate; ``users``, ``{name:
    password}``; ``grant(user or None, repository) -> set of actions``."""

    service = "pyc-test-registry"
    issuer = "pyc-test-issuer"

    def __init__(self, d, users, grant):
        self.users, self.grant = users, grant
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = libtrust_kid(self.key.public_key())
        self.cert = _self_signed(self.key, os.fspath(d))
        self.requests = []
        self._loop = self._stopped = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()),
                                        name="pyc-token", daemon=True)
        self._thread.start()
        self._ready.wait()
        self.realm = f"http://127.0.0.1:{self.port}/token"

    async def _serve(self):
        self._loop, self._stopped = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application()
        app.router.add_get("/token", self._token)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            await runner.cleanup()

    def stop(self):
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join()

    async def _token(self, request):
        user = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(name) != password:
                return web.json_response({"details": "bad credentials"}, status=401)
            user = name
        scopes = request.query.getall("scope", [])
        self.requests.append((user, scopes))
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                kind, _, rest = one.partition(":")
                name, _, actions = rest.rpartition(":")
                if kind != "repository" or not name:
                    continue
                allowed = set(actions.split(",")) & self.grant(user, name)
                access.append({"type": "repository", "name": name,
                               "actions": sorted(allowed)})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service,
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        token = jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid})
        return web.json_response({"token": token, "expires_in": 300,
                                  "issued_at": datetime.datetime.now(
                                      datetime.timezone.utc).isoformat()})
