"""An attached session on this command's stdio: ``run -i``/``-it``, ``exec
-it``, ``attach``, ``start -a``.

One thread copies the container's output to fds 1 and 2 (one pty stream
with a tty); the main thread copies fd 0 to the container's stdin (EOF is
passed on, so ``echo x | pycontainer run -i busybox cat`` ends), follows
the window size on SIGWINCH, and proxies signals when asked. With a tty
and a terminal on stdin, the terminal is in raw mode for the session and
restored on every way out: the end, an error, a detach, SIGTERM or SIGHUP.

Output written before the attach began (between ``start`` and the attach
socket's ack) is read from the log: its size is looked at before the
connect and after the ack, and when nothing was logged in between, what
the log holds up to there is exactly what the stream lacks.
"""
import contextlib
import os
import select
import signal
import sys
import termios
import threading

from . import CLIError

PROXIED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
           signal.SIGUSR2)


class Terminal:
    """fd 0 in raw mode while entered (when it is a terminal and ``raw``);
    restored on exit and before this process dies of SIGTERM/SIGHUP."""

    def __init__(self, raw):
        self.saved = None
        if raw and os.isatty(0):
            self.saved = termios.tcgetattr(0)

    def __enter__(self):
        if self.saved is not None:
            import tty
            tty.setraw(0, termios.TCSANOW)
        return self

    def restore(self):
        if self.saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(0, termios.TCSADRAIN, self.saved)

    def __exit__(self, *exc):
        self.restore()


def window(fd=0):
    """(rows, columns) of the terminal on ``fd``, or None."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return (size.lines, size.columns) if size.lines and size.columns else None


class Session:
    """Pump one :class:`~pycontainer.engine.attach.AttachSocket` against this
    process's stdio. ``kill(sig)`` sends a signal to the container (the
    signal proxy: None for none); ``before``: output logged before the
    attach, as (stream, bytes)."""

    def __init__(self, sock, stdin=True, kill=None, before=()):
        self.sock, self.stdin, self.kill, self.before = sock, stdin, kill, before
        self.tty = sock.tty
        self._done_r, self._done_w = os.pipe2(os.O_CLOEXEC)
        self._error = None
        self._interrupts = 0
        self._size = None

    def _output(self):
        try:
            for stream, data in list(self.before):
                _write_all(1 if stream == 1 else 2, data)
            for stream, data in self.sock.packets():
                _write_all(1 if stream == 1 or self.tty else 2, data)
        except OSError as err:        # our stdout went away: the session ends
            self._error = err
        finally:
            os.write(self._done_w, b"x")

    def run(self):
        """Copy until the stream ends; returns the exit code, or None after a detach."""
        wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        caught = []
        handlers = {}

        def on_signal(signum, frame):
            caught.append(signum)
        watched = [signal.SIGWINCH] + list(PROXIED)
        term = Terminal(self.tty and self.stdin)
        reader = threading.Thread(target=self._output, daemon=True, name="pyc-session-out")
        try:
            for s in watched:
                handlers[s] = signal.signal(s, on_signal)
            with term:
                self._resize()
                reader.start()
                self._loop(wake_r, caught, term)
                reader.join()
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            signal.set_wakeup_fd(old_wakeup)
            os.close(wake_r)
            os.close(wake_w)
            if not reader.is_alive():       # else this command is ending: the thread
                os.close(self._done_r)      # may still touch its fds, leave them
                os.close(self._done_w)
                self.sock.close()
        if isinstance(self._error, BrokenPipeError):
            raise self._error
        if self.sock.detached:
            return None
        return self.sock.exit_code

    def _loop(self, wake_r, caught, term):
        stdin = self.stdin
        while True:
            rd = [self._done_r, wake_r] + ([0] if stdin else [])
            try:
                ready, _, _ = select.select(rd, [], [])
            except InterruptedError:
                ready = []
            if wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
            while caught:
                self._signal(caught.pop(0), term)
            if self._done_r in ready:
                return
            if 0 in ready:
                stdin = self._forward()

    def _forward(self):
        """fd 0's bytes to the container; False once it ended (EOF sent on)."""
        try:
            data = os.read(0, 65536)
        except OSError:
            data = b""
        try:
            if data:
                self._resize()      # a new size goes before what was typed after it
                self.sock.send(data)
                return True
            self.sock.shutdown()
        except OSError:         # the stream ended meanwhile: the reader says so
            pass
        return False

    def _signal(self, signum, term):
        if signum == signal.SIGWINCH:
            self._resize()
            return
        if self.kill is not None:
            if signum == signal.SIGINT:
                self._interrupts += 1       # a PID 1 may ignore it: the third kills
            sig = signal.SIGKILL if self._interrupts >= 3 else signum
            threading.Thread(target=self._send, args=(sig,), daemon=True,
                             name="pyc-signal-proxy").start()
            return
        # no proxy: this command ends (the container goes on), the terminal restored
        term.restore()
        raise CLIError("", 128 + signum)

    def _send(self, signum):
        with contextlib.suppress(Exception):     # it exited meanwhile
            self.kill(signum)

    def _resize(self):
        """Send the window's size when it changed. Also looked at before each
        write of stdin: SIGWINCH reaches this process through the client,
        which may come after keys typed once the window changed."""
        if not self.tty:
            return
        size = window(0) or window(1)
        if size and size != self._size:
            with contextlib.suppress(OSError, ValueError):
                self.sock.resize(*size)
                self._size = size


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def require_terminal(tty, interactive, verb):
    """docker's rule: ``-it`` needs a terminal on stdin."""
    if tty and interactive and not os.isatty(0):
        raise CLIError(f"pycontainer {verb}: the input device is not a TTY: run it from a "
                       "terminal, or drop -t to pipe stdin (-i)", 1)


# -- what the log holds before an attach --------------------------------------------------

def log_path(engine, cid):
    from ..engine import state
    return os.path.join(state.Files(engine.runtime, cid).dir, "container.log")


def open_log(engine, cid):
    """The container's log, opened (made if missing) before its start: an
    auto-removed container's output stays readable after its files go."""
    fd = os.open(log_path(engine, cid), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o640)
    return os.fdopen(fd, "rb")


def attach_bracketed(engine, cid, log, offset, stdin, detach_keys, tries=20):
    """(socket, output logged from ``offset`` until the attach) or (None, all of
    it) when the container is not running any more: it ran to its end, and
    with ``--rm`` may be gone already (its log, opened before, is still read)."""
    from ..errors import Conflict, NotFound
    sock, upto = None, offset
    try:
        for _ in range(tries):
            before = os.fstat(log.fileno()).st_size
            sock = engine.containers.attach_socket(cid, stdin=stdin, detach_keys=detach_keys)
            upto = before
            if os.fstat(log.fileno()).st_size == before:
                break
            sock.close()        # output came during the attach: where it began is unsure
            sock = None
        if sock is None:        # a stream that never pauses: take the last, lose a little
            sock = engine.containers.attach_socket(cid, stdin=stdin, detach_keys=detach_keys)
    except (Conflict, NotFound):
        return None, _records(log, offset, None)
    return sock, _records(log, offset, upto)


def _records(log, offset, upto):
    """(stream number, bytes) of the CRI records in log[offset:upto]."""
    import io

    from ..engine import logs
    log.seek(offset)
    data = log.read() if upto is None else log.read(max(upto - offset, 0))
    out = []
    for stream, text in logs._records(io.BytesIO(data), True, True, False, None, None,
                                      tagged=True):
        out.append((1 if stream == "stdout" else 2, text))
    return out


def exit_code(engine, cid, since_ns):
    """The exit code of a container whose stream ended without one (it ran to
    its end before the attach): its record, else its die event (removed)."""
    from ..errors import NotFound
    try:
        st = engine.containers.inspect(cid)["State"]
        if not (st["Running"] or st["Restarting"]):
            return st["ExitCode"]
        return engine.containers.wait(cid)
    except NotFound:
        pass
    stop = threading.Event()
    stop.set()
    for ev in engine.events.read(since=since_ns / 1e9, until=None,
                                 filters={"container": [cid], "event": ["die"]}, stop=stop):
        return int((ev.get("Actor") or {}).get("Attributes", {}).get("exitCode", 0))
    return 0


def run_session(engine, cid, *, stdin, tty, detach_keys, sig_proxy, log, offset, since_ns):
    """Attach to a container just started and pump; returns the exit code
    (0 after a detach, as docker's)."""
    sock, before = attach_bracketed(engine, cid, log, offset, stdin, detach_keys)
    if sock is None:            # it ran to its end first: its output is the log's
        with Terminal(tty and stdin):       # a pty's \r\n as it was, not turned into \r\r\n
            for stream, data in before:
                _write_all(1 if stream == 1 else 2, data)
        return exit_code(engine, cid, since_ns)
    kill = (lambda sig: engine.containers.kill(cid, sig)) if sig_proxy and not tty else None
    code = Session(sock, stdin=stdin, kill=kill, before=before).run()
    if sock.detached:
        sys.stderr.write("\r\nread escape sequence\r\n" if tty else "read escape sequence\n")
        return 0
    if code is None:
        return exit_code(engine, cid, since_ns)
    return code
