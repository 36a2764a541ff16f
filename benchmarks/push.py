"""Does a push send only the new bytes, and how fast does it send new bytes?

1. Only the new bytes: image A (9 layers of 20 MB, 180 MB) is pushed to
   Debian's docker-registry on 127.0.0.1, then image B (A's layers plus one
   new 20 MB layer): the pusher must send 20 MB (counted), and the time of
   B's push is printed.
2. The rate of new bytes: image C (10 new layers of 20 MB, 200 MB) is pushed
   into a fresh docker-registry, by us and by ``skopeo copy`` from an OCI
   layout (uncompressed, digests kept), and by us into our own registry
   server run as a separate process, each into a registry of its own (median
   of ``--runs``). The CPU time of each registry and of our pusher is printed:
   docker-registry spends more CPU on a byte than the pusher does, so on a
   small machine its own cost is the ceiling of any pusher's rate.

The registries keep their storage on a tmpfs (``/dev/shm``): on this
machine's disk docker-registry itself writes at well under 300 MB/s, and
this benchmark measures the pushers, not the peer's disk.

Usage: python benchmarks/push.py [--runs 3] [--dir /var/tmp] [--registry-dir /dev/shm]
"""
import argparse
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from pycontainer.image import reference  # noqa: E402
from pycontainer.image.store import ImageStore  # noqa: E402
from pycontainer.registry import Registry  # noqa: E402
from pycontainer.registry.push import Pusher  # noqa: E402
from registry_helpers import DistributionRegistry, OwnRegistryProcess  # noqa: E402

MB = 1 << 20


def layer(rnd, n):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = rnd.randbytes(20 * MB)
        info = tarfile.TarInfo(f"layer{n}")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_images(store, rnd):
    """A (9 layers), B (A's + 1), C (10 layers of its own)."""
    staged = [store.stage_layer(io.BytesIO(layer(rnd, n))) for n in range(20)]
    ids = [s.diff_id for s in staged]

    def config(diff_ids):
        return {"architecture": "amd64", "os": "linux", "config": {},
                "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    store.add_image(config(ids[:9]), staged[:9], [reference.parse("localhost/a:1")])
    store.add_image(config(ids[:10]), ids[:9] + staged[9:10],
                    [reference.parse("localhost/b:1")])
    store.add_image(config(ids[10:]), staged[10:], [reference.parse("localhost/c:1")])
    store.discard(staged)


def push(r, store, image, host, repo, tag):
    """Push ``image`` as ``host/repo:tag``; return (seconds, bytes sent)."""
    store.tag(image, f"{host}/{repo}", tag)
    p = Pusher(store, r.transport, reference.parse(f"{host}/{repo}:{tag}"))
    t = time.perf_counter()
    p.run()
    return time.perf_counter() - t, p.sent


def cpu_seconds(pid):
    """User + system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_push(r, store, reg, repo):
    """Push image C into ``reg``; return (MB/s, the registry's CPU s, ours)."""
    c0, t0 = cpu_seconds(reg.proc.pid), os.times()
    secs, sent = push(r, store, "localhost/c:1", reg.host, repo, "1")
    c1, t1 = cpu_seconds(reg.proc.pid), os.times()
    assert sent >= 200 * MB, sent      # all new: nothing mounted or skipped
    return sent / MB / secs, c1 - c0, (t1.user + t1.system) - (t0.user + t0.system)


def oci_layout(store, work, image):
    layout = os.path.join(work, "oci")
    tar = os.path.join(work, "c.tar")
    with open(tar, "wb") as f:
        for chunk in store.save([image]):
            f.write(chunk)
    os.makedirs(layout)
    subprocess.run(["tar", "-xf", tar, "-C", layout], check=True)
    os.unlink(tar)
    return layout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--registry-dir", default="/dev/shm")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pyc-bench-push-", dir=args.dir)
    regs = tempfile.mkdtemp(prefix="pyc-bench-push-reg-", dir=args.registry_dir)
    try:
        store = ImageStore(os.path.join(work, "store"), min_free_space=0)
        make_images(store, random.Random(2))
        with Registry(store) as r:
            reg = DistributionRegistry(tempfile.mkdtemp(dir=regs))
            try:
                push(r, store, "localhost/a:1", reg.host, "bench/app", "a")
                secs, sent = push(r, store, "localhost/b:1", reg.host, "bench/app", "b")
            finally:
                reg.stop()
            print("image B: 200 MB in 10 layers, 180 MB already in the registry")
            print(f"ours: sent {sent / MB:.1f} MB (only the new layer) in {secs:.2f} s")

            ours, theirs, own, reg_cpu, own_cpu, our_cpu = [], [], [], [], [], []
            layout = oci_layout(store, work, "localhost/c:1")
            for _ in range(args.runs):
                reg = DistributionRegistry(tempfile.mkdtemp(dir=regs))
                try:
                    rate, theirs_cpu, mine = timed_push(r, store, reg, "bench/c")
                    ours.append(rate)
                    reg_cpu.append(theirs_cpu)
                    our_cpu.append(mine)
                finally:
                    reg.stop()
                reg = DistributionRegistry(tempfile.mkdtemp(dir=regs))
                try:
                    t = time.perf_counter()
                    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false",
                                    "--preserve-digests", "--dest-compress=false",
                                    f"oci:{layout}", f"docker://{reg.host}/bench/c:1"],
                                   check=True, capture_output=True)
                    theirs.append(200 / (time.perf_counter() - t))
                finally:
                    reg.stop()
                reg = OwnRegistryProcess(tempfile.mkdtemp(dir=regs))
                try:
                    rate, server_cpu, _ = timed_push(r, store, reg, "bench/c")
                    own.append(rate)
                    own_cpu.append(server_cpu)
                finally:
                    reg.stop()
            o, s, w = (statistics.median(x) for x in (ours, theirs, own))
            rc, oc, mc = (statistics.median(x) for x in (reg_cpu, own_cpu, our_cpu))
            cores = os.cpu_count()
            print(f"image C: 200 MB in 10 new layers, into an empty registry "
                  f"(storage on {args.registry_dir}), median of {args.runs}")
            print(f"ours into docker-registry:   {o:5.0f} MB/s of new bytes")
            print(f"skopeo copy into it:         {s:5.0f} MB/s of new bytes")
            print(f"ratio ours / skopeo: {o / s:.2f}x")
            print(f"ours into our own registry server (a process of its own): "
                  f"{w:5.0f} MB/s of new bytes")
            print(f"CPU per 200 MB: docker-registry {rc:.2f} s, our server {oc:.2f} s, "
                  f"our pusher {mc:.2f} s")
            print(f"docker-registry's ceiling on {cores} cores with our pusher: "
                  f"{200 * cores / (rc + mc):5.0f} MB/s (both busy all the time)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(regs, ignore_errors=True)


if __name__ == "__main__":
    main()
