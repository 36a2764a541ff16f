"""Attach: a client of a container's (or an exec's) stdio.

The monitor of a detached container serves an attach socket (SOCK_SEQPACKET
in the container's run dir, mode 0600; packets are a type byte and a payload:
see csrc/monitor/io.h). An exec's stdio is served the same way by a thread of
this process (:class:`ExecPump`), so one client class covers both.

:class:`AttachSocket` is socket-like and reads as docker's attach stream, as
docker-py users expect from ``attach_socket()`` / ``exec_run(socket=True)``:

- with a tty, the raw pty bytes;
- without one, docker's multiplexed frames: an 8-byte header (stream: 1
  stdout, 2 stderr; three zero bytes; the payload's length, big-endian
  uint32) and the payload.

``send``/``sendall`` write the container's stdin; ``shutdown(SHUT_WR)``
sends stdin EOF (the pipe is closed, a pty gets its VEOF character), so a
reader such as ``cat`` ends and the stream with it; ``exit_code`` is set
once the stream ended with the process (None after a detach: the detach
keys, ctrl-p ctrl-q unless given, end the stream and leave it running).
"""
import contextlib
import fcntl
import os
import select
import socket
import struct
import termios
import threading

from ..errors import Conflict, InvalidArgument

CHUNK = 65536
DEFAULT_KEYS = b"\x10\x11"             # ctrl-p, ctrl-q
WANT_STDIN, WANT_STDOUT, WANT_STDERR = 1, 2, 4


def parse_detach_keys(keys):
    """docker's ``detach_keys``: "ctrl-p,ctrl-q", "a,ctrl-@"... -> bytes ("" for none)."""
    if keys is None:
        return DEFAULT_KEYS
    if isinstance(keys, bytes):
        out = keys
    elif not isinstance(keys, str):
        raise InvalidArgument(f"detach_keys must be a string such as 'ctrl-p,ctrl-q', got {keys!r}")
    else:
        out = bytearray()
        for part in filter(None, (p.strip() for p in keys.split(","))):
            if part.startswith("ctrl-") and len(part) == 6:
                c = part[5]
                code = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}.get(c)
                if code is None and "a" <= c <= "z":
                    code = ord(c) - ord("a") + 1
                if code is None:
                    raise InvalidArgument(f"invalid detach key {part!r}")
                out.append(code)
            elif len(part) == 1:
                out.append(ord(part))
            else:
                raise InvalidArgument(f"invalid detach key {part!r}: one character or ctrl-<x>")
        out = bytes(out)
    if len(out) > 16:
        raise InvalidArgument("at most 16 detach keys")
    return out


def connect(path):
    """A connection to a monitor's attach socket (the path may be longer
    than a socket address holds: it is reached through its directory)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError as err:
        sock.close()
        raise Conflict("the container is not running (no attach socket)") from err
    try:
        sock.connect(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
    except (FileNotFoundError, ConnectionRefusedError) as err:
        sock.close()
        raise Conflict("the container is not running (its monitor does not listen)") from err
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(dfd)
    return sock


class AttachSocket:
    """A socket-like stream of one attach (see the module's docstring)."""

    def __init__(self, sock, tty, stdin=True, stdout=True, stderr=True, detach_keys=None):
        self._sock, self.tty = sock, bool(tty)
        self._buf, self._ended = bytearray(), False
        self.exit_code = None
        self.on_exit = None          # called with the exit code when the server sends it
        self.detached = False
        want = (WANT_STDIN if stdin else 0) | (WANT_STDOUT if stdout else 0) \
            | (WANT_STDERR if stderr else 0)
        self._early, self._streams = [], {1: stdout, 2: stderr}   # also for what came first
        try:
            sock.sendall(b"o" + bytes([want]) + parse_detach_keys(detach_keys))
        except (BrokenPipeError, ConnectionResetError):
            pass    # a quick exec's server may be done already: what it sent stays queued
        # the server's 'a': from then on every chunk comes (an attach(logs=True)
        # reads the log after it, so nothing falls between the two)
        for item in self._packets(until_ack=True):
            self._early.append(item)

    def prepend(self, packets, end=False):
        """(stream, bytes) to read before what the server sends (a log);
        ``end``: nothing after them (the server's connection is shut)."""
        self._early[:0] = list(packets)
        if end:
            self._ended = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def fileno(self):
        return self._sock.fileno()

    def settimeout(self, timeout):
        self._sock.settimeout(timeout)

    def packets(self):
        """(stream, bytes) until the end: 1 stdout (the pty stream), 2 stderr."""
        while self._early:
            yield self._early.pop(0)
        yield from self._packets()

    def _packets(self, until_ack=False):
        while not self._ended:
            try:
                pkt = self._sock.recv(CHUNK + 1)
            except ConnectionResetError:     # reported once, before what is queued
                continue
            if not pkt:
                self._ended = True
            elif pkt[:1] == b"a":
                if until_ack:
                    return
            elif pkt[0] in (1, 2):
                if self._streams[pkt[0]]:
                    yield pkt[0], pkt[1:]
            elif pkt[:1] == b"x" and len(pkt) == 5:
                # the server closes next: read to that, so that its end of the
                # socket is gone when we return
                self.exit_code = struct.unpack("=i", pkt[1:])[0]
                if self.on_exit is not None:
                    self.on_exit(self.exit_code)
            elif pkt[:1] == b"d":
                self.detached = True

    def recv(self, n=CHUNK):
        """Up to ``n`` bytes of the stream (raw or framed); b"" at its end."""
        while not self._buf and (self._early or not self._ended):
            for stream, data in self.packets():
                self._buf += data if self.tty else struct.pack(">BxxxI", stream, len(data)) + data
                break
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    read = recv

    def send(self, data):
        data = memoryview(bytes(data))
        for i in range(0, len(data), CHUNK):
            self._sock.sendall(b"\0" + data[i:i + CHUNK])
        return len(data)

    def sendall(self, data):
        self.send(data)

    write = sendall

    def shutdown(self, how=socket.SHUT_WR):
        """SHUT_WR (or SHUT_RDWR): stdin EOF reaches the container."""
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            with contextlib.suppress(OSError):
                self._sock.sendall(b"e")

    def resize(self, height, width):
        """The pty's window size (a tty only; the process gets SIGWINCH)."""
        self._sock.sendall(b"r" + struct.pack("=HH", *check_size(height, width)))

    def close(self):
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_size(height, width):
    for v in (height, width):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 65536:
            raise InvalidArgument(f"height and width must be within 1..65535, got {v!r}")
    return height, width


def resize_on(sock, height, width):
    """Resize a pty through a new connection to its server (closed after)."""
    try:
        s = AttachSocket(sock, True, False, False, False, b"")
    except BaseException:
        sock.close()
        raise
    with s:
        s.resize(height, width)


def set_winsize(fd, height, width):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *check_size(height, width), 0, 0))


class ExecPump:
    """Serves one exec's stdio on a socketpair with the monitor's protocol,
    from a thread: output to the client, its stdin to the process, EOF,
    resize and detach keys, then the exit code once the process is reaped.
    ``fds``: {1: stdout, 2: stderr} read ends (a tty: {1: master}); ``stdin``:
    the write end (or the master) or -1. Owns the fds; reaps ``proc``."""

    def __init__(self, proc, fds, stdin, tty):
        self.proc, self.fds, self.stdin, self.tty = proc, dict(fds), stdin, tty
        self._master = -1
        self.client, self._peer = socket.socketpair(socket.AF_UNIX,
                                                    socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        if stdin >= 0:
            os.set_blocking(stdin, False)
        self._thread = threading.Thread(target=self._run, daemon=True, name="pyc-exec-io")
        self._thread.start()

    def _run(self):
        peer, pending, close_in = self._peer, b"", False
        keys, matched, want = DEFAULT_KEYS, 0, WANT_STDIN | WANT_STDOUT | WANT_STDERR
        try:
            while self.fds:
                rd = list(self.fds.values()) + ([peer] if peer is not None and not pending else [])
                wr = [self.stdin] if pending and self.stdin >= 0 else []
                r, w = _poll(rd, wr)
                for stream, fd in list(self.fds.items()):
                    if fd in r:
                        data = _read(fd)
                        if data is None:
                            continue
                        if not data:
                            self._close_out(stream)
                        elif peer is not None and want & (2 if stream == 1 else 4):
                            try:
                                peer.sendall(bytes([stream]) + data)
                            except OSError:
                                peer = self._drop_peer()
                if w:
                    pending, close_in = self._write_in(pending, close_in)
                if peer is not None and peer in r:
                    try:
                        pkt = peer.recv(CHUNK + 1)
                    except ConnectionResetError:     # once, before its queued packets
                        continue
                    if not pkt:
                        peer = self._drop_peer()
                    elif pkt[0] == 0:
                        data, matched, detach = _scan(pkt[1:], keys, matched)
                        if detach:
                            with contextlib.suppress(OSError):
                                peer.sendall(b"d")
                            peer = self._drop_peer()
                        elif self.stdin >= 0 and want & WANT_STDIN:
                            pending += data
                    elif pkt[:1] == b"e" and self.stdin >= 0:
                        if self.tty:
                            pending += _veof(self.stdin)
                        else:
                            close_in = True
                    elif pkt[:1] == b"r" and self.tty and len(pkt) == 5 and 1 in self.fds:
                        with contextlib.suppress(OSError):
                            fcntl.ioctl(self.fds[1], termios.TIOCSWINSZ, pkt[1:5] + bytes(4))
                    elif pkt[:1] == b"o" and len(pkt) >= 2:
                        want, keys, matched = pkt[1], pkt[2:18], 0
                        try:
                            peer.sendall(b"a")
                        except OSError:
                            peer = self._drop_peer()
                    if (pending or close_in) and self.stdin >= 0:
                        pending, close_in = self._write_in(pending, close_in)
            code = self.proc.wait()
            self._close_in()
            self._close_master()
            if peer is not None:
                with contextlib.suppress(OSError):
                    peer.sendall(b"x" + struct.pack("=i", code))
        finally:
            for stream in list(self.fds):
                self._close_out(stream)
            self.proc.wait()
            self._close_in()
            self._close_master()
            if peer is not None:
                peer.close()

    def _drop_peer(self):
        self._peer.close()
        return None

    def _close_out(self, stream):
        fd = self.fds.pop(stream)
        if self.tty:
            # the pty's EIO: closing the master now would SIGHUP a process that
            # closed its stdio but has not exited yet; closed after the reap
            self._master = fd
            return
        os.close(fd)

    def _close_in(self):
        if self.stdin >= 0 and not self.tty:
            os.close(self.stdin)
        self.stdin = -1

    def _close_master(self):
        if self._master >= 0:
            os.close(self._master)
            self._master = -1

    def _write_in(self, pending, close_in):
        while pending and self.stdin >= 0:
            try:
                n = os.write(self.stdin, pending)
            except BlockingIOError:
                return pending, close_in
            except OSError:             # it closed its stdin: what is left is dropped
                self._close_in()
                return b"", False
            pending = pending[n:]
        if close_in and not self.tty:
            self._close_in()
            close_in = False
        return b"", close_in


def _poll(rd, wr):
    """select() without its 1024-fd limit: (readable, writable) of fds or sockets."""
    def num(f):
        return f if isinstance(f, int) else f.fileno()
    events = {}
    for f in rd:
        events[num(f)] = events.get(num(f), 0) | select.POLLIN
    for f in wr:
        events[num(f)] = events.get(num(f), 0) | select.POLLOUT
    p = select.poll()
    for fd, ev in events.items():
        p.register(fd, ev)
    ready = dict(p.poll())
    end = select.POLLHUP | select.POLLERR
    return ([f for f in rd if ready.get(num(f), 0) & (select.POLLIN | end)],
            [f for f in wr if ready.get(num(f), 0) & (select.POLLOUT | end)])


def _read(fd):
    """A chunk, b"" at the end, None when there is nothing yet (a non-blocking pty)."""
    try:
        return os.read(fd, CHUNK)
    except BlockingIOError:
        return None
    except OSError:                     # a pty's EIO: its other side is gone
        return b""


def _scan(data, keys, matched):
    """(stdin to pass on, keys matched so far, detached?) for one packet."""
    out = bytearray()
    for b in data:
        if keys and b == keys[matched]:
            matched += 1
            if matched == len(keys):
                return bytes(out), 0, True
            continue
        if matched:
            out += keys[:matched]
            matched = 0
            if b == keys[0]:
                matched = 1
                continue
        out.append(b)
    return bytes(out), matched, False


def _veof(fd):
    with contextlib.suppress(termios.error):
        c = termios.tcgetattr(fd)[6][termios.VEOF]
        if c:
            return c if isinstance(c, bytes) else bytes([c])
    return b"\x04"


def caller_terminal():
    """Is this process's stdin a terminal (``run()`` then works as ``docker run -it``)?"""
    try:
        return os.isatty(0)
    except OSError:
        return False


def terminal_session(out_fd, err_fd, stdin_fd, tty):
    """``docker run -it`` for an attached run: the caller's terminal in raw
    mode (a tty only; restored on every path), its keys to ``stdin_fd``
    (closed at the terminal's EOF; None: stdin is not forwarded), the
    output to fds 1 and 2 as it comes; the window size follows the
    terminal's. Returns (stdout, stderr) bytes as they were written."""
    raw = tty and stdin_fd is not None      # without stdin, ctrl-c stays the caller's
    saved = termios.tcgetattr(0) if raw else None
    bufs = {out_fd: [], err_fd: []}
    size = None
    try:
        if raw:
            import tty as _tty
            _tty.setraw(0, termios.TCSANOW)
        live = [fd for fd in (out_fd, err_fd) if fd is not None]
        while live:
            if tty:
                size = _follow_size(out_fd, size)
            rd = live + ([0] if stdin_fd is not None else [])
            ready, _, _ = select.select(rd, [], [], 0.25 if tty else None)
            for fd in ready:
                if fd == 0:
                    stdin_fd = _forward_key(stdin_fd, tty)
                    continue
                data = _read(fd)
                if data is None:
                    continue
                if not data:
                    live.remove(fd)
                    continue
                bufs[fd].append(data)
                os.write(1 if fd == out_fd else 2, data)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        if stdin_fd is not None and stdin_fd != out_fd:
            os.close(stdin_fd)
    return b"".join(bufs[out_fd]), b"".join(bufs.get(err_fd) or [])


def _follow_size(master, last):
    """Copy the terminal's size to the pty when it changed (SIGWINCH needs
    the main thread: the size is looked at instead)."""
    try:
        size = os.get_terminal_size(0)
    except OSError:
        return last
    if size != last and size.lines and size.columns:
        with contextlib.suppress(OSError, InvalidArgument):
            set_winsize(master, size.lines, size.columns)
    return size


def _forward_key(stdin_fd, tty):
    """What the terminal typed, to the container; None once stdin ended."""
    data = os.read(0, CHUNK)
    if data:
        with contextlib.suppress(OSError):
            os.write(stdin_fd, data)
        return stdin_fd
    if tty:
        with contextlib.suppress(OSError):
            os.write(stdin_fd, _veof(stdin_fd))
        return None
    os.close(stdin_fd)
    return None
