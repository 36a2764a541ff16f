"""How long does ``containers.run(img, ["true"], remove=True)`` take, in process?

Prints p50/p90 over >= 200 warm runs and over runs after an idle pause (where a
cgroup v1 attach waits for an RCU grace period), a per-phase breakdown, the same
with the cgroup2 ``favordynmods`` option, what the security defaults cost
(seccomp=unconfined, privileged), and ``runc run`` on the same rootfs as the
baseline (crun is tried and its refusal reported when it refuses).

Then whole processes, as a new user tries it: what ``import pycontainer`` and
``Client()`` cost together in a fresh interpreter (target <= 25 ms), and a
script that imports pycontainer and runs one container, beside
``podman run --rm`` on the same busybox rootfs (the same run, as a ratio).
Bytecode is compiled first, as pip does at install time.

Usage: python benchmarks/startup.py [--runs 300] [--cold 15] [--pause 1.5]
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

from pycontainer import Client, cgroups  # noqa: E402
from pycontainer.runtime import timing  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import baselines  # noqa: E402
from baselines import pct, podman_times, timed  # noqa: E402

PHASES = ("prepare", "clone", "child setup", "exec", "wait", "cleanup")


def fmt(values):
    return (f"p50 {pct(values, 0.5) * 1e3:7.2f} ms   p90 {pct(values, 0.9) * 1e3:7.2f} ms"
            f"   (n={len(values)})")


def measure(client, n, pause=0.0, phases=None, **kw):
    times = []
    for _ in range(n):
        if pause:
            time.sleep(pause)
        timing.RECORDER = rec = []
        t0 = time.perf_counter()
        kw.setdefault("network_mode", "none")      # netns + cgroups, no bridge (network.py)
        client.containers.run("busybox", ["true"], remove=True, **kw)
        t1 = time.perf_counter()
        timing.RECORDER = None
        times.append(t1 - t0)
        if phases is not None:
            prev = t0
            for name, t in rec:
                phases.setdefault(name, []).append(t - prev)
                prev = t
    return times


IMPORT_COST = ("import time; t = time.perf_counter(); import pycontainer; pycontainer.Client(); "
               "print(time.perf_counter() - t)")
ONE_RUN = ("import sys, pycontainer; pycontainer.Client(root=sys.argv[1]).containers.run("
           "'busybox', ['true'], remove=True, network_mode='none')")


def whole_process(root, runs, podman_runs):
    """A new user's view: fresh interpreters, as a script would start."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(here, "pycontainer")],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    costs = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", IMPORT_COST], env=env, check=True,
                             capture_output=True, text=True).stdout
        costs.append(float(out))
    bare = timed([sys.executable, "-c", "pass"], runs, env)
    script = timed([sys.executable, "-c", ONE_RUN, root], runs, env)
    print("\nwhole processes (fresh interpreter each):")
    print(f"  import pycontainer + Client(), in the process  {fmt(costs)}   (target <= 25 ms: "
          f"{'met' if pct(costs, .5) <= 25e-3 else 'NOT met'})")
    print(f"  python -c pass (the interpreter alone)         {fmt(bare)}")
    print(f"  a script: import, Client(), run true           {fmt(script)}")
    if podman_runs:
        prun, _, why = podman_times(podman_runs)
        if prun is None:
            print(f"  podman: {why}")
        else:
            print(f"  podman run --rm --network none               {fmt(prun)}")
            print(f"  ratio podman/script (p50): {pct(prun, .5) / pct(script, .5):.2f}x "
                  "(above 1: the pycontainer script is faster)")


def favordynmods_on(layout):
    with open("/proc/self/mountinfo") as f:
        return any(" cgroup2 " in line and "favordynmods" in line for line in f)


def set_favordynmods(layout, on):
    from pycontainer import _core
    if on:
        cgroups.favor_dynmods(layout)
    elif layout.v2 and favordynmods_on(layout):
        with open("/proc/self/mountinfo") as f:
            opts = next(line.split(" - ")[1].split()[2] for line in f
                        if line.split()[4] == layout.v2)
        keep = [o for o in opts.split(",") if o not in ("rw", "ro", "favordynmods")]
        _core.check(_core.lib.pyc_mount(b"cgroup2", layout.v2.encode(), b"cgroup2", 32,
                                        ",".join(keep).encode()), "remount cgroup2")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--cold", type=int, default=15)
    ap.add_argument("--pause", type=float, default=1.5)
    ap.add_argument("--runc-runs", type=int, default=100)
    ap.add_argument("--process-runs", type=int, default=40,
                    help="whole-process runs (import cost, the one-container script)")
    ap.add_argument("--podman", type=int, default=20, help="podman runs (0: skip)")
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="pyc-bench-", dir="/var/tmp")
    client = Client(root=root)
    try:
        img = client.images.busybox()
        layout = client._runtime.cgroup_layout
        print(f"cgroup layout: {layout.mode}; store on {root}; run root {client._runtime.run_root}")
        was_on = favordynmods_on(layout)
        set_favordynmods(layout, False)
        measure(client, 30)
        phases = {}
        warm = measure(client, args.runs, phases=phases)
        warm_host = measure(client, args.runs // 3, network_mode="host")
        no_seccomp = measure(client, args.runs // 2, security_opt=["seccomp=unconfined"])
        no_defaults = measure(client, args.runs // 2, privileged=True)
        cold = measure(client, args.cold, pause=args.pause)
        set_favordynmods(layout, True)
        measure(client, 10)
        warm_fd = measure(client, args.runs)
        cold_fd = measure(client, args.cold, pause=args.pause)
        set_favordynmods(layout, was_on)

        print("\npycontainer run(['true'], remove=True), new pid/mnt/uts/ipc/net ns + cgroups:")
        print(f"  warm                          {fmt(warm)}")
        print(f"  warm, network_mode=host       {fmt(warm_host)}")
        print(f"  after {args.pause}s idle (cold)       {fmt(cold)}")
        print(f"  seccomp=unconfined            {fmt(no_seccomp)}")
        print(f"  privileged (no seccomp, masks)  {fmt(no_defaults)}")
        print(f"  warm, favordynmods            {fmt(warm_fd)}")
        print(f"  cold, favordynmods            {fmt(cold_fd)}")
        print("\nphases (warm, p50 / mean):")
        for name in PHASES:
            v = phases.get(name, [])
            if v:
                print(f"  {name:12s} {statistics.median(v) * 1e3:6.3f} / "
                      f"{statistics.mean(v) * 1e3:6.3f} ms")

        print("\nbaselines on the same rootfs:")
        rootfs = tempfile.mkdtemp(prefix="pyc-bench-rootfs-", dir="/var/tmp")
        try:
            for layer in img.record.layer_dirs:
                shutil.copytree(layer, rootfs, symlinks=True, dirs_exist_ok=True)
            if baselines.crun_available():
                why = baselines.crun_refusal(rootfs)
                print(f"  crun: {'refuses: ' + why if why else 'runs (not timed here)'}")
            else:
                print("  crun: not installed")
            if baselines.runc_available():
                work = tempfile.mkdtemp(prefix="pyc-bench-runc-", dir="/var/tmp")
                try:
                    bundle = baselines.make_runc_bundle(rootfs, work, args=["true"])
                    baselines.time_runc_run(bundle, 5)
                    runc = baselines.time_runc_run(bundle, args.runc_runs)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                print(f"  runc run true                 {fmt(runc)}")
                print(f"\nratio runc/pycontainer (warm p50): {pct(runc, .5) / pct(warm, .5):.1f}x")
            else:
                print("  runc: not installed")
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
        whole_process(root, args.process_runs, args.podman)
        cost = pct(warm, .5) - pct(no_defaults, .5)
        print(f"security defaults (seccomp + masks + caps) cost, p50: {cost * 1e3:.2f} ms "
              f"(seccomp alone {(pct(warm, .5) - pct(no_seccomp, .5)) * 1e3:.2f} ms); "
              f"target < 0.5 ms: {'met' if cost < 0.5e-3 else 'NOT met'}")
        target = 3e-3
        print(f"target p50 <= 3 ms warm: {'met' if pct(warm, .5) <= target else 'NOT met'} "
              f"({pct(warm, .5) * 1e3:.2f} ms)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(client._runtime.run_root, ignore_errors=True)


if __name__ == "__main__":
    main()
