"""``/_ping``, ``/version``, ``/info``, ``/system/df``."""
import ipaddress
import os
import platform

from aiohttp import web

from ..app import MAX_VERSION, MIN_VERSION, SETTINGS, Routes, call, engine, fmt
from ..status import NotImplementedYet

routes = Routes()
VERSION = "0.1.0"


def _headers():
    return {"API-Version": fmt(MAX_VERSION), "Docker-Experimental": "false",
            "OSType": "linux", "Server": f"pycontainer/{VERSION} (linux)",
            "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


@routes.get("/_ping")
async def ping(request):
    return web.Response(text="OK", headers=_headers())


@routes.head("/_ping")
async def ping_head(request):
    return web.Response(headers={**_headers(), "Content-Length": "0"})


@routes.get("/version")
async def version(request):
    u = os.uname()
    return web.json_response({
        "Platform": {"Name": "pycontainer"},
        "Components": [{"Name": "Engine", "Version": VERSION,
                        "Details": {"ApiVersion": fmt(MAX_VERSION),
                                    "MinAPIVersion": fmt(MIN_VERSION), "Os": "linux",
                                    "Arch": _arch(), "KernelVersion": u.release}}],
        "Version": VERSION, "ApiVersion": fmt(MAX_VERSION), "MinAPIVersion": fmt(MIN_VERSION),
        "GitCommit": "", "GoVersion": "python" + platform.python_version(), "Os": "linux",
        "Arch": _arch(), "KernelVersion": u.release, "BuildTime": ""}, headers=_headers())


def _arch():
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def _registry_config(conf):
    """dockerd's shape: CIDRs apart, every other insecure registry an index."""
    cidrs, hosts = ["127.0.0.0/8"], []
    for r in conf.insecure_registry:
        try:
            cidrs.append(str(ipaddress.ip_network(r, strict=False)))
        except ValueError:
            hosts.append(r)
    mirrors = list(conf.registry_mirror)
    index = {"docker.io": {"Name": "docker.io", "Mirrors": mirrors, "Secure": True,
                           "Official": True}}
    for h in hosts:
        index[h] = {"Name": h, "Mirrors": [], "Secure": False, "Official": False}
    return {"AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames":
            [], "InsecureRegistryCIDRs": cidrs, "IndexConfigs": index, "Mirrors": mirrors}


def _info(eng, conf):
    states = {"running": 0, "paused": 0, "stopped": 0}
    conts = eng.containers.list(all=True)
    for a in conts:
        st = a["State"]
        key = "paused" if st.get("Paused") else "running" if st.get("Running") else "stopped"
        states[key] += 1
    u = os.uname()
    return {
        "ID": "", "Containers": len(conts), "ContainersRunning": states["running"],
        "ContainersPaused": states["paused"], "ContainersStopped": states["stopped"],
        "Images": len(eng.images.list()), "Driver": "overlay2", "DriverStatus": [],
        "DockerRootDir": eng.root, "Name": u.nodename, "OperatingSystem": "linux",
        "OSType": "linux", "Architecture": u.machine, "KernelVersion": u.release,
        "NCPU": os.cpu_count(), "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf(
            "SC_PHYS_PAGES"), "ServerVersion": VERSION, "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1",
        "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "PidsLimit": True, "IPv4Forwarding": False, "LoggingDriver": "json-file",
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                    "Log": ["json-file"]},
        "RegistryConfig": _registry_config(conf), "Debug": conf.debug,
        "SecurityOptions": ["name=seccomp,profile=builtin"], "Runtimes": {"pyc": {}},
        "DefaultRuntime": "pyc", "Swarm": {"LocalNodeState": "inactive"},
        "LiveRestoreEnabled": True, "Labels": list(conf.label), "ExperimentalBuild": False,
        "Warnings": [],
    }


@routes.get("/info")
async def info(request):
    return web.json_response(await call(_info, engine(request), request.app[SETTINGS]))


def _df(eng):
    imgs = eng.images.list()
    conts = eng.containers.list(all=True)
    vols = eng.volumes.list()
    from ..codec import image_summary
    return {"LayersSize": sum(i.size for i in imgs),
            "Images": [image_summary(i, conts) for i in imgs],
            "Containers": [dict(c, SizeRw=0, SizeRootFs=0) for c in _summaries(conts)],
            "Volumes": [dict(v, UsageData={"Size": -1, "RefCount": -1}) for v in vols],
            "BuildCache": []}


def _summaries(conts):
    from ..codec import container_summary
    return [container_summary(a) for a in conts]


@routes.get("/system/df")
async def df(request):
    return web.json_response(await call(_df, engine(request)))


