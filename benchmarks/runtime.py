"""What does each OCI verb cost, ours against runc, on the same bundle?

Per round, for each runtime: ``create``, ``start``, ``state``, ``kill KILL``
and ``delete`` of a container running ``sleep``, each timed as a command
(fork + exec + wait, as a shim runs it), then ``run`` of ``/bin/true``
(foreground, removed at exit). Our ``create`` goes through the runtime's
warm process (oci/warm.py), which the first create starts (the warm-up
rounds are dropped), and which is stopped at the end. Runtimes alternate
round by round, so drift
on this shared machine hits both alike; medians, p90 and the ratio ours/runc.
crun is measured when installed and able to run here: crun 1.8 refuses
every container on hybrid cgroup hosts ("cgroups in hybrid mode not
supported"), so on those it is reported and skipped.

Usage: python benchmarks/runtime.py [--runs 50]
"""
import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.path.join(HERE, "..", "pycontainer", "oci", "pycontainer-runtime")
VERBS = ("create", "start", "state", "kill", "delete", "run true")


def make_bundle(d, args):
    rootfs = os.path.join(d, "rootfs", "bin")
    os.makedirs(rootfs)
    shutil.copy("/bin/busybox", rootfs)
    for t in ("sh", "sleep", "true"):
        os.symlink("busybox", os.path.join(rootfs, t))
    subprocess.run([OURS, "spec", "--bundle", d], check=True)
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"].update(terminal=False, args=args)
    cfg["root"]["readonly"] = False
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)


def timed(argv, cwd, capture=False):
    """Wall time of one command; no pipes unless asked (a created init keeps its stdio)."""
    t = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{argv}: exit {p.returncode}")
    return dt, p.stdout


def one_round(exe, root, sleep_bundle, true_bundle, n, out):
    cid = f"pyc-bench-{os.getpid()}-{n}"
    g = [exe, "--root", root]
    dt, _ = timed(g + ["create", "--bundle", sleep_bundle, cid], sleep_bundle)
    out["create"].append(dt)
    out["start"].append(timed(g + ["start", cid], sleep_bundle)[0])
    dt, text = timed(g + ["state", cid], sleep_bundle, capture=True)
    out["state"].append(dt)
    pidfd = os.pidfd_open(json.loads(text)["pid"])
    try:
        out["kill"].append(timed(g + ["kill", cid, "KILL"], sleep_bundle)[0])
        select.select([pidfd], [], [], 10)       # the init is gone: delete a stopped one
    finally:
        os.close(pidfd)
    out["delete"].append(timed(g + ["delete", cid], sleep_bundle)[0])
    out["run true"].append(timed(g + ["run", cid + "r"], true_bundle)[0])


def crun_note():
    crun = shutil.which("crun")
    if not crun:
        return "crun: not installed"
    with open("/proc/self/mountinfo") as f:
        hybrid = " - cgroup " in f.read()
    return ("crun: skipped, it refuses every container on this hybrid cgroup host"
            if hybrid else "crun: installed (not measured by this script)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    opts = ap.parse_args()
    runc = shutil.which("runc")
    if not runc:
        raise SystemExit("runc is not installed")
    with tempfile.TemporaryDirectory(prefix="pyc-oci-bench-") as d:
        sb, tb = os.path.join(d, "sleep"), os.path.join(d, "true")
        os.makedirs(sb)
        os.makedirs(tb)
        make_bundle(sb, ["sleep", "1000"])
        make_bundle(tb, ["true"])
        runtimes = {"ours": (OURS, os.path.join(d, "ours")), "runc": (runc, os.path.join(d, "runc"))}
        results = {k: {v: [] for v in VERBS} for k in runtimes}
        for n in range(opts.runs + 3):
            for name, (exe, root) in runtimes.items():
                sample = {v: [] for v in VERBS}
                one_round(exe, root, sb, tb, n, sample)
                if n >= 3:                   # warm-up rounds are dropped
                    for v in VERBS:
                        results[name][v] += sample[v]
    print(f"OCI verbs, {opts.runs} rounds each (median / p90, ms); ratio = ours / runc")
    for v in VERBS:
        o, r = results["ours"][v], results["runc"][v]
        mo, mr = statistics.median(o), statistics.median(r)
        p90 = (lambda xs: sorted(xs)[int(len(xs) * .9)])
        print(f"{v:9} ours {mo * 1e3:7.2f} / {p90(o) * 1e3:7.2f}   runc {mr * 1e3:7.2f} / "
              f"{p90(r) * 1e3:7.2f}   ratio {mo / mr:5.2f}")
    print(crun_note())
    sys.path.insert(0, os.path.join(HERE, ".."))
    from pycontainer.oci import warm
    warm.stop_all()


if __name__ == "__main__":
    sys.exit(main())
