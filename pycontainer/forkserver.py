"""A warm process: a server that forks a child per command.

A Python command pays its imports on every start. A thin client (in C, or
Python) hands its arguments, environment, directory, umask, context and
stdio fds (SCM_RIGHTS) to a warm process of the same interpreter and code,
whose imports are done; a child forked ahead becomes the command (same fds,
cwd, env) and runs it as the command's own process would. The client gets
``p<pid>`` when the command starts and ``x<status>`` when it ends. Used by
the ``pycontainer`` command (cli/warm.py) and the OCI runtime (oci/warm.py),
each with its own socket and preloads.

The request is a ``marshal`` dump of (argv0, [args], {env}, cwd, umask,
context()); a request from other namespaces, cgroups or ids than the warm
process's gets ``C``, and one after our code changed on disk ``S``: the
client then runs the command itself. The warm process exits after its
``IDLE`` seconds unused, or at once when its code changed.
"""
import os
import sys

IDLE = 300.0            # seconds unused before the warm process exits
TICK = 5.0              # how often it checks that it is still the one in use
SPARE_DELAY = 0.05      # a running command's head start before the next spare is forked
SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGWINCH", "SIGUSR1", "SIGUSR2")


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


def _recv(s, n):
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            return got
        got += chunk
    return got


def stop(path, timeout=10.0):
    """Stop the warm process listening on ``path`` after the commands it
    runs; True when there was one."""
    import select
    import signal
    import socket
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


class _Watch:
    """inotify on the directories of the files of ours this process has
    loaded: readable once one of them changes (then it must not serve
    another command). Costs the command nothing, as stat-ing them each time
    would (~600 files)."""

    def __init__(self):
        from . import _core
        pkg = os.path.dirname(os.path.abspath(__file__))
        dirs = {os.path.join(pkg, "_core")}
        for m in list(sys.modules.values()):
            f = getattr(m, "__file__", None)
            if f and f.startswith(pkg):
                dirs.add(os.path.dirname(f))
        self.fd = _core.watch_dirs(sorted(dirs))

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


class Server:
    """Listens on ``path``; runs ``command(args, conn)`` (its exit status) in
    a child per request, which has become the client's process first."""

    def __init__(self, path, command):
        import select
        import socket
        import signal
        self.path, self.watch, self.own = path, _Watch(), context()
        self.command = command
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
        self.spare_due = None         # when to fork the next one (monotonic)
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
                wait = tick
                if self.spare_due is not None:
                    wait = max(0.0, min(wait, self.spare_due - time.monotonic()))
                ready = self.poller.poll(wait * 1000)
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
                        self._spare_now()
                if self.spare_due is not None and time.monotonic() >= self.spare_due:
                    self._spare_now()
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
        """Hand the command to the spare child, which becomes it (or to a
        child forked now, when none is spare); its pid (0: a bad request)."""
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
        # The next spare once this command ends, or SPARE_DELAY on: a fork
        # (~3 ms) would take a core from the command that runs now.
        if self.spare_due is None:
            import time
            self.spare_due = time.monotonic() + SPARE_DELAY
        return pid

    def _spare_now(self):
        if self.spare_due is not None and self.spare is None and self.listener is not None:
            self._fork_spare()
        self.spare_due = None

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
            code = self.command(args, conn)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException as e:      # reported as the command would report a crash
            try:
                sys.stderr.write(f"{os.path.basename(argv0)}: {e}\n")
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
    # only what differs: each change is a putenv (~20 us in a fresh fork), and a
    # client usually shares the environment the server was started with
    for key in os.environ.keys() - env.keys():
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
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
    import _thread      # not threading: its import (~2.5 ms) would be on every command
    import signal

    def wait():
        try:
            while conn.recv(1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGKILL)
    _thread.start_new_thread(wait, ())
