"""pycontainerd's hijacked streams driven by the real docker CLI: exec (plain,
``-i`` with piped stdin, ``-d``, ``-it`` on a pty with a resize), attach
(``run -it`` with ctrl-p ctrl-q and a re-attach, ``run -i``, ``start -ai``),
the websocket attach, and docker-py's exec API."""
import json
import subprocess

import docker
import pytest

from api_daemon import PtyDocker, daemon, names, until  # noqa: F401 (fixtures)


@pytest.fixture
def sleeper(daemon, names):
    names.append("pyc-api-exec")
    daemon.docker("run", "-d", "--name", "pyc-api-exec", "busybox", "sleep", "120")
    return "pyc-api-exec"


@pytest.fixture
def terminals():
    made = []
    yield made
    for t in made:
        t.close()


def test_exec_output_exit_code_and_stderr(daemon, sleeper):
    assert daemon.docker("exec", sleeper, "echo", "hi").stdout == "hi\n"
    r = daemon.docker("exec", sleeper, "sh", "-c", "echo out; echo err >&2; exit 3", ok=False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    r = daemon.docker("exec", "-e", "WHO=api", "-w", "/tmp", "-u", "nobody", sleeper,
                      "sh", "-c", "echo $WHO $(pwd) $(id -un)")
    assert r.stdout == "api /tmp nobody\n"


def test_exec_i_pipes_stdin_and_its_eof(daemon, sleeper):
    data = "".join(f"line {i}\n" for i in range(2000))
    assert daemon.docker("exec", "-i", sleeper, "cat", input=data).stdout == data
    r = daemon.docker("exec", "-i", sleeper, "sh", "-c", "wc -l; echo done", input="a\nb\n")
    assert r.stdout.split() == ["2", "done"]


def test_exec_d_runs_in_the_background(daemon, sleeper):
    r = daemon.docker("exec", "-d", sleeper, "sh", "-c", "echo bg > /tmp/bg")
    assert r.stdout == ""
    out = until(lambda: daemon.docker("exec", sleeper, "cat", "/tmp/bg", ok=False).stdout,
                lambda s: s == "bg\n")
    assert out == "bg\n"


def test_exec_it_on_a_pty_with_resize(daemon, sleeper, terminals):
    t = PtyDocker(daemon, "exec", "-it", sleeper, "sh", rows=30, cols=100)
    terminals.append(t)
    t.send("echo $((6*7))\r")
    t.expect("42")
    t.send("stty size\r")
    t.expect("30 100")
    t.resize(40, 120)
    # the CLI follows SIGWINCH with POST /exec/{id}/resize: the shell sees it
    out = until(lambda: (t.send("stty size\r"), t.expect("\n"), t.expect("#"))[-1],
                lambda seen: b"40 120" in seen)
    assert b"40 120" in out
    t.send("exit 5\r")
    assert t.wait() == 5


def test_run_it_detach_and_attach_again(daemon, names, terminals):
    names.append("pyc-api-it")
    t = PtyDocker(daemon, "run", "-it", "--name", "pyc-api-it", "busybox", "sh")
    terminals.append(t)
    t.send("echo $((2+3))x\r")
    t.expect("5x")
    t.send(b"\x10\x11")                                 # ctrl-p ctrl-q
    assert t.wait() == 0
    st = json.loads(daemon.docker("inspect", "pyc-api-it").stdout)[0]["State"]
    assert st["Running"]
    a = PtyDocker(daemon, "attach", "pyc-api-it")
    terminals.append(a)
    a.send("echo again$((1+1))\r")
    a.expect("again2")
    a.send("exit 7\r")
    assert a.wait() == 7
    assert daemon.docker("wait", "pyc-api-it").stdout == "7\n"


def test_run_i_with_piped_stdin(daemon):
    r = daemon.docker("run", "-i", "--rm", "busybox", "sh", "-c", "read l; echo got $l",
                      input="hello\n")
    assert r.stdout == "got hello\n"
    data = "x" * 100000 + "\n"
    assert daemon.docker("run", "-i", "--rm", "busybox", "cat", input=data).stdout == data


def test_start_ai(daemon, names):
    names.append("pyc-api-sai")
    daemon.docker("create", "-i", "--name", "pyc-api-sai", "busybox", "sh", "-c",
                  "read l; echo [$l]; exit 4")
    r = daemon.docker("start", "-ai", "pyc-api-sai", input="abc\n", ok=False)
    assert (r.returncode, r.stdout) == (4, "[abc]\n")


def test_attach_over_websocket(daemon, names):
    import asyncio

    import aiohttp
    names.append("pyc-api-ws")
    daemon.docker("run", "-d", "-i", "--name", "pyc-api-ws", "busybox", "cat")

    async def talk():
        conn = aiohttp.UnixConnector(path=daemon.sock)
        async with aiohttp.ClientSession(connector=conn) as s:
            async with s.ws_connect("http://localhost/v1.44/containers/pyc-api-ws/attach/ws"
                                    "?stream=1&stdin=1&stdout=1&stderr=1") as ws:
                await ws.send_bytes(b"ping\n")
                got = b""
                while b"ping\n" not in got:
                    msg = await asyncio.wait_for(ws.receive(), 20)
                    assert msg.type == aiohttp.WSMsgType.BINARY, msg
                    got += msg.data
                return got
    assert asyncio.run(talk()) == b"ping\n"


def test_docker_py_gets_output_that_comes_with_the_headers(daemon, sleeper):
    """docker-py reads the 101's headers through a buffer and the stream from
    the raw socket: output sent before it read them was lost (the first
    frame, ~1 in 6 under load). Two busy loops make the client slow."""
    dc = docker.DockerClient(base_url=daemon.url, version="auto", timeout=60)
    spin = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(2)]
    try:
        c = dc.containers.get(sleeper)
        outs = [c.exec_run("sh -c 'echo o; echo e >&2'", demux=True).output for _ in range(40)]
        assert outs == [(b"o\n", b"e\n")] * 40
    finally:
        for p in spin:
            p.kill()
            p.wait()
        dc.close()


def test_docker_py_exec(daemon, sleeper):
    dc = docker.DockerClient(base_url=daemon.url, version="auto", timeout=60)
    try:
        c = dc.containers.get(sleeper)
        assert tuple(c.exec_run(["sh", "-c", "echo a; exit 2"])) == (2, b"a\n")
        assert c.exec_run("sh -c 'echo o; echo e >&2'", demux=True).output == (b"o\n", b"e\n")
        tty = dc.api.exec_create(c.id, ["echo", "t"], tty=True)["Id"]
        # docker-py starts it with Tty false: frames, as dockerd sends them
        assert dc.api.exec_start(tty, demux=True) == (b"t\r\n", None)
        eid = dc.api.exec_create(c.id, ["sh", "-c", "cat; exit 9"], stdin=True)["Id"]
        sock = dc.api.exec_start(eid, socket=True)
        sock._sock.sendall(b"fed\n")
        sock._sock.shutdown(1)              # SHUT_WR: stdin EOF reaches cat
        got = b""
        while True:
            chunk = sock._sock.recv(4096)
            if not chunk:
                break
            got += chunk
        sock.close()
        assert got == b"\x01\x00\x00\x00\x00\x00\x00\x04fed\n"
        info = until(lambda: dc.api.exec_inspect(eid), lambda i: not i["Running"])
        assert info["ExitCode"] == 9 and info["ProcessConfig"]["entrypoint"] == "sh"
        assert info["ContainerID"] == c.id and info["OpenStdin"] is True
        with pytest.raises(docker.errors.NotFound):
            dc.api.exec_inspect("pyc-no-such-exec")
        with pytest.raises(docker.errors.APIError) as e:
            dc.api.exec_start(eid)
        assert e.value.status_code == 409
    finally:
        dc.close()


def test_exec_refusals(daemon, names):
    names.append("pyc-api-stopped")
    daemon.docker("create", "--name", "pyc-api-stopped", "busybox", "true")
    status, _, body = daemon.http("POST", "/containers/pyc-api-stopped/exec",
                                  body={"Cmd": ["true"]})
    assert status == 409 and b"is not running" in body
    status, _, body = daemon.http("POST", "/containers/pyc-api-stopped/exec", body={"Cmd": 3})
    assert status == 400 and b"cannot unmarshal" in body
    status, _, body = daemon.http("POST", "/containers/pyc-api-stopped/exec", body={})
    assert status == 400 and b"No exec command specified" in body
    status, _, _ = daemon.http("POST", "/containers/pyc-nope/exec", body={"Cmd": ["true"]})
    assert status == 404
