"""What does networking cost a container start? ``run(["true"], remove=True)``
to exit with the default bridge and with a user network, against
``network_mode="none"``, plus detached start/stop, and ``podman run`` with
its default (bridge) network and with ``--network none`` when podman works.

Everything runs inside a network namespace made for the benchmark
(``pyc-bench-<pid>``): the script re-executes itself there with
``nsenter --net`` and removes the namespace at the end, so the machine's own
network is never touched.

Usage: python benchmarks/network.py [--runs 300] [--detached 50] [--podman 30]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

INSIDE = "PYC_BENCH_NETNS"


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def fmt(values):
    if not values:
        return "n/a"
    return (f"p50 {pct(values, 0.5) * 1e3:7.2f} ms   p90 {pct(values, 0.9) * 1e3:7.2f} ms"
            f"   (n={len(values)})")


def outer(argv):
    """Make the namespace, run ourselves inside it, remove it."""
    name = f"pyc-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["nsenter", f"--net=/run/netns/{name}", "ip", "link", "set", "lo", "up"],
                       check=True)
        env = dict(os.environ, **{INSIDE: name})
        return subprocess.run(["nsenter", f"--net=/run/netns/{name}", sys.executable,
                               os.path.abspath(__file__), *argv], env=env).returncode
    finally:
        subprocess.run(["ip", "netns", "del", name])


def measure_runs(client, modes, n):
    """Interleaved, so drift (page cache, RCU, the machine) hits every mode alike."""
    times = {m: [] for m in modes}
    for _ in range(n):
        for label, kw in modes.items():
            t0 = time.perf_counter()
            client.containers.run("busybox", ["true"], remove=True, **kw)
            times[label].append(time.perf_counter() - t0)
    return times


def measure_detached(client, kw, n):
    starts, stops = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        c = client.containers.run("busybox", ["sleep", "60"], detach=True, **kw)
        t1 = time.perf_counter()
        c.stop(timeout=0)
        t2 = time.perf_counter()
        c.remove()
        starts.append(t1 - t0)
        stops.append(t2 - t1)
    return starts, stops


def podman_runs(n):
    """``podman run --rm`` (runc, cgroupfs) on a busybox rootfs: default network
    and --network none. Returns ({label: times}, None) or (None, why)."""
    if not shutil.which("podman"):
        return None, "podman is not installed (apt-get install podman)"
    import baselines
    root, base = baselines.podman_root()
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    try:
        rootfs = os.path.join(root, "rootfs")
        baselines.make_busybox_rootfs(rootfs)
        tar = os.path.join(root, "bb.tar")
        subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
        subprocess.run(base + ["import", tar, "pyc-bench-bb"], check=True, capture_output=True)
        out = {}
        for label, net in (("podman, default network", []),
                           ("podman, --network none", ["--network", "none"])):
            r = subprocess.run(base + ["run", "--rm", *limits, *net, "pyc-bench-bb", "true"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                return None, f"podman run{' ' + ' '.join(net) if net else ''} failed: " \
                             f"{r.stderr.strip()[:300]}"
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                subprocess.run(base + ["run", "--rm", *limits, *net, "pyc-bench-bb", "true"],
                               check=True, capture_output=True)
                times.append(time.perf_counter() - t0)
            out[label] = times
        return out, None
    finally:
        baselines.podman_cleanup(root, base)


def inner(args):
    from pycontainer import Client
    root = tempfile.mkdtemp(prefix="pyc-bench-net-", dir="/var/tmp")
    client = Client(root=root)
    net = None
    try:
        client.images.busybox()
        net = client.networks.create("pyc-bench-net")
        modes = {"network_mode='none'": {"network_mode": "none"},
                 "default bridge": {"network_mode": "bridge"},
                 "user network": {"network": "pyc-bench-net"}}
        measure_runs(client, modes, 20)                       # warm up
        runs = measure_runs(client, modes, args.runs)
        det = {label: measure_detached(client, kw, args.detached)
               for label, kw in (("none", {"network_mode": "none"}),
                                 ("bridge", {"network_mode": "bridge"}))}
        pod, why = podman_runs(args.podman) if args.podman else (None, "skipped (--podman 0)")

        print(f"in network namespace {os.environ.get(INSIDE)}; store {root}")
        print("\npycontainer run(['true'], remove=True), start to exit:")
        for label, t in runs.items():
            print(f"  {label:22s} {fmt(t)}")
        none50 = pct(runs["network_mode='none'"], 0.5)
        for label in ("default bridge", "user network"):
            print(f"  {label} - none at p50: {(pct(runs[label], 0.5) - none50) * 1e3:+.2f} ms")
        print("\ndetached: run(detach=True) until running / stop(timeout=0) (incl. the "
              "monitor's release hook):")
        for label, (starts, stops) in det.items():
            print(f"  {label:8s} start {fmt(starts)}")
            print(f"  {'':8s} stop  {fmt(stops)}")
        print("\npodman run --rm (runc, cgroupfs, same busybox rootfs):")
        if pod:
            for label, t in pod.items():
                print(f"  {label:28s} {fmt(t)}")
        else:
            print(f"  {why}")
    finally:
        if net is not None:
            for c in client.containers.list(all=True):
                c.remove(force=True)
            net.remove()
        shutil.rmtree(root, ignore_errors=True)
        run_root = client._runtime.run_root        # the store's tmpfs dir, if nothing is mounted
        with open("/proc/self/mountinfo") as f:
            if not any(f" {run_root}" in line for line in f):
                shutil.rmtree(run_root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--detached", type=int, default=50)
    ap.add_argument("--podman", type=int, default=30, help="podman runs per mode (0: skip)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (namespaces, mounts, cgroups)")
    if not os.environ.get(INSIDE):
        sys.exit(outer(sys.argv[1:]))
    inner(args)


if __name__ == "__main__":
    main()
