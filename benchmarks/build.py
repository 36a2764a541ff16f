"""How fast does ``client.images.build`` build, cold and fully cached, beside
``buildah bud`` on the same Dockerfile and context?

A 10-step Dockerfile (RUN, COPY of a generated context of small files, ENV,
WORKDIR, LABEL, CMD) on busybox. Each tool builds it cold (``nocache`` /
``--no-cache``: every step runs) and then again with its cache (a no-op
rebuild; buildah with ``--layers``, its step cache), ``--runs`` times each; medians are printed with the ratio
pycontainer / buildah measured in the same run. buildah (Debian's 1.28)
runs with ``--isolation chroot`` and the vfs driver in a private root under
the benchmark's directory (chroot isolation takes the host's network; the
steps use none), from the same busybox image (saved by pycontainer and
pulled into buildah's store from the archive); ours run with network none.

Usage: python benchmarks/build.py [--runs 5] [--files 2000] [--dir /var/tmp]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pycontainer import Client  # noqa: E402

DOCKERFILE = """\
FROM busybox
ENV APP=/srv/app
WORKDIR /srv/app
RUN echo one > /one
COPY files/ ./files/
RUN ls files | wc -l > /count
LABEL bench=build
RUN echo three > /three
COPY last.txt /last.txt
CMD ["cat", "/count"]
"""


def make_context(path, files):
    os.makedirs(os.path.join(path, "files"))
    for i in range(files):
        sub = os.path.join(path, "files", f"d{i % 20}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"f{i}"), "wb") as f:
            f.write(os.urandom(256 + i % 2048))
    with open(os.path.join(path, "last.txt"), "w") as f:
        f.write("last\n")
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)


def timed(fn, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


class Buildah:
    def __init__(self, top, archive):
        self.root, self.runroot = os.path.join(top, "root"), os.path.join(top, "runroot")
        self.base = ["buildah", "--root", self.root, "--runroot", self.runroot,
                     "--storage-driver", "vfs"]
        self.run("pull", "--quiet", f"docker-archive:{archive}")
        image = self.run("images", "--quiet").split()[0]
        self.run("tag", image, "localhost/busybox:latest")

    def run(self, *args):
        return subprocess.run(self.base + list(args), check=True, capture_output=True,
                              text=True).stdout

    def build(self, ctx, nocache):
        args = ["bud", "--isolation", "chroot", "--pull-never", "--layers",
                "--quiet", "-t", "localhost/bench:latest"]
        if nocache:
            args.append("--no-cache")
        with open(os.path.join(ctx, "Dockerfile")) as f:
            text = f.read().replace("FROM busybox", "FROM localhost/busybox:latest")
        path = os.path.join(ctx, "Dockerfile.buildah")
        with open(path, "w") as f:
            f.write(text)
        self.run(*args, "-f", path, ctx)

    def close(self):
        subprocess.run(self.base + ["rm", "--all"], capture_output=True)
        subprocess.run(["umount", "-R", self.root], capture_output=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--dir", default="/var/tmp")
    a = ap.parse_args()
    top = tempfile.mkdtemp(prefix="pyc-bench-build-", dir=a.dir)
    client = None
    try:
        ctx = os.path.join(top, "ctx")
        make_context(ctx, a.files)
        client = Client(root=os.path.join(top, "store"))
        client.images.busybox()
        archive = os.path.join(top, "busybox.tar")
        with open(archive, "wb") as f:
            for chunk in client.images.get("busybox").save(named=True):
                f.write(chunk)
        net = {"network_mode": "none"}
        ours_cold = timed(lambda: client.images.build(path=ctx, tag="bench:1", nocache=True,
                                                      **net), a.runs)
        ours_warm = timed(lambda: client.images.build(path=ctx, tag="bench:1", **net), a.runs)
        results = {"pycontainer": (ours_cold, ours_warm)}
        if shutil.which("buildah"):
            peer = Buildah(os.path.join(top, "buildah"), archive)
            try:
                peer.build(ctx, True)
                cold = timed(lambda: peer.build(ctx, True), a.runs)
                warm = timed(lambda: peer.build(ctx, False), a.runs)
                results["buildah bud"] = (cold, warm)
            finally:
                peer.close()
        print(f"10-step build, {a.files} context files, median of {a.runs} runs")
        for name, (cold, warm) in results.items():
            print(f"{name:12s} cold {cold * 1000:8.1f} ms   cached {warm * 1000:8.1f} ms")
        if "buildah bud" in results:
            bc, bw = results["buildah bud"]
            print(f"ratio pycontainer/buildah: cold {ours_cold / bc:.2f}x   "
                  f"cached {ours_warm / bw:.2f}x")
        else:
            print("buildah not installed (apt-get install buildah): no peer measured")
    finally:
        if client is not None:
            for c in client.containers.list(all=True):
                c.remove(force=True)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
