"""``/containers/{id}/exec`` and ``/exec/...``: docker's two-step exec.

Create stores the exec's config (in the daemon's memory, as dockerd keeps
it); start runs it through the engine with its stdio on a socket
(``exec_run(socket=True)``) and hijacks the connection for it, or with
``Detach`` drains its output here; inspect reports Running and ExitCode.
"""
import asyncio
import contextlib
import os
import secrets

from aiohttp import web

from ...engine.attach import parse_detach_keys
from ...errors import Conflict, InvalidArgument, NotFound, SetupError, UnknownUser
from .. import codec
from ..app import Routes, body_json, call, engine
from ..hijack import Hijack, pump_input, pump_output, wake
from ..status import BadRequest

routes = Routes()
KEEP = 1000             # finished execs remembered (dockerd keeps them with the container)


class Exec:
    def __init__(self, cid, cfg):
        self.id, self.cid, self.cfg = secrets.token_hex(32), cid, cfg
        self.started = self.running = False
        self.exit_code, self.pid, self.sock = None, 0, None

    def inspect(self):
        cfg = self.cfg
        running = self.running and _alive(self.pid)
        return {"ID": self.id, "Running": running, "ExitCode": self.exit_code,
                "ProcessConfig": {"tty": cfg["Tty"], "entrypoint": cfg["Cmd"][0],
                                  "arguments": cfg["Cmd"][1:], "privileged": cfg["Privileged"],
                                  "user": cfg["User"]},
                "OpenStdin": cfg["AttachStdin"], "OpenStderr": cfg["AttachStderr"],
                "OpenStdout": cfg["AttachStdout"], "CanRemove": False,
                "ContainerID": self.cid, "DetachKeys": cfg["DetachKeys"],
                "Pid": self.pid if running else 0}


def _alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


EXECS = web.AppKey("execs", dict)
_TASKS = set()


def setup(app):
    app[EXECS] = {}


def _get(request):
    ex = request.app[EXECS].get(request.match_info["id"])
    if ex is None:
        raise NotFound(f"No such exec instance: {request.match_info['id']}")
    return ex


def _remember(execs, ex):
    execs[ex.id] = ex
    if len(execs) > KEEP:
        for key in [k for k, e in execs.items() if e.started and not e.running][:len(execs)
                                                                                 - KEEP]:
            del execs[key]


_BOOLS = ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "Privileged")
_STRS = ("User", "WorkingDir", "DetachKeys")


def exec_config(body):
    """The create body, checked: every field docker's Go struct would refuse is a 400."""
    body = codec.go_keys(body, _BOOLS + _STRS + ("Cmd", "Env"))
    cfg = {}
    for key in _BOOLS:
        cfg[key] = bool(codec._typed(body, key, bool, "ExecConfig"))
    for key in _STRS:
        cfg[key] = codec._typed(body, key, str, "ExecConfig") or ""
    cmd = codec._strings(body, "Cmd", "ExecConfig")
    if not cmd:
        raise BadRequest("No exec command specified")
    cfg["Cmd"] = cmd
    cfg["Env"] = codec._strings(body, "Env", "ExecConfig") or []
    if cfg["WorkingDir"] and not cfg["WorkingDir"].startswith("/"):
        raise BadRequest(f"the working directory '{cfg['WorkingDir']}' is invalid: "
                         "it needs to be an absolute path")
    try:
        parse_detach_keys(cfg["DetachKeys"] or None)
    except InvalidArgument as e:
        raise BadRequest(str(e)) from None
    return cfg


@routes.post("/containers/{id}/exec")
async def create(request):
    body = await body_json(request, required=True)
    cfg = exec_config(body)
    verbs = engine(request).containers
    attrs = await call(verbs.inspect, request.match_info["id"])
    st = attrs["State"]
    if not st["Running"]:
        raise Conflict(f"Container {attrs['Id']} is not running")
    if st["Paused"]:
        raise Conflict(f"Container {attrs['Id']} is paused, unpause the container before exec")
    ex = Exec(attrs["Id"], cfg)
    _remember(request.app[EXECS], ex)
    return web.json_response({"Id": ex.id}, status=201)


def _run(verbs, ex):
    """The exec started, its stdio on an AttachSocket (``pid`` set by the engine)."""
    cfg = ex.cfg
    # without a tty the engine serves stdin as a pipe: one that gets EOF at
    # once when the client attaches none (docker's exec reads /dev/null then)
    stdin = cfg["AttachStdin"] or not cfg["Tty"]
    sock = verbs.exec_run(ex.cid, cfg["Cmd"], stdout=cfg["AttachStdout"],
                          stderr=cfg["AttachStderr"], stdin=stdin, tty=cfg["Tty"],
                          privileged=cfg["Privileged"], user=cfg["User"],
                          environment=cfg["Env"] or None, workdir=cfg["WorkingDir"] or None,
                          socket=True, demux=True,      # stderr a pipe of its own
                          detach_keys=cfg["DetachKeys"] or None).output
    if not cfg["AttachStdin"]:
        sock.shutdown()
    return sock


def _packets(sock):
    return iter(sock.packets())


def _finish(ex, sock):
    ex.exit_code = sock.exit_code
    ex.running = sock.exit_code is None      # detached, or the client left: it runs on
    with contextlib.suppress(OSError):
        sock.close()


async def _drain(ex, sock):
    """A detached exec: its output is read (and dropped) until it exits."""
    try:
        it = _packets(sock)
        done = object()
        while await call(next, it, done) is not done:
            pass
    finally:
        _finish(ex, sock)


@routes.post("/exec/{id}/start")
async def start(request):
    body = await body_json(request)
    detach = bool(codec._typed(body, "Detach", bool, "ExecStartConfig"))
    # the start's Tty, not the exec's, says whether output is framed (dockerd's
    # rule: docker-py starts a tty exec with Tty false and reads frames)
    raw = bool(codec._typed(body, "Tty", bool, "ExecStartConfig"))
    ex = _get(request)
    if ex.started:
        raise Conflict(f"Error: Exec command {ex.id} has already run" if not ex.running
                       else f"Error: Exec command {ex.id} is already running")
    ex.started = True
    try:
        sock = await call(_run, engine(request).containers, ex)
    except (SetupError, UnknownUser) as e:
        return await _not_runnable(request, ex, e, raw, detach)
    except BaseException:
        ex.started = False
        raise
    ex.sock, ex.pid, ex.running = sock, getattr(sock, "pid", 0), True
    size = body.get("ConsoleSize")
    if ex.cfg["Tty"] and isinstance(size, list) and len(size) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
        with contextlib.suppress(OSError, InvalidArgument):
            await call(sock.resize, size[0], size[1])
    if detach:
        task = asyncio.get_running_loop().create_task(_drain(ex, sock))
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)
        return web.Response(status=200)
    hj = Hijack(request, codec.RAW if raw else codec.MULTIPLEXED, stdin=ex.cfg["AttachStdin"])
    hj.on_lost.append(lambda: wake(sock))     # the process runs on, unread
    await hj.start()
    feed = asyncio.get_running_loop().create_task(pump_input(hj, sock)) \
        if ex.cfg["AttachStdin"] else None
    try:
        await pump_output(hj, _packets(sock), not raw, lambda: wake(sock))
    finally:
        if feed is not None:
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await feed
        _finish(ex, sock)
        await hj.close()
    return hj.resp


async def _not_runnable(request, ex, err, raw, detach):
    """As dockerd 20.10: an exec whose program could not start (no such program
    or user, a bad working directory) ran and exited 126, its error on the
    stream, so docker-py's exec_run returns (126, message)."""
    ex.exit_code, ex.running = 126, False
    if detach:
        return web.Response(status=200)
    hj = Hijack(request, codec.RAW if raw else codec.MULTIPLEXED, stdin=False)
    await hj.start()
    text = (f"OCI runtime exec failed: exec failed: {err}\n" if isinstance(err, SetupError)
            else f"{err}\n").encode()
    await hj.write(codec.frame(1, text) if not raw else text)
    await hj.close()
    return hj.resp


@routes.post("/exec/{id}/resize")
async def resize(request):
    ex = _get(request)
    h, w = codec.integer(request, "h"), codec.integer(request, "w")
    if h is None or w is None:
        raise BadRequest("resize: h and w are required")
    if not ex.running or ex.sock is None:
        raise Conflict(f"exec {ex.id} is not running")
    if ex.cfg["Tty"]:
        try:
            await call(ex.sock.resize, h, w)
        except OSError:
            raise Conflict(f"exec {ex.id} is not running") from None
    return web.Response(status=200)


@routes.get("/exec/{id}/json")
async def inspect(request):
    return web.json_response(_get(request).inspect())
