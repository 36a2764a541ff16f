"""Our registry server (pycontainer/registry/server/) against real clients.

skopeo pushes an image into it, inspects it and copies it out again (digests
equal), plain and with htpasswd + TLS (a CA made here with openssl); the rest
of the OCI Distribution API (chunked uploads, cross-mount, Range, pagination,
catalog, delete, referrers, errors) is driven with httpx, asserting status
codes, headers and bodies. Bad input gets the registry's error code and stores
nothing.
"""
import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import sys

import httpx
import pytest

from pycontainer.image.store import ImageStore
from pycontainer.registry.server import Server
from pycontainer.registry.server.auth import hash_password

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
BIN = os.path.join(os.path.dirname(sys.executable), "pycontainer")


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def registry(tmp_path):
    """A registry on 127.0.0.1 over a store in tmp_path, and an httpx client for it."""
    server = Server(str(tmp_path / "store"), "127.0.0.1:0").start_thread()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield server, http
    finally:
        server.stop()


def push_blob(http, name, data):
    r = http.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest_of(data)},
                  content=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return {"mediaType": "application/octet-stream", "digest": digest_of(data),
            "size": len(data)}


def push_image(http, name, tag, layer=b"layer", extra=None):
    """A config and a layer blob, and the OCI manifest naming them; returns
    (manifest bytes, its digest)."""
    config = dict(push_blob(http, name, b'{"os":"linux"}'), mediaType=OCI_CONFIG)
    layer = dict(push_blob(http, name, layer), mediaType="application/vnd.oci.image.layer.v1.tar")
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
                       "layers": [layer], **(extra or {})}).encode()
    r = http.put(f"/v2/{name}/manifests/{tag}", content=body,
                 headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest_of(body)
    return body, digest_of(body)


def error_code(r):
    return r.json()["errors"][0]["code"]


def store_blobs(root):
    return sorted(os.listdir(os.path.join(root, "blobs", "sha256")))


def skopeo(*args, ok=True):
    r = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


# --- real clients: skopeo ---------------------------------------------------------------

def test_skopeo_pushes_inspects_and_copies_out_busybox(client, busybox, registry, tmp_path):
    server, http = registry
    archive = tmp_path / "busybox.tar"
    with open(archive, "wb") as f:
        for chunk in client.images.get("busybox").save(named=True):
            f.write(chunk)
    ref = f"docker://{server.host}/library/busybox:1"
    skopeo("copy", "--dest-tls-verify=false", "--digestfile", str(tmp_path / "pushed"),
           f"docker-archive:{archive}", ref)
    pushed = (tmp_path / "pushed").read_text().strip()

    info = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)
    assert info["Digest"] == pushed
    assert len(info["Layers"]) == len(busybox.attrs["RootFS"]["Layers"])
    raw = skopeo("inspect", "--raw", "--tls-verify=false", ref).stdout.encode()
    assert digest_of(raw) == pushed
    head = http.head("/v2/library/busybox/manifests/1")
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == pushed
    assert head.headers["Docker-Distribution-API-Version"] == "registry/2.0"

    # the bytes live in the image store's blob layout, under their digests
    store = ImageStore(str(tmp_path / "store"))
    manifest = json.loads(raw)
    for desc in [manifest["config"], *manifest["layers"]]:
        with open(store.blob_path(desc["digest"]), "rb") as f:
            assert digest_of(f.read()) == desc["digest"]

    out = tmp_path / "out"       # dir: keeps the manifest's bytes as they are
    skopeo("copy", "--src-tls-verify=false", f"{ref}", f"dir:{out}")
    assert digest_of((out / "manifest.json").read_bytes()) == pushed
    for desc in manifest["layers"]:
        assert digest_of((out / desc["digest"][7:]).read_bytes()) == desc["digest"]

    # and back in by digest, under another name: the same manifest
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{server.host}/library/busybox@{pushed}",
           f"docker://{server.host}/mirror/busybox:1")
    r = http.get("/v2/mirror/busybox/manifests/1")
    assert r.content == raw and r.headers["Content-Type"] == manifest["mediaType"]
    assert http.get("/v2/_catalog").json() == {"repositories": ["library/busybox",
                                                                "mirror/busybox"]}


def _make_tls(tmp_path):
    """A CA, and a server certificate for 127.0.0.1 / localhost signed by it."""
    d = tmp_path / "tls"
    d.mkdir()
    certs = tmp_path / "certs.d"
    certs.mkdir()

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout",
            "ca.key", "-out", "ca.crt", "-subj", "/CN=pyc-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-out", "server.crt", "-extfile", "ext")
    (certs / "ca.crt").write_bytes((d / "ca.crt").read_bytes())
    return d / "server.crt", d / "server.key", d / "ca.crt", certs


def test_skopeo_with_htpasswd_and_tls(tmp_path):
    cert, key, ca, certs = _make_tls(tmp_path)
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{hash_password('s3cret')}\n")
    img = _oci_dir(tmp_path / "img")
    server = Server(str(tmp_path / "store"), "127.0.0.1:0", htpasswd=str(htpasswd),
                    tls_cert=str(cert), tls_key=str(key)).start_thread()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        ref = f"docker://{server.host}/team/app:v1"
        bad = skopeo("copy", "--dest-cert-dir", str(certs), "--dest-creds", "alice:wrong",
                     f"oci:{img}:v1", ref, ok=False)
        assert bad.returncode != 0 and "unauthorized" in bad.stderr.lower(), bad.stderr
        skopeo("copy", "--dest-cert-dir", str(certs), "--dest-creds", "alice:s3cret",
               "--digestfile", str(tmp_path / "pushed"), f"oci:{img}:v1", ref)
        info = json.loads(skopeo("inspect", "--cert-dir", str(certs), "--creds",
                                 "alice:s3cret", ref).stdout)
        assert info["Digest"] == (tmp_path / "pushed").read_text().strip()
        # an untrusted CA is refused by the client; no credentials get a Basic challenge
        untrusted = skopeo("inspect", "--creds", "alice:s3cret", ref, ok=False)
        assert untrusted.returncode != 0 and "certificate" in untrusted.stderr
        with httpx.Client(base_url=server.url,
                          verify=ssl.create_default_context(cafile=str(ca))) as http:
            r = http.get("/v2/")
            assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED"
            assert r.headers["WWW-Authenticate"].startswith('Basic realm="')
            assert http.get("/v2/", auth=("alice", "s3cret")).status_code == 200
            assert http.get("/v2/team/app/tags/list", auth=("alice", "s3cret")).json() == \
                {"name": "team/app", "tags": ["v1"]}
    finally:
        server.stop()


def _oci_dir(path):
    """A small OCI layout with one gzip layer (tag v1)."""
    import gzip
    import io
    import tarfile
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data):
        (blobs / digest_of(data)[7:]).write_bytes(data)
        return digest_of(data), len(data)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = os.urandom(1 << 20)
        info = tarfile.TarInfo("hello.bin")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    ld, ls = blob(gzip.compress(raw, 1))
    cd, cs = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                              "rootfs": {"type": "layers",
                                         "diff_ids": [digest_of(raw)]}}).encode())
    md, ms = blob(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": ld, "size": ls}]}).encode())
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": md, "size": ms,
         "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return path


# --- the protocol, with httpx ----------------------------------------------------------

def test_chunked_upload_with_status_and_content_range(registry):
    _, http = registry
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = http.post("/v2/a/b/blobs/uploads/")
    assert r.status_code == 202 and r.headers["Range"] == "0-0"
    location, sid = r.headers["Location"], r.headers["Docker-Upload-UUID"]
    assert location == f"/v2/a/b/blobs/uploads/{sid}"
    cut = 1 << 20
    r = http.patch(location, content=data[:cut], headers={
        "Content-Range": f"0-{cut - 1}", "Content-Type": "application/octet-stream"})
    assert r.status_code == 202 and r.headers["Range"] == f"0-{cut - 1}"
    r = http.get(location)
    assert r.status_code == 204 and r.headers["Range"] == f"0-{cut - 1}"
    # a chunk that does not continue where the upload is: 416, nothing appended
    r = http.patch(location, content=b"xx", headers={"Content-Range": "5-6"})
    assert r.status_code == 416 and error_code(r) == "RANGE_INVALID"
    r = http.patch(location, content=data[cut:2 * cut])    # streamed, no Content-Range
    assert r.status_code == 202 and r.headers["Range"] == f"0-{2 * cut - 1}"
    r = http.put(location, params={"digest": digest_of(data)}, content=data[2 * cut:])
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/a/b/blobs/{digest_of(data)}"
    assert r.headers["Docker-Content-Digest"] == digest_of(data)
    assert http.get(location).status_code == 404        # the session is gone
    r = http.get(f"/v2/a/b/blobs/{digest_of(data)}")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Docker-Content-Digest"] == digest_of(data)
    # a session can be cancelled; then it is unknown
    location = http.post("/v2/a/b/blobs/uploads/").headers["Location"]
    assert http.patch(location, content=b"abandoned").status_code == 202
    assert http.delete(location).status_code == 204
    r = http.patch(location, content=b"more")
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    r = http.get(f"/v2/other/blobs/uploads/{r.request.url.path.rsplit('/', 1)[1]}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_head_and_range_reads(registry):
    _, http = registry
    data = bytes(range(256)) * 64
    desc = push_blob(http, "r", data)
    url = f"/v2/r/blobs/{desc['digest']}"
    r = http.head(url)
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) == len(data)
    assert r.headers["Docker-Content-Digest"] == desc["digest"]
    r = http.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    r = http.get(url, headers={"Range": f"bytes={len(data) - 10}-"})
    assert r.status_code == 206 and r.content == data[-10:]
    assert http.get(url, headers={"Range": f"bytes={len(data) + 5}-"}).status_code == 416


def test_cross_repository_mount(registry):
    _, http = registry
    desc = push_blob(http, "src/app", b"shared layer")
    r = http.post("/v2/dst/app/blobs/uploads/",
                  params={"mount": desc["digest"], "from": "src/app"})
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/dst/app/blobs/{desc['digest']}"
    assert http.get(f"/v2/dst/app/blobs/{desc['digest']}").content == b"shared layer"
    # a repository that lacks the blob: an upload session instead (the client uploads)
    r = http.post("/v2/third/blobs/uploads/", params={"mount": desc["digest"], "from": "nope"})
    assert r.status_code == 202 and "Docker-Upload-UUID" in r.headers
    assert http.head(f"/v2/third/blobs/{desc['digest']}").status_code == 404


def test_tags_and_catalog_paginate_with_link(registry):
    _, http = registry
    for tag in ("t3", "t1", "t5", "t2", "t4"):
        push_image(http, "paged", tag)
    push_image(http, "other/repo", "x")
    r = http.get("/v2/paged/tags/list", params={"n": 2})
    assert r.json() == {"name": "paged", "tags": ["t1", "t2"]}
    link = re.fullmatch(r'<([^>]+)>; rel="next"', r.headers["Link"]).group(1)
    assert link == "/v2/paged/tags/list?n=2&last=t2"
    r = http.get(link)
    assert r.json()["tags"] == ["t3", "t4"]
    r = http.get(re.fullmatch(r'<([^>]+)>; rel="next"', r.headers["Link"]).group(1))
    assert r.json()["tags"] == ["t5"] and "Link" not in r.headers
    assert http.get("/v2/paged/tags/list").json()["tags"] == ["t1", "t2", "t3", "t4", "t5"]
    r = http.get("/v2/_catalog", params={"n": 1})
    assert r.json() == {"repositories": ["other/repo"]}
    assert r.headers["Link"] == '</v2/_catalog?n=1&last=other%2Frepo>; rel="next"'
    assert http.get("/v2/_catalog", params={"n": 1, "last": "other/repo"}).json() == \
        {"repositories": ["paged"]}
    r = http.get("/v2/never/pushed/tags/list")
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"


def test_delete_manifests_tags_and_blobs(registry):
    _, http = registry
    body, digest = push_image(http, "del", "keep")
    http.put("/v2/del/manifests/also", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert http.delete("/v2/del/manifests/also").status_code == 202      # a tag
    assert http.get("/v2/del/tags/list").json()["tags"] == ["keep"]
    assert http.get(f"/v2/del/manifests/{digest}").status_code == 200
    assert http.delete(f"/v2/del/manifests/{digest}").status_code == 202  # the manifest
    r = http.get("/v2/del/manifests/keep")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    assert http.get("/v2/del/tags/list").json()["tags"] == []
    layer = json.loads(body)["layers"][0]["digest"]
    assert http.delete(f"/v2/del/blobs/{layer}").status_code == 202
    r = http.head(f"/v2/del/blobs/{layer}")
    assert r.status_code == 404
    r = http.delete(f"/v2/del/blobs/{layer}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"


def test_an_index_needs_its_manifests_in_the_repository(registry):
    _, http = registry
    body, digest = push_image(http, "multi", "amd64")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body),
                            "platform": {"os": "linux", "architecture": "amd64"}}]}
    data = json.dumps(index).encode()
    r = http.put("/v2/multi/manifests/latest", content=data,
                 headers={"Content-Type": index["mediaType"]})
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == digest_of(data)
    r = http.get("/v2/multi/manifests/latest")
    assert r.content == data and r.headers["Content-Type"] == index["mediaType"]
    index["manifests"][0]["digest"] = digest_of(b"elsewhere")
    r = http.put("/v2/multi/manifests/broken", content=json.dumps(index).encode(),
                 headers={"Content-Type": index["mediaType"]})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert http.get("/v2/multi/tags/list").json()["tags"] == ["amd64", "latest"]


def test_referrers_with_artifact_type_filter(registry):
    _, http = registry
    _, subject = push_image(http, "ref", "v1", layer=b"image")
    sbom_config = dict(push_blob(http, "ref", b"{}"),
                       mediaType="application/vnd.oci.empty.v1+json")
    sbom_layer = push_blob(http, "ref", b'{"sbom": true}')
    size = len(http.get(f"/v2/ref/manifests/{subject}").content)
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom+json", "config": sbom_config,
        "layers": [sbom_layer], "annotations": {"org.example": "yes"},
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size}}).encode()
    r = http.put(f"/v2/ref/manifests/{digest_of(body)}", content=body,
                 headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201 and r.headers["OCI-Subject"] == subject
    r = http.get(f"/v2/ref/referrers/{subject}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/vnd.oci.image.index.v1+json"
    assert r.json() == {"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest_of(body),
                                       "size": len(body),
                                       "artifactType": "application/vnd.example.sbom+json",
                                       "annotations": {"org.example": "yes"}}]}
    r = http.get(f"/v2/ref/referrers/{subject}", params={"artifactType": "text/other"})
    assert r.json()["manifests"] == [] and r.headers["OCI-Filters-Applied"] == "artifactType"
    r = http.get(f"/v2/ref/referrers/{digest_of(b'nothing')}")
    assert r.status_code == 200 and r.json()["manifests"] == []


def test_bad_input_gets_the_error_code_and_stores_nothing(registry, tmp_path):
    server, http = registry
    root = str(tmp_path / "store")
    before = store_blobs(root)

    r = http.post("/v2/bad/blobs/uploads/", params={"digest": digest_of(b"other")},
                  content=b"content")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    big = os.urandom(5 * 1024 * 1024 + 3)     # many pieces, hashed off the event loop
    r = http.post("/v2/bad/blobs/uploads/", params={"digest": digest_of(big[1:])},
                  content=big)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    r = http.post("/v2/bad/blobs/uploads/", params={"digest": "sha256:abc"}, content=b"x")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    for name in ("Upper/case", "a//b", "-lead", "x/_under"):
        r = http.get(f"/v2/{name}/tags/list")
        assert r.status_code == 400 and error_code(r) == "NAME_INVALID", name
    r = http.put("/v2/bad/manifests/bad tag!", content=b"{}",
                 headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "TAG_INVALID"

    # a manifest naming a blob the repository does not have
    missing = {"mediaType": OCI_CONFIG, "digest": digest_of(b"absent"), "size": 6}
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": missing,
                       "layers": []}).encode()
    r = http.put("/v2/bad/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert r.json()["errors"][0]["detail"] == {"digest": missing["digest"]}
    for ctype, text in (("text/plain", body), (OCI_MANIFEST, b"not json"),
                        ("application/vnd.docker.distribution.manifest.v2+json", body)):
        r = http.put("/v2/bad/manifests/v1", content=text, headers={"Content-Type": ctype})
        assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID", ctype
    r = http.get("/v2/bad/manifests/v1")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    r = http.put(f"/v2/bad/manifests/{digest_of(b'x')}", content=body,
                 headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"

    # a body cut short: the connection closes after 10 of 1000 announced bytes
    uploads = os.path.join(root, "registry", "uploads")
    port = int(server.host.rsplit(":", 1)[1])
    data = os.urandom(1000)
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"POST /v2/bad/blobs/uploads/?digest={digest_of(data)} HTTP/1.1\r\n"
                  f"Host: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data[:10])
        _wait_for(lambda: _sizes(uploads) == [10])      # the server is writing them
    _wait_for(lambda: os.listdir(uploads) == [])        # and drops the session
    # a chunked upload cut short keeps what it had before the cut
    r = http.post("/v2/bad/blobs/uploads/")
    location = r.headers["Location"]
    assert http.patch(location, content=data[:100]).status_code == 202
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n"
                  .encode() + data[100:150])
        _wait_for(lambda: _sizes(uploads) == [150])
    _wait_for(lambda: _sizes(uploads) == [100] and _unlocked(uploads))
    assert http.get(location).headers["Range"] == "0-99"
    r = http.put(location, params={"digest": digest_of(data[:100])})
    assert r.status_code == 201

    assert store_blobs(root) == sorted(before + [digest_of(data[:100])[7:]])
    assert http.get("/v2/_catalog").json() == {"repositories": ["bad"]}
    assert os.listdir(os.path.join(root, "registry", "uploads")) == []
    assert os.listdir(os.path.join(root, "tmp")) == []


def _sizes(uploads):
    out = []
    for sid in os.listdir(uploads):
        try:
            out.append(os.path.getsize(os.path.join(uploads, sid, "data")))
        except FileNotFoundError:
            pass        # a session being made or dropped
    return out


def _unlocked(uploads):
    """No request is writing any session (each holds a flock on its data file)."""
    import fcntl
    for sid in os.listdir(uploads):
        with open(os.path.join(uploads, sid, "data"), "rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
    return True


def _wait_for(cond, timeout=30):
    """Wait until the server reaches a state it gets to on its own (the end of a
    request whose client went away)."""
    import time
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "the server never got there"
        time.sleep(0.005)


# --- the store: GC, two processes, UNIX socket, the harness ----------------------------

def test_image_gc_keeps_what_the_registry_references(fresh_client):
    root = fresh_client.root
    server = Server(root, "127.0.0.1:0").start_thread()
    try:
        with httpx.Client(base_url=server.url) as http:
            body, digest = push_image(http, "kept", "v1", layer=b"held by the registry")
            layer = json.loads(body)["layers"][0]["digest"]
            fresh_client.images.prune()
            store = ImageStore(root)
            assert os.path.exists(store.blob_path(layer))
            assert os.path.exists(store.blob_path(digest))
            assert http.get(f"/v2/kept/blobs/{layer}").content == b"held by the registry"
            # unlinked from the registry, the blob is the image store's to collect
            assert http.delete(f"/v2/kept/blobs/{layer}").status_code == 202
            fresh_client.images.prune()
            assert not os.path.exists(store.blob_path(layer))
            assert os.path.exists(store.blob_path(digest))
    finally:
        server.stop()


def _serve_cli(root):
    """``pycontainer registry serve`` on a free port; returns (process, url)."""
    p = subprocess.Popen([BIN, "registry", "serve", "--root", str(root), "--addr",
                          "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    m = re.search(r" on (http://127\.0\.0\.1:\d+)$", line.strip())
    if m is None:
        p.kill()
        p.wait()
        raise AssertionError(f"no serving line: {line!r} {p.stderr.read()}")
    return p, m.group(1)


def test_two_server_processes_share_one_store(tmp_path):
    root = tmp_path / "store"
    procs = [_serve_cli(root) for _ in range(2)]
    try:
        clients = [httpx.Client(base_url=url, timeout=30) for _, url in procs]
        try:
            for i in range(10):     # alternate: each write lands on the other's last
                push_image(clients[i % 2], "shared", f"t{i}", layer=b"L%d" % i)
            for c in clients:
                assert c.get("/v2/shared/tags/list").json()["tags"] == \
                    sorted(f"t{i}" for i in range(10))
            # an upload begun on one server is finished on the other
            r = clients[0].post("/v2/shared/blobs/uploads/")
            loc = r.headers["Location"]
            clients[0].patch(loc, content=b"half ")
            r = clients[1].put(loc, params={"digest": digest_of(b"half done")},
                               content=b"done")
            assert r.status_code == 201
            assert clients[0].get(f"/v2/shared/blobs/{digest_of(b'half done')}").content \
                == b"half done"
        finally:
            for c in clients:
                c.close()
    finally:
        for p, _ in procs:
            p.terminate()
            assert p.wait(timeout=30) == 0
            p.stderr.close()


def test_unix_socket(tmp_path):
    sock = tmp_path / "registry.sock"
    server = Server(str(tmp_path / "store"), f"unix:{sock}").start_thread()
    try:
        assert server.url == f"unix:{sock}" and oct(sock.stat().st_mode & 0o777) == "0o600"
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)),
                          base_url="http://registry") as http:
            push_image(http, "over/unix", "v1")
            assert http.get("/v2/over/unix/tags/list").json()["tags"] == ["v1"]
    finally:
        server.stop()
    assert not sock.exists()


def test_throwaway_registry_of_the_client(client, tmp_path):
    with client.registry(htpasswd={"bob": "pw"}) as reg:
        assert reg.url == f"http://{reg.host}" and reg.host.startswith("127.0.0.1:")
        root = reg.root
        with httpx.Client(base_url=reg.url, auth=("bob", "pw")) as http:
            push_image(http, "scratch", "v1")
            assert http.get("/v2/_catalog").json() == {"repositories": ["scratch"]}
        assert httpx.get(reg.url + "/v2/").status_code == 401
        port = int(reg.host.rsplit(":", 1)[1])
    assert not os.path.exists(root)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
