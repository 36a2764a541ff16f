"""How fast does pycontainer unpack layers and load images, beside umoci and skopeo?

Generates a ~100 MB root filesystem (many small files plus a few large
incompressible ones, in two layers), then times, on the same input and the
same disk, with a warm page cache:

* layer unpack: ``extract_layer`` alone and GNU ``tar -x`` of the same layer
  (``--small`` small files plus ``--big-mb`` in a few large ones), plain and
  gzip, with their ratio; ``ImageStore.stage_layer`` (hash + keep the tar +
  unpack) of the plain and the gzip layer;
* image load: ``ImageStore.load`` of the docker-archive that pycontainer
  saves, and of an OCI layout with gzip layers (made by ``skopeo copy``);
* ``umoci unpack`` of the same OCI layout (gzip, and uncompressed layers);
* ``skopeo copy`` of the docker-archive into an OCI layout (uncompressed,
  and gzip as skopeo does by default) and into containers-storage (vfs),
  which is what ``podman load`` does.

Prints medians (and MB/s, files/s over the uncompressed layer bytes).

Usage: python benchmarks/unpack.py [--runs 5] [--small 20000] [--big-mb 40] [--dir /var/tmp]
                                  [--unpack-only]
"""
import argparse
import gzip
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pycontainer.image import ImageStore, extract_layer, parse_reference  # noqa: E402


def make_layers(small, big_mb, seed=1):
    """Two layer tars: ``small`` files of 0.5-8 KiB, 40 a directory, and big
    files; and one ``mixed`` tar of both (the layer that ours and GNU tar race on)."""
    rnd = random.Random(seed)
    text = (b"pycontainer benchmark line of text that compresses like source code\n" * 200)

    def add(tf, name, data, mode=0o644):
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, 1_600_000_000
        tf.addfile(info, io.BytesIO(data))

    one = io.BytesIO()
    with tarfile.open(fileobj=one, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i in range(small):
            size = rnd.randint(512, 8192)
            start = rnd.randint(0, len(text) - size)
            add(tf, f"usr/share/d{i // 1000:02d}/s{i // 40:04d}/file{i}.txt",
                text[start:start + size])
    two = io.BytesIO()
    with tarfile.open(fileobj=two, mode="w", format=tarfile.PAX_FORMAT) as tf:
        left, n = big_mb << 20, 0
        while left > 0:
            size = min(left, 10 << 20)
            add(tf, f"opt/big/blob{n}.bin", rnd.randbytes(size), 0o755)
            left -= size
            n += 1
    # The small files' tar without its end blocks, then the big files' tar.
    mixed = _strip_end(one.getvalue()) + two.getvalue()
    return [one.getvalue(), two.getvalue()], small + n, mixed


def _strip_end(tar):
    """A tar's bytes without the zero blocks that end it."""
    end = len(tar)
    while end >= 512 and tar[end - 512:end] == bytes(512):
        end -= 512
    return tar[:end]


def run(*argv):
    proc = subprocess.run(argv, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {proc.stderr.decode().strip()}")


def rm(*paths):
    for p in paths:
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.lexists(p):
            os.unlink(p)


class Case:
    """One thing to time: ``fn`` after ``reset`` (untimed), over ``nbytes``/``nfiles``."""

    def __init__(self, name, fn, reset, nbytes, nfiles):
        self.name, self.fn, self.reset = name, fn, reset
        self.nbytes, self.nfiles = nbytes, nfiles
        self.times, self.error = [], None


def measure(cases, runs):
    """Rounds of every case in turn, so a noisy disk hurts them all alike."""
    for _ in range(runs):
        for case in cases:
            if case.error:
                continue
            case.reset()
            os.sync()  # the previous case's write-back must not slow this one down
            t0 = time.perf_counter()
            try:
                case.fn()
            except (RuntimeError, OSError) as e:
                case.error = str(e).splitlines()[-1]
                continue
            case.times.append(time.perf_counter() - t0)
    for case in cases:
        case.reset()


def ratio(ours, peer):
    """Line saying how many times the peer's rate ours reaches (per file)."""
    if ours.error or peer.error:
        return
    a, b = statistics.median(ours.times), statistics.median(peer.times)
    print(f"  ratio {ours.name} / {peer.name}: {a / b:.2f}x the time per file "
          f"({ours.nfiles / a:.0f} vs {peer.nfiles / b:.0f} files/s)")


def report(cases):
    for case in cases:
        if case.error:
            print(f"  {case.name:50s} failed: {case.error}")
            continue
        sec = statistics.median(case.times)
        print(f"  {case.name:50s} {sec:7.3f} s {case.nbytes / sec / 1e6:8.1f} MB/s "
              f"{case.nfiles / sec:9.0f} files/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--small", type=int, default=20000, help="number of small files")
    ap.add_argument("--big-mb", type=int, default=40, help="MiB of large files")
    ap.add_argument("--dir", default="/var/tmp",
                    help="where to work, the same disk for all (/dev/shm: no disk at all)")
    ap.add_argument("--unpack-only", action="store_true",
                    help="only the layer unpack figures (no image load, skopeo, umoci)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="pyc-bench-unpack-", dir=args.dir)
    try:
        t0 = time.perf_counter()
        layers, files, mixed = make_layers(args.small, args.big_mb)
        total, n0 = sum(len(x) for x in layers), args.small
        fs = subprocess.run(["stat", "-f", "-c", "%T", work], capture_output=True,
                            text=True).stdout.strip()
        print(f"input: {files} files, {total / 1e6:.1f} MB of layer tars in 2 layers "
              f"(made in {time.perf_counter() - t0:.1f} s); median of {args.runs} runs; "
              f"work dir on {fs}")
        paths = []
        for i, data in enumerate(layers):
            paths.append(os.path.join(work, f"layer{i}.tar"))
            with open(paths[-1], "wb") as f:
                f.write(data)
        gz = os.path.join(work, "layer0.tar.gz")
        with open(gz, "wb") as f:
            f.write(gzip.compress(layers[0], compresslevel=6))
        mix, mix_gz = os.path.join(work, "mixed.tar"), os.path.join(work, "mixed.tar.gz")
        with open(mix, "wb") as f:
            f.write(mixed)
        with open(mix_gz, "wb") as f:
            f.write(gzip.compress(mixed, compresslevel=6))
        out = os.path.join(work, "out")
        store = ImageStore(os.path.join(work, "store"))
        staged = []

        def stage(path):
            def go():
                with open(path, "rb") as f:
                    staged.append(store.stage_layer(f))
            return go

        def unstage():
            store.discard(staged)
            staged.clear()

        def ours(path):
            def go():
                with open(path, "rb") as f:
                    extract_layer(f, out)
            return go

        def gnu(path, *flags):
            return lambda: (os.mkdir(out), run("tar", *flags, "-xf", path, "-C", out))

        small = len(layers[0])
        race = [
            Case("extract_layer (mixed, plain)", ours(mix), lambda: rm(out), len(mixed), files),
            Case("tar -xf (GNU tar, mixed, plain)", gnu(mix), lambda: rm(out), len(mixed), files),
            Case("extract_layer (mixed, gzip)", ours(mix_gz), lambda: rm(out), len(mixed),
                 files),
            Case("tar -xzf (GNU tar, mixed, gzip)", gnu(mix_gz, "-z"), lambda: rm(out),
                 len(mixed), files),
        ]
        measure(race, args.runs)
        print(f"\nours against GNU tar ({len(mixed) / 1e6:.1f} MB layer: {n0} small files "
              f"and {files - n0} large ones):")
        report(race)
        ratio(race[0], race[1])
        ratio(race[2], race[3])
        if args.unpack_only:
            return
        unpack_cases = [
            Case("ImageStore.stage_layer (small files, plain)", stage(paths[0]), unstage,
                 small, n0),
            Case("ImageStore.stage_layer (small files, gzip)", stage(gz), unstage, small, n0),
            Case("ImageStore.stage_layer (large files, plain)", stage(paths[1]), unstage,
                 len(layers[1]), files - n0),
        ]

        # The image, saved by pycontainer as a docker-archive.
        parts = [store.stage_layer(open(p, "rb")) for p in paths]
        config = {"architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
                  "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": [s.diff_id for s in parts]}}
        store.add_image(config, parts, [parse_reference("bench:1")])
        store.discard(parts)
        archive = os.path.join(work, "image.tar")
        t0 = time.perf_counter()
        with open(archive, "wb") as f:
            for chunk in store.save(["bench:1"]):
                f.write(chunk)
        save_s = time.perf_counter() - t0
        target, bundle = os.path.join(work, "target"), os.path.join(work, "bundle")
        dest, cs = os.path.join(work, "copy"), os.path.join(work, "cs")
        oci_gz, oci_raw = os.path.join(work, "oci-gz"), os.path.join(work, "oci-raw")
        load_cases = [Case("ImageStore.load (docker-archive)",
                           lambda: ImageStore(target).load(archive), lambda: rm(target),
                           total, files)]
        if shutil.which("skopeo"):
            run("skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{oci_gz}:bench")
            run("skopeo", "copy", "-q", "--dest-oci-accept-uncompressed-layers",
                f"docker-archive:{archive}", f"oci:{oci_raw}:bench")
            load_cases.append(Case("ImageStore.load (OCI layout, gzip layers)",
                                   lambda: ImageStore(target).load(oci_gz), lambda: rm(target),
                                   total, files))
            if shutil.which("umoci"):
                for label, layout in (("gzip layers", oci_gz), ("uncompressed", oci_raw)):
                    load_cases.append(Case(
                        f"umoci unpack (OCI layout, {label})",
                        lambda layout=layout: run("umoci", "unpack", "--image",
                                                  f"{layout}:bench", bundle),
                        lambda: rm(bundle), total, files))
            load_cases += [
                Case("skopeo copy docker-archive -> oci (uncompressed)",
                     lambda: run("skopeo", "copy", "-q", "--dest-oci-accept-uncompressed-layers",
                                 f"docker-archive:{archive}", f"oci:{dest}:b"),
                     lambda: rm(dest), total, files),
                Case("skopeo copy docker-archive -> oci (gzip)",
                     lambda: run("skopeo", "copy", "-q", f"docker-archive:{archive}",
                                 f"oci:{dest}:b"), lambda: rm(dest), total, files),
                Case("skopeo copy -> containers-storage (vfs)",
                     lambda: run("skopeo", "copy", "-q", f"docker-archive:{archive}",
                                 f"containers-storage:[vfs@{cs}/root+{cs}/run]b:1"),
                     lambda: rm(cs), total, files),
            ]
        else:
            print("skopeo is not installed: no OCI layout, no skopeo or umoci figures")

        measure(unpack_cases + load_cases, args.runs)
        print(f"\nlayer unpack ({small / 1e6:.1f} MB small-files layer, "
              f"{len(layers[1]) / 1e6:.1f} MB large-files layer):")
        report(unpack_cases)
        print(f"\nimage load ({os.path.getsize(archive) / 1e6:.1f} MB docker-archive, "
              f"{files} files; ImageStore.save wrote it in {save_s:.3f} s):")
        report(load_cases)
        print("\nmedians; MB/s and files/s count the uncompressed layer tars and their files."
              "\npycontainer keeps each layer tar as a blob and fsyncs it; the others do not "
              "fsync.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
