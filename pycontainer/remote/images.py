"""``backend.images`` and ``backend.builds`` over the Docker Engine API.

Records are :class:`ImageRecord`: the fields the models read, made from
``GET /images/{name}/json`` and its history (or a list entry)."""
import io
import json
import os
import tarfile
import urllib.parse
from dataclasses import dataclass, field, replace

from ..errors import (ImageError, InvalidArgument, NotFound, PyContainerError,
                      RegistryError)
from .http import auth_header, chunks, json_lines, raise_errors


def _q(name):
    return urllib.parse.quote(name, safe="")


@dataclass(frozen=True)
class ImageRecord:
    """A daemon's image, shaped as the local store's record (image/record.py)."""

    id: str
    config: dict = field(repr=False)
    tags: list
    layer_sizes: list = field(repr=False, default_factory=list)
    repo_digests: list = field(repr=False, default_factory=list)
    diff_ids: list = field(repr=False, default_factory=list)
    loaded: list = field(repr=False, default_factory=list, compare=False)
    parent: str = field(repr=False, default="")

    short_id = property(lambda self: self.id[:19])
    size = property(lambda self: sum(self.layer_sizes))
    created = property(lambda self: self.config.get("created", ""))

    @property
    def labels(self):
        return dict((self.config.get("config") or {}).get("Labels") or {})


def _split(ref):
    """``name[:tag|@digest]`` -> (fromImage, tag) for ``POST /images/create``."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        return name, digest
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
        return name, tag
    return ref, "latest"


def _body(data):
    """bytes, a file object or a path -> the request body."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        if os.path.isdir(data):
            raise InvalidArgument(f"{data} is a directory: send a tar file")
        with open(data, "rb") as f:
            return f.read()
    return data.read()


class RemoteImages:
    def __init__(self, http):
        self.h = http
        self._registry = None           # Client.close() looks here (no local registry)
        self.logins = {}

    def get(self, ref):
        doc = self.h.json("GET", f"/images/{_q(ref)}/json")
        hist = self.h.json("GET", f"/images/{_q(ref)}/history") or []
        steps = [{"created": _rfc3339(h.get("Created")), "created_by": h.get("CreatedBy", ""),
                  "comment": h.get("Comment", ""), **({"empty_layer": True}
                                                       if not h.get("Size") else {})}
                 for h in reversed(hist)]
        config = {"config": doc.get("Config") or {}, "created": doc.get("Created"),
                  "author": doc.get("Author", ""), "architecture": doc.get("Architecture"),
                  "os": doc.get("Os"), "history": steps}
        return ImageRecord(doc["Id"], config, list(doc.get("RepoTags") or []),
                           [h["Size"] for h in reversed(hist) if h.get("Size")],
                           list(doc.get("RepoDigests") or []),
                           list((doc.get("RootFS") or {}).get("Layers") or []),
                           parent=doc.get("Parent") or "")

    def list(self, name=None, filters=None):
        f = dict(filters or {})
        if name:
            f["reference"] = name
        got = self.h.json("GET", "/images/json", params={"filters": f or None}) or []
        return [ImageRecord(s["Id"], {"config": {"Labels": s.get("Labels") or {}},
                                      "created": _rfc3339(s.get("Created"))},
                            list(s.get("RepoTags") or []), [s.get("Size") or 0],
                            list(s.get("RepoDigests") or [])) for s in got]

    def remove(self, ref, force=False):
        return self.h.json("DELETE", f"/images/{_q(ref)}", params={"force": force})

    def prune(self, filters=None):
        return self.h.json("POST", "/images/prune", params={"filters": filters or None})

    def tag(self, image_id, repository, tag=None):
        self.h.request("POST", f"/images/{_q(image_id)}/tag",
                       params={"repo": repository, "tag": tag})
        return self.get(image_id)

    def save(self, refs, chunk_size):
        refs = [refs] if isinstance(refs, str) else list(refs)
        resp = self.h.request("GET", "/images/get?" + urllib.parse.urlencode(
            [("names", r) for r in refs]), stream=True)
        return chunks(resp, chunk_size)

    def load(self, data):
        if isinstance(data, (str, os.PathLike)) and os.path.isdir(data):
            data = _tar_dir(data)
        resp = self.h.request("POST", "/images/load", content=_body(data), stream=True,
                              headers={"Content-Type": "application/x-tar"})
        out = {}                    # id -> record: one line per name the archive gave
        for msg in raise_errors(json_lines(resp), ImageError):
            text = msg.get("stream", "").strip()
            for prefix, named in (("Loaded image: ", True), ("Loaded image ID: ", False)):
                if text.startswith(prefix):
                    name = text[len(prefix):]
                    rec = self.get(name)
                    rec = out.setdefault(rec.id, replace(rec, loaded=[]))
                    if named:
                        rec.loaded.append(name)
        return list(out.values())

    def import_image(self, src, repository=None, tag=None, changes=None):
        resp = self.h.request("POST", "/images/create", params={
            "fromSrc": "-", "repo": repository, "tag": tag}, content=_body(src), stream=True)
        image_id = None
        for msg in raise_errors(json_lines(resp), ImageError):
            image_id = msg.get("status") or image_id
        if changes:
            raise InvalidArgument("import_image(changes=) is not available over the API yet")
        return self.get(image_id)

    def busybox(self, tag="latest"):
        return self.get(f"busybox:{tag}")

    def commit(self, cid, repository=None, tag=None, message=None, author=None, changes=None,
               conf=None):
        if isinstance(changes, str):
            changes = [changes]
        q = [("container", cid)] + [(k, v) for k, v in (
            ("repo", repository), ("tag", tag), ("comment", message), ("author", author))
            if v] + [("changes", c) for c in changes or ()]
        doc = self.h.json("POST", "/commit?" + urllib.parse.urlencode(q), json_body=conf or {})
        return self.get(doc["Id"])

    # -- registries ----------------------------------------------------------
    def _auth(self, ref, auth_config):
        if auth_config:
            return auth_header(auth_config)
        first = ref.split("/", 1)[0]
        return auth_header(self.logins.get(first if "/" in ref else "docker.io"))

    def pull(self, ref, platform=None, auth_config=None, stream=False):
        name, tag = _split(ref)
        try:
            resp = self.h.request("POST", "/images/create", params={
                "fromImage": name, "tag": tag, "platform": platform}, stream=True,
                headers=self._auth(ref, auth_config))
        except (InvalidArgument, NotFound, RegistryError):
            raise
        except PyContainerError as err:         # the daemon could not reach the registry
            raise RegistryError(str(err)) from err
        events = raise_errors(json_lines(resp), RegistryError)
        if stream:
            return events
        for _ in events:
            pass
        return self.get(ref)

    def push(self, ref, auth_config=None, stream=False):
        name, tag = _split(ref)
        resp = self.h.request("POST", f"/images/{_q(name)}/push", params={"tag": tag},
                              stream=True, headers=self._auth(ref, auth_config))
        events = raise_errors(json_lines(resp), RegistryError)
        return events if stream else list(events)

    def registry_tags(self, name, auth_config=None):
        raise InvalidArgument("pull(all_tags=True) is not available over the API: "
                              "the Docker Engine API lists no registry tags")

    def registry_data(self, name, auth_config=None):
        return self.h.json("GET", f"/distribution/{_q(name)}/json",
                           headers=self._auth(name, auth_config))

    def login(self, username, password, registry=None):
        doc = self.h.json("POST", "/auth", json_body={
            "username": username, "password": password or "", "serveraddress": registry or ""})
        host = (registry or "docker.io").split("://", 1)[-1].split("/", 1)[0]
        self.logins[host] = {"username": username, "password": password or "",
                             "serveraddress": host}
        return doc


class RemoteBuilds:
    def __init__(self, http):
        self.h = http

    def build(self, **o):
        """``POST /build`` with the context as a tar; yields docker's build messages."""
        if o.get("path") is not None:
            body = _tar_dir(o["path"])
        elif o.get("fileobj") is not None and o.get("custom_context"):
            body = o["fileobj"].read()
        elif o.get("fileobj") is not None:
            data = o["fileobj"].read()
            body = _tar_files({"Dockerfile": data if isinstance(data, bytes) else
                               data.encode()})
        else:
            raise InvalidArgument("build(): give path= (a context directory) or fileobj=")
        tags = o.get("tag")
        q = [("t", t) for t in ([tags] if isinstance(tags, str) else tags or [])]
        for key, name in (("dockerfile", "dockerfile"), ("target", "target"),
                          ("network_mode", "networkmode"), ("platform", "platform")):
            if o.get(key):
                q.append((name, o[key]))
        for key, name in (("nocache", "nocache"), ("pull", "pull"), ("rm", "rm"),
                          ("forcerm", "forcerm"), ("quiet", "q")):
            if key in o:
                q.append((name, "1" if o[key] else "0"))
        for key in ("buildargs", "labels"):
            if o.get(key):
                q.append((key, json.dumps(o[key])))
        for key, v in (o.get("container_limits") or {}).items():
            q.append((key, str(v)))
        resp = self.h.request("POST", "/build?" + urllib.parse.urlencode(q), content=body,
                              headers={"Content-Type": "application/x-tar"}, stream=True)
        return json_lines(resp)


def _tar_dir(path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(os.fspath(path), arcname=".")
    return buf.getvalue()


def _tar_files(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _rfc3339(secs):
    import datetime
    if not isinstance(secs, (int, float)):
        return secs or ""
    return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
