"""10,000 malformed or hostile requests to pycontainerd: each gets a 4xx (never
a 5xx, never a crash), and the store and a running container are unchanged."""
import asyncio
import json
import random
import socket
import time

import aiohttp

from api_daemon import daemon  # noqa: F401 (fixtures)

COUNT = 10_000
CONCURRENCY = 16


def _bodies(rng):
    """Create bodies docker refuses: bad JSON, wrong types, bad references and names."""
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    good = json.dumps({"Image": "busybox", "Cmd": ["true"]})
    return rng.choice([
        junk, good[:rng.randrange(1, len(good))].encode(), b"[1,2]", b"null", b'"x"',
        json.dumps({"Image": rng.choice([5, True, [], {}, 1.5])}).encode(),
        json.dumps({"Image": "busybox", "Cmd": rng.choice([5, {}, [1, 2], True])}).encode(),
        json.dumps({"Image": "busybox", "HostConfig": rng.choice(["x", 5, []])}).encode(),
        json.dumps({"Image": "busybox", "Env": {"A": 1}}).encode(),
        json.dumps({"Image": rng.choice(["../../etc/passwd", "UPPER/Case", "a b", ":::",
                                         "pyc-none-" + str(rng.random()), "x" * 300,
                                         "busybox@sha256:zz", "/abs"])}).encode(),
        json.dumps({"Image": "busybox", "Healthcheck": "yes"}).encode(),
        json.dumps({"Image": "busybox", "Labels": ["a"]}).encode(),
        b"{" * 100_000,
    ])


def _request(rng, victim):
    """(method, path, body, headers) of one hostile request."""
    kind = rng.randrange(12)
    name = rng.choice(["../../etc", "..%2f..%2f", "pyc-none", "%00", "a" * 500, "x/../y"])
    if kind <= 2:
        return "POST", "/containers/create" + rng.choice(["", "?name=bad/name", "?name=..",
                                                          "?name=-x"]), _bodies(rng), {}
    if kind == 3:
        return "GET", f"/containers/{name}/json", None, {}
    if kind == 4:
        path = rng.choice(["/../../../pyc-none", "../../nope/" + "a" * 50, "/proc/../../nope",
                           ""])
        return rng.choice(["GET", "HEAD"]), f"/containers/{victim}/archive?path={path}", None, {}
    if kind == 5:
        return "POST", f"/containers/{victim}/exec", rng.choice([
            b"{}", b"{bad", json.dumps({"Cmd": 5}).encode(), json.dumps({"Cmd": []}).encode(),
            json.dumps({"Cmd": ["true"], "DetachKeys": "ctrl-?"}).encode(),
            json.dumps({"Cmd": ["true"], "WorkingDir": "rel"}).encode(),
            json.dumps({"Cmd": ["true"], "Tty": "yes"}).encode()]), {}
    if kind == 6:
        return "POST", f"/exec/{name}/start", b'{"Detach": true}', {}
    if kind == 7:
        return "GET", "/events?" + rng.choice(["since=garbage", "until=xx", "filters=%7Bbad",
                                               "filters=%5B%5D", "since=1e999"]), None, {}
    if kind == 8:
        return "GET", f"/containers/{victim}/logs?" + rng.choice(
            ["", "stdout=1&tail=abc", "stdout=1&since=zz"]), None, {}
    if kind == 9:
        verb = rng.choice(["kill?signal=SIGNOPE", "resize?h=x&w=1", "resize?h=0&w=0",
                           "rename", "rename?name=bad/name", "wait?condition=never", "update"])
        return "POST", f"/containers/{victim}/{verb}", \
            rng.choice([b"[]", b"{\"Memory\": \"lots\"}", b"{\"CpuShares\": []}"]), {}
    if kind == 10:
        return rng.choice(["GET", "POST", "DELETE"]), rng.choice(
            ["/v0.1/version", "/v9.99/info", "/v1.2/_ping", "/no/such/thing", f"/images/{name}/json",
             f"/networks/{name}", f"/volumes/{name}"]), None, {}
    return "PUT", f"/containers/{victim}/archive?path=" + rng.choice(
        ["/tmp", "/nope-dir", ""]), bytes(rng.randrange(256) for _ in range(700)), {}


async def _fire(sock, victim):
    rng = random.Random(15)
    statuses = {}
    bad = []
    conn = aiohttp.UnixConnector(path=sock, limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        queue = [_request(rng, victim) for _ in range(COUNT)]

        async def worker():
            while queue:
                method, path, body, headers = queue.pop()
                async with s.request(method, "http://d" + path, data=body,
                                     headers=headers) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    if not 400 <= r.status < 500:
                        bad.append((method, path, (body or b"")[:80], r.status))
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses, bad


def _truncated_and_slow(sock_path):
    """Uploads cut short and a client that sends its headers a byte at a time."""
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock_path)
        s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: "
                  b"application/json\r\nContent-Length: 100000\r\n\r\n{\"Image\": \"bus")
        s.close()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(sock_path)
    for b in b"GET /containers/pyc-none/json HTTP/1.1\r\nHost: d\r\n\r\n":
        s.send(bytes([b]))
    reply = s.recv(4096)
    s.close()
    return reply


def test_hostile_requests_get_4xx_and_change_nothing(daemon):
    daemon.docker("run", "-d", "--name", "pyc-api-fuzz", "busybox", "sleep", "300")
    try:
        before = daemon.docker("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}").stdout
        images = daemon.docker("images", "-q", "--no-trunc").stdout
        t0 = time.monotonic()
        statuses, bad = asyncio.run(_fire(daemon.sock, "pyc-api-fuzz"))
        assert not bad, (bad[:20], statuses)
        assert sum(statuses.values()) == COUNT
        assert _truncated_and_slow(daemon.sock).startswith(b"HTTP/1.1 404")
        assert time.monotonic() - t0 < 120
        assert daemon.proc.poll() is None                 # never crashed
        assert daemon.http("GET", "/_ping")[0] == 200
        assert daemon.docker("ps", "-a", "--no-trunc", "--format",
                             "{{.ID}} {{.Names}}").stdout == before
        assert daemon.docker("images", "-q", "--no-trunc").stdout == images
        assert daemon.docker("exec", "pyc-api-fuzz", "echo", "alive").stdout == "alive\n"
        # no 500 was logged (aiohttp itself logs the truncated uploads' lost connections)
        assert "engine failure" not in daemon.log_text()
    finally:
        daemon.docker("rm", "-f", "pyc-api-fuzz", ok=False)
