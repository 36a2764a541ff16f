"""How fast does pycontainer pull and unpack an image from a loopback registry?

Makes an image of about 200 MB in 8 gzip layers (6 of many small files, 2 of
a few large ones), puts it in Debian's docker-registry (Distribution 2.8) on
127.0.0.1 with ``skopeo copy``, then times, each into a cold store:

* ours: ``Registry.pull`` (all layers at once; download + digest +
  decompress + diff_id + extract in one pass);
* ``podman pull`` into a fresh containers-storage (overlay);
* ``docker pull`` through Debian's dockerd (20.10, overlay2) of our own:
  private data-root, exec-root and socket, the loopback registry insecure,
  the image removed after each pull (cold);
* the floor: ``curl | gzip -d | tar -x`` of the same 8 blobs, all at once.

Then the extraction rate alone: ``extract_layer`` of the 6 small-file
layers (uncompressed, from the page cache) against GNU ``tar -x`` of them.

Prints seconds and MB/s (uncompressed layer bytes), files/s, and the ratios.

Usage: python benchmarks/pull.py [--runs 3] [--dir /var/tmp]
"""
import argparse
import gzip
import hashlib
import io
import json
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

from pycontainer.image.store import ImageStore  # noqa: E402
from pycontainer.registry import Registry  # noqa: E402
from pycontainer.image import extract_layer  # noqa: E402
from registry_helpers import DistributionRegistry, Dockerd  # noqa: E402


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layers(seed=1):
    """8 layer tars: 6 x 4000 files of 0.5-12 KiB, 2 x 3 files of 8 MB."""
    rnd = random.Random(seed)
    layers, files = [], 0
    for n in range(8):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            if n < 6:
                for i in range(4000):
                    size = rnd.randint(512, 12 << 10)
                    words = rnd.randbytes(size // 4) * 4      # compressible, like text
                    info = tarfile.TarInfo(f"l{n}/d{i % 40}/f{i}")
                    info.size, info.mtime = len(words), 1_700_000_000
                    tf.addfile(info, io.BytesIO(words))
                    files += 1
            else:
                for i in range(3):
                    data = rnd.randbytes(4 << 20) + bytes(4 << 20)
                    info = tarfile.TarInfo(f"big{n}/f{i}")
                    info.size, info.mtime = len(data), 1_700_000_000
                    tf.addfile(info, io.BytesIO(data))
                    files += 1
        layers.append(buf.getvalue())
    return layers, files


def oci_layout(path, layers):
    """An OCI layout of the image (gzip layers), for skopeo to push."""
    os.makedirs(os.path.join(path, "blobs", "sha256"))

    def put(data):
        with open(os.path.join(path, "blobs", "sha256", sha(data)[7:]), "wb") as f:
            f.write(data)
        return sha(data)
    descs, diff_ids = [], []
    for tar in layers:
        blob = gzip.compress(tar, compresslevel=1, mtime=0)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": put(blob), "size": len(blob)})
        diff_ids.append(sha(tar))
    from pycontainer.registry.pull import this_platform
    config = json.dumps({"architecture": this_platform()[1], "os": "linux",
                         "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": put(config), "size": len(config)},
                           "layers": descs}).encode()
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest),
            "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "b"}}]},
            f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    return descs


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def extraction(work, tars, runs):
    """files/s of extract_layer and of GNU tar on the small-file layers."""
    paths, files = [], 0
    for i, t in enumerate(tars):
        paths.append(os.path.join(work, f"small{i}.tar"))
        with open(paths[-1], "wb") as f:
            f.write(t)
        files += len(tarfile.open(fileobj=io.BytesIO(t)).getmembers())
    out = os.path.join(work, "x")

    def ours():
        for i, p in enumerate(paths):
            os.makedirs(f"{out}/{i}")
            with open(p, "rb") as f:
                extract_layer(f, f"{out}/{i}")

    def gnu():
        for i, p in enumerate(paths):
            os.makedirs(f"{out}/{i}")
            subprocess.run(["tar", "-xf", p, "-C", f"{out}/{i}"], check=True)
    rate = {}
    for name, fn in (("extract_layer", ours), ("GNU tar -x", gnu)):
        times = []
        for _ in range(runs + 1):
            times.append(timed(fn))
            shutil.rmtree(out)
        rate[name] = files / statistics.median(times[1:])
        print(f"extraction, {files} small files: {name:14s} {rate[name]:7.0f} files/s")
    print(f"ratio GNU tar / extract_layer (files/s): "
          f"{rate['GNU tar -x'] / rate['extract_layer']:.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/var/tmp")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pyc-bench-pull-", dir=args.dir)
    reg = dockerd = None
    try:
        layers, files = make_layers()
        total = sum(len(t) for t in layers)
        descs = oci_layout(os.path.join(work, "oci"), layers)
        reg = DistributionRegistry(work)
        ref = f"{reg.host}/bench/app:1"
        subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--preserve-digests",
                        f"oci:{work}/oci:b", f"docker://{ref}"], check=True,
                       capture_output=True)
        print(f"image: 8 layers, {total / 1e6:.0f} MB uncompressed, "
              f"{sum(d['size'] for d in descs) / 1e6:.0f} MB gzip, {files} files")

        def ours():
            root = os.path.join(work, "store")
            with Registry(ImageStore(root, min_free_space=0)) as r:
                r.pull(ref)
            shutil.rmtree(root)

        def podman():
            root = os.path.join(work, "podman")
            subprocess.run(["podman", "--root", root + "/root", "--runroot", root + "/run",
                            "--storage-driver", "overlay", "pull", "-q", "--tls-verify=false",
                            ref], check=True, capture_output=True)
            subprocess.run(["podman", "--root", root + "/root", "--runroot", root + "/run",
                            "--storage-driver", "overlay", "system", "reset", "-f"],
                           capture_output=True)
            shutil.rmtree(root, ignore_errors=True)

        def floor():
            out = os.path.join(work, "floor")
            script = []
            for i, d in enumerate(descs):
                os.makedirs(f"{out}/{i}")
                script.append(f"curl -s http://{reg.host}/v2/bench/app/blobs/{d['digest']} | "
                              f"gzip -d | tar -x -C {out}/{i} &")
            subprocess.run(["bash", "-c", "\n".join(script) + "\nwait"], check=True)
            shutil.rmtree(out)

        os.makedirs(os.path.join(work, "dockerd"))
        dockerd = Dockerd(os.path.join(work, "dockerd"), insecure=[reg.host])

        def docker():
            dockerd.docker("pull", "-q", ref)
            dockerd.docker("image", "rm", "-f", ref)

        results = {}
        for name, fn in (("ours", ours), ("podman pull", podman), ("docker pull", docker),
                         ("curl|gzip -d|tar -x", floor)):
            fn()        # warm-up: page cache of the registry's files, binaries
            runs = [timed(fn) for _ in range(args.runs)]
            results[name] = statistics.median(runs)
            print(f"{name:22s} {results[name]:7.2f} s  {total / 1e6 / results[name]:6.0f} MB/s  "
                  f"{files / results[name]:7.0f} files/s  (median of {args.runs})")
        o = results["ours"]
        fastest = min(results["podman pull"], results["docker pull"])
        print(f"ratio podman pull / ours: {results['podman pull'] / o:.2f}x   "
              f"docker pull / ours: {results['docker pull'] / o:.2f}x   "
              f"fastest peer / ours: {fastest / o:.2f}x   "
              f"ours / floor: {o / results['curl|gzip -d|tar -x']:.2f}x")
        extraction(work, layers[:6], args.runs)
    finally:
        if dockerd is not None:
            dockerd.stop()
        if reg is not None:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
