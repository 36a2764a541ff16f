"""Docker's JSON <-> the engine's keywords and records.

Requests: ``create_kwargs`` turns ``POST /containers/create``'s body into the
engine's run() keywords (docker-py's names), refusing wrong types with a 400.
Answers: container summaries (``docker ps``), image summaries and inspect
documents, and the 8-byte multiplexed stream frames.
"""
import base64
import datetime
import json
import struct
import time

import orjson

from .status import BadRequest

STDOUT, STDERR = 1, 2
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def frame(stream, data):
    """One frame of docker's multiplexed stream: [stream, 0, 0, 0, size32be] + data."""
    return struct.pack(">BxxxL", stream, len(data)) + data


def json_body(doc):
    """``doc`` as JSON bytes: orjson (a listing of 1,000 containers is ~15 ms
    in json, ~3 in orjson), json for what orjson refuses (a non-str key, a
    lone surrogate from a non-UTF-8 environment, an int beyond 64 bits)."""
    try:
        return orjson.dumps(doc)
    except TypeError:           # orjson.JSONEncodeError
        return json.dumps(doc).encode()


def json_line(doc):
    return (json.dumps(doc) + "\n").encode()


def path_stat(stat):
    """``X-Docker-Container-Path-Stat``: the stat as base64 JSON."""
    return base64.b64encode(json.dumps(stat).encode()).decode()


# -- query strings -------------------------------------------------------------
def flag(request, name, default=False):
    v = request.query.get(name)
    if v is None:
        return default
    return v.lower() not in ("", "0", "false", "no")


def integer(request, name, default=None):
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise BadRequest(f"invalid value for {name}: {v!r} is not an integer") from None


def seconds(request, name):
    """``since``/``until``: unix seconds, docker's CLI sends ``secs.nanos``; None for 0."""
    v = request.query.get(name)
    if not v:
        return None
    try:
        return float(v) or None
    except ValueError:
        raise BadRequest(f"invalid value for {name}: {v!r} is not a time in seconds") from None


def filters(request):
    """``?filters=`` (JSON) -> the dict the engine's Filters take."""
    raw = request.query.get("filters")
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest(f"invalid filters: {raw[:100]!r} is not JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest("invalid filters: must be a JSON object")
    return doc


# -- create --------------------------------------------------------------------
def go_keys(doc, names):
    """``doc`` with its keys matched to ``names`` as Go's encoding/json
    matches struct fields: the exact name, else the name in any case
    (docker-py sends exec's ``detachKeys``)."""
    lower = {n.lower(): n for n in names}
    out = {}
    for k, v in doc.items():
        name = k if k in names else lower.get(k.lower(), k) if isinstance(k, str) else k
        if name not in out or k == name:
            out[name] = v
    return out


def _typed(doc, key, kind, what):
    v = doc.get(key)
    if v is None:
        return None
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise BadRequest(f"json: cannot unmarshal {type(v).__name__} into {what}.{key} "
                         f"of type {name}")
    return v


def _strings(doc, key, what):
    v = doc.get(key)
    if v is None:
        return None
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise BadRequest(f"json: cannot unmarshal {type(v).__name__} into {what}.{key} "
                         "of type []string")
    return v


# body key -> engine keyword, and the JSON type docker's Go struct has
_CONFIG = {"WorkingDir": ("working_dir", str), "User": ("user", str),
           "Hostname": ("hostname", str), "Labels": ("labels", dict),
           "StopTimeout": ("stop_timeout", int), "Domainname": ("domainname", str),
           "MacAddress": ("mac_address", str), "StopSignal": ("stop_signal", str)}
_HOST = {"Memory": ("mem_limit", int), "MemorySwap": ("memswap_limit", int),
         "NanoCpus": ("nano_cpus", int), "CpuShares": ("cpu_shares", int),
         "CpuQuota": ("cpu_quota", int), "CpuPeriod": ("cpu_period", int),
         "CpusetCpus": ("cpuset_cpus", str), "PidsLimit": ("pids_limit", int),
         "Privileged": ("privileged", bool), "ReadonlyRootfs": ("read_only", bool),
         "CapAdd": ("cap_add", list), "CapDrop": ("cap_drop", list),
         "SecurityOpt": ("security_opt", list), "Tmpfs": ("tmpfs", dict),
         "Sysctls": ("sysctls", dict), "Binds": ("volumes", list),
         "PublishAllPorts": ("publish_all_ports", bool), "UsernsMode": ("userns_mode", str),
         "LogConfig": ("log_config", dict), "Mounts": ("mounts", list),
         "VolumesFrom": ("volumes_from", list), "Links": ("links", list),
         "Devices": ("devices", list), "DeviceCgroupRules": ("device_cgroup_rules", list),
         "DeviceRequests": ("device_requests", list), "Init": ("init", bool),
         "PidMode": ("pid_mode", str), "IpcMode": ("ipc_mode", str),
         "UTSMode": ("uts_mode", str), "CgroupnsMode": ("cgroupns", str),
         "ExtraHosts": ("extra_hosts", list), "Dns": ("dns", list),
         "DnsOptions": ("dns_opt", list), "DnsSearch": ("dns_search", list),
         "GroupAdd": ("group_add", list), "OomKillDisable": ("oom_kill_disable", bool),
         "OomScoreAdj": ("oom_score_adj", int), "ShmSize": ("shm_size", int),
         "MemoryReservation": ("mem_reservation", int), "CpusetMems": ("cpuset_mems", str),
         "CpuRealtimePeriod": ("cpu_rt_period", int),
         "CpuRealtimeRuntime": ("cpu_rt_runtime", int), "BlkioWeight": ("blkio_weight", int),
         "BlkioWeightDevice": ("blkio_weight_device", list),
         "BlkioDeviceReadBps": ("device_read_bps", list),
         "BlkioDeviceWriteBps": ("device_write_bps", list),
         "BlkioDeviceReadIOps": ("device_read_iops", list),
         "BlkioDeviceWriteIOps": ("device_write_iops", list),
         "CgroupParent": ("cgroup_parent", str), "Runtime": ("runtime", str),
         "Isolation": ("isolation", str), "StorageOpt": ("storage_opt", dict),
         "VolumeDriver": ("volume_driver", str), "KernelMemory": ("kernel_memory", int),
         "CpuCount": ("cpu_count", int), "CpuPercent": ("cpu_percent", int)}
_BUILTIN_NETWORKS = ("bridge", "default", "host", "none")


def create_kwargs(body, name=None):
    """``(image, command, kwargs, auto_remove)`` for engine.containers.create."""
    image = _typed(body, "Image", str, "Config")
    if not image:
        raise BadRequest("Config cannot be empty in order to create a container")
    kw = {}
    for key, kwname in (("Tty", "tty"), ("OpenStdin", "stdin_open")):
        if _typed(body, key, bool, "Config"):
            kw[kwname] = True
    for key in ("AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"):
        _typed(body, key, bool, "Config")
    if name:
        kw["name"] = name
    cmd = _strings(body, "Cmd", "Config")
    ep = _strings(body, "Entrypoint", "Config")
    if ep is not None:
        kw["entrypoint"] = ep
    env = _strings(body, "Env", "Config")
    if env:
        kw["environment"] = env
    for key, (kwname, kind) in _CONFIG.items():
        v = _typed(body, key, kind, "Config")
        if v not in (None, ""):
            kw[kwname] = v
    host = _typed(body, "HostConfig", dict, "Config") or {}
    for key, (kwname, kind) in _HOST.items():
        v = _typed(host, key, kind, "HostConfig")
        if v not in (None, "", 0, [], {}, False) and not (key == "PidsLimit" and v < 0):
            kw[kwname] = v
    swappiness = _typed(host, "MemorySwappiness", int, "HostConfig")
    if swappiness is not None and swappiness >= 0:      # -1: the kernel's own
        kw["mem_swappiness"] = swappiness
    log = kw.get("log_config")
    if isinstance(log, dict) and not log.get("Type"):      # the default driver
        if log.get("Config"):
            kw["log_config"] = dict(log, Type="json-file")
        else:
            del kw["log_config"]        # the CLI's {"Type": "", "Config": {}}
    mode = _typed(host, "NetworkMode", str, "HostConfig")
    if mode and mode != "default":
        kw["network_mode"] = mode
    endpoints = _endpoints(body)
    if endpoints:
        kw["networking_config"] = {"EndpointsConfig": endpoints}
        if mode in endpoints:           # the engine names the first network network=
            kw["network"] = kw.pop("network_mode")
    anonymous = [p for p in _typed(body, "Volumes", dict, "Config") or {}
                 if p not in _bind_targets(kw)]
    if anonymous:
        kw["volumes"] = list(kw.get("volumes") or []) + anonymous
    restart = _typed(host, "RestartPolicy", dict, "HostConfig") or {}
    if restart.get("Name") not in (None, "", "no"):
        kw["restart_policy"] = {"Name": restart["Name"],
                                "MaximumRetryCount": restart.get("MaximumRetryCount") or 0}
    ports = _typed(host, "PortBindings", dict, "HostConfig")
    if ports:
        kw["ports"] = {k: [(b.get("HostIp") or "", b.get("HostPort") or None)
                           for b in (v or [{}]) if isinstance(b, dict)]
                       for k, v in ports.items()}
    ulimits = _typed(host, "Ulimits", list, "HostConfig")
    if ulimits:
        kw["ulimits"] = ulimits
    health = _typed(body, "Healthcheck", dict, "Config")
    if health:
        kw["healthcheck"] = health
    auto_remove = bool(_typed(host, "AutoRemove", bool, "HostConfig"))
    return image, cmd, kw, auto_remove


def _endpoints(body):
    """NetworkingConfig.EndpointsConfig for user networks, with the empty
    fields docker's clients send left out (the built-in modes take none)."""
    net = _typed(body, "NetworkingConfig", dict, "") or {}
    eps = _typed(net, "EndpointsConfig", dict, "NetworkingConfig") or {}
    out = {}
    for name, ep in eps.items():
        if (name in _BUILTIN_NETWORKS and name != "bridge") or name.startswith("container:"):
            continue
        if ep is not None and not isinstance(ep, dict):
            raise BadRequest(f"json: cannot unmarshal {type(ep).__name__} into "
                             "NetworkingConfig.EndpointsConfig of type EndpointSettings")
        ep = {k: v for k, v in (ep or {}).items() if v not in (None, "", 0, [], {})}
        if isinstance(ep.get("IPAMConfig"), dict):
            ipam = {k: v for k, v in ep["IPAMConfig"].items() if v not in (None, "", [])}
            ep.pop("IPAMConfig")
            if ipam:
                ep["IPAMConfig"] = ipam
        for k in ("NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen",
                  "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "DNSNames"):
            ep.pop(k, None)     # the answers of inspect, empty in a request
        if ep or name != "bridge":      # the default bridge's: only when it says something
            out[name] = ep
    return out


def _bind_targets(kw):
    """Where the binds of ``kw["volumes"]`` ("src:dst[:opts]") land."""
    out = set()
    for b in kw.get("volumes") or []:
        parts = str(b).split(":")
        out.add(parts[1] if len(parts) > 1 else parts[0])
    return out


# -- answers -------------------------------------------------------------------
def epoch(ts):
    """RFC 3339 (nanoseconds, Z) -> unix seconds; 0 for None or a zero time."""
    if not ts or ts.startswith("0001-"):
        return 0
    try:        # fromisoformat: strptime cost a ps of 1,000 containers 40 ms
        return int(datetime.datetime.fromisoformat(ts[:19] + "+00:00").timestamp())
    except ValueError:
        return 0


def _ago(secs):
    secs = max(0, int(time.time() - secs))
    if secs < 1:
        return "Less than a second"
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if secs >= 2 * size:
            return f"{secs // size} {unit}"
    if secs >= 3600:
        return "About an hour"
    if secs >= 60:
        return "About a minute"
    return f"{secs} seconds"


def status_text(st):
    """``docker ps``'s STATUS column: "Up 3 seconds", "Exited (0) 2 minutes ago"."""
    if st.get("Running"):
        up = "Up " + _ago(epoch(st.get("StartedAt")))
        if st.get("Paused"):
            return up + " (Paused)"
        health = (st.get("Health") or {}).get("Status")
        if health == "starting":
            return up + " (health: starting)"
        return up + f" ({health})" if health in ("healthy", "unhealthy") else up
    if st.get("Status") == "created":
        return "Created"
    if st.get("Restarting"):
        return f"Restarting ({st.get('ExitCode', 0)})"
    return f"Exited ({st.get('ExitCode', 0)}) {_ago(epoch(st.get('FinishedAt')))} ago"


def summary_json(attrs, memo):
    """:func:`container_summary` as JSON bytes, kept in ``memo`` (cid ->
    (record, summary, status, bytes)): a record the engine handed out before
    (a shared one, at rest) is encoded again only when its STATUS text,
    which moves with the clock, has changed."""
    status = status_text(attrs["State"])
    hit = memo.get(attrs["Id"])
    if hit is not None and hit[0] is attrs:
        if hit[2] == status:
            return hit[3]
        out = dict(hit[1], Status=status)
    else:
        out = container_summary(attrs)
    body = json_body(out)
    memo[attrs["Id"]] = (attrs, out, status, body)
    return body


def _ports(attrs):
    out = []
    for key, binds in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for b in binds or [None]:
            p = {"PrivatePort": int(port), "Type": proto or "tcp"}
            if b:
                p.update(IP=b.get("HostIp") or "0.0.0.0", PublicPort=int(b["HostPort"]))
            out.append(p)
    return out


def container_summary(attrs):
    """A container's entry in ``GET /containers/json``."""
    cfg = attrs.get("Config") or {}
    argv = (cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])
    st = attrs["State"]
    ns = attrs.get("NetworkSettings") or {}
    return {"Id": attrs["Id"], "Names": [attrs["Name"]], "Image": cfg.get("Image") or
            attrs.get("Image"), "ImageID": attrs.get("Image"), "Command": " ".join(argv),
            "Created": epoch(attrs.get("Created")), "Ports": _ports(attrs),
            "Labels": cfg.get("Labels") or {}, "State": st["Status"],
            "Status": status_text(st),
            "HostConfig": {"NetworkMode": (attrs.get("HostConfig") or {}).get(
                "NetworkMode") or "bridge"},
            "NetworkSettings": {"Networks": ns.get("Networks") or {}},
            "Mounts": attrs.get("Mounts") or []}


_CONFIG_DEFAULTS = {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
                    "AttachStdout": False, "AttachStderr": False, "Tty": False,
                    "OpenStdin": False, "StdinOnce": False, "Env": [], "Cmd": None,
                    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
                    "OnBuild": None, "Labels": {}}
_HOST_DEFAULTS = {"LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "bridge",
                  "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                  "AutoRemove": False, "Binds": None, "PortBindings": {}, "Privileged": False,
                  "CapAdd": None, "CapDrop": None, "ReadonlyRootfs": False, "Memory": 0,
                  "NanoCpus": 0, "PidsLimit": None, "Tmpfs": None}


def container_inspect(attrs, auto_remove=False):
    """``GET /containers/{id}/json``: the engine's attrs with the fields
    docker's clients read filled in (docker-py reads Config.Tty, HostConfig.LogConfig)."""
    doc = dict(attrs)
    cfg = dict(_CONFIG_DEFAULTS, **(attrs.get("Config") or {}))
    host = dict(_HOST_DEFAULTS, **(attrs.get("HostConfig") or {}))
    if auto_remove:
        host["AutoRemove"] = True
    argv = (cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])
    doc.update(Config=cfg, HostConfig=host, Path=argv[0] if argv else "", Args=argv[1:],
               Driver="overlay2", Platform="linux",
               RestartCount=(attrs.get("State") or {}).get("RestartCount", 0))
    return doc


def _image_config(rec):
    return rec.config or {}


def repo_digests(rec):
    """``docker.io/library/busybox@sha256:..`` -> ``busybox@sha256:..``, as docker shows them."""
    out = []
    for ref in getattr(rec, "repo_digests", None) or ():
        name, _, digest = ref.partition("@")
        if name.startswith("docker.io/"):
            name = name[len("docker.io/"):]
            if name.startswith("library/") and name.count("/") == 1:
                name = name[len("library/"):]
        out.append(f"{name}@{digest}")
    return out


def image_summary(rec, containers=()):
    """An image's entry in ``GET /images/json``."""
    cfg = _image_config(rec)
    used = sum(1 for c in containers if c.get("Image") == rec.id)
    return {"Id": rec.id, "ParentId": "", "RepoTags": list(rec.tags),
            "RepoDigests": repo_digests(rec),
            "Created": epoch(cfg.get("created")), "Size": rec.size, "SharedSize": -1,
            "VirtualSize": rec.size, "Labels": (cfg.get("config") or {}).get("Labels") or {},
            "Containers": used}


# What dockerd shows of an image's config when the image does not say
_IMAGE_CONFIG_DEFAULTS = dict(_CONFIG_DEFAULTS, Env=None, Labels=None)


def image_inspect(rec):
    """``GET /images/{name}/json``."""
    cfg = _image_config(rec)
    history = cfg.get("history") or []
    return {"Id": rec.id, "RepoTags": list(rec.tags), "RepoDigests": repo_digests(rec),
            "Parent": rec.parent,
            "Comment": history[-1].get("comment", "") if history else "",
            "Created": cfg.get("created"), "Author": cfg.get("author", ""),
            "Config": dict(_IMAGE_CONFIG_DEFAULTS, **(cfg.get("config") or {})),
            "Architecture": cfg.get("architecture"),
            "Os": cfg.get("os"), "Size": rec.size, "VirtualSize": rec.size,
            "GraphDriver": {"Name": "overlay2", "Data": {}},
            "RootFS": {"Type": "layers", "Layers": list(rec.diff_ids)},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}}


def image_history(rec):
    """``GET /images/{name}/history``: the steps, newest first."""
    cfg = _image_config(rec)
    sizes = list(rec.layer_sizes)
    out = []
    for step in cfg.get("history") or [{}] * len(sizes):
        size = 0 if step.get("empty_layer") or not sizes else sizes.pop(0)
        out.append({"Id": "<missing>", "Created": epoch(step.get("created")),
                    "CreatedBy": step.get("created_by", ""), "Tags": None, "Size": size,
                    "Comment": step.get("comment", "")})
    out.reverse()
    if out:
        out[0].update(Id=rec.id, Tags=list(rec.tags) or None)
    return out


# -- images: registry auth, build and import options ---------------------------
def registry_auth(header):
    """``X-Registry-Auth`` (base64url JSON, padding optional) -> the engine's
    ``auth_config`` dict, or None when absent or empty; 400 when unreadable."""
    if not header or not header.strip():
        return None
    text = header.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        doc = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("X-Registry-Auth: not base64-encoded JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest("X-Registry-Auth: must encode a JSON object")
    auth = {k: v for k, v in doc.items() if k in ("username", "password", "identitytoken",
                                                  "registrytoken") and v}
    return auth or None


def json_query(request, name, kind, default=None):
    """A query parameter holding JSON of type ``kind`` (buildargs, labels...)."""
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        v = json.loads(raw)
    except ValueError:
        raise BadRequest(f"invalid value for {name}: not JSON") from None
    if v is None:
        return default
    if not isinstance(v, kind):
        raise BadRequest(f"invalid value for {name}: must be a JSON {kind.__name__}")
    return v


def build_options(request):
    """``POST /build``'s query -> the keywords of ``engine.builds.build``."""
    q = request.query
    if q.get("remote"):
        raise BadRequest("build: a remote context (git or URL) is not supported: send the "
                         "context as the request body")
    if q.get("version") not in (None, "", "1"):
        raise BadRequest(f"build: builder version {q.get('version')!r} is not supported "
                         "(BuildKit); use the legacy builder (DOCKER_BUILDKIT=0)")
    o = {"tag": [t for t in q.getall("t", []) if t] or None,
         "dockerfile": q.get("dockerfile") or None, "target": q.get("target") or None,
         "nocache": flag(request, "nocache"), "pull": flag(request, "pull"),
         "rm": flag(request, "rm", True), "forcerm": flag(request, "forcerm"),
         "quiet": flag(request, "q"), "platform": q.get("platform") or None,
         "buildargs": json_query(request, "buildargs", dict),
         "labels": json_query(request, "labels", dict),
         "cache_from": json_query(request, "cachefrom", list),
         "squash": flag(request, "squash")}
    if not all(isinstance(r, str) for r in o["cache_from"] or ()):
        raise BadRequest("invalid value for cachefrom: a list of image names")
    for k, v in (o["buildargs"] or {}).items():
        if v is not None and not isinstance(v, str):
            raise BadRequest(f"invalid value for buildargs: {k} must be a string")
    mode = q.get("networkmode")
    if mode and mode != "default":
        o["network_mode"] = mode
    hosts = [h for v in q.getall("extrahosts", []) for h in v.split(",") if h]
    if hosts:
        o["extra_hosts"] = hosts
    if integer(request, "shmsize", 0):
        o["shmsize"] = integer(request, "shmsize")
    limits = {k: integer(request, k, 0) for k in ("memory", "memswap", "cpushares")}
    limits = {k: v for k, v in limits.items() if v}
    if q.get("cpusetcpus"):
        limits["cpusetcpus"] = q["cpusetcpus"]
    if limits:
        o["container_limits"] = limits
    return {k: v for k, v in o.items() if v not in (None, False)} | {"rm": o["rm"]}
