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
    def __init__(self, tmp, users=None, tls=False):
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
