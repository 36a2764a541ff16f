"""The engine about itself: docker's ``version``, ``info`` and ``df``
(``system df``) in their JSON shapes, for a store on this host."""
import contextlib
import os
import platform as _platform

from .options import RUNTIME_NAMES, host_arch

API_VERSION = "1.45"          # the docker API these shapes follow (docker-py 7.1's default)
MIN_API_VERSION = "1.24"


def _version():
    from importlib import metadata
    try:
        return metadata.version("pycontainer")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def version(engine):
    """docker's ``GET /version``."""
    uname = os.uname()
    details = {"ApiVersion": API_VERSION, "Arch": host_arch(), "KernelVersion": uname.release,
               "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}
    return {"Platform": {"Name": f"pycontainer {_version()}"},
            "Components": [{"Name": "Engine", "Version": _version(), "Details": details},
                           {"Name": "pycontainer-runtime", "Version": _version(),
                            "Details": {"Cgroups": engine.runtime.cg.kind}}],
            "Version": _version(), "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux", "Arch": host_arch(), "KernelVersion": uname.release,
            "GoVersion": "", "GitCommit": "", "BuildTime": "",
            "PythonVersion": _platform.python_version()}


def _mem_total():
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    return 0


def _os_name():
    with contextlib.suppress(OSError):
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def _read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def info(engine):
    """docker's ``GET /info``: counts, the store, the host and its limits."""
    states = [engine.containers.inspect(cid)["State"] for cid in _ids(engine)]
    running = sum(1 for s in states if s["Running"] and not s["Paused"])
    paused = sum(1 for s in states if s["Paused"])
    layout = engine.runtime.cgroup_layout
    cg = engine.runtime.cg
    v1 = layout.v1
    memory = v1.get("memory")
    return {
        "ID": _store_id(engine), "Name": os.uname().nodename,
        "Containers": len(states), "ContainersRunning": running, "ContainersPaused": paused,
        "ContainersStopped": len(states) - running - paused,
        "Images": len(engine.images.list()), "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", _fs_type(engine.root)]],
        "DockerRootDir": engine.root, "ServerVersion": _version(),
        "OperatingSystem": _os_name(), "OSType": "linux", "Architecture": os.uname().machine,
        "KernelVersion": os.uname().release, "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(), "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if cg.kind == "v2" else "1",
        "MemoryLimit": bool(memory) or cg.kind == "v2",
        "SwapLimit": bool(memory and os.path.exists(f"{memory}/memory.memsw.limit_in_bytes")),
        "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True,
        "PidsLimit": True, "OomKillDisable": cg.kind == "v1" and bool(memory),
        "IPv4Forwarding": _read("/proc/sys/net/ipv4/ip_forward") == "1",
        "Runtimes": {name: {"path": "pycontainer"} for name in RUNTIME_NAMES},
        "DefaultRuntime": RUNTIME_NAMES[0], "Swarm": {"LocalNodeState": "inactive"},
        "SecurityOptions": ["name=seccomp,profile=builtin"] +
                           (["name=userns"] if engine.userns_mode else []),
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                    "Log": ["json-file"]},
        "Debug": False, "LoggingDriver": "json-file", "Isolation": "",
        "InitBinary": "pyc-init", "Labels": [], "ExperimentalBuild": False,
    }


def df(engine):
    """docker's ``GET /system/df``: images, containers and volumes with sizes."""
    containers = [engine.containers.inspect(cid) for cid in _ids(engine)]
    used = {}
    for c in containers:
        used[c["Image"]] = used.get(c["Image"], 0) + 1
    images = []
    for rec in engine.images.list():
        images.append({"Id": rec.id, "RepoTags": list(rec.tags), "Size": rec.size,
                       "SharedSize": -1, "Containers": used.get(rec.id, 0),
                       "Created": rec.created})
    out_c = []
    for c in containers:
        upper = os.path.join(c["Runtime"]["LayerDir"], "upper")
        out_c.append({"Id": c["Id"], "Names": [c["Name"]], "Image": c["Config"].get("Image"),
                      "ImageID": c["Image"], "State": c["State"]["Status"],
                      "SizeRw": _du(upper), "Created": c["Created"]})
    vols = []
    for v in engine.volumes.list():
        vols.append(dict(v, UsageData={"Size": _du(v.get("Mountpoint") or ""),
                                       "RefCount": -1}))
    return {"LayersSize": sum(i["Size"] for i in images), "Images": images,
            "Containers": out_c, "Volumes": vols, "BuildCache": []}


def _ids(engine):
    return sorted(engine.containers.ids())


def _store_id(engine):
    import hashlib
    return hashlib.sha256(engine.root.encode()).hexdigest()[:32]


def _fs_type(path):
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and (path == parts[1] or path.startswith(
                        parts[1].rstrip("/") + "/")) and len(parts[1]) >= len(best):
                    best, kind = parts[1], parts[2]
    return kind


def _du(path):
    from ..fstree import size
    return size(path) if path else 0
