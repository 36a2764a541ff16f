"""How fast does ``client.images.build`` build, beside ``docker build`` (a
private dockerd 20.10, legacy builder) and ``buildah bud`` (1.28) on the same
context, in one run?

(a) cold: a 20-instruction Dockerfile (RUN, COPY of a 10,000-file / 100 MB
    context, ENV, WORKDIR, LABEL, EXPOSE, USER, VOLUME ...), every step run
    (``nocache`` / ``--no-cache``);
(b) the no-op rebuild of it (every step from the cache), end to end:
    ``images.build()`` returning the image, or the peer's command exiting;
(c) the rebuild after one file copied late (by step 18) changed: steps 18-20
    run again, the rest come from the cache;
(d) two independent CPU-bound stages (each ``md5sum`` of 250 MB of zeros)
    and a final stage copying from both, beside each stage alone (a context
    of its own, holding only that Dockerfile): the ratio is the whole build
    over its longer stage (1.0 when they overlap fully).

Medians of ``--cold-runs`` runs for (a) and (d), of ``--runs`` for (b) (at
least 5) and (c), and the ratios pycontainer / peer, all measured in this run
on this machine; each figure is also printed as soon as it is measured.
buildah runs with ``--isolation chroot`` and the overlay driver in a private
root (``--layers``, ``--jobs 2``); dockerd with overlay2, no bridge, no
iptables, started and cleaned up by this script; every tool builds with
network none (buildah's chroot isolation takes the host's; no step uses it).

Usage: python benchmarks/build.py [--runs 3] [--cold-runs 2] [--files 10000] [--mb 100]
       [--dir /var/tmp] [--peers docker,buildah]
"""
import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from build_helpers import Buildah, Dockerd  # noqa: E402

from pycontainer import Client  # noqa: E402

DOCKERFILE = """\
FROM busybox
ARG LEVEL=1
ENV APP=/srv/app
WORKDIR /srv/app
LABEL bench=build
RUN echo one > /one
COPY files/ ./files/
RUN ls files | wc -l > /count
ENV STAGE=two
RUN echo two > /two
EXPOSE 8080
COPY conf/ /etc/app/
RUN echo "level $LEVEL" > /three
USER 0:0
VOLUME /data
RUN echo four > /four
STOPSIGNAL SIGTERM
COPY late/ /srv/app/late/
RUN cat /srv/app/late/* | wc -c > /late-size
CMD ["cat", "/count"]
"""
CPU = "head -c 250000000 /dev/zero | md5sum > /{0}"
STAGES = f"""\
FROM busybox AS left
RUN {CPU.format('left')}
FROM busybox AS right
RUN {CPU.format('right')}
FROM busybox
COPY --from=left /left /
COPY --from=right /right /
"""


def make_context(path, files, megabytes):
    size = megabytes * (1 << 20) // files
    for i in range(files):
        sub = os.path.join(path, "files", f"d{i % 100}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"f{i}"), "wb") as f:
            f.write(os.urandom(size))
    for name in ("conf", "late"):
        os.makedirs(os.path.join(path, name))
        for i in range(3):
            with open(os.path.join(path, name, f"{name}{i}.txt"), "w") as f:
                f.write(f"{name} {i}\n")
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    # (d) has a context of its own: the peers send theirs whole to every build
    os.makedirs(path + "-stages")
    with open(os.path.join(path + "-stages", "Dockerfile.stages"), "w") as f:
        f.write(STAGES)


def timed(fn, runs, before=None):
    out = []
    for i in range(runs):
        if before is not None:
            before(i)
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


class Ours:
    name = "pycontainer"

    def __init__(self, client):
        self.client = client

    def build(self, ctx, dockerfile, tag, nocache=False, target=None):
        self.client.images.build(path=ctx, dockerfile=dockerfile, tag=tag, nocache=nocache,
                                 target=target, network_mode="none")


class Peer:
    def __init__(self, name, tool):
        self.name, self.tool = name, tool

    def build(self, ctx, dockerfile, tag, nocache=False, target=None):
        self.tool.build(ctx, dockerfile, tag, target=target, nocache=nocache)


def measure(tool, ctx, runs, cold_runs):
    df = "Dockerfile"
    late = os.path.join(ctx, "late", "late1.txt")
    tag = "localhost/bench:1"
    r = {}
    r["a"] = timed(lambda: tool.build(ctx, df, tag, nocache=True), cold_runs)
    say(f"  {tool.name}: (a) cold {r['a'] * 1000:.1f} ms")
    tool.build(ctx, df, tag)
    r["b"] = timed(lambda: tool.build(ctx, df, tag), max(runs, 5))
    say(f"  {tool.name}: (b) no-op {r['b'] * 1000:.1f} ms")

    def edit(i):
        with open(late, "w") as f:
            f.write(f"late edit {tool.name} {i} {time.time()}\n")
    r["c"] = timed(lambda: tool.build(ctx, df, tag), runs, before=edit)
    say(f"  {tool.name}: (c) late file changed {r['c'] * 1000:.1f} ms")
    sd, ctx = "Dockerfile.stages", ctx + "-stages"
    left = timed(lambda: tool.build(ctx, sd, "localhost/stages:l", nocache=True,
                                    target="left"), cold_runs)
    right = timed(lambda: tool.build(ctx, sd, "localhost/stages:r", nocache=True,
                                     target="right"), cold_runs)
    r["d"] = timed(lambda: tool.build(ctx, sd, "localhost/stages:1", nocache=True), cold_runs)
    r["d_stage"] = max(left, right)
    say(f"  {tool.name}: (d) whole {r['d'] * 1000:.1f} ms, stages {left * 1000:.1f} / "
        f"{right * 1000:.1f} ms")
    return r


def say(text):
    print(text, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=2)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--peers", default="docker,buildah")
    a = ap.parse_args()
    # a timeout's SIGTERM still runs the clean-up below (dockerd, mounts, dirs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    top = tempfile.mkdtemp(prefix="pyc-bench-build-", dir=a.dir)
    client, opened = None, []
    try:
        ctx = os.path.join(top, "ctx")
        make_context(ctx, a.files, a.mb)
        client = Client(root=os.path.join(top, "store"))
        archive = os.path.join(top, "busybox.tar")
        with open(archive, "wb") as f:
            for chunk in client.images.busybox().save(named=True):
                f.write(chunk)
        tools = [Ours(client)]
        if "docker" in a.peers:
            os.makedirs(os.path.join(top, "dockerd"))
            opened.append(Dockerd(os.path.join(top, "dockerd"), archive))
            tools.append(Peer("docker build", opened[-1]))
        if "buildah" in a.peers:
            opened.append(Buildah(os.path.join(top, "buildah"), archive, driver="overlay"))
            tools.append(Peer("buildah bud", opened[-1]))
        results = {t.name: measure(t, ctx, a.runs, a.cold_runs) for t in tools}
        print(f"build: 20-instruction Dockerfile, {a.files} context files / {a.mb} MB; "
              f"medians: {a.cold_runs} runs cold and for (d), {max(a.runs, 5)} no-op, "
              f"{a.runs} after a late change")
        labels = {"a": "(a) cold", "b": "(b) no-op rebuild", "c": "(c) late file changed",
                  "d": "(d) 2 CPU stages"}
        for key, label in labels.items():
            line = [f"{label:24s}"]
            for name, r in results.items():
                line.append(f"{name} {r[key] * 1000:8.1f} ms")
            print("   ".join(line))
        ours = results["pycontainer"]
        for name, r in results.items():
            if name == "pycontainer":
                continue
            print(f"ratio pycontainer/{name}: " + "   ".join(
                f"{k} {ours[k] / r[k]:.2f}x" for k in ("a", "b", "c", "d")))
        for name, r in results.items():
            print(f"(d) {name}: whole {r['d'] * 1000:.1f} ms / longer stage "
                  f"{r['d_stage'] * 1000:.1f} ms = {r['d'] / r['d_stage']:.2f}x")
    finally:
        for tool in opened:
            tool.close()
        if client is not None:
            for c in client.containers.list(all=True):
                c.remove(force=True)
            client.close()
            from pycontainer import fstree
            if os.path.isdir(client._runtime.run_root):
                fstree.remove(client._runtime.run_root)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
