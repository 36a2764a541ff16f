"""Does a push send only the new bytes, and how fast?

Makes two images in a store: A, 9 layers of 20 MB (180 MB), and B, A's
layers plus one new 20 MB layer. Pushes A to Debian's docker-registry on
127.0.0.1, then times the push of B: it must send the new layer only
(counted by the pusher) and we print MB/s of those new bytes. Then
``skopeo copy`` of B from an OCI layout into a fresh repository (all
200 MB) as the peer's rate.

Usage: python benchmarks/push.py [--dir /var/tmp]
"""
import argparse
import io
import json
import os
import random
import shutil
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
from registry_helpers import DistributionRegistry  # noqa: E402

MB = 1 << 20


def layer(rnd, n):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = rnd.randbytes(20 * MB)
        info = tarfile.TarInfo(f"layer{n}")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/var/tmp")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pyc-bench-push-", dir=args.dir)
    reg = None
    try:
        rnd = random.Random(2)
        store = ImageStore(os.path.join(work, "store"), min_free_space=0)
        staged = [store.stage_layer(io.BytesIO(layer(rnd, n))) for n in range(10)]
        ids = [s.diff_id for s in staged]

        def config(k):
            return {"architecture": "amd64", "os": "linux", "config": {},
                    "rootfs": {"type": "layers", "diff_ids": ids[:k]}}
        store.add_image(config(9), staged[:9], [reference.parse("localhost/a:1")])
        store.add_image(config(10), ids[:9] + staged[9:], [reference.parse("localhost/b:1")])
        store.discard(staged)
        reg = DistributionRegistry(work)
        with Registry(store) as r:
            store.tag("localhost/a:1", f"{reg.host}/bench/app", "a")
            store.tag("localhost/b:1", f"{reg.host}/bench/app", "b")
            r.push(f"{reg.host}/bench/app:a")
            p = Pusher(store, r.transport, reference.parse(f"{reg.host}/bench/app:b"))
            t = time.perf_counter()
            p.run()
            ours = time.perf_counter() - t
        print(f"image B: 200 MB in 10 layers, 180 MB already in the registry")
        print(f"ours: sent {p.sent / MB:.1f} MB of new blobs in {ours:.2f} s: "
              f"{p.sent / MB / ours:.0f} MB/s of new bytes")
        layout = os.path.join(work, "oci")
        with open(os.path.join(work, "b.tar"), "wb") as f:
            for chunk in store.save(["localhost/b:1"]):
                f.write(chunk)
        os.makedirs(layout)
        subprocess.run(["tar", "-xf", os.path.join(work, "b.tar"), "-C", layout], check=True)
        t = time.perf_counter()
        subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--preserve-digests",
                        "--dest-compress=false", f"oci:{layout}",
                        f"docker://{reg.host}/bench/fresh:b"], check=True, capture_output=True)
        sk = time.perf_counter() - t
        print(f"skopeo copy (all 200 MB, new repository): {sk:.2f} s: {200 / sk:.0f} MB/s")
        print(f"ratio of rates (new bytes/s) ours / skopeo: "
              f"{(p.sent / MB / ours) / (200 / sk):.2f}x")
    finally:
        if reg is not None:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
