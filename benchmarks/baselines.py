"""Baselines: run the same rootfs under runc (and try crun) for comparison.

Helpers used by the benchmark scripts, so that pycontainer's numbers come with
the numbers of an established OCI runtime measured on the same machine, the
same rootfs and in the same process of measurement::

    >>> import baselines
    >>> bundle = baselines.make_runc_bundle(rootfs, workdir, args=["true"])
    >>> times = baselines.time_runc_run(bundle, 100)      # seconds per run
    >>> baselines.crun_refusal(rootfs)                    # None if crun runs it
    'cgroups in hybrid mode not supported, drop all controllers from cgroupv2'

Every container gets a name starting with ``pyc-bench`` and a cgroup under
``/pycontainer-bench/`` in each hierarchy, so leftovers are recognisable; both are
removed after each run, even on errors.
"""
import errno
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
import uuid

CGROUP_PARENT = "pycontainer-bench"
NAMESPACES = ("pid", "mount", "uts", "ipc", "network")
NOFILE_SOFT_CAP = 1024


def runc_available():
    """True when a ``runc`` binary is on PATH."""
    return shutil.which("runc") is not None


def crun_available():
    """True when a ``crun`` binary is on PATH."""
    return shutil.which("crun") is not None


def make_busybox_rootfs(dest, busybox=None):
    """Make a minimal rootfs in ``dest``: a static busybox and its applet links.

    Args:
        dest: directory to fill (created if missing).
        busybox: the static busybox binary; default the first of /bin/busybox,
            /usr/bin/busybox.

    Returns:
        ``dest``.
    """
    if busybox is None:
        busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p)), None)
        if busybox is None:
            raise FileNotFoundError(errno.ENOENT, "no busybox binary (apt-get install busybox-static)")
    bindir = os.path.join(dest, "bin")
    os.makedirs(bindir, exist_ok=True)
    for d in ("proc", "sys", "dev", "tmp", "etc", "root"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    shutil.copy2(busybox, os.path.join(bindir, "busybox"))
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout
    for name in applets.split():
        link = os.path.join(bindir, name)
        if name != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    return dest


def _clamp_rlimits(rlimits):
    """Never ask for more than the caller's hard limits (root may lack
    CAP_SYS_RESOURCE, and then runc fails to set them)."""
    out = []
    seen = set()
    for rl in rlimits:
        name = rl["type"]
        seen.add(name)
        res = getattr(resource, name, None)
        if res is None:
            continue
        _, hard = resource.getrlimit(res)
        limit = float("inf") if hard == resource.RLIM_INFINITY else hard
        if name == "RLIMIT_NOFILE":
            limit = min(limit, NOFILE_SOFT_CAP)
        out.append({"type": name, "hard": int(min(rl["hard"], limit)), "soft": int(min(rl["soft"], limit))})
    if "RLIMIT_NOFILE" not in seen:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        n = NOFILE_SOFT_CAP if hard == resource.RLIM_INFINITY else min(NOFILE_SOFT_CAP, hard)
        out.append({"type": "RLIMIT_NOFILE", "hard": n, "soft": n})
    return out


def _write_config(bundle, config):
    path = os.path.join(bundle, "config.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(config, f, indent=1)
    os.replace(tmp, path)


def _read_config(bundle):
    with open(os.path.join(bundle, "config.json")) as f:
        return json.load(f)


def make_runc_bundle(rootfs_dir, workdir, args=("true",), network="new", runtime="runc"):
    """Write an OCI bundle (``workdir/config.json``) that runs ``args`` in ``rootfs_dir``.

    Starts from ``<runtime> spec`` and changes: the command, an absolute and
    writable root, no terminal, new pid/mount/uts/ipc (and network) namespaces,
    a cgroup under ``/pycontainer-bench/``, and rlimits clamped to the caller's
    hard limits (RLIMIT_NOFILE to at most 1024).

    Args:
        rootfs_dir: the container's root directory (used in place, not copied).
        workdir: the bundle directory (created if missing).
        args: the command to run.
        network: ``"new"`` for a new network namespace, ``"host"`` to share the host's.
        runtime: the binary whose ``spec`` command writes the template.

    Returns:
        The bundle directory (``workdir``).
    """
    if network not in ("new", "host"):
        raise ValueError(f"network must be 'new' or 'host', not {network!r}")
    os.makedirs(workdir, exist_ok=True)
    cfg_path = os.path.join(workdir, "config.json")
    if os.path.exists(cfg_path):
        os.unlink(cfg_path)
    subprocess.run([runtime, "spec", "--bundle", workdir], check=True, capture_output=True,
                   stdin=subprocess.DEVNULL)
    config = _read_config(workdir)
    proc = config["process"]
    proc["args"] = list(args)
    proc["terminal"] = False
    proc["rlimits"] = _clamp_rlimits(proc.get("rlimits", []))
    config["root"] = {"path": os.path.abspath(rootfs_dir), "readonly": False}
    linux = config.setdefault("linux", {})
    wanted = [t for t in NAMESPACES if network == "new" or t != "network"]
    linux["namespaces"] = [{"type": t} for t in wanted]
    linux["cgroupsPath"] = f"/{CGROUP_PARENT}/{os.path.basename(os.path.abspath(workdir))}"
    _write_config(workdir, config)
    return workdir


def _cgroup_mounts():
    """Mount points of every cgroup (v1) and cgroup2 hierarchy."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] in ("cgroup", "cgroup2"):
                out.append(left.split()[4])
    return out


def remove_bench_cgroups(names=None):
    """Remove ``/pycontainer-bench/<name>`` cgroups (all when ``names`` is None)
    and the parent when it is empty, in every hierarchy; busy ones are kept."""
    for mnt in _cgroup_mounts():
        parent = os.path.join(mnt, CGROUP_PARENT)
        try:
            children = names if names is not None else [
                e.name for e in os.scandir(parent) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            continue
        for name in children:
            try:
                os.rmdir(os.path.join(parent, name))
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
                    raise
        try:
            os.rmdir(parent)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
                raise


def _delete(runtime, name):
    subprocess.run([runtime, "delete", "-f", name], stdin=subprocess.DEVNULL,
                   capture_output=True, timeout=30)


def time_runc_run(bundle, n, name_prefix="pyc-bench"):
    """Run the bundle ``n`` times with ``runc run`` and time each run.

    Each run gets a unique container name and cgroup; only ``runc run`` itself
    (create, start, wait, exit) is timed. Containers and their cgroups are
    deleted after every run, also when a run fails.

    Returns:
        Wall-clock seconds per run, in order.

    Raises:
        subprocess.CalledProcessError: a run exited non-zero (with its output).
    """
    config = _read_config(bundle)
    times = []
    names = []
    tag = f"{name_prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        for i in range(n):
            name = f"{tag}-{i}"
            names.append(name)
            config["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{name}"
            _write_config(bundle, config)
            try:
                t0 = time.perf_counter()
                r = subprocess.run(["runc", "run", "--bundle", bundle, name],
                                   stdin=subprocess.DEVNULL, capture_output=True)
                times.append(time.perf_counter() - t0)
            finally:
                _delete("runc", name)
            if r.returncode != 0:
                raise subprocess.CalledProcessError(r.returncode, r.args, r.stdout, r.stderr)
    finally:
        remove_bench_cgroups(names)
    return times


def crun_refusal(rootfs_dir, args=("true",)):
    """Try ``crun run`` once on ``rootfs_dir``.

    Returns:
        None when crun ran the container successfully, else crun's error text
        (e.g. ``cgroups in hybrid mode not supported...`` on a hybrid host),
        or ``"crun not installed"``.
    """
    if not crun_available():
        return "crun not installed"
    work = tempfile.mkdtemp(prefix="pyc-bench-crun-")
    name = f"pyc-bench-crun-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        spec_tool = "runc" if runc_available() else "crun"
        make_runc_bundle(rootfs_dir, work, args=args, runtime=spec_tool)
        config = _read_config(work)
        config["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{name}"
        _write_config(work, config)
        try:
            r = subprocess.run(["crun", "run", "--bundle", work, name], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=60)
        finally:
            _delete("crun", name)
        if r.returncode == 0:
            return None
        return (r.stderr or r.stdout).strip() or f"exit status {r.returncode}"
    except subprocess.TimeoutExpired:
        return "crun run timed out"
    finally:
        remove_bench_cgroups([name])
        shutil.rmtree(work, ignore_errors=True)


def podman_root():
    """A throwaway podman store; returns (root dir, podman argv prefix).

    runc, since crun refuses hybrid cgroup hosts; cgroupfs and file events,
    since no systemd or journald is needed. Pair with :func:`podman_cleanup`.
    """
    root = tempfile.mkdtemp(prefix="pyc-bench-podman-", dir="/var/tmp")
    base = ["podman", "--root", f"{root}/root", "--runroot", f"{root}/run",
            "--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime", "runc"]
    return root, base


def podman_cleanup(root, base):
    """Remove every container and the store, and podman's libpod_parent
    cgroups (busy for a moment while the conmons exit)."""
    subprocess.run(base + ["rm", "-af", "-t", "0"], capture_output=True)
    subprocess.run(base + ["system", "reset", "-f"], capture_output=True)
    subprocess.run(["umount", "-R", f"{root}/root"], capture_output=True)
    for _ in range(20):
        shutil.rmtree(root, ignore_errors=True)
        left = os.path.exists(root)
        for mnt in _cgroup_mounts():
            parent = os.path.join(mnt, "libpod_parent")
            for dirpath, _, _ in sorted(os.walk(parent), key=lambda x: -len(x[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    left = True
        if not left:
            return
        time.sleep(0.2)


def timed(argv, n, env, warmup=5):
    """Seconds of ``n`` whole-process runs of ``argv`` (output discarded)."""
    for _ in range(warmup):
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        times.append(time.perf_counter() - t0)
    return times


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def podman_times(n):
    """``podman run --rm --network none`` and ``podman --version`` on a busybox
    rootfs; (run times, version times, None) or (None, None, why)."""
    if not shutil.which("podman"):
        return None, None, "podman is not installed (apt-get install podman)"
    root, base = podman_root()
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    try:
        rootfs = os.path.join(root, "rootfs")
        make_busybox_rootfs(rootfs)
        tar = os.path.join(root, "bb.tar")
        subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
        subprocess.run(base + ["import", tar, "pyc-bench-bb"], check=True, capture_output=True)
        argv = base + ["run", "--rm", "--network", "none", *limits, "pyc-bench-bb", "true"]
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            return None, None, f"podman run failed: {r.stderr.strip()[:300]}"
        return timed(argv, n, None, warmup=2), timed(["podman", "--version"], n, None), None
    finally:
        podman_cleanup(root, base)
