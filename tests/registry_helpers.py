"""Debian's docker-registry (Distribution 2.8) on 127.0.0.1, for tests and benchmarks.

``DistributionRegistry(tmp)`` starts it on a free port, plain or with
htpasswd (bcrypt) + TLS from a CA made here, and waits until ``/v2/``
answers; ``stop()`` kills it and removes its files.
"""

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request

REGISTRY = "/usr/bin/docker-registry"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca(d, host="127.0.0.1"):
    """A CA and a server certificate for ``host`` (openssl); returns paths."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=IP:{host},DNS:localhost\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
        "-out", ca_crt, "-days", "2", "-subj", "/CN=pyc-test-ca")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", f"/CN={host}")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
        "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


class DistributionRegistry:
    def __init__(self, tmp, users=None, tls=False, token=None):
        self.dir = os.path.join(os.fspath(tmp), "pyc-registry")
        os.makedirs(os.path.join(self.dir, "data"))
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.ca = None
        conf = ["version: 0.1", "log:", "  level: error",
                "storage:", "  filesystem:", f"    rootdirectory: {self.dir}/data",
                "  delete:", "    enabled: true",
                "http:", f"  addr: 127.0.0.1:{self.port}"]
        if tls:
            self.ca, crt, key = make_ca(self.dir)
            conf += ["  tls:", f"    certificate: {crt}", f"    key: {key}"]
        if users:
            import bcrypt
            pw = os.path.join(self.dir, "htpasswd")
            with open(pw, "w") as f:
                for user, password in users.items():
                    h = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
                    f.write(f"{user}:{h}\n")
            conf += ["auth:", "  htpasswd:", "    realm: pyc-test", f"    path: {pw}"]
        if token:       # a TokenServer's realm, service, issuer and certificate
            conf += ["auth:", "  token:", f"    realm: {token.realm}",
                     f"    service: {token.service}", f"    issuer: {token.issuer}",
                     f"    rootcertbundle: {token.cert}"]
        self.config = os.path.join(self.dir, "config.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen([REGISTRY, "serve", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self._wait(tls)

    def _wait(self, tls):
        url = f"{'https' if tls else 'http'}://{self.host}/v2/"
        ctx = ssl.create_default_context(cafile=self.ca) if tls else None
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {open(self.log.name).read()}")
            try:
                urllib.request.urlopen(url, timeout=2, context=ctx)
                return
            except urllib.error.HTTPError:
                return          # 401: it answers
            except OSError:
                if time.monotonic() > deadline:
                    raise
                with socket.socket() as s:   # block until the port accepts
                    s.settimeout(0.2)
                    s.connect_ex(("127.0.0.1", self.port))

    def certs_dir(self, parent):
        """A certs.d holding this registry's CA, as Docker lays it out."""
        d = os.path.join(parent, "certs.d", self.host)
        os.makedirs(d)
        shutil.copy(self.ca, os.path.join(d, "ca.crt"))
        return os.path.dirname(d)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


SERVE = """
import signal, sys
from pycontainer.registry.server import Server
server = Server(sys.argv[1], "127.0.0.1:0")
signal.signal(signal.SIGTERM, lambda *_: server.stop())
server.run(on_ready=lambda s: print(s.host, flush=True))
"""


class OwnRegistryProcess:
    """Our registry server in a process of its own (no GIL shared with the
    client), over a store in ``root``; ``stop()`` ends it (SIGTERM, wait)."""

    def __init__(self, root):
        import sys
        self.root = os.fspath(root)
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = subprocess.Popen([sys.executable, "-c", SERVE, self.root], cwd=here,
                                     stdout=subprocess.PIPE, text=True)
        self.host = self.proc.stdout.readline().strip()
        if not self.host:
            self.proc.wait()
            raise RuntimeError(f"our registry server exited ({self.proc.returncode})")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)


class Dockerd:
    """Debian's dockerd (20.10) of our own: private data-root, exec-root and
    socket, no iptables/bridge/forwarding, ``127.0.0.1:PORT`` registries
    reached over plain HTTP (``insecure``). ``docker(*args)`` runs the CLI
    against it; ``stop()`` ends it and its containerd, unmounts what is left
    under its directories, removes the cgroups it made and its files."""

    CGROUPS = "/sys/fs/cgroup"

    def __init__(self, data_dir, insecure=()):
        import glob
        import tempfile
        self.data = os.fspath(data_dir)
        self.run_dir = tempfile.mkdtemp(prefix="pyc-dockerd-")   # short: socket paths
        self.sock = os.path.join(self.run_dir, "sock")
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")
        self._cgroups_before = set(glob.glob(f"{self.CGROUPS}/*/docker"))
        args = ["dockerd", "--data-root", os.path.join(self.data, "root"),
                "--exec-root", os.path.join(self.run_dir, "exec"),
                "--pidfile", os.path.join(self.run_dir, "pid"), "-H", f"unix://{self.sock}",
                "--iptables=false", "--ip6tables=false", "--bridge=none",
                "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false",
                "--storage-driver=overlay2"]
        for host in insecure:
            args += ["--insecure-registry", host]
        self.log = open(os.path.join(self.data, "dockerd.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while subprocess.run(["/usr/bin/docker", "version"], env=self.env,
                             capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dockerd did not start")

    def docker(self, *args):
        return subprocess.run(["/usr/bin/docker", *args], env=self.env, check=True,
                              capture_output=True)

    def stop(self):
        import glob
        import signal
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:        # its containerd, if it outlived it (same session)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()
        for d in (self.data, self.run_dir):
            with open("/proc/self/mountinfo") as f:
                mounts = [line.split()[4] for line in f]
            for m in sorted((m for m in mounts if m.startswith(d + "/")), reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)
        for cg in set(glob.glob(f"{self.CGROUPS}/*/docker")) - self._cgroups_before:
            for top, dirs, _ in os.walk(cg, topdown=False):
                try:
                    os.rmdir(top)
                except OSError:
                    pass
        shutil.rmtree(self.run_dir, ignore_errors=True)
        shutil.rmtree(os.path.join(self.data, "root"), ignore_errors=True)
