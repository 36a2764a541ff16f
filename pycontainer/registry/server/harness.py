"""A throwaway registry for test harnesses: ``with client.registry() as reg:``.

It serves a store of its own (a fresh temporary directory) from a thread of
the calling process on 127.0.0.1, and on exit stops and deletes everything it
stored. Push to ``reg.host``, pull from it, point skopeo at ``reg.url``.
"""
import os
import tempfile

from pycontainer import fstree
from pycontainer.errors import InvalidArgument

from .serve import Server


class ThrowawayRegistry:
    """A registry on ``127.0.0.1:port`` (0: a free port) over a temporary store.

    Args:
        port: TCP port; 0 picks a free one.
        htpasswd: the path of an htpasswd file (bcrypt), or ``{user: password}``
            to require Basic auth; None serves anyone.
        tls: ``(cert_path, key_path)`` (PEM) to serve HTTPS; None serves HTTP.

    Attributes:
        url: ``http://127.0.0.1:PORT`` (``https`` with ``tls``).
        host: ``127.0.0.1:PORT``, the registry part of an image reference.
        root: the temporary store (removed on exit).

    >>> with client.registry() as reg:
    ...     reg.host
    '127.0.0.1:41234'
    """

    def __init__(self, port=0, htpasswd=None, tls=None):
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise InvalidArgument(f"port must be 0..65535, not {port!r}")
        if tls is not None and (not isinstance(tls, (tuple, list)) or len(tls) != 2):
            raise InvalidArgument("tls must be (cert_path, key_path)")
        self.port, self._htpasswd, self._tls = port, htpasswd, tls
        self.root = self.url = self.host = None
        self._server = None

    def start(self):
        self.root = tempfile.mkdtemp(prefix="pyc-registry-")
        try:
            htpasswd = self._htpasswd
            if isinstance(htpasswd, dict):
                htpasswd = self._write_htpasswd(htpasswd)
            cert, key = self._tls or (None, None)
            self._server = Server(os.path.join(self.root, "store"), f"127.0.0.1:{self.port}",
                                  htpasswd=htpasswd, tls_cert=cert, tls_key=key)
            self._server.start_thread()
        except BaseException:
            self._server = None
            fstree.remove(self.root)
            raise
        self.url, self.host = self._server.url, self._server.host
        return self

    def _write_htpasswd(self, users):
        from .auth import hash_password
        path = os.path.join(self.root, "htpasswd")
        with open(path, "w") as f:
            for user, password in users.items():
                if not user or ":" in user:
                    raise InvalidArgument(f"bad user name {user!r}")
                f.write(f"{user}:{hash_password(password)}\n")
        return path

    def stop(self):
        """Stop serving and delete the registry's store."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.root is not None:
            fstree.remove(self.root)
            self.root = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
