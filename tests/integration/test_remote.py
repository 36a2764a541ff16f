"""``Client(base_url=...)``: the same model calls against pycontainerd (over its
UNIX socket) as against the store in-process, and both side by side on one store."""
import contextlib
import io
import os
import subprocess
import sys
import textwrap

import pytest

from api_daemon import Daemon, until
from pycontainer import Client, errors


@pytest.fixture(scope="module")
def daemon(store_root, busybox, tmp_path_factory):
    d = Daemon(store_root, tmp_path_factory.mktemp("pycd"))
    yield d
    assert d.stop() == 0, d.log_text()


@pytest.fixture(params=["local", "remote"])
def sdk(request, client, daemon):
    """The session's in-process client, or one over the daemon's socket."""
    if request.param == "local":
        yield client
        return
    c = Client(base_url=daemon.url)
    yield c
    c.close()


def test_run_output_and_errors(sdk):
    assert sdk.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"
    with pytest.raises(errors.ContainerError) as e:
        sdk.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
    assert e.value.exit_status == 3 and b"bad" in e.value.stderr
    with pytest.raises(errors.ImageNotFound):
        sdk.containers.run("pyc-remote-no-such:1", ["true"], remove=True)


def test_detached_logs_list_inspect_remove(sdk):
    c = sdk.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2; exec sleep 60"],
                           detach=True, name="pyc-remote-life", labels={"t": "remote"})
    try:
        assert c.status == "running" and c.name == "pyc-remote-life"
        assert [x.id for x in sdk.containers.list(filters={"label": "t=remote"})] == [c.id]
        until(c.logs, lambda b: b"out" in b and b"err" in b)
        assert c.logs(stderr=False) == b"out\n" and c.logs(stdout=False) == b"err\n"
        c.stop(timeout=1)
        assert c.status == "exited"
        assert c.wait()["StatusCode"] == 137
        with pytest.raises(errors.Conflict):
            sdk.containers.run("busybox", ["true"], name="pyc-remote-life")
    finally:
        c.remove(force=True)
    with pytest.raises(errors.NotFound):
        sdk.containers.get("pyc-remote-life")


def test_exec_run(sdk):
    c = sdk.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        r = c.exec_run(["sh", "-c", "echo $X; echo e >&2; exit 4"], environment={"X": "y"})
        assert r.exit_code == 4 and b"y\n" in r.output and b"e\n" in r.output
        r = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
        assert r.exit_code == 0 and r.output == (b"o\n", b"e\n")
    finally:
        c.remove(force=True)


def test_images(sdk, busybox):
    img = sdk.images.get("busybox")
    assert img.id == busybox.id and "busybox:latest" in img.tags
    assert img.history()[0]["Id"] == busybox.id
    assert img.tag("pyc-remote-tag", "1") is True
    try:
        assert "pyc-remote-tag:1" in sdk.images.get("pyc-remote-tag:1").tags
        assert any(i.id == busybox.id for i in sdk.images.list("pyc-remote-tag"))
        data = b"".join(sdk.images.get("pyc-remote-tag:1").save(named=True))
        assert sdk.images.remove("pyc-remote-tag:1") == [{"Untagged": "pyc-remote-tag:1"}]
        loaded = sdk.images.load(data)
        assert [i.id for i in loaded] == [busybox.id]
    finally:
        with contextlib.suppress(errors.NotFound):
            sdk.images.remove("pyc-remote-tag:1")
    with pytest.raises(errors.ImageNotFound):
        sdk.images.get("pyc-remote-nothing:1")


def test_build_and_commit(sdk):
    df = io.BytesIO(b"FROM busybox\nRUN echo built > /b\nCMD [\"cat\", \"/b\"]\n")
    img, logs = sdk.images.build(fileobj=df, tag="pyc-remote-build:1", rm=True)
    try:
        assert "pyc-remote-build:1" in img.tags
        assert sdk.containers.run("pyc-remote-build:1", remove=True) == b"built\n"
        c = sdk.containers.run("busybox", ["sh", "-c", "echo c > /c"], detach=True)
        try:
            c.wait()
            snap = c.commit("pyc-remote-commit", "1", changes=['CMD ["cat", "/c"]'])
            assert sdk.containers.run(snap.id, remove=True) == b"c\n"
        finally:
            c.remove(force=True)
            sdk.images.remove("pyc-remote-commit:1", force=True)
    finally:
        sdk.images.remove("pyc-remote-build:1", force=True)


def test_networks_and_volumes(sdk):
    net = sdk.networks.create("pyc-remote-net", labels={"t": "r"})
    vol = sdk.volumes.create("pyc-remote-vol")
    try:
        assert sdk.networks.get("pyc-remote-net").id == net.id
        assert "pyc-remote-net" in [n.name for n in sdk.networks.list()]
        out = sdk.containers.run("busybox", ["sh", "-c", "echo v > /v/f; cat /v/f"],
                                 volumes={"pyc-remote-vol": {"bind": "/v"}},
                                 network="pyc-remote-net", remove=True)
        assert out == b"v\n"
        assert "pyc-remote-vol" in [v.name for v in sdk.volumes.list()]
    finally:
        vol.remove(force=True)
        net.remove()
    with pytest.raises(errors.NotFound):
        sdk.volumes.get("pyc-remote-vol")


def test_system(sdk):
    assert sdk.ping() is True
    assert sdk.version()["ApiVersion"]
    assert sdk.info()["DockerRootDir"]
    assert "LayersSize" in sdk.df()


def test_local_and_remote_side_by_side(daemon, store_root, tmp_path):
    """One script: a container made in-process is seen over the socket, and back."""
    script = tmp_path / "both.py"
    script.write_text(textwrap.dedent(f"""
        from pycontainer import Client
        local = Client(root={str(store_root)!r})
        remote = Client(base_url={daemon.url!r})
        a = local.containers.run("busybox", ["sleep", "60"], detach=True, name="pyc-rs-a")
        b = remote.containers.run("busybox", ["sleep", "60"], detach=True, name="pyc-rs-b")
        try:
            print(remote.containers.get("pyc-rs-a").id == a.id,
                  local.containers.get("pyc-rs-b").id == b.id,
                  sorted(c.name for c in remote.containers.list()
                         if c.name.startswith("pyc-rs-")))
        finally:
            a.remove(force=True)
            remote.containers.get("pyc-rs-b").remove(force=True)
        remote.close()
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "True True ['pyc-rs-a', 'pyc-rs-b']\n"
