"""The command's warm process: imports paid once, not on every command.

A Python command pays its imports on every start (the engine's are ~100 ms,
more than running a container). So ``pycontainer`` is a thin client: it
hands its arguments, environment, working directory, umask and stdio fds
(SCM_RIGHTS) to a warm process of the same interpreter and code, which has
the engine's modules imported and forks a child per command. The child
becomes the command (same fds, cwd, env) and runs the verb exactly as the
command would in its own process; nothing of a store or a container lives
in the warm process, and a container never depends on it (its monitor owns
it, as before). The warm process exits after ``IDLE`` seconds unused, or at
once when a module it imported changed on disk.

The client is ``csrc/cli/client.c`` (``pyc-client``, what setup.sh links
the command to: no interpreter to start) and :func:`client_main` here, which
the C client execs when it cannot hand the command over; the two send the
same request (a marshal dump) and must agree on :func:`socket_path` and
:func:`context`.

The client forwards the signals it gets to the child (pidfd), stops and
continues it with itself (ctrl-z), and exits with the child's exit status,
which the warm process, the child's parent, sends when it reaps it. If the
client dies, the child is killed, as the command itself would have been.

``PYCONTAINER_WARM=0`` turns it off (every command runs in its own process);
the first command of a cold machine runs in its own process too, and starts
the warm one for the next.
"""
import os
import sys

IDLE = 300.0            # seconds unused before the warm process exits
TICK = 5.0              # how often it checks that it is still the one in use
SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGWINCH", "SIGUSR1", "SIGUSR2")


def socket_path():
    """Per uid, interpreter, and code location: another venv or checkout
    gets a warm process of its own."""
    import zlib
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exe = os.path.realpath(sys.executable)      # python and python3 are one
    key = zlib.crc32(f"{os.getuid()}\0{exe}\0{sys.prefix}\0{pkg}".encode())
    return f"/run/pyc-warm-{key:08x}.sock"


# -- the client (the ``pycontainer`` script) ---------------------------------

def client_main():
    args = sys.argv[1:]
    if os.environ.get("PYCONTAINER_WARM", "1") == "0" or not args or \
            args[0] in ("-v", "--version", "-h", "--help"):
        return _local(args)
    path = socket_path()
    try:
        code = _remote(path, args)
    except (ConnectionRefusedError, FileNotFoundError, _Stale):
        _spawn(path)
        return _local(args)
    except _Elsewhere:
        return _local(args)
    sys.exit(code)


def _local(args):
    from . import main
    sys.exit(main(args))


class _Stale(Exception):
    """The warm process runs other code than this (it exits): run locally."""


class _Elsewhere(Exception):
    """This command runs in other namespaces, cgroups or ids than the warm
    process: a child of it would not be what this process is. Run locally."""


def context():
    """What a command's process must share with the warm process to be
    served by it: namespaces, cgroups, ids and limits."""
    import resource
    ns = tuple(os.readlink(f"/proc/self/ns/{n}")
               for n in ("mnt", "net", "pid", "user", "uts", "ipc", "cgroup"))
    with open("/proc/self/cgroup") as f:
        cg = f.read()
    limits = tuple(resource.getrlimit(getattr(resource, n)) for n in
                   ("RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_STACK",
                    "RLIMIT_MEMLOCK", "RLIMIT_AS"))
    return ns, cg, os.getresuid(), os.getresgid(), tuple(sorted(os.getgroups())), limits

def _remote(path, args):
    """Run the command in a child of the warm process; its exit status.
    Raises (and nothing has run) when the warm process cannot take it."""
    # _socket and _signal: socket and signal import enum, selectors... (~10 ms)
    import _signal as signal
    import _socket
    import array
    import marshal
    pending, child = [], []

    def forward(sig, _frame):
        if not child:
            pending.append(sig)          # sent once the child is known
            return
        try:
            signal.pidfd_send_signal(child[0], sig)
        except ProcessLookupError:
            pass

    def stop(_sig, _frame):      # ctrl-z: the child stops with us, continues with us
        forward(signal.SIGSTOP, None)
        os.kill(os.getpid(), signal.SIGSTOP)
        forward(signal.SIGCONT, None)
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    s.connect(path)
    umask = os.umask(0)
    os.umask(umask)
    req = marshal.dumps((sys.argv[0], args, dict(os.environ), os.getcwd(), umask, context()))
    sigs = [getattr(signal, name) for name in SIGNALS] + [signal.SIGTSTP]
    before = {sig: signal.getsignal(sig) for sig in sigs}
    for sig in sigs:
        signal.signal(sig, stop if sig == signal.SIGTSTP else forward)
    try:
        try:
            s.sendmsg([len(req).to_bytes(4, "little"), req],
                      [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
            first = _recv(s, 5)
        except OSError as e:            # it went away meanwhile (left, or was stopped)
            raise ConnectionRefusedError(str(e)) from None
        if first[:1] in (b"S", b"C"):
            raise (_Stale if first[:1] == b"S" else _Elsewhere)()
        if first[:1] != b"p" or len(first) != 5:
            raise ConnectionRefusedError("the warm process did not start the command")
    except BaseException:           # the command runs here after all: its own signals
        for sig, handler in before.items():
            signal.signal(sig, handler)
        s.close()
        for sig in pending:             # what came meanwhile is the local command's
            os.kill(os.getpid(), sig)
        raise
    try:
        child.append(os.pidfd_open(int.from_bytes(first[1:5], "little")))
    except ProcessLookupError:
        pass                          # done already: its status follows
    for sig in pending:
        forward(sig, None)
    try:
        end = _recv(s, 5)
    except OSError:
        end = b""
    if end[:1] != b"x" or len(end) != 5:
        sys.stderr.write("pycontainer: the warm process ended before the command did\n")
        return 125
    code = int.from_bytes(end[1:5], "little", signed=True)
    if code < 0:                 # killed by a signal: so are we, as the command was
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


def _recv(s, n):
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            return got
        got += chunk
    return got


def _spawn(path):
    """Start the warm process, detached (its own session, stdio on /dev/null).
    One at a time: it holds the lock (inherited) until it listens, so the
    many commands of a burst start one, not one each."""
    import fcntl
    import subprocess
    try:
        lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        subprocess.Popen([sys.executable, "-m", "pycontainer.cli.warm", path, str(lock)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, pass_fds=(lock,),
                         cwd="/", env={k: v for k, v in os.environ.items()
                                       if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH",
                                                "PYCONTAINER_WARM_IDLE")})
    except OSError:
        pass      # one is starting, or none can: this command runs in its own process
    finally:
        os.close(lock)


def stop(path=None, timeout=10.0):
    """Stop the warm process listening on ``path`` (this code's by default)
    after the commands it runs; True when there was one."""
    import select
    import signal
    import socket
    path = path or socket_path()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
        creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        pidfd = os.pidfd_open(int.from_bytes(creds[:4], "little"))
    except (FileNotFoundError, ConnectionRefusedError, ProcessLookupError):
        return False
    finally:
        s.close()
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        select.select([pidfd], [], [], timeout)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)
    return True


# -- the warm process ---------------------------------------------------------

# Not for the command: the daemon's and the docker-py faces, the OCI runtime.
NOT_PRELOADED = ("pycontainer.api", "pycontainer.docker", "pycontainer.oci",
                 "pycontainer.demo", "pycontainer.remote", "pycontainer.models",
                 "pycontainer.client")


def _preload():
    """Import every module a command may use, and make what every command
    would make again: the engine's caches, each verb's parser."""
    import importlib
    import pkgutil
    from . import parser_for, verbs
    from ..engine import engine
    root = __package__.rpartition(".")[0]
    for info in pkgutil.walk_packages(importlib.import_module(root).__path__, root + "."):
        name = info.name
        if name.startswith(NOT_PRELOADED) or name.endswith("__main__"):
            continue
        try:
            importlib.import_module(name)
        except ImportError:       # an optional library missing: the command says so
            pass
    engine.preload()
    for word in verbs.TOP:
        parser_for(word, word)
    for group, subs in verbs.GROUPS.items():
        for sub, verb in subs.items():
            parser_for(verb, f"{group} {sub}")


class _Watch:
    """inotify on the directories of the files of ours this process has
    loaded: readable once one of them changes (then it must not serve
    another command). Costs the command nothing, as stat-ing them each time
    would (~600 files)."""

    def __init__(self):
        from ..engine import host
        pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        dirs = {os.path.join(pkg, "_core")}
        for m in list(sys.modules.values()):
            f = getattr(m, "__file__", None)
            if f and f.startswith(pkg):
                dirs.add(os.path.dirname(f))
        self.fd = host.watch_dirs(sorted(dirs))

    def changed(self):
        """True if a change of code was seen (events in __pycache__ are not ours)."""
        import struct
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        i = 0
        while i + 16 <= len(data):
            _, _, _, n = struct.unpack_from("iIII", data, i)
            name = data[i + 16:i + 16 + n].rstrip(b"\0")
            i += 16 + n
            if name.endswith((b".py", b".so")) or name.startswith(b"pyc-") or not name:
                return True
        return False


def serve(path, lock=-1):
    """The warm process: bind ``path``, then fork a child per command."""
    _preload()
    Server(path).run(lock)


class Server:
    def __init__(self, path):
        import select
        import socket
        import signal
        self.path, self.watch, self.own = path, _Watch(), context()
        # SIGTERM (stop()): finish the commands that run, then go; set before
        # the socket can be found, so it is never left without its process
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGTERM, lambda *_: None)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o077)
        try:
            self.listener.bind(f"{path}.{os.getpid()}")
            self.listener.listen(64)        # before it is found: a client waits, not fails
            os.rename(f"{path}.{os.getpid()}", path)     # the newest warm process wins
        finally:
            os.umask(old)
        self.me = os.stat(path).st_ino
        self.children = {}            # pidfd -> (pid, connection)
        self.spare = None             # (pid, socket) of the child forked ahead
        self.poller = select.poll()

    def run(self, lock):
        import gc
        import select
        import time
        # what is loaded now stays: a child's collections skip it, and do not
        # write to (copy) its pages
        gc.collect()
        gc.freeze()
        self._fork_spare()
        if lock >= 0:
            os.close(lock)            # listening: the next burst connects instead
        self.poller.register(self.listener, select.POLLIN)
        self.poller.register(self.wake_r, select.POLLIN)
        idle = float(os.environ.get("PYCONTAINER_WARM_IDLE", IDLE))
        tick, last = min(TICK, idle), time.monotonic()
        try:
            while self.listener is not None or self.children:
                ready = self.poller.poll(tick * 1000)
                if ready or self.children:
                    last = time.monotonic()
                elif time.monotonic() - last > idle:
                    break                                   # unused
                if self.listener is not None and self._replaced():
                    self._leave()
                for fd, _ in ready:
                    if fd == self.wake_r:
                        os.read(self.wake_r, 64)
                        self._leave()
                    elif self.listener is not None and fd == self.listener.fileno():
                        self._accept()
                    elif fd in self.children:
                        self._reap(fd)
        finally:
            self._leave()

    def _replaced(self):
        try:
            return os.stat(self.path).st_ino != self.me
        except FileNotFoundError:
            return True

    def _leave(self):
        """Take no more commands: the path goes (if still ours), so the next
        command runs in its own process and starts a new warm one."""
        if self.listener is None:
            return
        self.poller.unregister(self.listener)
        if not self._replaced():
            os.unlink(self.path)
            try:
                os.unlink(self.path + ".lock")    # at worst two start at once: one wins
            except FileNotFoundError:
                pass
        self.listener.close()
        self.listener = None
        if self.spare is not None:
            self.spare[1].close()     # it reads the end and exits
            self.spare = None

    def _accept(self):
        import select
        conn, _ = self.listener.accept()
        if self.watch.changed():
            conn.sendall(b"S")
            conn.close()
            self._leave()
            return
        pid = self._start(conn)
        if not pid:
            conn.close()
            return
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (pid, conn)
        self.poller.register(pidfd, select.POLLIN)

    def _reap(self, fd):
        """A command's child ended: its client gets the exit status."""
        pid, conn = self.children.pop(fd)
        self.poller.unregister(fd)
        os.close(fd)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:                 # killed by a signal (else it sent its status itself)
            try:
                conn.sendall(b"x" + code.to_bytes(4, "little", signed=True))
            except OSError:
                pass
        conn.close()

    def _start(self, conn):
        """Hand the command to the spare child, which becomes it; its pid
        (0: a bad request). Then fork the next spare (a fork costs ~3 ms here:
        off the command's path)."""
        import array
        import marshal
        import socket
        head, fds = _recv_fds(conn, 4)
        req = None
        if len(head) == 4 and len(fds) == 3:
            try:
                req = marshal.loads(_recv(conn, int.from_bytes(head, "little")))
            except (EOFError, ValueError, TypeError):
                pass
        if req is None or len(req) != 6 or req[5] != self.own:
            for fd in fds:
                os.close(fd)
            if req is not None:
                conn.sendall(b"C")
            return 0
        pid = None
        if self.spare is not None:
            spare, self.spare = self.spare, None
            try:
                spare[1].sendmsg([marshal.dumps(req)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                         array.array("i", [conn.fileno(), *fds]))])
                pid = spare[0]
            except OSError:           # it died: fork one now
                pass
            spare[1].close()
        if pid is None:
            pid = os.fork()
            if pid == 0:
                self._child(conn, fds, *req[:5])
        for fd in fds:
            os.close(fd)
        self._fork_spare()
        return pid

    def _fork_spare(self):
        import socket
        ours, theirs = socket.socketpair(socket.AF_UNIX,
                                         socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._spare(theirs)
        theirs.close()
        self.spare = (pid, ours)

    def _spare(self, sock):
        """The spare child: wait for a command (or the end: its socket closed)."""
        import marshal
        import socket
        try:
            data, fds = _recv_fds(sock, 1 << 20, 4)
            sock.close()
            if len(fds) != 4:
                os._exit(0)
        except BaseException:         # noqa: BLE001  the warm process is gone
            os._exit(0)
        conn = socket.socket(fileno=fds[0])
        self._child(conn, fds[1:], *marshal.loads(data)[:5])

    def _child(self, conn, fds, argv0, args, env, cwd, umask):
        import signal
        code = 125
        try:
            signal.set_wakeup_fd(-1)
            for fd in (self.wake_r, self.wake_w):
                os.close(fd)
            self.listener.close()
            for pidfd, (_, other) in self.children.items():     # other commands' ends
                os.close(pidfd)
                other.close()
            sys.argv = [argv0] + args
            _become(fds, env, cwd, umask)
            conn.sendall(b"p" + os.getpid().to_bytes(4, "little"))
            _watch(conn)
            from . import main
            code = main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException as e:      # reported as the command would report a crash
            try:
                sys.stderr.write(f"pycontainer: {e}\n")
            except Exception:        # noqa: BLE001  stderr gone too
                pass
        finally:
            code = code & 0xff if isinstance(code, int) else 1
            for f in (sys.stdout, sys.stderr):
                try:
                    f.flush()
                except Exception:    # noqa: BLE001  the reader went away
                    pass
            try:      # the client goes now: this process's exit (its unmapping) is ours
                conn.sendall(b"x" + code.to_bytes(4, "little", signed=True))
            except OSError:
                pass
            os._exit(code)


def _recv_fds(conn, n, nfds=3):
    import array
    import socket
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(n, socket.CMSG_SPACE(nfds * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds)


def _become(fds, env, cwd, umask):
    """Take the client's stdio, environment, directory and umask, as if
    this process had been started by it."""
    import io
    import signal
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(cwd)
    os.umask(umask)
    os.environ.clear()
    os.environ.update(env)
    for name in SIGNALS + ("SIGTSTP", "SIGPIPE"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)      # as Python sets it up
    # stdio as Python makes it at start-up for this environment
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    enc, _, errs = env.get("PYTHONIOENCODING", "").partition(":")
    enc = enc or "utf-8"

    def stream(fd, mode, errors, **kw):
        raw = io.open(fd, mode, buffering=0 if unbuffered and mode == "wb" else -1,
                      closefd=False)
        return io.TextIOWrapper(raw, encoding=enc, errors=errs or errors,
                                write_through=unbuffered and mode == "wb", **kw)
    sys.stdin = stream(0, "rb", "strict")
    sys.stdout = stream(1, "wb", "strict", line_buffering=os.isatty(1) and not unbuffered)
    sys.stderr = stream(2, "wb", "backslashreplace", line_buffering=not unbuffered)


def _watch(conn):
    """The client gone (killed): so is the command, as it would have been."""
    import signal
    import threading

    def wait():
        try:
            while conn.recv(1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=wait, daemon=True, name="pyc-warm-client").start()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else -1)
