"""Helpers of the build tests: a context written from a dict, a build, its log."""
import os


def write_context(root, files):
    """``files``: path -> text/bytes, or ("link", target), or ("mode", mode, data)."""
    os.makedirs(root, exist_ok=True)
    for path, data in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if isinstance(data, tuple) and data[0] == "link":
            os.symlink(data[1], full)
            continue
        mode = None
        if isinstance(data, tuple) and data[0] == "mode":
            _, mode, data = data
        with open(full, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        if mode is not None:
            os.chmod(full, mode)
    return str(root)


def build(client, ctx, text=None, **kwargs):
    """Build ``ctx`` (a dir); ``text`` is written to its Dockerfile first.
    Returns (image, [messages])."""
    if text is not None:
        with open(os.path.join(ctx, kwargs.get("dockerfile", "Dockerfile")), "w") as f:
            f.write(text)
    image, logs = client.images.build(path=ctx, **kwargs)
    return image, list(logs)


def text(log):
    return "".join(m.get("stream", "") for m in log)


def cached_steps(log):
    """Numbers of the steps that said 'Using cache'."""
    out, step = [], None
    for m in log:
        s = m.get("stream", "")
        if s.startswith("Step "):
            step = int(s.split()[1].split("/")[0])
        elif s.strip() == "---> Using cache":
            out.append(step)
    return out


def run(client, image, cmd):
    return client.containers.run(image, cmd, remove=True).decode()


# --- the differential corpus: an image's file tree, and the peers ---------------------

def archive_tree(path):
    """The file tree of a ``docker save`` archive (its first image), layers
    applied in order: ``(tree, layers)``. ``tree``: path -> (kind, mode,
    "uid:gid", content md5 or link target); ``layers``: per layer, the
    paths it whites out (``.wh.`` entries, ``<dir>/.wh..wh..opq`` as
    ``<dir>/*``)."""
    import hashlib
    import json
    import posixpath
    import tarfile
    tree, layers = {}, []
    with tarfile.open(path) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        for name in manifest["Layers"]:
            whiteouts = []
            with tarfile.open(fileobj=outer.extractfile(name)) as layer:
                for m in layer:
                    p = _member_path(m.name)
                    if p == "/":
                        continue
                    base, dirname = posixpath.basename(p), posixpath.dirname(p)
                    if base == ".wh..wh..opq":
                        whiteouts.append(posixpath.join(dirname, "*"))
                        for k in [k for k in tree if k.startswith(dirname.rstrip("/") + "/")]:
                            del tree[k]
                        continue
                    if base.startswith(".wh."):
                        gone = posixpath.join(dirname, base[4:])
                        whiteouts.append(gone)
                        for k in [k for k in tree if k == gone or k.startswith(gone + "/")]:
                            del tree[k]
                        continue
                    if m.isdir():
                        value = ("dir", m.mode & 0o7777, f"{m.uid}:{m.gid}", "")
                    elif m.issym():
                        value = ("link", m.mode & 0o7777, f"{m.uid}:{m.gid}", m.linkname)
                    elif m.islnk():
                        value = tree.get(_member_path(m.linkname), ("file", 0, "", ""))
                    elif m.isfile():
                        data = layer.extractfile(m).read()
                        value = ("file", m.mode & 0o7777, f"{m.uid}:{m.gid}",
                                 hashlib.md5(data).hexdigest())
                    else:
                        value = ("other", m.mode & 0o7777, f"{m.uid}:{m.gid}", m.type.decode())
                    if p in tree and tree[p][0] == "dir" and value[0] != "dir":
                        for k in [k for k in tree if k.startswith(p + "/")]:
                            del tree[k]
                    tree[p] = value
            layers.append(whiteouts)
    return tree, layers


def _member_path(name):
    import posixpath
    while name.startswith("./"):
        name = name[2:]
    return posixpath.normpath("/" + name.strip("/"))


def changes(tree, base):
    """What ``tree`` has that ``base`` has not (or differently), and what it lost."""
    changed = {p: v for p, v in tree.items() if base.get(p) != v}
    gone = sorted(p for p in base if p not in tree)
    return changed, gone


class Buildah:
    """``buildah bud`` in a private root (vfs), with our busybox as
    ``localhost/busybox:latest``."""

    def __init__(self, top, archive, driver="vfs"):
        import subprocess
        self.sp = subprocess
        self.top = top
        os.makedirs(top, exist_ok=True)
        self.base = ["buildah", "--root", os.path.join(top, "root"), "--runroot",
                     os.path.join(top, "runroot"), "--storage-driver", driver]
        self("pull", "--quiet", f"docker-archive:{archive}")
        image = self("images", "--quiet").split()[0]
        self("tag", image, "localhost/busybox:latest")

    def __call__(self, *args, check=True):
        r = self.sp.run(self.base + list(args), capture_output=True, text=True)
        if check:
            assert r.returncode == 0, f"buildah {args[0]}: {r.stderr}"
        return r.stdout

    def build(self, ctx, dockerfile, tag, buildargs=None, target=None, nocache=False):
        import re
        with open(os.path.join(ctx, dockerfile)) as f:
            text = re.sub(r"(?im)^(\s*from\s+(?:--\S+\s+)*)busybox(?=\s|$)",
                          r"\1localhost/busybox:latest", f.read())
        path = os.path.join(self.top, "Dockerfile.peer")
        with open(path, "w") as f:
            f.write(text)
        args = ["bud", "--isolation", "chroot", "--pull-never", "--quiet", "--layers",
                "--jobs", "2", "-t", tag, "-f", path] + (["--no-cache"] if nocache else [])
        for k, v in (buildargs or {}).items():
            args += ["--build-arg", f"{k}={v}"]
        if target:
            args += ["--target", target]
        self(*args, ctx)

    def save(self, tag, path):
        self("push", "--quiet", tag, f"docker-archive:{path}:{tag}")

    def config(self, tag):
        import json
        return json.loads(self("inspect", "--type", "image", tag))["OCIv1"]["config"]

    def remove(self, tag):
        self("rmi", "--force", tag, check=False)

    def close(self):
        self("rm", "--all", check=False)
        self("rmi", "--all", "--force", check=False)
        self.sp.run(["umount", "-R", os.path.join(self.top, "root")], capture_output=True)


class Dockerd:
    """A private dockerd (Debian's 20.10, legacy builder) in ``top``: no
    iptables, no bridge, vfs storage; stopped and cleaned up by close()."""

    def __init__(self, top, archive):
        import subprocess
        self.sp, self.top = subprocess, top
        self.sock = os.path.join(top, "sock")
        self.cgroup = f"/pyc-dockerd-{os.getpid()}"      # its containers' cgroups: ours to remove
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}",
                    "DOCKER_BUILDKIT": "0", "DOCKER_CONFIG": os.path.join(top, "cli")}
        self.log = open(os.path.join(top, "dockerd.log"), "wb")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(top, "root"), "--exec-root",
             os.path.join(top, "exec"), "--pidfile", os.path.join(top, "pid"),
             "-H", f"unix://{self.sock}", "--iptables=false", "--ip6tables=false",
             "--bridge=none", "--ip-forward=false", "--ip-masq=false",
             "--userland-proxy=false", "--storage-driver=overlay2",
             "--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", self.cgroup],
            stdout=self.log, stderr=self.log, start_new_session=True)
        try:
            self.wait_ready()
            self("load", "-q", "-i", archive)
        except BaseException:
            self.close()
            raise

    def wait_ready(self):
        import select
        import socket
        deadline = 60.0
        # dockerd makes its socket when it serves: wait for /_ping to answer
        import time
        t0 = time.monotonic()
        while time.monotonic() - t0 < deadline:
            assert self.proc.poll() is None, "dockerd exited: see " + self.log.name
            if os.path.exists(self.sock):
                s = socket.socket(socket.AF_UNIX)
                try:
                    s.connect(self.sock)
                    s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                    select.select([s], [], [], 5)
                    if b"OK" in s.recv(4096):
                        return
                except OSError:
                    pass
                finally:
                    s.close()
            select.select([], [], [], 0.05)     # dockerd gives no other readiness signal
        raise AssertionError("dockerd did not start")

    def __call__(self, *args, check=True):
        r = self.sp.run(["/usr/bin/docker"] + list(args), capture_output=True, text=True,
                        env=self.env)
        if check:
            assert r.returncode == 0, f"docker {args[0]}: {r.stderr}"
        return r.stdout

    def build(self, ctx, dockerfile, tag, buildargs=None, target=None, nocache=False):
        args = ["build", "-q", "--network", "none", "--force-rm", "-t", tag, "-f",
                os.path.join(ctx, dockerfile)] + (["--no-cache"] if nocache else [])
        for k, v in (buildargs or {}).items():
            args += ["--build-arg", f"{k}={v}"]
        if target:
            args += ["--target", target]
        self(*args, ctx)

    def save(self, tag, path):
        self("save", "-o", path, tag)

    def config(self, tag):
        import json
        return json.loads(self("image", "inspect", tag))[0]["Config"]

    def remove(self, tag):
        self("rmi", "-f", tag, check=False)

    def close(self):
        import glob
        import signal
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except self.sp.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        # containerd (dockerd's child) may outlive it for a moment
        for pidfile in glob.glob(os.path.join(self.top, "exec", "**", "*.pid"),
                                 recursive=True):
            try:
                with open(pidfile) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        mounts = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4]
                if point.startswith(self.top + "/"):
                    mounts.append(point)
        for point in sorted(mounts, key=len, reverse=True):
            self.sp.run(["umount", "-l", point], capture_output=True)
        for cg in glob.glob(f"/sys/fs/cgroup/*{self.cgroup}"):
            for sub in sorted(glob.glob(cg + "/**/", recursive=True), key=len, reverse=True):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
