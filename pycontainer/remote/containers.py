"""``backend.containers`` over the Docker Engine API."""
import contextlib
import io
import tarfile
import urllib.parse

from ..errors import ContainerError, InvalidArgument, NotFound
from .body import create_body
from .http import chunks, output


def _q(cid):
    return urllib.parse.quote(cid, safe="")


def _since(v):
    if v is None:
        return None
    if hasattr(v, "timestamp"):
        return f"{v.timestamp():.9f}"
    return v


class ExecResult(tuple):
    """``(exit_code, output)`` with docker-py's names."""

    def __new__(cls, exit_code, output):
        return super().__new__(cls, (exit_code, output))

    exit_code = property(lambda self: self[0])
    output = property(lambda self: self[1])


class RemoteContainers:
    def __init__(self, http):
        self.h = http

    # -- lifecycle -----------------------------------------------------------
    def create(self, image, command, kwargs, auto_remove=False):
        body, name = create_body(image, command, kwargs, auto_remove)
        return self.h.json("POST", "/containers/create", params={"name": name},
                           json_body=body)["Id"]

    def run_attached(self, image, command, kwargs, want_out, want_err, remove, echo=None):
        """docker-py's run() without detach: create, start, wait, the logs
        (``echo`` gets them at the end: this path does not stream)."""
        cid = self.create(image, command, kwargs)
        try:
            self.start(cid)
            code = self.wait(cid)
            out = b"".join(self.logs(cid, want_out, want_err, False, "all", None, None, False))
            if echo is not None and out:
                echo("stdout", out)
            if code != 0:
                err = b"".join(self.logs(cid, False, True, False, "all", None, None, False))
                raise ContainerError(self.inspect(cid), code, command, image,
                                     out if want_err else err)
            return out
        finally:
            if remove:
                with contextlib.suppress(NotFound):
                    self.remove(cid, force=True)

    def inspect(self, key):
        return self.h.json("GET", f"/containers/{_q(key)}/json")

    def list(self, all=False, before=None, filters=None, limit=-1, since=None):
        params = {"all": all, "before": before, "since": since, "filters": filters or None,
                  "limit": limit if limit and limit > 0 else None}
        return [self.inspect(s["Id"]) for s in self.h.json("GET", "/containers/json",
                                                             params=params)]

    def prune(self, filters=None):
        return self.h.json("POST", "/containers/prune", params={"filters": filters or None})

    def start(self, cid):
        self.h.request("POST", f"/containers/{_q(cid)}/start")

    def stop(self, cid, timeout=None):
        self.h.request("POST", f"/containers/{_q(cid)}/stop", params={"t": timeout})

    def kill(self, cid, sig):
        self.h.request("POST", f"/containers/{_q(cid)}/kill", params={"signal": sig})

    def pause(self, cid, frozen):
        self.h.request("POST", f"/containers/{_q(cid)}/{'pause' if frozen else 'unpause'}")

    def wait(self, cid, timeout=None, condition="not-running"):
        doc = self.h.json("POST", f"/containers/{_q(cid)}/wait",
                          params={"condition": condition}, timeout=timeout)
        if (doc.get("Error") or {}).get("Message"):
            raise InvalidArgument(doc["Error"]["Message"])
        return doc["StatusCode"]

    def restart(self, cid, timeout=None):
        self.h.request("POST", f"/containers/{_q(cid)}/restart", params={"t": timeout})

    def remove(self, cid, force=False, v=False):
        self.h.request("DELETE", f"/containers/{_q(cid)}", params={"force": force, "v": v})

    def remove_link(self, path):
        parent, _, alias = str(path).strip("/").partition("/")
        self.h.request("DELETE", f"/containers/{_q(parent)}/{_q(alias)}", params={"link": True})

    def rename(self, cid, new):
        self.h.request("POST", f"/containers/{_q(cid)}/rename", params={"name": new})

    def update(self, cid, **resources):
        names = {"mem_limit": "Memory", "memswap_limit": "MemorySwap",
                 "cpu_shares": "CpuShares", "cpu_quota": "CpuQuota",
                 "cpu_period": "CpuPeriod", "cpuset_cpus": "CpusetCpus",
                 "pids_limit": "PidsLimit", "nano_cpus": "NanoCpus",
                 "restart_policy": "RestartPolicy"}
        unknown = set(resources) - set(names)
        if unknown:
            raise InvalidArgument(f"update(): unknown keyword {sorted(unknown)[0]!r}")
        self.h.request("POST", f"/containers/{_q(cid)}/update",
                       json_body={names[k]: v for k, v in resources.items()})

    # -- output --------------------------------------------------------------
    def logs(self, cid, stdout, stderr, timestamps, tail, since, until, follow):
        params = {"stdout": stdout, "stderr": stderr, "timestamps": timestamps,
                  "tail": tail, "since": _since(since), "until": _since(until),
                  "follow": follow}
        return output(self.h.request("GET", f"/containers/{_q(cid)}/logs", params=params,
                                     stream=True))

    def attach(self, cid, stdout, stderr, stream, logs, demux):
        params = {"stdout": stdout, "stderr": stderr, "stream": True, "logs": logs}
        chunks = output(self.h.request("POST", f"/containers/{_q(cid)}/attach", params=params,
                                       stream=True), demux)
        return chunks if stream else b"".join(chunks)

    def attach_socket(self, cid, stdin, stdout, stderr, detach_keys):
        raise InvalidArgument("attach_socket() is not available over the API yet: use "
                              "attach(stream=True)")

    def exec_run(self, cid, cmd, stdout=True, stderr=True, stdin=False, tty=False,
                 privileged=False, user="", detach=False, stream=False, socket=False,
                 environment=None, workdir=None, demux=False, timeout=None, detach_keys=None):
        if socket or stdin:
            raise InvalidArgument("exec_run(socket=True / stdin=True) is not available over "
                                  "the API yet")
        if isinstance(cmd, str):
            import shlex
            cmd = shlex.split(cmd)
        env = [f"{k}={v}" for k, v in environment.items()] if isinstance(environment, dict) \
            else environment
        body = {"AttachStdout": stdout, "AttachStderr": stderr, "Tty": bool(tty), "Cmd": cmd,
                "Privileged": privileged, "User": user or "", "Env": env,
                "WorkingDir": workdir}
        eid = self.h.json("POST", f"/containers/{_q(cid)}/exec",
                          json_body={k: v for k, v in body.items() if v is not None})["Id"]
        resp = self.h.request("POST", f"/exec/{eid}/start",
                              json_body={"Detach": bool(detach), "Tty": bool(tty)},
                              stream=not detach, timeout=timeout)
        if detach:
            return ExecResult(None, None)
        chunks = output(resp, demux)
        if stream:
            return ExecResult(None, chunks)
        got = list(chunks)
        code = self.h.json("GET", f"/exec/{eid}/json").get("ExitCode")
        if demux:
            out = b"".join(c[0] for c in got if c[0] is not None) if stdout else None
            err = b"".join(c[1] for c in got if c[1] is not None) if stderr else None
            return ExecResult(code, (out or None, err or None))
        return ExecResult(code, b"".join(got))

    def resize(self, cid, height, width):
        self.h.request("POST", f"/containers/{_q(cid)}/resize", params={"h": height,
                                                                        "w": width})

    def top(self, cid, ps_args=None):
        return self.h.json("GET", f"/containers/{_q(cid)}/top", params={"ps_args": ps_args})

    def stats(self, cid, stream=False):
        resp = self.h.request("GET", f"/containers/{_q(cid)}/stats",
                              params={"stream": stream}, stream=stream)
        if not stream:
            return resp.json()
        import json

        def gen():
            try:
                for line in resp.iter_lines():
                    if line.strip():
                        yield json.loads(line)
            finally:
                resp.close()
        return gen()

    # -- files ---------------------------------------------------------------
    def put_archive(self, cid, path, data):
        body = data if isinstance(data, bytes) else data.read()
        self.h.request("PUT", f"/containers/{_q(cid)}/archive", params={"path": path},
                       content=body)
        return True

    def get_archive(self, cid, path, chunk_size):
        import base64
        import json
        resp = self.h.request("GET", f"/containers/{_q(cid)}/archive", params={"path": path},
                              stream=True)
        stat = json.loads(base64.b64decode(resp.headers.get("X-Docker-Container-Path-Stat")
                                           or "e30="))

        def gen():
            try:
                yield from resp.iter_bytes(chunk_size)
            finally:
                resp.close()
        return gen(), stat

    def put_file(self, cid, path, data, mode=0o644):
        import os
        if isinstance(data, str):
            data = data.encode()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(os.path.basename(path))
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        return self.put_archive(cid, os.path.dirname(path) or "/", buf.getvalue())

    def get_file(self, cid, path):
        chunks, _ = self.get_archive(cid, path, 1 << 20)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise InvalidArgument(f"get_file: {path} is not a regular file")
            return tar.extractfile(member).read()

    def diff(self, cid):
        return self.h.json("GET", f"/containers/{_q(cid)}/changes") or []

    def export(self, cid, chunk_size):
        return chunks(self.h.request("GET", f"/containers/{_q(cid)}/export", stream=True),
                      chunk_size)
