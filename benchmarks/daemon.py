"""How fast and how big is ``pycontainerd`` under real clients, beside Debian's
dockerd (20.10) started by this script on the same machine, in the same run?

- ``docker run --rm --network none busybox true`` with the real CLI (28.x),
  whole process (target p50 <= 50 ms through pycontainerd);
- docker-py 7.1 ``containers.run("busybox", "true", remove=True)`` in this
  process (target p50 <= 30 ms);
- ``GET /_ping``: latency of one client on a kept-alive connection, and
  requests/s of 8 concurrent clients (one asyncio loop, raw HTTP/1.1);
- ``docker ps -a`` with 1,000 created containers (target <= 100 ms) and the
  raw ``GET /containers/json?all=1`` it makes (target <= 20 ms), from the
  request to the last byte of the answer (this script's json.loads of the
  ~700 KB, ~10 ms in Python, is the client's, not the daemon's);
- attach throughput: MB/s of N bytes of 1 KiB text lines (``yes | head -c N``)
  read through ``POST /containers/{id}/attach`` (the 101 upgrade, 8-byte frames);
- the daemon's RSS idle, and with 100 running containers (target <= 40 MiB;
  dockerd's own, and dockerd + containerd, beside it; the per-container
  helpers, monitors or shims, are printed apart): right after the last
  request, and again once the daemon has been quiet for SETTLE seconds
  (ours gives a burst's freed heap back after 2 s quiet, api/idle.py; Go's
  scavenger returns dockerd's over minutes).

Both daemons run with network none, no iptables; dockerd with overlay2 and
busybox loaded from our ``Image.save()``. Medians and p90 per figure, then
the ratio pycontainerd / dockerd (below 1: pycontainerd is faster or smaller).

Usage: python benchmarks/daemon.py [--runs 50] [--containers 1000] [--running 100]
       [--attach-mb 256] [--quick]
"""
import argparse
import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from baselines import pct, timed  # noqa: E402
from build_helpers import Dockerd  # noqa: E402

PYCONTAINERD = os.path.join(os.path.dirname(sys.executable), "pycontainerd")
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
IMAGE = "busybox:latest"
SETTLE = 3.0
LINE = "x" * 1023           # attach's payload: 1 KiB lines of text


class UnixHTTP(http.client.HTTPConnection):
    """http.client over a UNIX socket, kept alive between requests."""

    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self.unix = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix)

    def call(self, method, path, body=None, raw=False):
        """The decoded JSON answer (``raw``: its bytes, undecoded)."""
        headers = {}
        if body is not None:
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        self.request(method, path, body=body, headers=headers)
        r = self.getresponse()
        data = r.read()
        if r.status >= 400:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        if raw:
            return data
        return json.loads(data) if data and r.getheader("Content-Type", "").startswith(
            "application/json") else data


class Ours:
    """pycontainerd over a fresh store in ``top``."""

    name = "pycontainerd"

    def __init__(self, top, store):
        self.sock = os.path.join(top, "pyc.sock")
        self.log = open(os.path.join(top, "pycontainerd.log"), "wb")
        self.proc = subprocess.Popen(
            [PYCONTAINERD, "-H", "unix://" + self.sock, "--data-root", store,
             "--exec-root", os.path.join(top, "exec")],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        self.env = {**os.environ, "DOCKER_HOST": "unix://" + self.sock,
                    "DOCKER_CONFIG": os.path.join(top, "cli")}
        deadline = time.monotonic() + 30
        while not _answers(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pycontainerd did not start: see {self.log.name}")
            time.sleep(0.02)        # polling a state (the socket answers)
        self.pid = self.proc.pid

    def helpers(self):
        """Our per-container helpers: the monitors (their spec lives in our exec root)."""
        return [p for p in _pids() if _comm(p) == "pyc-monitor"
                and os.path.dirname(self.sock) in _cmdline(p)]

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.log.close()


class Peer:
    """dockerd (build_helpers.Dockerd) with the same face as :class:`Ours`."""

    name = "dockerd"

    def __init__(self, top, archive):
        os.makedirs(top)
        self.d = Dockerd(top, archive)
        self.sock, self.pid = self.d.sock, self.d.proc.pid
        self.env = {**self.d.env, "DOCKER_CONFIG": os.path.join(top, "cli")}

    def children(self):
        return [p for p in _pids() if _ppid(p) == self.pid]        # containerd

    def helpers(self):
        return [p for p in _pids() if _comm(p).startswith("containerd-shim")
                and self.d.top in _cmdline(p)]

    def close(self):
        self.d.close()


def _answers(sock):
    try:
        c = UnixHTTP(sock, timeout=2)
        c.request("GET", "/_ping")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except OSError:
        return False


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _comm(pid):
    return _read(f"/proc/{pid}/comm").decode().strip()


def _cmdline(pid):
    return _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace")


def _ppid(pid):
    stat = _read(f"/proc/{pid}/stat").decode()
    return int(stat.rsplit(")", 1)[1].split()[1]) if stat else -1


def rss_mib(pids):
    total = 0
    for pid in pids:
        for line in _read(f"/proc/{pid}/status").decode().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


# -- the measurements -------------------------------------------------------

def cli_run(d, n):
    return timed([DOCKER, "run", "--rm", "--network", "none", IMAGE, "true"], n, d.env,
                 warmup=3)


def dockerpy_run(d, n):
    import docker
    c = docker.DockerClient(base_url="unix://" + d.sock, version="auto", timeout=120)
    try:
        def once():
            c.containers.run(IMAGE, "true", remove=True, network_mode="none")
        for _ in range(3):
            once()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            once()
            times.append(time.perf_counter() - t0)
        return times
    finally:
        c.close()


PING = b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"


async def _ping_client(sock, n, times):
    r, w = await asyncio.open_unix_connection(sock)
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            w.write(PING)
            head = await r.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await r.readexactly(length)
            times.append(time.perf_counter() - t0)
    finally:
        w.close()


def ping(d, n, clients):
    """(latencies of one client, requests/s of ``clients`` at once)."""
    one = []
    asyncio.run(_ping_client(d.sock, 50, []))       # warm-up
    asyncio.run(_ping_client(d.sock, n, one))

    async def many():
        await asyncio.gather(*(_ping_client(d.sock, n, []) for _ in range(clients)))
    t0 = time.perf_counter()
    asyncio.run(many())
    return one, clients * n / (time.perf_counter() - t0)


def create_many(d, count, cmd=("true",), start=False):
    """``count`` containers made with create (and started with ``start``), 4 at once."""
    from concurrent.futures import ThreadPoolExecutor

    def make(chunk):
        c, ids = UnixHTTP(d.sock), []
        for _ in range(chunk):
            got = c.call("POST", "/containers/create", {
                "Image": IMAGE, "Cmd": list(cmd), "HostConfig": {"NetworkMode": "none"}})
            ids.append(got["Id"])
            if start:
                c.call("POST", f"/containers/{got['Id']}/start")
        c.close()
        return ids
    with ThreadPoolExecutor(4) as pool:
        chunks = [count // 4 + (i < count % 4) for i in range(4)]
        return [i for ids in pool.map(make, chunks) for i in ids]


def remove_all(d):
    c = UnixHTTP(d.sock)
    for row in c.call("GET", "/containers/json?all=1"):
        c.call("DELETE", f"/containers/{row['Id']}?force=1&v=1")
    c.close()


def ps(d, n, count):
    """(``docker ps -a`` times, API call times) with ``count`` created containers."""
    t0 = time.perf_counter()
    create_many(d, count)
    made = time.perf_counter() - t0
    try:
        c = UnixHTTP(d.sock)
        rows = c.call("GET", "/containers/json?all=1")
        assert len(rows) >= count, (len(rows), count)
        api = []
        for _ in range(3):
            c.call("GET", "/containers/json?all=1")
        for _ in range(n):        # the daemon's time: to the last byte, not our json.loads
            t0 = time.perf_counter()
            data = c.call("GET", "/containers/json?all=1", raw=True)
            api.append(time.perf_counter() - t0)
            assert len(json.loads(data)) == len(rows)
        c.close()
        cli = timed([DOCKER, "ps", "-a"], n, d.env, warmup=2)
        return cli, api, made
    finally:
        UnixHTTP(d.sock).call("POST", "/containers/prune")
        remove_all(d)


def attach(d, size):
    """MB/s of ``size`` bytes of stdout through the attach upgrade."""
    c = UnixHTTP(d.sock)
    cid = c.call("POST", "/containers/create", {
        "Image": IMAGE, "Cmd": ["sh", "-c", f"yes {LINE} | head -c {size}"],
        "AttachStdout": True, "AttachStderr": True,
        "HostConfig": {"NetworkMode": "none"}})["Id"]
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(d.sock)
        s.sendall(f"POST /containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                  "Host: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n"
                  "\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, rest = buf.partition(b"\r\n\r\n")
        assert head.split()[1] in (b"101", b"200"), head
        got = len(rest)
        t0 = time.perf_counter()
        c.call("POST", f"/containers/{cid}/start")
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        took = time.perf_counter() - t0
    finally:
        s.close()
        c.call("DELETE", f"/containers/{cid}?force=1")
        c.close()
    frames = got - size
    assert 0 <= frames and frames % 8 == 0, f"read {got} bytes for {size}"
    return size / took / 1e6


def rss(d, running):
    """(daemon MiB, daemon + its children MiB, helpers MiB, daemon MiB after
    SETTLE s quiet) with ``running`` containers."""
    ids = create_many(d, running, cmd=("sleep", "600"), start=True) if running else []
    try:
        UnixHTTP(d.sock).call("GET", "/containers/json")
        kids = d.children() if hasattr(d, "children") else []
        helpers = d.helpers()
        assert len(helpers) >= running, (len(helpers), running)
        now = rss_mib([d.pid]), rss_mib([d.pid, *kids]), rss_mib(helpers)
        time.sleep(SETTLE)
        return (*now, rss_mib([d.pid]))
    finally:
        if ids:
            remove_all(d)


# -- printing --------------------------------------------------------------------

def line(label, times, target=None):
    extra = f"   (target <= {target} ms)" if target else ""
    print(f"  {label:46s} p50 {pct(times, .5) * 1e3:8.2f} ms   p90 {pct(times, .9) * 1e3:8.2f} ms"
          f"   n={len(times)}{extra}", flush=True)
    return pct(times, .5)


def ratio(label, ours, peer, unit="ms"):
    print(f"  ratio {label}: {ours:.2f} / {peer:.2f} {unit} = {ours / peer:.2f}x", flush=True)


def measure(d, a):
    want = set(a.only.split(",")) if a.only else {"run", "py", "ping", "ps", "attach", "rss"}
    r = {}
    print(f"\n{d.name}:", flush=True)
    if "rss" in want:       # first: what the later figures leave behind is printed last
        idle = rss(d, 0)
        r["rss_idle"] = idle[0]
        print(f"  RSS idle: daemon {idle[0]:.1f} MiB (with its children {idle[1]:.1f} MiB)")
        busy = rss(d, a.running)
        r["rss_busy"] = busy[3]
        print(f"  RSS with {a.running} running: daemon {busy[0]:.1f} MiB, {busy[3]:.1f} MiB "
              f"after {SETTLE:g} s quiet (target <= 40 MiB), with its children "
              f"{busy[1]:.1f} MiB; per-container helpers {busy[2]:.1f} MiB in all", flush=True)
    if "run" in want:
        r["cli_run"] = line("docker run --rm busybox true (CLI)", cli_run(d, a.runs), 50) * 1e3
    if "py" in want:
        r["py_run"] = line("docker-py containers.run(remove=True)", dockerpy_run(d, a.runs),
                           30) * 1e3
    if "ping" in want:
        one, rps = ping(d, a.pings, 8)
        r["ping"] = line("GET /_ping, one client", one) * 1e3
        r["rps"] = rps
        print(f"  GET /_ping, 8 clients: {rps:9.0f} requests/s")
    if "ps" in want:
        cli, api, made = ps(d, a.runs, a.containers)
        print(f"  ({a.containers} containers created in {made:.1f} s)")
        r["ps_cli"] = line(f"docker ps -a, {a.containers} containers (CLI)", cli, 100) * 1e3
        r["ps_api"] = line(f"GET /containers/json?all=1, {a.containers}", api, 20) * 1e3
    if "attach" in want:
        r["attach"] = attach(d, a.attach_mb << 20)
        print(f"  attach: {r['attach']:8.0f} MB/s ({a.attach_mb} MiB of 1 KiB lines, 8-byte "
              "frames)")
    if "rss" in want:
        print(f"  RSS after all the above: daemon {rss_mib([d.pid]):.1f} MiB")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--pings", type=int, default=2000, help="requests per ping client")
    ap.add_argument("--containers", type=int, default=1000)
    ap.add_argument("--running", type=int, default=100)
    ap.add_argument("--attach-mb", type=int, default=256)
    ap.add_argument("--quick", action="store_true", help="20 runs, 500 pings, 64 MiB")
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--only", default="", help="comma-separated figures to measure (run, "
                    "py, ping, ps, attach, rss); default all")
    ap.add_argument("--no-peer", action="store_true", help="pycontainerd alone (profiling)")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.pings, a.attach_mb = min(a.runs, 20), min(a.pings, 500), min(a.attach_mb, 64)
    if os.geteuid() != 0:
        sys.exit("run as root (namespaces, mounts, cgroups)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))     # still clean up
    top = tempfile.mkdtemp(prefix="pyc-bench-daemon-", dir=a.dir)
    opened, client = [], None
    try:
        from pycontainer import Client
        store = os.path.join(top, "store")
        client = Client(root=store)
        archive = os.path.join(top, "busybox.tar")
        with open(archive, "wb") as f:
            for chunk in client.images.busybox().save(named=True):
                f.write(chunk)
        client.close()
        opened.append(Ours(top, store))
        if not a.no_peer:
            opened.append(Peer(os.path.join(top, "dockerd"), archive))
        print(f"{os.cpu_count()} cpus; docker CLI {DOCKER}; {a.runs} runs a figure")
        results = [measure(d, a) for d in opened]
        if a.no_peer or a.only:
            return
        ours, peer = results
        print("\nratios pycontainerd / dockerd (p50; below 1: pycontainerd is faster):")
        for key, label in (("cli_run", "docker run --rm (CLI)"),
                           ("py_run", "docker-py run"), ("ping", "_ping latency"),
                           ("ps_cli", "docker ps -a"), ("ps_api", "GET /containers/json")):
            ratio(label, ours[key], peer[key])
        print(f"  ratio _ping requests/s: {ours['rps']:.0f} / {peer['rps']:.0f} = "
              f"{ours['rps'] / peer['rps']:.2f}x (above 1: pycontainerd serves more)")
        print(f"  ratio attach MB/s: {ours['attach']:.0f} / {peer['attach']:.0f} = "
              f"{ours['attach'] / peer['attach']:.2f}x (above 1: pycontainerd is faster)")
        ratio("RSS idle", ours["rss_idle"], peer["rss_idle"], "MiB")
        ratio(f"RSS with {a.running}", ours["rss_busy"], peer["rss_busy"], "MiB")
    finally:
        for d in reversed(opened):
            try:
                remove_all(d)
            except (OSError, RuntimeError):
                pass
            d.close()
        if client is not None:
            from pycontainer import fstree
            run_root = client._runtime.run_root
            if os.path.isdir(run_root):
                fstree.remove(run_root)
        exec_root = os.path.join(top, "exec")
        if os.path.isdir(exec_root):
            from pycontainer import fstree
            fstree.remove(exec_root)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
