"""The embedded DNS server of a container on user networks (docker's
127.0.0.11): ``pyc-dns`` (csrc/dns/) answers the names of the container's
hosts file, which :mod:`.hosts` keeps current, and forwards the others to
the upstream resolvers from the host's network namespace.

Python makes the server's socket inside the container's namespace
(:func:`open_sockets`). A detached container's monitor starts the server
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


# The server listens on free ports, and port 53 is redirected to them inside
# the namespace (docker's way): the container may bind port 53 itself (a DNS
# server of its own on 0.0.0.0:53 would clash with 127.0.0.11:53).
_REDIRECT = """add table ip pycontainer
add chain ip pycontainer output {{ type nat hook output priority -100; policy accept; }}
flush chain ip pycontainer output
add rule ip pycontainer output ip daddr {addr} udp dport {port} dnat to {addr}:{udp}
add rule ip pycontainer output ip daddr {addr} tcp dport {port} dnat to {addr}:{tcp}
"""


def open_sockets(netns):
    """A UDP socket and a listening TCP socket on 127.0.0.11 inside the
    namespace file ``netns`` (its ``lo`` up), which 127.0.0.11:53 is
    redirected to; returns their fds (close-on-exec)."""
    socks = []
    try:
        with netlink.entered(netns):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                socks.append(socket.socket(socket.AF_INET, kind))
                socks[-1].bind((ADDRESS, 0))
            socks[1].listen(16)
            firewall.nft(_REDIRECT.format(addr=ADDRESS, port=PORT,
                                          udp=socks[0].getsockname()[1],
                                          tcp=socks[1].getsockname()[1]))
    except OSError as e:
        for s in socks:
            s.close()
        raise OperationError(e.errno, f"the embedded DNS server cannot listen on "
                                      f"{ADDRESS}:{PORT} in the container's network "
                                      f"namespace: {e.strerror or e}") from e
    return [s.detach() for s in socks]


class Server:
    """One container's server: its sockets (UDP, then TCP) and command line,
    until the monitor takes them over (:meth:`close` after its start) or
    :meth:`spawn` runs it here."""

    def __init__(self, socks, hosts_path, upstreams):
        self.socks = list(socks)
        self.argv = [path(), hosts_path, *upstreams]
        self._pid = None
        self._life = None

    def spawn(self):
        """Start the server as our child (an attached run): the UDP socket
        on its fd 3, the lifeline on 4, the TCP socket on 5."""
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            # all above 5, so that no dup2 overwrites another's source
            high = []
            try:
                for fd in [self.socks[0], r] + self.socks[1:]:
                    high.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 6))
                self._pid = os.posix_spawn(
                    self.argv[0], self.argv, {},
                    file_actions=[(os.POSIX_SPAWN_DUP2, fd, 3 + i) for i, fd in enumerate(high)])
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
        """Drop our copies of the sockets (the server holds its own)."""
        for fd in self.socks:
            os.close(fd)
        self.socks = []

    def stop(self):
        """End a server :meth:`spawn` started, and reap it."""
        self.close()
        if self._life is not None:
            os.close(self._life)        # EOF on its lifeline: it exits
            self._life = None
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            self._pid = None
