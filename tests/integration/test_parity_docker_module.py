"""``import pycontainer.docker as docker``: docker-py's names and a harness's
low-level calls (client.api) over the real engine."""
import json

import pytest

import pycontainer.docker as docker
from pycontainer import errors
from test_networks import in_netns, netns  # noqa: F401


@pytest.fixture
def dclient(store_root, busybox):
    with docker.from_env(environment={"PYCONTAINER_ROOT": str(store_root)}) as c:
        yield c


def test_names_and_construction(store_root):
    assert docker.errors.APIError is errors.APIError and docker.errors.NotFound is errors.NotFound
    for name in ("Mount", "EndpointConfig", "Healthcheck", "IPAMConfig", "IPAMPool",
                 "LogConfig", "Ulimit", "DeviceRequest", "RestartPolicy"):
        assert hasattr(docker.types, name), name
    c = docker.DockerClient(base_url=None, version="1.44", timeout=30, tls=False,
                            user_agent="harness/1", root=str(store_root))
    assert c.api.api_version == "1.44" and c.api.headers["User-Agent"] == "harness/1"
    assert c.ping() and c.api.ping() and c.api.version()["Platform"]["Name"]
    assert c.api.base_url.endswith(str(store_root))
    # a URL is a pycontainerd (pycontainer/remote; tests/integration/test_remote.py): none here
    for remote in (docker.DockerClient(base_url="tcp://127.0.0.1:9"),
                   docker.from_env(environment={"PYCONTAINER_HOST": "tcp://127.0.0.1:9"})):
        with remote, pytest.raises(errors.PyContainerError, match="cannot reach the daemon"):
            remote.ping()
    with pytest.raises(docker.RemoteNotSupported, match="contexts"):
        docker.DockerClient.from_context("default")


def test_harness_flow(dclient, netns):
    in_netns(netns, _harness_flow, dclient)


def _harness_flow(dclient):
    api = dclient.api
    hc = api.create_host_config(port_bindings={80: None}, mem_limit="64m",
                                network_mode="bridge",
                                binds={"/etc": {"bind": "/hostetc", "mode": "ro"}})
    cid = api.create_container("busybox", ["sh", "-c", "echo started; sleep 60"],
                               host_config=hc, name="pycpar-api", labels={"pycpar": "1"},
                               environment={"A": "1"}, ports=[80])["Id"]
    try:
        assert api.inspect_container(cid)["State"]["Status"] == "created"
        api.start(cid)
        listed = api.containers(filters={"label": "pycpar=1"})
        assert [e["Id"] for e in listed] == [cid] and listed[0]["Names"] == ["/pycpar-api"]
        assert listed[0]["State"] == "running" and listed[0]["Status"].startswith("Up")
        assert api.containers(quiet=True, filters={"label": "pycpar=1"}) == [{"Id": cid}]
        (binding,) = api.port(cid, 80)
        assert int(binding["HostPort"]) > 0 and api.port(cid, 81) is None
        assert api.port(cid, "80/tcp") == [binding]
        eid = api.exec_create(cid, ["sh", "-c", "echo $A; test -f /hostetc/hostname && "
                                               "exit 3"])["Id"]
        assert api.exec_inspect(eid)["ExitCode"] is None
        assert api.exec_start(eid) == b"1\n"
        info = api.exec_inspect(eid)
        assert info["ExitCode"] == 3 and info["Running"] is False and info["ContainerID"] == cid
        eid2 = api.exec_create(cid, "echo a b")["Id"]       # a string: split, no shell
        chunks = api.exec_start(eid2, stream=True)
        assert api.exec_inspect(eid2)["ExitCode"] is None
        assert b"".join(chunks) == b"a b\n" and api.exec_inspect(eid2)["ExitCode"] == 0
        with pytest.raises(errors.NotFound):
            api.exec_inspect("nope")
        assert api.inspect_container(cid)["HostConfig"]["Memory"] == 64 << 20
        api.stop(cid, timeout=1)
        assert api.wait(cid)["StatusCode"] == 137 or api.wait(cid)["StatusCode"] == 143
        assert api.logs(cid) == b"started\n"
        assert api.containers(filters={"label": "pycpar=1"}) == []
        assert api.containers(all=True, filters={"label": "pycpar=1"})[0]["State"] == "exited"
    finally:
        api.remove_container(cid, force=True)
    with pytest.raises(errors.NotFound):
        api.inspect_container(cid)


def test_images_and_api_shaped_host_config(dclient):
    api = dclient.api
    (entry,) = [i for i in api.images() if "busybox:latest" in i["RepoTags"]]
    assert entry["Id"].startswith("sha256:") and entry["Size"] > 0
    assert entry["Created"] == 946684800          # the embedded busybox: 2000-01-01
    assert entry["Id"] in api.images(quiet=True)
    assert api.inspect_image("busybox")["Id"] == entry["Id"]
    cid = api.create_container("busybox", "true", host_config={"Memory": 32 << 20,
                                                               "AutoRemove": False})["Id"]
    try:
        assert api.inspect_container(cid)["HostConfig"]["Memory"] == 32 << 20
    finally:
        api.remove_container(cid)
    with pytest.raises(errors.InvalidArgument, match="unknown"):
        api.create_host_config(not_a_keyword=1)


def test_model_api_through_the_module(dclient):
    out = dclient.containers.run("busybox", ["sh", "-c", "ulimit -n"], remove=True,
                                 ulimits=[docker.types.Ulimit(name="nofile", soft=512,
                                                              hard=512)],
                                 log_config=docker.types.LogConfig(type="json-file"))
    assert out == b"512\n"
    with pytest.raises(errors.InvalidArgument, match="GPU"):
        dclient.containers.create("busybox", "true",
                                  device_requests=[docker.types.DeviceRequest(count=-1)])
    hc = docker.types.Healthcheck(test="true", interval=100_000_000, retries=1)
    with dclient.containers.run("busybox", ["sleep", "30"], detach=True, healthcheck=hc) as c:
        assert c.wait(condition="healthy", timeout=30)["StatusCode"] == 0
        line = next(c.stats())
        assert json.loads(line)["id"] == c.id
