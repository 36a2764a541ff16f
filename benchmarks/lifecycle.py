"""What do detached containers cost? Start latency, exec latency, monitor memory.

- detached start: ``run(detach=True)`` until the init has exec'd, beside
  ``runc run -d`` on the same rootfs;
- exec: ``exec_run(["true"])`` in a running container, beside ``runc exec``;
- monitor memory: private RSS (Private_Clean + Private_Dirty from
  smaps_rollup) of the monitors of N idle containers, beside podman's conmon
  when podman is installed;
- attach throughput: MB/s of ``yes`` (4 KiB lines) through the attach socket
  of a detached container (the monitor also writes every byte to the log),
  beside ``podman run -i`` (conmon, its log too) and a ``yes | head`` pipe
  read by this process (the floor: no container);
- ``--attach-stress N``: N runs of ``echo x | exec -i cat`` (exec_run with
  stdin on a socket), counting hangs (a read that waits 10 s).
- probe cost: CPU (user + system, the monitor and its reaped probes) per
  healthcheck probe of ``CMD true``, beside the CPU of ``runc exec true``
  (what docker's every probe costs at least, before containerd's shim);
- events: journal writes per second, and 10 reader processes following
  the journal with none lost, beside plain O_APPEND writes of the same
  lines (no lock, no rotation check: the floor).

Usage: python benchmarks/lifecycle.py [--runs 200] [--idle 100] [--attach-mb 256]
       python benchmarks/lifecycle.py --attach-only     # just the attach throughput
       python benchmarks/lifecycle.py --attach-stress 1000
       python benchmarks/lifecycle.py --only health,events  # probe cost, the journal
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import baselines  # noqa: E402
from pycontainer import Client  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def fmt(values, unit=1e3, suffix="ms"):
    return (f"p50 {pct(values, .5) * unit:8.2f} {suffix}   p90 {pct(values, .9) * unit:8.2f} "
            f"{suffix}   (n={len(values)})")


def private_kib(pid):
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def bench_detached(client, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        c = client.containers.run("busybox", ["sleep", "60"], detach=True, network_mode="none")
        times.append(time.perf_counter() - t0)
        c.remove(force=True)
    return times


def bench_exec(client, runs):
    with client.containers.run("busybox", ["sleep", "600"], detach=True, network_mode="none") as c:
        for _ in range(10):
            c.exec_run(["true"])
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            c.exec_run(["true"])
            times.append(time.perf_counter() - t0)
    return times


def bench_monitors(client, n):
    cs = []
    try:
        for _ in range(n):
            cs.append(client.containers.run("busybox", ["sleep", "600"], detach=True, network_mode="none"))
        time.sleep(0.5)
        return [private_kib(c.attrs["State"]["MonitorPid"]) for c in cs]
    finally:
        for c in cs:
            c.remove(force=True)


YES = "yes $(head -c 4095 /dev/zero | tr '\\0' y)"


def _yes_cmd(nbytes):
    return ["sh", "-c", f"read go; {YES} | head -c {nbytes}"]


def _rate(chunks):
    """MB/s from the first chunk to the last (start-up costs left out):
    ``chunks`` yields byte counts; (rate, total bytes)."""
    total, first, t0 = 0, None, None
    for n in chunks:
        if first is None:
            first, t0 = n, time.perf_counter()
        total += n
    dt = time.perf_counter() - t0
    return (total - first) / dt / 1e6, total


def bench_attach(client, nbytes):
    """MB/s of nbytes through attach_socket() (from the first byte on)."""
    with client.containers.run("busybox", _yes_cmd(nbytes), detach=True, stdin_open=True,
                               network_mode="none") as c:
        with c.attach_socket() as s:
            s.settimeout(60)
            s.sendall(b"go\n")
            rate, got = _rate(len(data) for _, data in s.packets())
    assert got == nbytes, (got, nbytes)
    return rate


def _timed_read(argv, nbytes):
    """MB/s of a command's stdout (from the first byte on) after 'go' on its stdin."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    p.stdin.write(b"go\n")
    p.stdin.close()

    def chunks():
        while True:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                return
            yield len(chunk)
    try:
        rate, got = _rate(chunks())
    finally:
        p.wait()
        p.stdout.close()
    return rate, got


def pipe_floor(nbytes):
    rate, got = _timed_read(["sh", "-c", f"read go; {YES} | head -c {nbytes}"], nbytes)
    assert got == nbytes
    return rate


def podman_attach(nbytes):
    """``podman run -i`` of the same command (MB/s, or a reason string)."""
    if not shutil.which("podman"):
        return "podman not installed"
    root, base = baselines.podman_root()
    try:
        rootfs, tar = os.path.join(root, "rootfs"), os.path.join(root, "bb.tar")
        baselines.make_busybox_rootfs(rootfs)
        subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
        subprocess.run(base + ["import", tar, "pyc-bench-bb"], check=True, capture_output=True)
        rate, got = _timed_read(base + ["run", "-i", "--rm", "--network=none", "--ulimit",
                                        "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                                        "pyc-bench-bb"] + _yes_cmd(nbytes), nbytes)
        return rate if got == nbytes else f"podman gave {got} of {nbytes} bytes"
    finally:
        baselines.podman_cleanup(root, base)


def attach_stress(client, n):
    """``echo x | exec -i cat`` n times: (seconds each, hangs, wrong outputs)."""
    import socket as _socket
    times, hangs, wrong = [], 0, 0
    with client.containers.run("busybox", ["sleep", "3600"], detach=True,
                               network_mode="none") as c:
        for _ in range(n):
            t0 = time.perf_counter()
            r = c.exec_run("cat", stdin=True, socket=True)
            with r.output as s:
                s.settimeout(10)
                s.sendall(b"x\n")
                s.shutdown()
                data = b""
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except _socket.timeout:
                    hangs += 1
            wrong += data != b"\x01\0\0\0\0\0\0\x02x\n" or r.exit_code != 0
            times.append(time.perf_counter() - t0)
    return times, hangs, wrong


def cpu_seconds(pid):
    """utime + stime + cutime + cstime of a process (its reaped children too)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def bench_probes(client, probes):
    """CPU seconds per probe: the monitor's counters over ``probes`` probes."""
    hc = {"test": ["CMD", "true"], "interval": 20_000_000, "retries": 1}
    with client.containers.run("busybox", ["sleep", "600"], detach=True, network_mode="none",
                               healthcheck=hc) as c:
        c.wait(condition="healthy", timeout=30)
        mon = c.attrs["State"]["MonitorPid"]
        path = os.path.join(client._runtime.dir(c.id), "health.json")
        seen, cpu0, t0 = set(), cpu_seconds(mon), time.perf_counter()
        while len(seen) < probes:
            with open(path) as f:
                log = json.load(f)["Log"]
            seen.update(r["Start"] for r in log)
            time.sleep(0.01)
        cpu, wall = cpu_seconds(mon) - cpu0, time.perf_counter() - t0
        return cpu / len(seen), len(seen), wall


def runc_exec_cpu(rootfs, runs):
    """CPU seconds of one ``runc exec true`` (runc and what it starts)."""
    work = tempfile.mkdtemp(prefix="pyc-bench-runc-", dir="/var/tmp")
    name = f"pyc-bench-{uuid.uuid4().hex[:8]}"
    try:
        bundle = baselines.make_runc_bundle(rootfs, work, args=["sleep", "600"])
        config = baselines._read_config(bundle)
        config["linux"]["cgroupsPath"] = f"/{baselines.CGROUP_PARENT}/{name}"
        baselines._write_config(bundle, config)
        subprocess.run(["runc", "run", "-d", "--bundle", bundle, name], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(runs):
            subprocess.run(["runc", "exec", name, "true"], check=True,
                           stdin=subprocess.DEVNULL, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / runs
    finally:
        baselines._delete("runc", name)
        baselines.remove_bench_cgroups([name])
        shutil.rmtree(work, ignore_errors=True)


READER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pycontainer.engine.events import Journal
want, since = int(sys.argv[3]), float(sys.argv[4])
got, t0 = 0, None
print("ready", flush=True)
for ev in Journal(sys.argv[2]).read(since=since, filters={"type": "volume"}):
    got += 1
    if got == want:
        break
print(got, time.time(), flush=True)
"""


def bench_events(root, n, readers=10):
    """(writes/s alone, the floor's writes/s, writes/s with the readers, reads/s per
    reader, events each reader got)."""
    from pycontainer.engine.events import Journal
    journal = Journal(root)
    t0 = time.time()
    for i in range(n):
        journal.emit("network", "create", f"alone-{i}", {"driver": "local"})
    alone = n / (time.time() - t0)
    since = time.time()
    procs = [subprocess.Popen([sys.executable, "-c", READER, os.path.join(HERE, ".."), root,
                               str(n), str(since)], stdout=subprocess.PIPE, text=True)
             for _ in range(readers)]
    try:
        for p in procs:
            assert p.stdout.readline() == "ready\n"
        t0 = time.time()
        for i in range(n):
            journal.emit("volume", "create", f"bench-{i}", {"driver": "local"})
        write_s = time.time() - t0
        results = [p.stdout.readline().split() for p in procs]
        for p in procs:
            p.wait(60)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    got = [int(r[0]) for r in results]
    read_s = max(float(r[1]) for r in results) - t0
    line = open(journal.path, "rb").readline()
    floor = os.path.join(root, "floor.log")
    fd = os.open(floor, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    t1 = time.time()
    for _ in range(n):
        os.write(fd, line)
    floor_s = time.time() - t1
    os.close(fd)
    os.unlink(floor)
    return alone, n / floor_s, n / write_s, n / read_s, got


def runc_detached_and_exec(rootfs, runs):
    work = tempfile.mkdtemp(prefix="pyc-bench-runc-", dir="/var/tmp")
    starts, execs, names = [], [], []
    try:
        bundle = baselines.make_runc_bundle(rootfs, work, args=["sleep", "600"])
        config = baselines._read_config(bundle)
        for i in range(runs):
            name = f"pyc-bench-{uuid.uuid4().hex[:8]}"
            names.append(name)
            config["linux"]["cgroupsPath"] = f"/{baselines.CGROUP_PARENT}/{name}"
            baselines._write_config(bundle, config)
            t0 = time.perf_counter()
            subprocess.run(["runc", "run", "-d", "--bundle", bundle, name], check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            starts.append(time.perf_counter() - t0)
            if i < 50:
                t0 = time.perf_counter()
                subprocess.run(["runc", "exec", name, "true"], check=True,
                               stdin=subprocess.DEVNULL, capture_output=True)
                execs.append(time.perf_counter() - t0)
            baselines._delete("runc", name)
    finally:
        for name in names:
            baselines._delete("runc", name)
        baselines.remove_bench_cgroups(names)
        shutil.rmtree(work, ignore_errors=True)
    return starts, execs


def conmon_kib(n):
    """Private RSS of conmon for n idle podman containers (None without podman)."""
    if not shutil.which("podman"):
        return None
    root, base = baselines.podman_root()
    try:
        tar = os.path.join(root, "bb.tar")
        rootfs = os.path.join(root, "rootfs")
        baselines.make_busybox_rootfs(rootfs)
        subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
        subprocess.run(base + ["import", tar, "pyc-bench-bb"], check=True, capture_output=True)
        ids = []
        for _ in range(n):
            r = subprocess.run(base + ["run", "-d", "--network=none", "--ulimit",
                                       "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                                       "pyc-bench-bb", "sleep", "600"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                return f"podman run failed: {r.stderr.strip()[:200]}"
            ids.append(r.stdout.strip())
        time.sleep(0.5)
        pids = subprocess.run(["pgrep", "-f", f"conmon.*{root}"], capture_output=True,
                              text=True).stdout.split()
        return [private_kib(int(p)) for p in pids]
    finally:
        baselines.podman_cleanup(root, base)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--idle", type=int, default=100)
    ap.add_argument("--podman", type=int, default=10, help="idle podman containers (0: skip)")
    ap.add_argument("--attach-mb", type=int, default=256, help="MiB through attach (0: skip)")
    ap.add_argument("--attach-stress", type=int, default=0, metavar="N",
                    help="only run N times echo x | exec -i cat and count hangs")
    ap.add_argument("--attach-only", action="store_true", help="only the attach throughput")
    ap.add_argument("--probes", type=int, default=100, help="healthcheck probes measured")
    ap.add_argument("--events", type=int, default=20000, help="events written and read")
    ap.add_argument("--only", default="", help="comma-separated: health, events")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="pyc-bench-", dir="/var/tmp")
    client = Client(root=root)
    try:
        img = client.images.busybox()
        if args.only:
            only = set(args.only.split(","))
            if "health" in only:
                report_probes(client, img, args.probes)
            if "events" in only:
                report_events(root, args.events)
            return
        if args.attach_stress:
            t, hangs, wrong = attach_stress(client, args.attach_stress)
            print(f"echo x | exec -i cat, {len(t)} runs: {fmt(t)}; total {sum(t):.1f} s; "
                  f"hangs {hangs}, wrong output or exit code {wrong}")
            return
        if args.attach_mb:
            n = args.attach_mb << 20
            bench_attach(client, 1 << 20)
            ours, floor = bench_attach(client, n), pipe_floor(n)
            peer = podman_attach(n) if args.podman else "skipped"
            print(f"attach throughput, {args.attach_mb} MiB of yes (4 KiB lines), "
                  "first byte to last:")
            print(f"  pycontainer attach_socket()      {ours:8.1f} MB/s")
            print(f"  yes | head pipe (floor)          {floor:8.1f} MB/s")
            if isinstance(peer, float):
                print(f"  podman run -i (conmon)           {peer:8.1f} MB/s")
                print(f"ratio: pycontainer {ours / peer:.2f}x podman's throughput, "
                      f"{ours / floor:.2f}x the pipe floor")
            else:
                print(f"  podman run -i: {peer}; ratio to the pipe floor {ours / floor:.2f}x")
        if args.attach_only:
            return
        bench_detached(client, 10)
        det = bench_detached(client, args.runs)
        exe = bench_exec(client, args.runs)
        mon = bench_monitors(client, args.idle)
        print("pycontainer:")
        print(f"  run(detach=True) until running   {fmt(det)}")
        print(f"  exec_run(['true'])               {fmt(exe)}")
        print(f"  monitor private RSS, {len(mon)} idle containers: median "
              f"{statistics.median(mon):.0f} KiB, max {max(mon)} KiB "
              f"(target < 1024 KiB)")
        if baselines.runc_available():
            rootfs = tempfile.mkdtemp(prefix="pyc-bench-rootfs-", dir="/var/tmp")
            try:
                for layer in img.record.layer_dirs:
                    shutil.copytree(layer, rootfs, symlinks=True, dirs_exist_ok=True)
                rs, rx = runc_detached_and_exec(rootfs, max(20, args.runs // 4))
            finally:
                shutil.rmtree(rootfs, ignore_errors=True)
            print("runc (same rootfs):")
            print(f"  runc run -d                      {fmt(rs)}")
            print(f"  runc exec true                   {fmt(rx)}")
            print(f"ratios (p50): start {pct(rs, .5) / pct(det, .5):.1f}x, "
                  f"exec {pct(rx, .5) / pct(exe, .5):.1f}x faster than runc")
        if args.podman:
            cm = conmon_kib(args.podman)
            if isinstance(cm, list) and cm:
                print(f"podman's conmon private RSS ({len(cm)} idle): median "
                      f"{statistics.median(cm):.0f} KiB")
            else:
                print(f"podman's conmon: {cm or 'not measured (podman not installed)'}")
        report_probes(client, img, args.probes)
        report_events(root, args.events)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(client._runtime.run_root, ignore_errors=True)


def report_probes(client, img, probes):
    per, n, wall = bench_probes(client, probes)
    print(f"healthcheck probe CMD true: {per * 1e3:.2f} ms CPU per probe "
          f"({n} probes in {wall:.1f} s; target: a few ms)")
    if baselines.runc_available():
        rootfs = tempfile.mkdtemp(prefix="pyc-bench-rootfs-", dir="/var/tmp")
        try:
            for layer in img.record.layer_dirs:
                shutil.copytree(layer, rootfs, symlinks=True, dirs_exist_ok=True)
            runc = runc_exec_cpu(rootfs, min(probes, 50))
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
        print(f"runc exec true:             {runc * 1e3:.2f} ms CPU per exec "
              f"(ratio: a probe costs {per / runc:.2f}x a runc exec)")


def report_events(root, n):
    alone, floor, writes, reads, got = bench_events(root, n)
    print(f"events: {alone:,.0f} writes/s (plain O_APPEND writes of the same lines: "
          f"{floor:,.0f}/s, ratio {alone / floor:.2f})")
    print(f"events with 10 reader processes following: {writes:,.0f} writes/s, read at "
          f"{reads:,.0f} events/s each, "
          f"{'none lost' if all(g == n for g in got) else f'LOST: got {got} of {n}'}")


if __name__ == "__main__":
    main()
