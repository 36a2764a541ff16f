"""docker-py's low-level ``APIClient`` over a pycontainer client: ids and
docker's dicts in, docker's dicts out, for harnesses that call
``client.api.create_container(...)``, ``containers(all=True)``,
``exec_create``/``exec_start``/``exec_inspect``, ``port()``.

Every call goes through the client's models (so through its backend, as the
models do); nothing here talks to the engine directly.
"""
import json
import os
import shlex
import threading

from .. import errors, types

# create_host_config()'s docker-py keywords that run() spells differently
_HOST_RENAMES = {"binds": "volumes", "port_bindings": "ports"}
# docker-py's create_host_config keywords (docker/types/containers.py HostConfig)
HOST_CONFIG_KWARGS = (
    "binds", "port_bindings", "lxc_conf", "publish_all_ports", "links", "privileged", "dns",
    "dns_search", "volumes_from", "network_mode", "restart_policy", "cap_add", "cap_drop",
    "devices", "extra_hosts", "read_only", "pid_mode", "ipc_mode", "security_opt", "ulimits",
    "log_config", "mem_limit", "memswap_limit", "mem_reservation", "kernel_memory",
    "mem_swappiness", "cgroup_parent", "group_add", "cpu_quota", "cpu_period", "blkio_weight",
    "blkio_weight_device", "device_read_bps", "device_write_bps", "device_read_iops",
    "device_write_iops", "oom_kill_disable", "shm_size", "sysctls", "tmpfs", "oom_score_adj",
    "dns_opt", "cpu_shares", "cpuset_cpus", "userns_mode", "uts_mode", "pids_limit",
    "isolation", "auto_remove", "storage_opt", "init", "init_path", "volume_driver",
    "cpu_count", "cpu_percent", "nano_cpus", "cpuset_mems", "runtime", "mounts",
    "cpu_rt_period", "cpu_rt_runtime", "device_cgroup_rules", "device_requests", "cgroupns")


class HostConfig(dict):
    """What :meth:`APIClient.create_host_config` returns: docker-py's
    keywords as given (the engine validates them at ``create_container``)."""


class APIClient:
    """docker-py's ``APIClient`` methods over ``client`` (a pycontainer Client).

    >>> api = docker.from_env().api
    >>> cid = api.create_container("busybox", ["sleep", "30"],
    ...     host_config=api.create_host_config(port_bindings={80: None}))["Id"]
    >>> api.start(cid); api.port(cid, 80)
    [{'HostIp': '0.0.0.0', 'HostPort': '32768'}]
    """

    def __init__(self, client, version=None, user_agent=None, base_url=None):
        self._client = client
        self._version = version
        self.base_url = base_url or "local://" + client.root
        self.headers = {"User-Agent": user_agent or "pycontainer-docker"}
        self._execs = {}
        self._lock = threading.Lock()

    # -- system ---------------------------------------------------------------------
    @property
    def api_version(self):
        return self._version or self._client.version()["ApiVersion"]

    def version(self, api_version=True):
        return self._client.version()

    def ping(self):
        return self._client.ping()

    def info(self):
        return self._client.info()

    def df(self):
        return self._client.df()

    def close(self):
        self._execs.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- containers -----------------------------------------------------------------
    def _c(self, container):
        """A Container for an id, a name, or docker-py's ``{"Id": ...}``."""
        if isinstance(container, dict):
            container = container.get("Id") or container.get("id")
        return self._client.containers.get(container)

    def containers(self, quiet=False, all=False, trunc=False, latest=False, since=None,
                   before=None, limit=-1, size=False, filters=None):
        """``GET /containers/json``: docker's list entries (``Id``, ``Names``,
        ``Image``, ``Ports``, ``State``, ``Status``...); ``quiet``: only ``Id``."""
        from ..api.codec import container_summary
        found = self._client.containers.list(all=all, before=before, filters=filters,
                                             limit=1 if latest else limit, since=since)
        if quiet:
            return [{"Id": c.id[:12] if trunc else c.id} for c in found]
        out = []
        for c in found:
            entry = container_summary(c.attrs)
            if trunc:
                entry["Id"] = entry["Id"][:12]
            if size:
                entry["SizeRw"] = c.attrs.get("SizeRw", 0)
            out.append(entry)
        return out

    def inspect_container(self, container):
        return self._c(container).attrs

    def create_host_config(self, *args, **kwargs):
        """docker-py's keywords (``binds``, ``port_bindings``, ``mem_limit``...)."""
        if args:
            raise errors.InvalidArgument("create_host_config() takes keyword arguments only")
        bad = sorted(set(kwargs) - set(HOST_CONFIG_KWARGS))
        if bad:
            raise errors.InvalidArgument(f"create_host_config: unknown keyword(s) {bad}")
        return HostConfig(kwargs)

    def create_networking_config(self, endpoints_config=None):
        return {"EndpointsConfig": dict(endpoints_config or {})}

    def create_endpoint_config(self, *args, **kwargs):
        return types.EndpointConfig(None, *args, **kwargs)

    def create_container(self, image, command=None, hostname=None, user=None, detach=False,
                         stdin_open=False, tty=False, ports=None, environment=None,
                         volumes=None, network_disabled=False, name=None, entrypoint=None,
                         working_dir=None, domainname=None, host_config=None, mac_address=None,
                         labels=None, stop_signal=None, networking_config=None,
                         healthcheck=None, stop_timeout=None, runtime=None,
                         use_config_proxy=True, platform=None):
        """A created container: ``{"Id": ..., "Warnings": []}``.

        ``ports`` (the exposed ports) are published only as ``host_config``'s
        ``port_bindings`` or ``publish_all_ports`` say, as docker does;
        ``volumes`` (anonymous volume paths) become volumes at those paths.
        """
        kw = dict(hostname=hostname, user=user, stdin_open=stdin_open, tty=tty,
                  environment=environment, network_disabled=network_disabled, name=name,
                  entrypoint=entrypoint, working_dir=working_dir, domainname=domainname,
                  mac_address=mac_address, labels=labels, stop_signal=stop_signal,
                  healthcheck=healthcheck, stop_timeout=stop_timeout, runtime=runtime,
                  platform=platform)
        kw = {k: v for k, v in kw.items() if v not in (None, False)}
        if not use_config_proxy:
            kw["use_config_proxy"] = False
        kw.update(self._host_kwargs(host_config))
        if volumes:
            anon = [volumes] if isinstance(volumes, str) else list(volumes)
            have = kw.get("mounts") or []
            kw["mounts"] = list(have) + [types.Mount(p, None) for p in anon if
                                         not _bound(kw.get("volumes"), p)]
        if ports and kw.get("publish_all_ports"):
            kw["ports"] = {**{_port_key(p): None for p in ports}, **(kw.get("ports") or {})}
        if networking_config:
            eps = networking_config.get("EndpointsConfig", networking_config)
            kw["networking_config"] = eps
            if len(eps) == 1 and "network" not in kw and "network_mode" not in kw:
                kw["network"] = next(iter(eps))
        c = self._client.containers.create(image, command, **kw)
        return {"Id": c.id, "Warnings": []}

    def _host_kwargs(self, host_config):
        if not host_config:
            return {}
        if not isinstance(host_config, dict):
            raise errors.InvalidArgument("host_config must be create_host_config()'s result")
        if isinstance(host_config, HostConfig) or all(k[:1].islower() for k in host_config):
            return {_HOST_RENAMES.get(k, k): v for k, v in host_config.items()
                    if v is not None}
        from ..api.codec import create_kwargs          # docker's HostConfig JSON
        _, _, kw, auto_remove = create_kwargs({"Image": "-", "HostConfig": host_config})
        return {**kw, **({"auto_remove": True} if auto_remove else {})}

    def start(self, container, *args, **kwargs):
        if args or kwargs:
            raise errors.InvalidArgument("start() takes no host config: pass it to "
                                         "create_container(host_config=...)")
        self._c(container).start()

    def stop(self, container, timeout=None):
        self._c(container).stop(timeout=timeout)

    def restart(self, container, timeout=10):
        self._c(container).restart(timeout=timeout)

    def kill(self, container, signal=None):
        self._c(container).kill(signal=signal)

    def pause(self, container):
        self._c(container).pause()

    def unpause(self, container):
        self._c(container).unpause()

    def wait(self, container, timeout=None, condition=None):
        return self._c(container).wait(timeout=timeout, condition=condition or "not-running")

    def logs(self, container, stdout=True, stderr=True, stream=False, timestamps=False,
             tail="all", since=None, follow=None, until=None):
        return self._c(container).logs(stdout=stdout, stderr=stderr, stream=stream,
                                       timestamps=timestamps, tail=tail, since=since,
                                       follow=follow, until=until)

    def remove_container(self, container, v=False, link=False, force=False):
        if link:        # "parent/alias": a legacy link, not a container
            self._client._backend.containers.remove_link(container)
            return
        self._c(container).remove(v=v, force=force)

    def rename(self, container, name):
        self._c(container).rename(name)

    def top(self, container, ps_args=None):
        return self._c(container).top(ps_args=ps_args)

    def diff(self, container):
        return self._c(container).diff()

    def stats(self, container, decode=None, stream=True, one_shot=None):
        return self._c(container).stats(decode=decode, stream=stream, one_shot=one_shot)

    def export(self, container, chunk_size=2 << 20):
        return self._c(container).export(chunk_size=chunk_size)

    def get_archive(self, container, path, chunk_size=2 << 20, encode_stream=False):
        return self._c(container).get_archive(path, chunk_size, encode_stream)

    def put_archive(self, container, path, data):
        return self._c(container).put_archive(path, data)

    def port(self, container, private_port):
        """The host bindings of ``private_port`` (``80`` tries tcp, udp, sctp;
        ``"53/udp"`` that one): ``[{"HostIp": ..., "HostPort": ...}]`` or None."""
        ports = (self.inspect_container(container).get("NetworkSettings") or {}).get(
            "Ports") or {}
        private_port = str(private_port)
        if "/" in private_port:
            return ports.get(private_port)
        found = None
        for proto in ("tcp", "udp", "sctp"):
            found = ports.get(f"{private_port}/{proto}")
            if found:
                break
        return found

    # -- exec ---------------------------------------------------------------------
    def exec_create(self, container, cmd, stdout=True, stderr=True, stdin=False, tty=False,
                    privileged=False, user="", environment=None, workdir=None,
                    detach_keys=None):
        """An exec instance (``{"Id": ...}``) to run with :meth:`exec_start`."""
        c = self._c(container)
        if c.status != "running":
            raise errors.Conflict(f"Container {c.id} is not running")
        eid = os.urandom(32).hex()
        argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)      # as docker-py
        with self._lock:
            self._execs[eid] = {
                "ID": eid, "ContainerID": c.id, "Running": False, "ExitCode": None,
                "OpenStdin": stdin, "OpenStdout": stdout, "OpenStderr": stderr,
                "CanRemove": False, "DetachKeys": detach_keys or "", "Pid": 0,
                "ProcessConfig": {"tty": tty, "entrypoint": argv[0], "arguments": argv[1:],
                                  "privileged": privileged, "user": user},
                "_run": dict(cmd=cmd, stdout=stdout, stderr=stderr, stdin=stdin,
                             privileged=privileged, user=user, environment=environment,
                             workdir=workdir, detach_keys=detach_keys)}
        return {"Id": eid}

    def _exec(self, exec_id):
        if isinstance(exec_id, dict):
            exec_id = exec_id.get("Id")
        rec = self._execs.get(exec_id)
        if rec is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return rec

    def exec_start(self, exec_id, detach=False, tty=False, stream=False, socket=False,
                   demux=False):
        """Run the exec: its output (bytes; an iterator with ``stream``; a
        socket with ``socket``); ``exec_inspect`` has ``ExitCode`` once it ended."""
        rec = self._exec(exec_id)
        if rec["Running"] or rec["ExitCode"] is not None:
            raise errors.Conflict(f"exec {rec['ID']} has already been started")
        c = self._client.containers.get(rec["ContainerID"])
        rec["Running"] = True
        try:
            res = c.exec_run(tty=tty or rec["ProcessConfig"]["tty"], detach=detach,
                             stream=stream, socket=socket, demux=demux, **rec["_run"])
        except BaseException:
            rec["Running"] = False
            raise
        if detach:
            rec["Running"], rec["_detached"] = False, True
            return b""
        if stream or socket:
            return _Finishing(res, rec) if stream else res.output
        rec["Running"], rec["ExitCode"] = False, res.exit_code
        return res.output

    def exec_inspect(self, exec_id):
        rec = self._exec(exec_id)
        return {k: v for k, v in rec.items() if not k.startswith("_")}

    def exec_resize(self, exec_id, height=None, width=None):
        raise errors.InvalidArgument("exec_resize: resize the socket exec_start(socket=True) "
                                     "returned (its resize(height, width))")

    # -- images ---------------------------------------------------------------------
    def images(self, name=None, quiet=False, all=False, filters=None):
        """``GET /images/json``: docker's list entries; ``quiet``: the ids."""
        found = self._client.images.list(name=name, all=all, filters=filters)
        if quiet:
            return [i.id for i in found]
        return [_image_summary(i.attrs) for i in found]

    def inspect_image(self, image):
        return self._client.images.get(image).attrs

    def pull(self, repository, tag=None, stream=False, auth_config=None, decode=False,
             platform=None, all_tags=False):
        """Pull, then docker's progress messages (JSON lines; dicts with
        ``decode``; an iterator with ``stream``)."""
        img = self._client.images.pull(repository, tag=tag, auth_config=auth_config,
                                       platform=platform, all_tags=all_tags)
        ref = repository if tag is None or ":" in repository.rsplit("/", 1)[-1] \
            else f"{repository}:{tag}"
        first = img[0] if isinstance(img, list) else img
        msgs = [{"status": f"Pulling from {repository}", "id": tag or "latest"},
                {"status": f"Digest: {first.id}"},
                {"status": f"Status: Downloaded newer image for {ref}"}]
        lines = msgs if decode else [json.dumps(m).encode() + b"\r\n" for m in msgs]
        if stream:
            return iter(lines)
        return "".join(json.dumps(m) + "\r\n" for m in msgs)

    def tag(self, image, repository, tag=None, force=False):
        return self._client.images.get(image).tag(repository, tag=tag, force=force)

    def remove_image(self, image, force=False, noprune=False):
        self._client.images.remove(image, force=force, noprune=noprune)

    def history(self, image):
        return self._client.images.get(image).history()


class _Finishing:
    """exec_start(stream=True)'s iterator: the exit code is recorded when it ends."""

    def __init__(self, res, rec):
        self._it, self._res, self._rec = iter(res.output), res, rec

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._it)
        except StopIteration:
            self._rec["Running"], self._rec["ExitCode"] = False, self._res.exit_code
            raise

    def close(self):
        close = getattr(self._it, "close", None)
        if close:
            close()


def _bound(volumes, path):
    """``path`` is already a bind target in create_host_config(binds=...)."""
    if isinstance(volumes, dict):
        return any((v.get("bind") if isinstance(v, dict) else v) == path
                   for v in volumes.values())
    return any(str(b).split(":")[1:2] == [path] for b in volumes or [])


def _port_key(p):
    return p if isinstance(p, str) and "/" in p else f"{p[0]}/{p[1]}" \
        if isinstance(p, tuple) else f"{p}/tcp"


def _image_summary(attrs):
    from ..api.codec import epoch
    return {"Id": attrs["Id"], "ParentId": attrs.get("Parent") or "",
            "RepoTags": attrs.get("RepoTags") or [], "RepoDigests": attrs.get("RepoDigests")
            or [], "Created": epoch(attrs.get("Created")), "Size": attrs.get("Size", 0),
            "SharedSize": -1, "VirtualSize": attrs.get("Size", 0),
            "Labels": (attrs.get("Config") or {}).get("Labels") or {}, "Containers": -1}
