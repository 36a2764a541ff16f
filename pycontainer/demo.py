"""The main job: make the embedded busybox image and run real containers.

    python -m pycontainer.demo [--root DIR]

Prints what the containers see (pid, hostname, user, mounts, network, cgroup
limits) and how long each step took.
"""
import argparse
import os
import statistics
import tempfile
import time

from . import Client, errors


def step(title, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"\n== {title}  ({(time.perf_counter() - t0) * 1e3:.2f} ms)")
    if isinstance(out, bytes):
        out = out.decode(errors="replace")
    if isinstance(out, str):
        print(out.rstrip())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="pycontainer demo")
    ap.add_argument("--root", help="store directory (default: a temporary one)")
    args = ap.parse_args(argv)
    root = args.root or tempfile.mkdtemp(prefix="pyc-demo-", dir="/var/tmp")
    client = Client(root=root)
    print(f"store: {root}   cgroups: {client._runtime.cgroup_layout.mode}")
    img = step("make the busybox image from Debian's busybox-static",
               lambda: client.images.busybox())
    print(img, img.short_id)
    # The demo runs in this machine's own network namespace: keep it unchanged.
    def run(*args, **kw):
        kw.setdefault("network_mode", "none")
        return client.containers.run(*args, **kw)
    step("run: echo hi", lambda: run("busybox", ["sh", "-c", "echo hi"], remove=True))
    step("pid 1, own processes, own hostname", lambda: run(
        "busybox", ["sh", "-c", "echo pid=$$; hostname; ps"], hostname="demo", remove=True))
    step("network_mode='none': only lo", lambda: run(
        "busybox", ["ls", "/sys/class/net"], remove=True))
    step("mounts inside", lambda: run("busybox", ["cat", "/proc/mounts"], remove=True))
    step("user=nobody, environment, working_dir", lambda: run(
        "busybox", ["sh", "-c", "id; echo GREETING=$GREETING; pwd"], user="nobody",
        environment={"GREETING": "hello"}, working_dir="/tmp", remove=True))
    step("limits in the container's cgroup (64 MiB, 0.5 cpu, 32 pids)", lambda: run(
        "busybox", ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                                "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max "
                                "2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max"],
        mem_limit="64m", nano_cpus=500_000_000, pids_limit=32, remove=True))

    def oom():
        try:
            run("busybox", ["tail", "/dev/zero"], mem_limit="16m", memswap_limit="16m", remove=True)
        except errors.ContainerError as err:
            return f"ContainerError: exit {err.exit_status}, oom_killed={err.oom_killed}"
    step("a process past its memory limit is OOM-killed", oom)

    def detached():
        with run("busybox", ["sh", "-c", "echo started; sleep 30"], detach=True) as c:
            first = next(c.logs(stream=True, follow=True))      # waits for the first line
            code, out = c.exec_run(["sh", "-c", "echo exec sees pid 1 as: $(cat /proc/1/cmdline | tr '\\0' ' ')"])
            return (f"status={c.status} logs={first!r}\n{out.decode().strip()}\n"
                    f"monitor pid {c.attrs['State']['MonitorPid']}; removed on leaving 'with'")
    step("detached container under its own monitor, exec into it", detached)

    times = []
    for _ in range(100):
        t0 = time.perf_counter()
        run("busybox", ["true"], remove=True)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"\n== 100 x run(['true'], remove=True): p50 {statistics.median(times) * 1e3:.2f} ms, "
          f"p90 {times[89] * 1e3:.2f} ms, best {times[0] * 1e3:.2f} ms")
    if not args.root:
        from . import fstree
        fstree.remove(root)
        fstree.remove(client._runtime.run_root)


if __name__ == "__main__":
    main()
