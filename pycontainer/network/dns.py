"""The embedded DNS server of a container on user networks (docker's
127.0.0.11): ``pyc-dns`` (csrc/dns/) answers the names of the container's
hosts file, which :mod:`.hosts` keeps current, and forwards the others to
the upstream resolvers from the host's network namespace.

Python makes the server's socket inside the container's namespace
(:func:`open_socket`). A detached container's monitor starts the server
and stops it when the container is done (:class:`Server` hands both over);
an attached run starts it itself (:meth:`Server.spawn`) and stops it when
the run ends. Either way the server also ends when its starter dies: it
reads a pipe only the starter holds.
"""
import contextlib
import fcntl
import os
import socket

from .. import _core
from ..errors import OperationError
from . import firewall, netlink

ADDRESS = "127.0.0.11"
PORT = 53
FALLBACK = ("8.8.8.8", "8.8.4.4")


def path():
    """The server executable, built next to the C core."""
    return os.path.join(os.path.dirname(os.path.abspath(_core.__file__)), "pyc-dns")


def upstreams(servers, internal, source="/etc/resolv.conf"):
    """Where names not in the hosts file go: run()'s ``dns``, else the host's
    resolvers (loopback ones too: the server asks from the host's
    namespace), else docker's fallback; none when every network is
    ``internal`` (nothing leaves such a network, not even a name)."""
    if internal:
        return []
    if servers:
        return list(servers)
    found = []
    with contextlib.suppress(OSError):
        with open(source) as f:
            for line in f:
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    found.append(words[1].split("%")[0])
    return found or list(FALLBACK)


# The server listens on a free port, and port 53 is redirected to it inside
# the namespace (docker's way): the container may bind port 53 itself (a DNS
# server of its own on 0.0.0.0:53 would clash with 127.0.0.11:53).
_REDIRECT = """add table ip pycontainer
add chain ip pycontainer output {{ type nat hook output priority -100; policy accept; }}
flush chain ip pycontainer output
add rule ip pycontainer output ip daddr {addr} udp dport {port} dnat to {addr}:{to}
"""


def open_socket(netns):
    """A UDP socket on 127.0.0.11 inside the namespace file ``netns`` (its
    ``lo`` up), which 127.0.0.11:53 is redirected to; returns its fd
    (close-on-exec)."""
    with netlink.entered(netns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((ADDRESS, 0))
            firewall.nft(_REDIRECT.format(addr=ADDRESS, port=PORT, to=s.getsockname()[1]))
        except OSError as e:
            s.close()
            raise OperationError(e.errno, f"the embedded DNS server cannot listen on "
                                          f"{ADDRESS}:{PORT} in the container's network "
                                          f"namespace: {e.strerror or e}") from e
    return s.detach()


class Server:
    """One container's server: its socket and command line, until the
    monitor takes them over (:meth:`close` after its start) or
    :meth:`spawn` runs it here."""

    def __init__(self, sock, hosts_path, upstreams):
        self.sock = sock
        self.argv = [path(), hosts_path, *upstreams]
        self._pid = None
        self._life = None

    def spawn(self):
        """Start the server as our child (an attached run)."""
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            # both above 4, so that neither dup2 overwrites the other's source
            high = []
            try:
                for fd in (self.sock, r):
                    high.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5))
                self._pid = os.posix_spawn(self.argv[0], self.argv, {},
                                           file_actions=[(os.POSIX_SPAWN_DUP2, high[0], 3),
                                                         (os.POSIX_SPAWN_DUP2, high[1], 4)])
            finally:
                for fd in high:
                    os.close(fd)
        except BaseException:
            os.close(w)
            raise
        finally:
            os.close(r)
        self._life = w
        self.close()

    def close(self):
        """Drop our copy of the socket (the server holds its own)."""
        if self.sock is not None:
            os.close(self.sock)
            self.sock = None

    def stop(self):
        """End a server :meth:`spawn` started, and reap it."""
        self.close()
        if self._life is not None:
            os.close(self._life)        # EOF on its lifeline: it exits
            self._life = None
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            self._pid = None
