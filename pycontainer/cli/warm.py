"""The command's warm process: imports paid once, not on every command.

A Python command pays its imports on every start (the engine's are ~100 ms,
more than running a container). So ``pycontainer`` is a thin client: it
hands its arguments, environment, working directory, umask and stdio fds
(SCM_RIGHTS) to a warm process of the same interpreter and code, which has
the engine's modules imported and forks a child per command. The child
becomes the command (same fds, cwd, env) and runs the verb exactly as the
command would in its own process; nothing of a store or a container lives
in the warm process, and a container never depends on it (its monitor owns
it, as before). The warm process (``forkserver.Server``) exits after
``forkserver.IDLE`` seconds unused, or at once when a module it imported
changed on disk.

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

from .. import forkserver
from ..forkserver import SIGNALS, _recv, context


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
    return forkserver.stop(path or socket_path(), timeout)


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


def serve(path, lock=-1):
    """The warm process: bind ``path``, then fork a child per command."""
    _preload()
    forkserver.Server(path, _command).run(lock)


def _command(args, _conn):
    from . import main
    return main(args)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else -1)
