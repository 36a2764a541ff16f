"""Basic auth from an htpasswd file, as the Distribution registry reads it.

Each line is ``user:hash``; only bcrypt hashes (``$2y$``, ``$2b$``, ``$2a$``, what
``htpasswd -B`` writes) are accepted, as docker's registry does. A bcrypt check
costs tens of milliseconds by design, and a client sends the same header on
every request: a check that passed is remembered (by a keyed hash of the
header, never the password) until the file changes.
"""
import base64
import binascii
import hashlib
import hmac
import os
import secrets

from pycontainer.errors import InvalidArgument

REALM = "pycontainer-registry"


def load(path):
    """``{user: bcrypt hash}`` of an htpasswd file."""
    users = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not user or not hashed.startswith(("$2y$", "$2b$", "$2a$")):
                raise InvalidArgument(f"{path}:{n}: not 'user:bcrypt-hash' (make it with "
                                      "'htpasswd -Bbn USER PASSWORD')")
            users[user] = hashed.encode()
    if not users:
        raise InvalidArgument(f"{path}: no users")
    return users


def hash_password(password):
    """A bcrypt hash of ``password`` for an htpasswd line."""
    import bcrypt
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


class Htpasswd:
    """Checks ``Authorization`` headers against an htpasswd file."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self._key = secrets.token_bytes(32)
        self._stamp = None
        self._users = {}
        self._passed = set()
        self._reload()

    def _reload(self):
        st = os.stat(self.path)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            self._users = load(self.path)
            self._passed = set()
            self._stamp = stamp

    def check(self, header):
        """The user ``header`` (``Basic base64(user:password)``) authenticates, or None."""
        import bcrypt
        if not header or not header.startswith("Basic "):
            return None
        self._reload()
        mark = hmac.new(self._key, header.encode(), hashlib.sha256).digest()
        try:
            user, sep, password = base64.b64decode(header[6:], validate=True) \
                .decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep or user not in self._users:
            return None
        if mark in self._passed:
            return user
        if not bcrypt.checkpw(password.encode(), self._users[user]):
            return None
        self._passed.add(mark)
        return user
