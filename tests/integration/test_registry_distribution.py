"""Pull and push against Debian's docker-registry (Distribution 2.8), plain and
with htpasswd + TLS, and both ways with skopeo."""
import json
import os
import subprocess
import time

import pytest

from pycontainer import Client
from pycontainer.errors import ImageNotFound, RegistryError, Unauthorized
from registry_helpers import DistributionRegistry


@pytest.fixture
def registry(tmp_path):
    reg = DistributionRegistry(tmp_path)
    yield reg
    reg.stop()


@pytest.fixture
def other_client(tmp_path):
    """A second store, empty: what a fresh machine pulls into."""
    c = Client(root=str(tmp_path / "other"), run_root=str(tmp_path / "other-run"))
    yield c
    c.close()


def _registry_digest(host, repo, tag, ca=None):
    """The manifest digest the registry serves (skopeo, not our client)."""
    args = ["skopeo", "inspect", "--raw"]
    args += ["--cert-dir", os.path.dirname(ca)] if ca else ["--tls-verify=false"]
    raw = subprocess.run(args + [f"docker://{host}/{repo}:{tag}"], check=True,
                         capture_output=True, timeout=60).stdout
    import hashlib
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _image_events(client, since):
    return [(e["Action"], e["Actor"]["ID"]) for e in
            client.events(since=since, until=time.time(), filters={"type": "image"},
                          decode=True)]


def test_push_then_pull_and_run(fresh_client, other_client, registry):
    t0 = time.time()
    img = fresh_client.images.busybox()
    img.tag(f"{registry.host}/pyc/bb", "1")
    events = list(fresh_client.images.push(f"{registry.host}/pyc/bb", "1", stream=True,
                                           decode=True))
    aux = events[-1]["aux"]
    assert aux["Digest"] == fresh_client.images.get(
        f"{registry.host}/pyc/bb:1").record.manifest_digest
    assert _registry_digest(registry.host, "pyc/bb", "1") == aux["Digest"]

    pulled = other_client.images.pull(f"{registry.host}/pyc/bb", "1")
    assert pulled.id == img.id
    assert pulled.attrs["RepoDigests"] == [f"{registry.host}/pyc/bb@{aux['Digest']}"]
    assert pulled.tags == [f"{registry.host}/pyc/bb:1"]
    out = other_client.containers.run(f"{registry.host}/pyc/bb:1", ["cat", "/etc/hostname"],
                                      remove=True, hostname="pulled")
    assert out == b"pulled\n"
    ref = f"{registry.host}/pyc/bb:1"
    assert ("push", ref) in _image_events(fresh_client, t0)
    assert ("pull", ref) in _image_events(other_client, t0)


def test_push_of_pulled_image_sends_same_bytes_and_mounts(fresh_client, other_client,
                                                          registry):
    fresh_client.images.busybox().tag(f"{registry.host}/a/bb", "1")
    fresh_client.images.push(f"{registry.host}/a/bb", "1")
    pulled = other_client.images.pull(f"{registry.host}/a/bb:1")
    pulled.tag(f"{registry.host}/b/bb", "2")
    events = list(other_client.images.push(f"{registry.host}/b/bb", "2", stream=True,
                                           decode=True))
    assert any(e.get("status") == "Mounted from a/bb" for e in events), events
    assert events[-1]["aux"]["Digest"] == pulled.record.manifest_digest
    assert _registry_digest(registry.host, "b/bb", "2") == pulled.record.manifest_digest
    # a second push finds everything there
    again = list(other_client.images.push(f"{registry.host}/b/bb", "2", stream=True,
                                          decode=True))
    assert any(e.get("status") == "Layer already exists" for e in again)
    assert not any(e.get("status") == "Pushed" for e in again)


def test_chunked_upload_tags_pages_and_delete(fresh_client, other_client, registry):
    img = fresh_client.images.busybox()
    reg = fresh_client._backend.images.registry
    for tag in ("t1", "t2", "t3"):
        img.tag(f"{registry.host}/pyc/many", tag)
    reg.push(f"{registry.host}/pyc/many:t1", chunk_size=256 << 10)   # PATCH chunks
    for tag in ("t2", "t3"):
        fresh_client.images.push(f"{registry.host}/pyc/many", tag)
    assert sorted(reg.tags(f"{registry.host}/pyc/many", page_size=1)) == ["t1", "t2", "t3"]
    got = other_client.images.pull(f"{registry.host}/pyc/many", all_tags=True)
    assert len(got) == 3 and sorted({t for i in got for t in i.tags}) == [
        f"{registry.host}/pyc/many:{t}" for t in ("t1", "t2", "t3")]
    data = fresh_client.images.get_registry_data(f"{registry.host}/pyc/many:t1")
    assert data.has_platform("linux/" + img.attrs["Architecture"])
    reg.delete(f"{registry.host}/pyc/many@{data.id}")
    with pytest.raises(ImageNotFound):     # t1..t3 named the deleted manifest
        fresh_client.images.get_registry_data(f"{registry.host}/pyc/many:t2")


def test_pull_unknown_is_image_not_found(other_client, registry):
    with pytest.raises(ImageNotFound):
        other_client.images.pull(f"{registry.host}/pyc/nothing", "1")
    assert other_client.images.list() == []


def test_run_pulls_missing_image_and_pull_policy(fresh_client, other_client, registry):
    fresh_client.images.busybox().tag(f"{registry.host}/pyc/run", "1")
    fresh_client.images.push(f"{registry.host}/pyc/run", "1")
    ref = f"{registry.host}/pyc/run:1"
    with pytest.raises(ImageNotFound):
        other_client.containers.run(ref, ["true"], remove=True, pull_policy="never")
    assert other_client.containers.run(ref, ["echo", "ok"], remove=True) == b"ok\n"
    c = other_client.containers.create(ref, ["true"], pull_policy="always")
    c.remove()


def test_htpasswd_tls_login_and_certs_dir(fresh_client, tmp_path):
    reg = DistributionRegistry(tmp_path, users={"alice": "s3cret"}, tls=True)
    try:
        certs = reg.certs_dir(str(tmp_path / "etc"))
        conf = {"certs-dirs": [certs], "docker-config": str(tmp_path / "none.json")}
        c = Client(root=fresh_client.root, registry_config=conf)
        c.images.busybox().tag(f"{reg.host}/pyc/secret", "1")
        with pytest.raises(Unauthorized):
            c.images.push(f"{reg.host}/pyc/secret", "1")
        with pytest.raises(Unauthorized):
            c.login("alice", "wrong", registry=reg.host)
        assert c.login("alice", "s3cret", registry=reg.host)["Status"] == "Login Succeeded"
        c.images.push(f"{reg.host}/pyc/secret", "1")
        # a client with credentials from docker's config.json and the CA pulls it
        cfg = tmp_path / "docker.json"
        import base64
        cfg.write_text(json.dumps({"auths": {reg.host: {
            "auth": base64.b64encode(b"alice:s3cret").decode()}}}))
        other = Client(root=str(tmp_path / "o"), run_root=str(tmp_path / "o-run"),
                       registry_config={"certs-dirs": [certs], "docker-config": str(cfg)})
        assert other.images.pull(f"{reg.host}/pyc/secret:1").tags == [f"{reg.host}/pyc/secret:1"]
        # a CA that did not sign the server's certificate is refused (TLS is verified)
        wrong = tmp_path / "wrong"
        from registry_helpers import make_ca
        (wrong / "certs.d" / reg.host).mkdir(parents=True)
        ca, _, _ = make_ca(str(wrong))
        os.rename(ca, wrong / "certs.d" / reg.host / "ca.crt")
        bad = Client(root=str(tmp_path / "b"), run_root=str(tmp_path / "b-run"),
                     registry_config={"certs-dirs": [str(wrong / "certs.d")],
                                      "docker-config": str(cfg)})
        with pytest.raises(RegistryError, match="cannot reach|certificate"):
            bad.images.pull(f"{reg.host}/pyc/secret:1")
        assert bad.images.list() == []
        for x in (c, other, bad):
            x.close()
    finally:
        reg.stop()


def test_skopeo_pushes_we_pull_and_run(fresh_client, other_client, registry, tmp_path):
    img = fresh_client.images.busybox()
    archive = tmp_path / "bb.tar"
    with open(archive, "wb") as f:
        for chunk in img.save(named="busybox:latest"):
            f.write(chunk)
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"docker-archive:{archive}",
                    f"docker://{registry.host}/sk/bb:1"], check=True, capture_output=True,
                   timeout=120)
    digest = _registry_digest(registry.host, "sk/bb", "1")
    pulled = other_client.images.pull(f"{registry.host}/sk/bb:1")
    assert pulled.record.manifest_digest == digest
    assert pulled.id == img.id          # same config bytes, whatever skopeo compressed
    assert other_client.containers.run(pulled.id, ["echo", "sk"], remove=True) == b"sk\n"


def test_we_push_skopeo_inspects_and_copies(fresh_client, registry, tmp_path):
    img = fresh_client.images.busybox()
    img.tag(f"{registry.host}/we/bb", "1")
    aux = json.loads(fresh_client.images.push(f"{registry.host}/we/bb", "1")
                     .strip().splitlines()[-1])["aux"]
    info = json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{registry.host}/we/bb:1"],
        check=True, capture_output=True, timeout=60).stdout)
    assert info["Digest"] == aux["Digest"]
    dest = tmp_path / "copied"
    subprocess.run(["skopeo", "copy", "--preserve-digests", "--src-tls-verify=false",
                    f"docker://{registry.host}/we/bb:1", f"oci:{dest}:x"], check=True,
                   capture_output=True, timeout=120)
    index = json.loads((dest / "index.json").read_text())
    assert index["manifests"][0]["digest"] == aux["Digest"]
