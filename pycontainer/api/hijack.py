"""docker's hijacked connection: ``101 Upgrade: tcp``, then raw bytes both ways.

After the 101 the response body is the output (raw for a tty, 8-byte frames
otherwise) and whatever the client sends is the process's stdin; the client
half-closes its side for stdin EOF, so our side stays open after its EOF.
aiohttp parses the HTTP; after the upgrade its protocol hands the bytes to
the parser set here (:class:`_Stdin`), which queues them.
"""
import asyncio
import collections
import contextlib
import fcntl
import socket
import struct
import termios
import threading

from aiohttp import web

from . import codec
from .app import call

HIGH = 1 << 20          # queued stdin bytes before the client is paused


class _Stdin:
    """What aiohttp's protocol feeds after the upgrade: chunks, then b"" at EOF."""

    def __init__(self, transport):
        self.queue, self.size, self.transport, self.ended = asyncio.Queue(), 0, transport, False

    def feed_data(self, data):
        if data and not self.ended:
            self.queue.put_nowait(bytes(data))
            self.size += len(data)
            if self.size > HIGH and self.transport is not None:
                self.transport.pause_reading()
        return False, b""

    def feed_eof(self):
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(b"")

    async def read(self):
        data = await self.queue.get()
        self.size -= len(data)
        if self.size <= HIGH and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        return data


class _HalfOpen:
    """The connection's protocol, except that the client's EOF is stdin EOF
    and keeps our side open (asyncio closes a transport on EOF otherwise)."""

    def __init__(self, protocol, stdin, lost):
        self._protocol, self._stdin, self._lost = protocol, stdin, lost

    def __getattr__(self, name):
        return getattr(self._protocol, name)

    def connection_lost(self, exc):
        self._lost()
        return self._protocol.connection_lost(exc)

    def eof_received(self):
        if self._stdin is not None:
            self._stdin.feed_eof()
        return True


async def _headers_read(transport, limit=1.0):
    """Wait (a little) until the client has read the 101's headers: docker-py
    reads them through a buffered file and the stream from the raw socket, so
    output that came with the headers would be lost in its buffer (dockerd's
    slower process start hides this). On a UNIX socket, SIOCOUTQ counts the
    bytes the peer has not read yet."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family != socket.AF_UNIX:
        return
    deadline = asyncio.get_running_loop().time() + limit
    while asyncio.get_running_loop().time() < deadline:
        try:
            unread = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ,
                                                    b"\0\0\0\0"))[0]
        except OSError:
            return
        if unread == 0 and not transport.get_write_buffer_size():
            return
        await asyncio.sleep(0.0005)


def _tls_half_open(transport):
    """Over TLS, docker's half-close (``CloseWrite`` at stdin's EOF, sent even
    with no stdin) is a close_notify, at which asyncio's TLS shuts the whole
    connection down (it has no half-close), losing the output still to come.
    On a hijacked connection the close_notify is only stdin's EOF: its
    shutdown waits for ours. Returns the undo (None without TLS)."""
    proto = getattr(transport, "_ssl_protocol", None)
    if proto is None or not callable(getattr(proto, "_start_shutdown", None)):
        return None
    shutdown = proto._start_shutdown
    proto._start_shutdown = lambda: None

    def undo():
        proto._start_shutdown = shutdown
    return undo


class Hijack:
    """One hijacked request: ``await start()``, ``write()``, ``read()`` stdin, ``close()``."""

    def __init__(self, request, content_type, stdin=True):
        self.request, self.content_type = request, content_type
        self.upgraded = "upgrade" in request.headers.get("Connection", "").lower()
        transport = request.transport
        self.stdin = _Stdin(transport) if stdin and self.upgraded else None
        self.resp = None
        self._tls_undo = None
        self.lost = threading.Event()       # the client closed the connection
        self.on_lost = []                   # called (in the loop) when it does

    def _lost(self):
        self.lost.set()
        for fn in self.on_lost:
            fn()

    async def start(self):
        request = self.request
        resp = web.StreamResponse(status=101 if self.upgraded else 200,
                                  headers={"Content-Type": self.content_type})
        if self.upgraded:
            resp.headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
            request.transport.set_protocol(_HalfOpen(request.transport.get_protocol(),
                                                     self.stdin, self._lost))
            self._tls_undo = _tls_half_open(request.transport)
            if self.stdin is not None:
                request.protocol.set_parser(self.stdin)
        resp.force_close()
        await resp.prepare(request)
        self.resp = resp
        if self.upgraded:
            await _headers_read(request.transport)
        return resp

    async def write(self, data):
        """False once the client is gone."""
        try:
            await self.resp.write(data)
            return True
        except (ConnectionResetError, ConnectionError):
            return False

    async def read(self):
        """Stdin's next chunk; b"" at its EOF (or at once when there is none)."""
        if self.stdin is None:
            return b""
        return await self.stdin.read()

    async def close(self):
        if self.resp is not None:
            try:
                await self.resp.write_eof()
            except (ConnectionResetError, ConnectionError):
                pass
        if self._tls_undo is not None:
            self._tls_undo()
        if self.request.transport is not None:
            self.request.transport.close()   # the end of the stream ends the connection


async def relay(items, write, stop=None, high=HIGH):
    """Drive the blocking iterator ``items`` of ``(stream, bytes)`` in one thread
    and ``await write(batch)`` with all it yielded since the last write: one
    thread a stream, not one thread hop an item (which held attach to a few
    MB/s). True when ``items`` ended, False when ``write`` returned False (the
    client left). The thread runs at most ``high`` bytes ahead of the client
    and closes ``items`` itself; on the way out ``stop()`` (what ends the
    iterator: a detach event's set, a socket's shutdown), when given, is
    called and the thread awaited, so nothing reads ``items`` afterwards."""
    loop = asyncio.get_running_loop()
    queue, cond, wake = collections.deque(), threading.Condition(), asyncio.Event()
    st = {"size": 0, "done": False, "quit": False, "error": None}

    def produce():
        try:
            for item in items:
                with cond:
                    while st["size"] > high and not st["quit"]:
                        cond.wait()
                    if st["quit"]:
                        return
                    queue.append(item)
                    st["size"] += len(item[1])
                    first = len(queue) == 1
                if first:
                    loop.call_soon_threadsafe(wake.set)
        except Exception as e:          # noqa: BLE001: raised again in the loop
            st["error"] = e
        finally:
            if hasattr(items, "close"):
                items.close()
            st["done"] = True
            loop.call_soon_threadsafe(wake.set)
    producer = loop.run_in_executor(None, produce)
    try:
        while True:
            await wake.wait()
            wake.clear()
            with cond:
                batch = list(queue)
                queue.clear()
                st["size"] = 0
                cond.notify_all()
                finished = st["done"]
            if batch and not await write(batch):
                return False
            if finished and not queue:
                if st["error"] is not None:
                    raise st["error"]
                return True
    finally:
        with cond:
            st["quit"] = True
            cond.notify_all()
        if stop is not None:
            stop()
            await producer


def joined(batch, framed):
    """A relay's batch as the bytes on the wire: 8-byte frames or raw."""
    if not framed:
        return b"".join(chunk for _, chunk in batch)
    return b"".join(codec.frame(codec.STDERR if stream in (2, "stderr") else codec.STDOUT,
                                chunk) for stream, chunk in batch)


async def pump_output(hj, packets, framed, stop=None):
    """Write the (stream, bytes) items of the iterator ``packets`` (read in a
    thread, which closes it); True when it ended, False when the client went away."""
    async def write(batch):
        return await hj.write(joined(batch, framed))
    return await relay(packets, write, stop)


async def pump_input(hj, sock, close_stdin=True):
    """The client's stdin to ``sock`` (an engine AttachSocket), then its EOF
    when ``close_stdin`` (dockerd's StdinOnce; an exec's always)."""
    while True:
        data = await hj.read()
        if not data:
            if close_stdin:
                await call(sock.shutdown)
            return
        try:
            await call(sock.sendall, data)
        except OSError:
            return          # the process is gone: the rest is dropped


class WsHijack:
    """:class:`Hijack`'s interface over a websocket (``/containers/{id}/attach/ws``):
    output as binary messages, text or binary messages in as stdin, a close as EOF."""

    def __init__(self, request):
        self.request, self.resp = request, None
        self.lost = threading.Event()

    async def start(self):
        self.resp = web.WebSocketResponse()
        await self.resp.prepare(self.request)
        return self.resp

    async def write(self, data):
        if self.resp.closed:
            return False
        try:
            await self.resp.send_bytes(data)
            return True
        except (ConnectionResetError, ConnectionError):
            return False

    async def read(self):
        from aiohttp import WSMsgType
        while True:
            msg = await self.resp.receive()
            if msg.type == WSMsgType.BINARY and msg.data:
                return msg.data
            if msg.type == WSMsgType.TEXT and msg.data:
                return msg.data.encode()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
                self.lost.set()
                return b""

    async def close(self):
        await self.resp.close()


def wake(sock):
    """Wake a thread blocked reading the engine's AttachSocket ``sock`` (its
    read ends): shutdown() on a duplicate acts on the socket itself."""
    with contextlib.suppress(OSError):
        dup = socket.fromfd(sock.fileno(), socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with dup:
            dup.shutdown(socket.SHUT_RDWR)
