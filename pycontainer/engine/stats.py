"""Resource usage read straight from the container's cgroup files."""
import os


def _read(path, default=0):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def _int(path):
    v = _read(path, "0").strip()
    return int(v) if v.isdigit() else 0


def _kv(path):
    out = {}
    for line in str(_read(path, "")).splitlines():
        k, _, v = line.partition(" ")
        if v.strip().isdigit():
            out[k] = int(v)
    return out


def read(rt, cid, attrs):
    """docker-like stats: memory_stats, cpu_stats, pids_stats (one sample)."""
    d = rt.cg.dirs(cid)
    running = attrs["State"]["Running"]
    if rt.cg.kind == "v1":
        mem, cpu, pids = d.get("memory"), d.get("cpuacct") or d.get("cpu"), d.get("pids")
        memory = {"usage": _int(f"{mem}/memory.usage_in_bytes"),
                  "max_usage": _int(f"{mem}/memory.max_usage_in_bytes"),
                  "limit": _int(f"{mem}/memory.limit_in_bytes"),
                  "failcnt": _int(f"{mem}/memory.failcnt"),
                  "stats": _kv(f"{mem}/memory.stat")} if mem else {}
        cpu_total = _int(f"{cpu}/cpuacct.usage") if cpu else 0
        pids_current = _int(f"{pids}/pids.current") if pids else 0
        pids_limit = _read(f"{pids}/pids.max", "max").strip() if pids else "max"
    else:
        base = d["unified"]
        memory = {"usage": _int(f"{base}/memory.current"), "limit": _int(f"{base}/memory.max"),
                  "stats": _kv(f"{base}/memory.stat")}
        cpu_total = _kv(f"{base}/cpu.stat").get("usage_usec", 0) * 1000
        pids_current = _int(f"{base}/pids.current")
        pids_limit = str(_read(f"{base}/pids.max", "max")).strip()
    return {"id": cid, "name": attrs["Name"], "running": running,
            "read": __import__("time").strftime("%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime()),
            "memory_stats": memory,
            "cpu_stats": {"cpu_usage": {"total_usage": cpu_total},
                          "online_cpus": os.cpu_count()},
            "pids_stats": {"current": pids_current,
                           **({"limit": int(pids_limit)} if pids_limit.isdigit() else {})}}
