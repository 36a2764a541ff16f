"""The registry client's policy without a network: config, credentials,
challenges, platform selection, reference defaults, the store seam."""
import base64
import json
import os
import stat

import pytest

from pycontainer.errors import ImageError, ImageNotFound, InvalidArgument
from pycontainer.registry.config import RegistryConfig
from pycontainer.registry.pull import parse_platform, select
from pycontainer.registry.transport import _params


def test_loopback_is_insecure_and_others_need_configuration():
    conf = RegistryConfig(["10.1.0.0/16", "reg.example:5000"], certs_dirs=[])
    for host in ("localhost:5000", "127.0.0.1:5000", "127.3.4.5", "[::1]:5000", "10.1.2.3:80",
                 "reg.example:5000"):
        assert conf.is_insecure(host), host
    for host in ("10.2.0.1:5000", "reg.example", "docker.io", "192.168.1.1:5000"):
        assert not conf.is_insecure(host), host


def test_docker_hub_defaults_and_mirrors():
    conf = RegistryConfig(registry_mirrors=["http://127.0.0.1:5001/"], certs_dirs=[])
    assert conf.endpoints("docker.io") == ["http://127.0.0.1:5001", "registry-1.docker.io"]
    assert conf.endpoints("docker.io", push=True) == ["registry-1.docker.io"]
    assert conf.endpoints("localhost:5000") == ["localhost:5000"]
    from pycontainer.image import reference
    ref = reference.parse("busybox")
    assert (ref.domain, ref.path, ref.tag) == ("docker.io", "library/busybox", "latest")


def test_daemon_json_and_certs_dir(tmp_path):
    d = tmp_path / "certs.d" / "reg.example:5000"
    d.mkdir(parents=True)
    for name in ("ca.crt", "client.cert", "client.key"):
        (d / name).write_text("x")
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"insecure-registries": ["reg.other"],
                                "certs-dirs": [str(tmp_path / "certs.d")]}))
    conf = RegistryConfig.from_daemon_json(str(path))
    assert conf.is_insecure("reg.other")
    cas, client = conf.tls_files("reg.example:5000")
    assert cas == [str(d / "ca.crt")]
    assert client == (str(d / "client.cert"), str(d / "client.key"))
    with pytest.raises(InvalidArgument):
        RegistryConfig.from_daemon_json(["not", "a", "dict"])


def test_credentials_from_docker_config(tmp_path):
    helper = tmp_path / "bin" / "docker-credential-pyctest"
    helper.parent.mkdir()
    helper.write_text('#!/bin/sh\nread host\n[ "$host" = "helped.example" ] || exit 1\n'
                      'echo \'{"Username": "h", "Secret": "hs"}\'\n')
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({
        "auths": {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"u:p").decode()},
                  "tok.example": {"identitytoken": "T"}},
        "credHelpers": {"helped.example": "pyctest"}}))
    os.environ["PATH"] = f"{helper.parent}:{os.environ['PATH']}"
    try:
        conf = RegistryConfig(docker_config=str(cfg), certs_dirs=[])
        assert conf.credentials("docker.io") == {"username": "u", "password": "p"}
        assert conf.credentials("tok.example") == {"identitytoken": "T"}
        assert conf.credentials("helped.example") == {"username": "h", "password": "hs"}
        assert conf.credentials("nobody.example") is None
    finally:
        os.environ["PATH"] = os.environ["PATH"].split(":", 1)[1]


def test_www_authenticate_parameters():
    got = _params('realm="https://auth.example/token",service="registry.example",'
                  'scope="repository:a/b:pull,push"')
    assert got == {"realm": "https://auth.example/token", "service": "registry.example",
                   "scope": "repository:a/b:pull,push"}


def _index(*platforms):
    return json.dumps({"schemaVersion": 2, "manifests": [
        {"digest": f"sha256:{i:064x}", "platform": p} for i, p in enumerate(platforms)]})


def test_platform_selection():
    data = _index({"os": "linux", "architecture": "arm", "variant": "v6"},
                  {"os": "linux", "architecture": "arm", "variant": "v7"},
                  {"os": "linux", "architecture": "amd64"},
                  {"os": "unknown", "architecture": "unknown"})
    assert select(data, ("linux", "arm", "v7"), "x")["digest"].endswith("1")
    assert select(data, ("linux", "amd64", None), "x")["digest"].endswith("2")
    assert parse_platform("linux/arm64/v8") == ("linux", "arm64", "v8")
    with pytest.raises(ImageNotFound, match="linux/s390x"):
        select(data, ("linux", "s390x", None), "x")
    with pytest.raises(InvalidArgument):
        parse_platform("linux")
    with pytest.raises(ImageError):
        select(b"[]", ("linux", "amd64", None), "x")


def test_pull_reference_rules():
    from pycontainer.models.images import _pull_ref
    assert _pull_ref("busybox", None) == "busybox:latest"
    assert _pull_ref("busybox", "1.36") == "busybox:1.36"
    assert _pull_ref("localhost:5000/app", None) == "localhost:5000/app:latest"
    assert _pull_ref("app", "sha256:" + "a" * 64) == "app@sha256:" + "a" * 64
    with pytest.raises(InvalidArgument):
        _pull_ref("busybox:1", "2")


def test_publish_keeps_a_pulled_manifest_and_checks_it(tmp_path):
    """The store seam: a layer staged without its tar, its compressed blob
    attached, published with the registry's manifest bytes."""
    import gzip
    import hashlib
    import io
    import tarfile
    from pycontainer.image.store import ImageStore
    from pycontainer.image import reference
    store = ImageStore(tmp_path / "s", min_free_space=0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("f")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    tar = buf.getvalue()
    blob = gzip.compress(tar)
    sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()   # noqa: E731
    config = json.dumps({"os": "linux", "rootfs": {"type": "layers",
                                                   "diff_ids": [sha(tar)]}}).encode()
    desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(blob),
            "size": len(blob)}
    manifest = json.dumps({"schemaVersion": 2, "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
        "size": len(config)}, "layers": [desc]}).encode()
    staged = store.stage_layer(io.BytesIO(tar), diff_id=sha(tar), keep_tar=False)
    (tmp_path / "dl").write_bytes(blob)
    store.attach_blob(staged, str(tmp_path / "dl"), desc)
    with pytest.raises(ImageError):           # a manifest naming other blobs: nothing moves
        with store.index() as index:
            store.publish(index, config, [staged], manifest=manifest.replace(b"gzip", b"zstd")
                          .replace(sha(blob).encode(), b"sha256:" + b"0" * 64))
    assert os.listdir(os.path.join(store.root, "layers")) == []
    ref = reference.parse("localhost:5000/app:1")
    with store.index() as index:
        _, digest = store.publish(index, config, [staged], manifest=manifest)
        index.set_reference(ref, digest)
        index.add_digest(ref.name, digest)
    store.discard([staged])
    rec = store.get("localhost:5000/app:1")
    assert rec.manifest_digest == sha(manifest)
    assert rec.repo_digests == [f"localhost:5000/app@{sha(manifest)}"]
    assert open(store.blob_path(sha(blob)), "rb").read() == blob
    assert not os.path.exists(store.blob_path(sha(tar)))   # no uncompressed copy
    assert store.layer_blob(sha(tar)) == desc
    assert store.get(f"localhost:5000/app@{sha(manifest)}").id == sha(config)
    assert store.remove("localhost:5000/app:1")[-2:] == [{"Deleted": sha(config)},
                                                          {"Deleted": sha(tar)}]
    assert store.list() == []
