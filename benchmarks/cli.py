"""How fast is the ``pycontainer`` command, as a whole process?

Medians of whole-process runs (fork, exec, interpreter start, imports, the
verb, exit), each beside what bounds it from below or a peer:

- ``pycontainer --version`` (target <= 30 ms) beside the venv's bare
  interpreter (``python -c pass``: the part no code of ours can save);
- ``pycontainer run --rm --network none busybox true`` (target <= 60 ms)
  beside ``podman run --rm --network none`` on the same busybox rootfs
  (runc, cgroupfs, as benchmarks/baselines.py sets podman up);
- ``pycontainer ps`` with 100 running containers (target <= 50 ms), and
  ``ps -a``;
- each of run and ps twice: served by the warm process (the default, see
  pycontainer/cli/warm.py; its first command starts it, in the warm-up), and
  with ``PYCONTAINER_WARM=0``, every command importing the engine itself;
- the engine's floor: a ``python -c`` that imports the engine, makes it and
  lists the containers, i.e. what every verb that touches the store pays
  before the CLI does anything.

Bytecode is compiled first (pip does so at install time; without it every
run would compile the package again).

Usage: python benchmarks/cli.py [--runs 100] [--containers 100] [--podman 30]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from baselines import pct, podman_times, timed  # noqa: E402

BIN = os.path.join(os.path.dirname(sys.executable), "pycontainer")
FLOOR = ("import sys; from pycontainer.engine.engine import Engine; "
         "Engine(sys.argv[1], reconcile=False).containers.list()")


def line(label, times, target=None):
    extra = f"   (target <= {target} ms)" if target else ""
    print(f"  {label:52s} p50 {pct(times, .5) * 1e3:7.1f} ms   p90 {pct(times, .9) * 1e3:7.1f} ms"
          f"   n={len(times)}{extra}")
    return pct(times, .5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--podman", type=int, default=30, help="podman runs (0: skip)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (namespaces, mounts, cgroups)")
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} is missing: run `bash setup.sh test` once (it installs the command)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "pycontainer")],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    store = tempfile.mkdtemp(prefix="pyc-bench-cli-", dir="/var/tmp")
    env["PYCONTAINER_ROOT"] = store
    cold = dict(env, PYCONTAINER_WARM="0")
    from pycontainer import Client
    client = Client(root=store)
    made = []
    try:
        client.images.busybox()
        print(f"store {store}; {os.cpu_count()} cpus; whole processes, medians")
        print("\nstart-up:")
        bare = line("python -c pass (this venv's interpreter)",
                    timed([sys.executable, "-c", "pass"], args.runs, env))
        version = line("pycontainer --version", timed([BIN, "--version"], args.runs, env), 30)
        floor = line("python -c 'Engine(root).containers.list()' (floor)",
                     timed([sys.executable, "-c", FLOOR, store], args.runs, env))
        print("\nrun:")
        argv = [BIN, "run", "--rm", "--network", "none", "busybox", "true"]
        run = line("pycontainer run --rm --network none busybox true", timed(argv, args.runs, env),
                   60)
        line("  the same, PYCONTAINER_WARM=0", timed(argv, args.runs, cold))
        for _ in range(args.containers):
            made.append(client.containers.run("busybox", ["sleep", "600"], detach=True,
                                              network_mode="none"))
        print(f"\nlisting, {len(made)} running containers:")
        ps = line(f"pycontainer ps ({len(made)} rows)", timed([BIN, "ps"], args.runs, env), 50)
        line("  the same, PYCONTAINER_WARM=0", timed([BIN, "ps"], args.runs, cold))
        line("pycontainer ps -a", timed([BIN, "ps", "-a"], args.runs, env))
        floor_ps = line("python -c 'Engine(root).containers.list()' (floor)",
                        timed([sys.executable, "-c", FLOOR, store], args.runs, env))
        print("\nwhat the command adds over its floors (p50): "
              f"--version {(version - bare) * 1e3:+.1f} ms over the interpreter, "
              f"ps {(ps - floor_ps) * 1e3:+.1f} ms over the engine's listing")
        print(f"the engine's import and set-up alone: {(floor - bare) * 1e3:.1f} ms")
        if args.podman:
            prun, pver, why = podman_times(args.podman)
            print("\npodman (runc, cgroupfs, same busybox rootfs):")
            if prun:
                p_run = line("podman run --rm --network none", prun)
                p_ver = line("podman --version", pver)
                print(f"\nratios (p50): run {p_run / run:.2f}x, --version {p_ver / version:.2f}x "
                      "(podman's time / pycontainer's; above 1: pycontainer is faster)")
            else:
                print(f"  {why}")
    finally:
        from pycontainer.cli import warm
        warm.stop()
        for c in made:
            c.remove(force=True)
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(client._runtime.run_root, ignore_errors=True)


if __name__ == "__main__":
    main()
