"""Resource usage in docker's stats JSON (``GET /containers/{id}/stats``),
read straight from the container's cgroup files (v1 and hybrid hosts: one
directory per controller; v2: the unified one) and, for ``networks``, from
``/proc/<pid>/net/dev`` of its init (its network namespace).

Every reader takes directories as arguments, so the unit tests feed it a
tree of files under a temporary directory.
"""
import json
import os
import time

ZERO_TIME = "0001-01-01T00:00:00Z"     # docker's "never" (preread of a first sample)
_NS = 1_000_000_000
_BLKIO_KEYS = ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
               "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
               "io_time_recursive", "sectors_recursive")


def _read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except (OSError, TypeError):
        return default


def _int(path):
    v = _read(path).strip()
    return int(v) if v.isdigit() else 0


def _kv(path):
    out = {}
    for line in _read(path).splitlines():
        k, _, v = line.partition(" ")
        if v.strip().isdigit():
            out[k] = int(v)
    return out


def now():
    """RFC 3339 with nanoseconds, as docker's ``read``."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // _NS)) + f".{ns % _NS:09d}Z"


def system_cpu_usage(proc_stat="/proc/stat"):
    """The host's CPU time in ns (docker's ``system_cpu_usage``: the first
    line of /proc/stat, user to steal, in clock ticks)."""
    fields = _read(proc_stat).split("\n", 1)[0].split()[1:8]
    return sum(int(x) for x in fields) * _NS // os.sysconf("SC_CLK_TCK")


def _online_cpus():
    return os.sysconf("SC_NPROCESSORS_ONLN")


def _mem_total():
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _capped(limit):
    """An unlimited cgroup reports the machine's memory, as dockerd does."""
    total = _mem_total()
    return total if total and (not limit or limit > total) else limit


def cpu_v1(cpuacct, cpu):
    percpu = [int(x) for x in _read(f"{cpuacct}/cpuacct.usage_percpu").split()]
    throttled = _kv(f"{cpu}/cpu.stat")
    return {"cpu_usage": {"total_usage": _int(f"{cpuacct}/cpuacct.usage"),
                          "percpu_usage": percpu,
                          "usage_in_kernelmode": _int(f"{cpuacct}/cpuacct.usage_sys"),
                          "usage_in_usermode": _int(f"{cpuacct}/cpuacct.usage_user")},
            "system_cpu_usage": system_cpu_usage(), "online_cpus": _online_cpus(),
            "throttling_data": {"periods": throttled.get("nr_periods", 0),
                                "throttled_periods": throttled.get("nr_throttled", 0),
                                "throttled_time": throttled.get("throttled_time", 0)}}


def cpu_v2(base):
    s = _kv(f"{base}/cpu.stat")
    return {"cpu_usage": {"total_usage": s.get("usage_usec", 0) * 1000,
                          "usage_in_kernelmode": s.get("system_usec", 0) * 1000,
                          "usage_in_usermode": s.get("user_usec", 0) * 1000},
            "system_cpu_usage": system_cpu_usage(), "online_cpus": _online_cpus(),
            "throttling_data": {"periods": s.get("nr_periods", 0),
                                "throttled_periods": s.get("nr_throttled", 0),
                                "throttled_time": s.get("throttled_usec", 0) * 1000}}


def memory_v1(mem):
    return {"usage": _int(f"{mem}/memory.usage_in_bytes"),
            "max_usage": _int(f"{mem}/memory.max_usage_in_bytes"),
            "stats": _kv(f"{mem}/memory.stat"), "failcnt": _int(f"{mem}/memory.failcnt"),
            "limit": _capped(_int(f"{mem}/memory.limit_in_bytes"))}


def memory_v2(base):
    return {"usage": _int(f"{base}/memory.current"), "stats": _kv(f"{base}/memory.stat"),
            "limit": _capped(_int(f"{base}/memory.max"))}


def pids(d):
    out = {"current": _int(f"{d}/pids.current")} if d else {}
    limit = _read(f"{d}/pids.max").strip() if d else ""
    if limit.isdigit():
        out["limit"] = int(limit)
    return out


def blkio_v1(blkio):
    """docker's v1 entries: ``{"major", "minor", "op": "Read", "value"}``; the
    CFQ files when they count anything, else the throttle ones. Without a
    blkio cgroup (made only for blkio limits here) every list is None."""
    out = dict.fromkeys(_BLKIO_KEYS)
    if not blkio or not os.path.isdir(blkio):
        return out
    for key, name in (("io_service_bytes_recursive", "io_service_bytes_recursive"),
                      ("io_serviced_recursive", "io_serviced_recursive")):
        rows = _blkio_rows(f"{blkio}/blkio.{name}") or \
            _blkio_rows(f"{blkio}/blkio.throttle.{name}")
        out[key] = rows
    return out


def _blkio_rows(path):
    rows = []
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0] and parts[2].isdigit():
            major, minor = parts[0].split(":")
            rows.append({"major": int(major), "minor": int(minor), "op": parts[1],
                         "value": int(parts[2])})
    return rows


def blkio_v2(base):
    """io.stat (``8:0 rbytes=.. wbytes=.. rios=.. wios=..``) in docker's v2 form."""
    out = dict.fromkeys(_BLKIO_KEYS)
    by_bytes, by_ios = [], []
    for line in _read(f"{base}/io.stat").splitlines():
        dev, *pairs = line.split()
        if ":" not in dev:
            continue
        major, minor = (int(x) for x in dev.split(":"))
        kv = dict(p.split("=", 1) for p in pairs if "=" in p)
        for op, b, n in (("read", "rbytes", "rios"), ("write", "wbytes", "wios")):
            by_bytes.append({"major": major, "minor": minor, "op": op,
                             "value": int(kv.get(b, 0))})
            by_ios.append({"major": major, "minor": minor, "op": op,
                           "value": int(kv.get(n, 0))})
    out["io_service_bytes_recursive"], out["io_serviced_recursive"] = by_bytes, by_ios
    return out


def networks(pid, proc="/proc"):
    """Interface counters of the network namespace of ``pid`` (loopback
    left out, as docker does); None when there is no process to ask."""
    if not pid:
        return None
    text = _read(f"{proc}/{pid}/net/dev")
    if not text:
        return None
    out = {}
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        name, v = name.strip(), rest.split()
        if name == "lo" or len(v) < 12:
            continue
        v = [int(x) for x in v]
        out[name] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2],
                     "rx_dropped": v[3], "tx_bytes": v[8], "tx_packets": v[9],
                     "tx_errors": v[10], "tx_dropped": v[11]}
    return out


def _empty_cpu():
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def sample(kind, dirs, cid, attrs):
    """One stats document of docker's shape (``precpu_stats`` empty)."""
    running = attrs["State"]["Running"]
    doc = {"name": attrs["Name"], "id": cid, "read": now() if running else ZERO_TIME,
           "preread": ZERO_TIME, "num_procs": 0, "storage_stats": {},
           "precpu_stats": _empty_cpu(), "running": running}
    if not running:
        return {**doc, "pids_stats": {}, "blkio_stats": dict.fromkeys(_BLKIO_KEYS),
                "cpu_stats": _empty_cpu(), "memory_stats": {}}
    if kind == "v2":
        base = dirs["unified"]
        doc.update(cpu_stats=cpu_v2(base), memory_stats=memory_v2(base), pids_stats=pids(base),
                   blkio_stats=blkio_v2(base))
    else:
        cpuacct = dirs.get("cpuacct") or dirs.get("cpu")
        doc.update(cpu_stats=cpu_v1(cpuacct, dirs.get("cpu") or cpuacct),
                   memory_stats=memory_v1(dirs["memory"]) if dirs.get("memory") else {},
                   pids_stats=pids(dirs.get("pids")), blkio_stats=blkio_v1(dirs.get("blkio")))
    nets = networks(attrs["State"].get("Pid"))
    if nets is not None and attrs["HostConfig"].get("NetworkMode") not in ("host", "none"):
        doc["networks"] = nets
    return doc


def follow(prev, cur):
    """``cur`` with ``prev``'s cpu and time as its pre-sample, as docker's stream."""
    cur["precpu_stats"], cur["preread"] = prev["cpu_stats"], prev["read"]
    return cur


def encode(doc):
    """One line of docker's stats stream (``decode=False``)."""
    return json.dumps(doc).encode() + b"\n"
