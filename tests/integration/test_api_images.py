"""pycontainerd's image routes driven by the real docker CLI (28.x, legacy
builder) and docker-py, against Debian's docker-registry on 127.0.0.1:
build, pull, push, login, commit, import, save/load, history, tag, rmi,
prune, search, distribution inspect, and docker's error statuses."""
import json
import os
import subprocess

import docker
import pytest

from api_daemon import daemon  # noqa: F401 (fixtures)
from registry_helpers import DistributionRegistry


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = DistributionRegistry(tmp_path_factory.mktemp("reg"))
    yield reg
    reg.stop()


@pytest.fixture
def images(daemon):
    """Image names a test makes: removed with ``docker rmi -f`` afterwards."""
    made = []
    yield made
    for n in made:
        daemon.docker("rmi", "-f", n, ok=False)


@pytest.fixture
def legacy(monkeypatch):
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")


def _context(tmp_path, dockerfile, **files):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (ctx / name).write_text(text)
    return ctx


def test_docker_build_legacy(daemon, images, legacy, tmp_path):
    images.append("pyc-api-build:1")
    ctx = _context(tmp_path, "FROM busybox\nARG WHO=nobody\nCOPY msg /msg\n"
                             "RUN echo \"$WHO $(cat /msg)\" > /out\nLABEL pyc.test=build\n"
                             'CMD ["cat", "/out"]\n', msg="from the context")
    r = daemon.docker("build", "-t", "pyc-api-build:1", "--build-arg", "WHO=api", str(ctx),
                      timeout=120)
    assert "Step 1/6 : FROM busybox" in r.stdout
    assert "Successfully tagged pyc-api-build:1" in r.stdout
    built = [ln for ln in r.stdout.splitlines() if ln.startswith("Successfully built ")]
    assert len(built) == 1
    assert daemon.docker("run", "--rm", "pyc-api-build:1").stdout == "api from the context\n"
    labels = json.loads(daemon.docker("image", "inspect", "--format",
                                      "{{json .Config.Labels}}", "pyc-api-build:1").stdout)
    assert labels == {"pyc.test": "build"}
    q = daemon.docker("build", "-q", "-t", "pyc-api-build:1", "--build-arg", "WHO=api",
                      str(ctx), timeout=120)
    assert q.stdout.strip().startswith("sha256:")
    assert q.stdout.strip() == json.loads(daemon.docker(
        "image", "inspect", "--format", "{{json .Id}}", "pyc-api-build:1").stdout)


def test_docker_build_failure(daemon, legacy, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nRUN echo going; exit 7\n")
    r = daemon.docker("build", "--force-rm", str(ctx), ok=False, timeout=120)
    assert r.returncode != 0
    assert "returned a non-zero code: 7" in r.stderr + r.stdout
    (tmp_path / "b").mkdir()
    bad = _context(tmp_path / "b", "FROM busybox\nNOSUCH thing\n")
    r = daemon.docker("build", str(bad), ok=False)
    assert r.returncode != 0 and "unknown instruction" in (r.stderr + r.stdout).lower()


def test_push_pull_rmi(daemon, images, registry):
    name = f"{registry.host}/pyc/bb:1"
    images.append(name)
    daemon.docker("tag", "busybox", name)
    out = daemon.docker("push", name, timeout=120).stdout
    assert f"The push refers to repository [{name[:-2]}]" in out
    assert "1: digest: sha256:" in out
    daemon.docker("rmi", name)
    assert daemon.docker("images", "-q", name).stdout == ""
    out = daemon.docker("pull", name, timeout=120).stdout
    assert f"Status: Downloaded newer image for {name}" in out or \
        f"Status: Image is up to date for {name}" in out
    digests = json.loads(daemon.docker("image", "inspect", "--format",
                                       "{{json .RepoDigests}}", name).stdout)
    assert any(d.startswith(f"{name[:-2]}@sha256:") for d in digests)
    tags = json.loads(subprocess.run(["curl", "-s", f"http://{registry.host}/v2/pyc/bb/tags/list"],
                                     capture_output=True, check=True).stdout)["tags"]
    assert tags == ["1"]


def test_pull_errors_are_statuses(daemon, registry):
    st, _, body = daemon.http("POST", f"/images/create?fromImage={registry.host}/pyc/none"
                                      "&tag=1")
    assert st == 404, body
    st, _, body = daemon.http("POST", "/images/create?fromImage=UPPER/Case&tag=1")
    assert st == 400, body
    assert json.loads(body)["message"]
    st, _, body = daemon.http("POST", "/images/pyc-api-no-such/push?tag=1")
    assert st == 404, body
    st, _, body = daemon.http("POST", "/images/create?fromImage=busybox",
                              headers={"X-Registry-Auth": "%%%not base64"})
    assert st == 400, body
    r = daemon.docker("pull", f"{registry.host}/pyc/none:1", ok=False)
    assert r.returncode == 1 and "pyc/none" in r.stderr


def test_login_and_push_to_htpasswd_registry(daemon, images, tmp_path):
    reg = DistributionRegistry(tmp_path, users={"pyc": "s3cret"})
    try:
        name = f"{reg.host}/pyc/auth:1"
        images.append(name)
        daemon.docker("tag", "busybox", name)
        r = daemon.docker("push", name, ok=False)
        assert r.returncode != 0 and "authentication required" in r.stderr + r.stdout
        r = daemon.docker("login", "-u", "pyc", "--password-stdin", reg.host, input="wrong\n",
                          ok=False)
        assert r.returncode != 0 and "401" not in r.stdout
        r = daemon.docker("login", "-u", "pyc", "--password-stdin", reg.host, input="s3cret\n")
        assert "Login Succeeded" in r.stdout
        assert "1: digest: sha256:" in daemon.docker("push", name, timeout=120).stdout
        daemon.docker("rmi", name)
        daemon.docker("pull", name, timeout=120)
        daemon.docker("logout", reg.host)
    finally:
        reg.stop()


def test_commit_import_export(daemon, images, tmp_path):
    images += ["pyc-api-commit:1", "pyc-api-import:1"]
    daemon.docker("run", "--name", "pyc-api-commit", "busybox", "sh", "-c",
                  "echo committed > /f")
    try:
        cid = daemon.docker("commit", "-m", "a message", "-a", "me",
                            "-c", 'CMD ["cat", "/f"]', "pyc-api-commit",
                            "pyc-api-commit:1").stdout.strip()
        assert cid.startswith("sha256:")
        assert daemon.docker("run", "--rm", "pyc-api-commit:1").stdout == "committed\n"
        doc = json.loads(daemon.docker("image", "inspect", "pyc-api-commit:1").stdout)[0]
        assert doc["Author"] == "me" and doc["Comment"] == "a message"
        tar = tmp_path / "fs.tar"
        daemon.docker("export", "-o", str(tar), "pyc-api-commit")
        with open(tar, "rb") as f:
            r = subprocess.run(["docker", "import", "-c", "WORKDIR /tmp", "-",
                                "pyc-api-import:1"], stdin=f, capture_output=True, text=True,
                               env=dict(os.environ, DOCKER_HOST=daemon.url), timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().startswith("sha256:")
        out = daemon.docker("run", "--rm", "pyc-api-import:1", "sh", "-c", "pwd; cat /f").stdout
        assert out == "/tmp\ncommitted\n"
    finally:
        daemon.docker("rm", "-f", "pyc-api-commit", ok=False)
    st, _, body = daemon.http("POST", "/commit?container=pyc-api-no-such")
    assert st == 404, body


def test_save_load_history_tag_prune(daemon, images, tmp_path):
    images += ["pyc-api-saved:1", "pyc-api-saved:2"]
    daemon.docker("tag", "busybox", "pyc-api-saved:1")
    tar = tmp_path / "saved.tar"
    daemon.docker("save", "-o", str(tar), "pyc-api-saved:1")
    daemon.docker("rmi", "pyc-api-saved:1")
    assert "Loaded image: pyc-api-saved:1" in daemon.docker("load", "-i", str(tar)).stdout
    hist = daemon.docker("history", "--no-trunc", "--format", "{{.ID}}",
                         "pyc-api-saved:1").stdout.split()
    assert hist[0] == json.loads(daemon.docker("image", "inspect", "--format", "{{json .Id}}",
                                               "pyc-api-saved:1").stdout)
    daemon.docker("tag", "pyc-api-saved:1", "pyc-api-saved:2")
    out = daemon.docker("rmi", "pyc-api-saved:2").stdout
    assert out == "Untagged: pyc-api-saved:2\n"
    out = daemon.docker("image", "prune", "-f").stdout
    assert "Total reclaimed space" in out
    assert daemon.docker("images", "-q", "pyc-api-saved:1").stdout.strip()


def test_search_lists_the_registry_catalog(daemon, images, registry):
    name = f"{registry.host}/pyc/searchme:1"
    images.append(name)
    daemon.docker("tag", "busybox", name)
    daemon.docker("push", name, timeout=120)
    out = daemon.docker("search", "--format", "{{.Name}}", f"{registry.host}/searchm").stdout
    assert out.splitlines() == [f"{registry.host}/pyc/searchme"]
    assert daemon.docker("search", "--format", "{{.Name}}",
                         f"{registry.host}/nothing-like-it").stdout == ""
    st, _, body = daemon.http("GET", "/images/search?term=x&limit=1000")
    assert st == 400, body


def test_distribution_inspect(daemon, images, registry):
    name = f"{registry.host}/pyc/dist:1"
    images.append(name)
    daemon.docker("tag", "busybox", name)
    daemon.docker("push", name, timeout=120)
    st, _, body = daemon.http("GET", f"/distribution/{name}/json")
    assert st == 200, body
    doc = json.loads(body)
    assert doc["Descriptor"]["digest"].startswith("sha256:")
    assert {"os": "linux"}.items() <= doc["Platforms"][0].items()


def test_auth_route(daemon, tmp_path):
    reg = DistributionRegistry(tmp_path, users={"pyc": "pw"})
    try:
        ok = {"username": "pyc", "password": "pw", "serveraddress": reg.host}
        st, _, body = daemon.http("POST", "/auth", body=ok)
        assert st == 200 and json.loads(body)["Status"] == "Login Succeeded"
        st, _, body = daemon.http("POST", "/auth", body=dict(ok, password="no"))
        assert st == 401, body
        st, _, body = daemon.http("POST", "/auth", body={"username": 3})
        assert st == 400, body
    finally:
        reg.stop()


def test_docker_py_build_pull_push(daemon, images, registry, tmp_path):
    name = f"{registry.host}/pyc/dpy"
    images += [f"{name}:1", "pyc-api-dpy:1"]
    dc = docker.DockerClient(base_url=daemon.url, version="auto", timeout=120)
    try:
        ctx = _context(tmp_path, "FROM busybox\nRUN echo built > /b\n")
        img, logs = dc.images.build(path=str(ctx), tag="pyc-api-dpy:1", rm=True)
        assert "pyc-api-dpy:1" in img.tags
        assert any("Successfully built" in m.get("stream", "") for m in logs)
        assert img.tag(name, "1")
        out = dc.images.push(name, "1")
        assert '"Digest"' in out or "digest: sha256:" in out
        dc.images.remove(f"{name}:1")
        got = dc.images.pull(name, "1")
        assert got.id == img.id
        with pytest.raises(docker.errors.BuildError):
            dc.images.build(fileobj=__import__("io").BytesIO(b"FROM busybox\nRUN exit 3\n"),
                            forcerm=True)
        with pytest.raises(docker.errors.NotFound):
            dc.images.pull(f"{registry.host}/pyc/nope", "1")
    finally:
        dc.close()
