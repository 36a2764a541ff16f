"""docker-py's client and model methods: from_env, ping, version, info, df,
close and the context manager, run(stream=), auto_remove, create(detach=),
Container.ports, Image.remove, and the swarm/plugin ones refused."""
import os

import pytest

from pycontainer import Client, errors


def test_from_env_uses_pycontainer_root(store_root, busybox):
    env = {"PYCONTAINER_ROOT": str(store_root)}
    with Client.from_env(environment=env) as c:
        assert c.root == str(store_root)
        assert c.ping() is True
        assert any("busybox:latest" in i.tags for i in c.images.list())
    # $PYCONTAINER_HOST: a daemon's client (tests/integration/test_remote.py); none here
    with Client.from_env(environment={"PYCONTAINER_HOST": "tcp://127.0.0.1:9"}) as remote:
        with pytest.raises(errors.PyContainerError, match="cannot reach the daemon"):
            remote.ping()


def test_version(client):
    v = client.version()
    assert v["Platform"]["Name"].startswith("pycontainer")
    engine = next(c for c in v["Components"] if c["Name"] == "Engine")
    assert engine["Version"] == v["Version"]
    assert v["Os"] == "linux" and v["KernelVersion"] == os.uname().release
    assert v["ApiVersion"] and v["Arch"]


def test_info_counts_what_exists(fresh_client, busybox):
    fresh_client.images.busybox()
    before = fresh_client.info()
    assert before["Containers"] == 0 and before["Images"] == 1
    assert before["DockerRootDir"] == fresh_client.root
    assert before["CgroupVersion"] == ("2" if fresh_client._runtime.cg.kind == "v2" else "1")
    assert before["NCPU"] == os.cpu_count() and before["MemTotal"] > 0
    assert before["Swarm"]["LocalNodeState"] == "inactive"
    with fresh_client.containers.run("busybox", ["sleep", "60"], detach=True):
        fresh_client.containers.create("busybox", "true")
        now = fresh_client.info()
        assert (now["Containers"], now["ContainersRunning"], now["ContainersStopped"]) == \
            (2, 1, 1)


def test_df_sizes(fresh_client):
    fresh_client.images.busybox()
    c = fresh_client.containers.run("busybox", ["sh", "-c", "head -c 100000 /dev/zero > /big"],
                                    detach=True)
    try:
        c.wait(timeout=30)
        fresh_client.volumes.create("pycpar-vol")
        df = fresh_client.df()
        assert df["LayersSize"] > 0 and df["Images"][0]["Containers"] == 1
        mine = next(x for x in df["Containers"] if x["Id"] == c.id)
        assert mine["SizeRw"] >= 100000
        assert [v["Name"] for v in df["Volumes"]] == ["pycpar-vol"]
        assert df["Volumes"][0]["UsageData"]["Size"] == 0
    finally:
        c.remove(force=True)
        fresh_client.volumes.get("pycpar-vol").remove()


def test_swarm_and_plugins_refused(client):
    for name in ("swarm", "services", "nodes", "secrets", "configs", "plugins"):
        with pytest.raises(errors.InvalidArgument, match="swarm"):
            getattr(client, name)


def test_run_stream_yields_output_then_raises_on_failure(client, busybox):
    chunks = client.containers.run("busybox", ["sh", "-c", "echo one; echo two"], stream=True,
                                   remove=True)
    assert b"".join(chunks) == b"one\ntwo\n"
    gen = client.containers.run("busybox", ["sh", "-c", "echo out; echo bad >&2; exit 3"],
                                stream=True, remove=True, name="pycpar-stream")
    got = b""
    with pytest.raises(errors.ContainerError) as err:
        for chunk in gen:
            got += chunk
    assert got == b"out\n" and err.value.exit_status == 3 and b"bad" in err.value.stderr
    with pytest.raises(errors.NotFound):
        client.containers.get("pycpar-stream")           # removed after all


def test_auto_remove_and_create_detach(client, busybox):
    c = client.containers.run("busybox", ["true"], detach=True, auto_remove=True)
    c.wait(condition="removed", timeout=30)
    with pytest.raises(errors.NotFound):
        client.containers.get(c.id)
    created = client.containers.create("busybox", "true", detach=True)
    try:
        assert created.status == "created"
    finally:
        created.remove()


def test_image_remove(fresh_client):
    img = fresh_client.images.busybox()
    img.tag("pycpar/img", "one")
    tagged = fresh_client.images.get("pycpar/img:one")
    fresh_client.images.remove("pycpar/img:one")
    with pytest.raises(errors.ImageNotFound):
        fresh_client.images.get("pycpar/img:one")
    assert tagged.id == img.id
    img.remove(force=True)
    with pytest.raises(errors.ImageNotFound):
        fresh_client.images.get(img.id)


def test_inspect_shows_the_new_keywords(client, busybox):
    c = client.containers.create("busybox", "true", dns=["192.0.2.1"], init=True,
                                 extra_hosts={"a": "192.0.2.2"}, ipc_mode="private",
                                 mem_reservation="16m", shm_size="8m", network_mode="none")
    try:
        hc = c.attrs["HostConfig"]
        assert hc["Dns"] == ["192.0.2.1"] and hc["Init"] is True
        assert hc["ExtraHosts"] == ["a:192.0.2.2"] and hc["IpcMode"] == "private"
        assert hc["MemoryReservation"] == 16 << 20 and hc["ShmSize"] == 8 << 20
        assert hc["Runtime"] == "pycontainer"
    finally:
        c.remove()


def test_kill_top_remove_signatures(client, busybox):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        pid = str(c.attrs["State"]["Pid"])
        top = c.top(ps_args="-eo pid,comm")
        assert top["Titles"] == ["PID", "COMMAND"] and top["Processes"] == [[pid, "sleep"]]
        assert [p[0] for p in c.top()["Processes"]] == [pid]
        with pytest.raises(errors.InvalidArgument, match="link"):
            c.remove(link=True)
        c.kill()                                  # signal=None: SIGKILL, as docker
        assert c.wait(timeout=10)["StatusCode"] == 137
    finally:
        c.remove(force=True)
