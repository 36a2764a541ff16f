"""pycontainerd driven by docker-py (``docker.DockerClient``) and by raw HTTP:
docker's statuses and messages for bad requests, version prefixes, streams,
and a clean stop on SIGTERM."""
import json
import os
import struct

import docker
import pytest

from api_daemon import Daemon, daemon, until  # noqa: F401 (fixtures)


@pytest.fixture
def dc(daemon):
    c = docker.DockerClient(base_url=daemon.url, version="auto", timeout=60)
    yield c
    c.close()


def test_run_remove(dc):
    assert dc.containers.run("busybox", "echo hi", remove=True) == b"hi\n"


def test_run_failure_raises_container_error(dc):
    with pytest.raises(docker.errors.ContainerError) as e:
        dc.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 4"], remove=True)
    assert e.value.exit_status == 4 and b"bad" in e.value.stderr


def test_detached_logs_stop_remove(dc):
    c = dc.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2; exec sleep 60"],
                          detach=True, name="pyc-api-py", labels={"t": "api"})
    try:
        assert c.status in ("created", "running")
        c.reload()
        assert c.status == "running" and c.labels == {"t": "api"}
        assert [x.name for x in dc.containers.list(filters={"label": "t=api"})] == ["pyc-api-py"]
        out = until(lambda: c.logs(stdout=True, stderr=False), lambda b: b == b"one\n")
        assert out == b"one\n"
        assert until(lambda: c.logs(stdout=False, stderr=True), bool) == b"two\n"
        assert b"".join(c.logs(stream=True, follow=False)) in (b"one\ntwo\n", b"two\none\n")
        assert c.top()["Processes"][0][-1] == "sleep 60"
        c.stop(timeout=1)
        assert c.wait()["StatusCode"] == 137
        c.reload()
        assert c.status == "exited"
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        dc.containers.get("pyc-api-py")


def test_images_networks_volumes(dc, busybox):
    assert busybox.id in [i.id for i in dc.images.list()]
    assert dc.images.get("busybox").tags == ["busybox:latest"]
    net = dc.networks.create("pyc-api-pynet", labels={"a": "b"})
    try:
        assert dc.networks.get(net.id).name == "pyc-api-pynet"
        assert "pyc-api-pynet" in [n.name for n in dc.networks.list()]
    finally:
        net.remove()
    vol = dc.volumes.create("pyc-api-pyvol", labels={"a": "b"})
    try:
        assert dc.volumes.get("pyc-api-pyvol").attrs["Labels"] == {"a": "b"}
        assert "pyc-api-pyvol" in [v.name for v in dc.volumes.list()]
    finally:
        vol.remove()


def test_ping_headers_and_versions(daemon):
    for path in ("/_ping", "/v1.24/_ping", "/v1.44/_ping"):
        status, headers, body = daemon.http("GET", path)
        assert (status, body) == (200, b"OK")
        assert (headers["API-Version"], headers["OSType"]) == ("1.44", "linux")
        assert headers["Docker-Experimental"] == "false"
    status, headers, body = daemon.http("HEAD", "/_ping")
    assert status == 200 and body == b"" and headers["API-Version"] == "1.44"
    status, _, body = daemon.http("GET", "/v1.12/version")
    assert status == 400 and b"too old" in body
    status, _, body = daemon.http("GET", "/v1.99/version")
    assert status == 400 and b"too new" in body


def _msg(body):
    return json.loads(body)["message"]


def test_bad_requests_get_dockers_status(daemon):
    status, _, body = daemon.http("GET", "/containers/pyc-nope/json")
    assert status == 404 and _msg(body) == "No such container: pyc-nope"
    status, _, body = daemon.http("POST", "/containers/create", body=b"{not json",
                                  headers={"Content-Type": "application/json"})
    assert status == 400 and _msg(body).startswith("invalid JSON")
    status, _, body = daemon.http("POST", "/containers/create", body={"Cmd": ["true"]})
    assert status == 400 and _msg(body) == "Config cannot be empty in order to create a container"
    status, _, body = daemon.http("POST", "/containers/create", body={"Image": "busybox",
                                                                    "Cmd": 5})
    assert status == 400 and "cannot unmarshal" in _msg(body)
    status, _, body = daemon.http("POST", "/containers/create", body={"Image": "pyc-noimage"})
    assert status == 404
    status, _, body = daemon.http("GET", "/no/such/endpoint")
    assert status == 404 and _msg(body) == "page not found"
    status, _, body = daemon.http("POST", "/images/create?fromImage=UPPERCASE")
    assert status == 400


def test_conflict_and_not_modified(daemon):
    status, _, body = daemon.http("POST", "/containers/create?name=pyc-api-raw",
                                  body={"Image": "busybox", "Cmd": ["sleep", "60"]})
    assert status == 201
    cid = json.loads(body)["Id"]
    try:
        status, _, body = daemon.http("POST", "/containers/create?name=pyc-api-raw",
                                      body={"Image": "busybox", "Cmd": ["true"]})
        assert status == 409 and "already in use" in _msg(body)
        assert daemon.http("POST", f"/containers/{cid}/stop")[0] == 304
        assert daemon.http("POST", f"/v1.44/containers/{cid}/start")[0] == 204
        assert daemon.http("POST", f"/containers/{cid}/start")[0] == 304
        status, _, body = daemon.http("DELETE", f"/containers/{cid}")
        assert status == 409
        assert daemon.http("POST", f"/containers/{cid}/kill?signal=KILL")[0] == 204
        status, _, body = daemon.http("POST", f"/containers/{cid}/wait")
        assert (status, json.loads(body)) == (200, {"StatusCode": 137, "Error": None})
        status, _, body = daemon.http("POST", f"/containers/{cid}/kill")
        assert status == 409
    finally:
        assert daemon.http("DELETE", f"/containers/{cid}?force=1")[0] == 204


def _frames(data):
    out = []
    while data:
        kind, size = struct.unpack(">BxxxL", data[:8])
        out.append((kind, data[8:8 + size]))
        data = data[8 + size:]
    return out


def test_logs_are_multiplexed_frames(daemon):
    status, _, body = daemon.http("POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["sh", "-c", "echo a; echo b >&2"]})
    cid = json.loads(body)["Id"]
    try:
        assert daemon.http("POST", f"/containers/{cid}/start")[0] == 204
        assert json.loads(daemon.http("POST", f"/containers/{cid}/wait")[2])["StatusCode"] == 0
        status, headers, body = daemon.http("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
        assert headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
        assert sorted(_frames(body)) == [(1, b"a\n"), (2, b"b\n")]
        status, headers, body = daemon.http("GET", f"/v1.41/containers/{cid}/logs?stdout=1")
        assert headers["Content-Type"] == "application/vnd.docker.raw-stream"
        assert _frames(body) == [(1, b"a\n")]
    finally:
        daemon.http("DELETE", f"/containers/{cid}?force=1")


def test_sigterm_stops_cleanly(store_root, busybox, tmp_path):
    d = Daemon(store_root, tmp_path)
    assert d.http("GET", "/_ping")[0] == 200
    assert d.stop() == 0
    assert not os.path.exists(d.sock), "the socket is removed on the way out"
    assert "Traceback" not in d.log_text()


def test_sigterm_ends_a_blocked_wait(store_root, busybox, tmp_path):
    """A wait on a container that runs on must not keep the daemon alive."""
    import threading
    import time
    d = Daemon(store_root, tmp_path)
    c = docker.APIClient(base_url=d.url, version="auto", timeout=60)
    cid = c.create_container("busybox", ["sleep", "60"],
                             host_config=c.create_host_config(network_mode="none"))["Id"]
    try:
        c.start(cid)
        ended = []

        def wait():
            try:    # the answer's headers went out first: the body tells the error
                ended.append(c.wait(cid).get("Error"))
            except Exception as e:      # noqa: BLE001: or the daemon went away under it
                ended.append(e)
        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.3)
        t = time.monotonic()
        assert d.stop() == 0, d.log_text()
        assert time.monotonic() - t < 5
        waiter.join(10)
        assert not waiter.is_alive() and ended[0], "the wait ends with an error, not an exit code"
    finally:
        c.close()
        d.stop()
        import pycontainer     # the container outlives the daemon (live-restore)
        pycontainer.Client(root=str(store_root)).containers.get(cid).remove(force=True)


def test_not_in_a_swarm_as_dockerd_answers(dc):
    """Clients clean up with leave_swarm(force=True) and look for a swarm."""
    assert dc.api.leave_swarm(force=True) is True
    with pytest.raises(docker.errors.APIError) as e:
        dc.swarm.init(advertise_addr="127.0.0.1")
    assert e.value.status_code == 503
    for call in (dc.services.list, dc.nodes.list, dc.secrets.list, dc.configs.list):
        with pytest.raises(docker.errors.APIError) as e:
            call()
        assert e.value.status_code == 503 and "not a swarm manager" in e.value.explanation
    assert dc.info()["Swarm"]["LocalNodeState"] == "inactive"


def test_low_level_host_config_reaches_the_container(dc, tmp_path):
    """docker-py's create_host_config fields, through the daemon's codec."""
    api = dc.api
    (tmp_path / "f").write_text("bound\n")
    hc = api.create_host_config(
        binds={str(tmp_path): {"bind": "/mnt", "mode": "ro"}}, init=True,
        log_config={"Type": "json-file", "Config": {"max-file": "3", "max-size": "1m"}},
        extra_hosts={"pyc-host": "10.1.2.3"}, group_add=["1234"], shm_size="8m",
        pid_mode="host", network_mode="none")
    cid = api.create_container(
        "busybox", ["sh", "-c", "cat /mnt/f; grep pyc-host /etc/hosts; id -G; "
                    "df -k /dev/shm | tail -1; cat /proc/1/comm"], host_config=hc,
        volumes=["/anon"], domainname="pyc.example", stop_signal="SIGUSR1")["Id"]
    try:
        info = api.inspect_container(cid)
        assert info["HostConfig"]["LogConfig"] == {"Type": "json-file",
                                                   "Config": {"max-file": "3", "max-size": "1m"}}
        assert info["Config"]["StopSignal"] == "SIGUSR1"
        mounts = {m["Destination"]: m for m in info["Mounts"]}
        assert mounts["/mnt"]["Source"] == str(tmp_path) and mounts["/mnt"]["RW"] is False
        assert mounts["/anon"]["Type"] == "volume" and mounts["/anon"]["Driver"] == "local"
        api.start(cid)
        assert api.wait(cid, timeout=30)["StatusCode"] == 0
        out = api.logs(cid).decode().splitlines()
        assert out[0] == "bound" and out[1].split() == ["10.1.2.3", "pyc-host"]
        assert "1234" in out[2].split()
        assert out[3].split()[1] == "8192"
        assert out[4] != "sh"          # pid_mode host: pid 1 is the host's init
    finally:
        api.remove_container(cid, force=True, v=True)


def test_wait_returns_at_an_exit_that_restarts(dc):
    """As dockerd: a wait ends at the exit even when the policy restarts it."""
    c = dc.containers.run("busybox", ["sh", "-c", "sleep 0.3; exit 3"], detach=True,
                          restart_policy={"Name": "always"}, network_mode="none")
    try:
        assert c.wait(timeout=30)["StatusCode"] == 3
    finally:
        c.remove(force=True)


def test_an_exec_that_cannot_start_exits_126(dc):
    """As dockerd 20.10: the exec runs and fails (no such program, working
    directory or user), exit 126 and why on its stream; not an API error."""
    c = dc.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none")
    try:
        code, out = c.exec_run("pyc-no-such-program")
        assert code == 126 and b"OCI runtime exec failed" in out
        assert b"pyc-no-such-program" in out
        code, out = c.exec_run("pwd", workdir="/pyc-no-such-dir")
        assert code == 126 and b"/pyc-no-such-dir" in out
        code, out = c.exec_run("id", user="pyc-nobody")
        assert code == 126 and b"unable to find user pyc-nobody" in out
        code, out = c.exec_run("sh -c 'exit 7'")        # a program's own code is its own
        assert code == 7
    finally:
        c.remove(force=True)


def test_an_env_name_without_a_value_is_kept_in_the_config_not_the_process(dc):
    """As dockerd: "Foo" stays in Config.Env; the process gets no Foo (the
    daemon never hands its own variables to a container)."""
    c = dc.containers.create("busybox", "env", environment=["Foo", "Other=one", "Blank="],
                             network_mode="none")
    try:
        assert "Foo" in c.attrs["Config"]["Env"]
        c.start()
        assert c.wait(timeout=30)["StatusCode"] == 0
        lines = c.logs().decode().splitlines()
        assert "Other=one" in lines and "Blank=" in lines
        assert not any(x.startswith("Foo") for x in lines)
    finally:
        c.remove(force=True)


def test_runtime_isolation_and_volume_driver_are_shown_as_given(dc):
    """As dockerd: "runc" (docker's default runtime's name) and isolation
    "default" run on our runtime and read back as given; a volume driver is
    refused only for a volume it would have to make (no such plugin: 404)."""
    c = dc.containers.create("busybox", "true", runtime="runc", isolation="default",
                             volume_driver="foo", network_mode="none")
    try:
        hc = c.attrs["HostConfig"]
        assert (hc["Runtime"], hc["Isolation"], hc["VolumeDriver"]) == ("runc", "default", "foo")
    finally:
        c.remove()
    with pytest.raises(docker.errors.NotFound):
        dc.containers.create("busybox", "true", volume_driver="foo", volumes=["/data"],
                             network_mode="none")
    with pytest.raises(docker.errors.NotFound):
        dc.volumes.create("pyc-test-no-driver", driver="invalid.driver")
    assert not [v for v in dc.volumes.list() if v.name == "pyc-test-no-driver"]
    with pytest.raises(docker.errors.APIError):
        dc.containers.create("busybox", "true", runtime="pyc-no-such-runtime")
    assert not dc.containers.list(all=True, filters={"ancestor": "busybox", "status": "created"})


def test_a_network_name_may_have_spaces_and_ipam_options_are_null(dc):
    """As dockerd 20.10: "pyc test 01" is a name; IPAM Options not given: null."""
    net = dc.networks.create("pyc test 01")
    try:
        attrs = dc.networks.get("pyc test 01").attrs
        assert attrs["Name"] == "pyc test 01" and attrs["IPAM"]["Options"] is None
    finally:
        net.remove()
    with pytest.raises(docker.errors.APIError) as err:
        dc.networks.create("pyc/bad")
    assert err.value.status_code == 400


def test_load_names_only_what_the_archive_names(dc, busybox):
    """An image saved by ID loads as "Loaded image ID" (docker-py: one image),
    one saved by a name loads as that name only, whatever other tags it has."""
    img = dc.images.get("busybox")
    img.tag("pyc-api-load", "extra")
    img.reload()
    try:
        data = b"".join(img.save())
        assert [i.id for i in dc.images.load(data)] == [img.id]
        data = b"".join(img.save(named="pyc-api-load:extra"))
        dc.images.remove("pyc-api-load:extra")
        loaded = dc.images.load(data)
        assert [i.id for i in loaded] == [img.id]
        assert "pyc-api-load:extra" in loaded[0].tags
    finally:
        dc.images.remove("pyc-api-load:extra")


def test_build_cache_from_commit_parent_and_a_copy_into_a_volume(dc, busybox):
    """docker-py's build(cache_from=...) as the legacy builder (those images
    only); a commit's Parent; put_archive into a created container's volume."""
    import io
    df = b"FROM busybox\nENV FOO=bar\nRUN touch /baz\n"

    def cached(**kw):
        _, logs = dc.images.build(fileobj=io.BytesIO(df), rm=True, **kw)
        return sum("Using cache" in m.get("stream", "") for m in logs)
    try:
        assert cached(tag="pyc-api-cf:1") == 0
        assert cached(tag="pyc-api-cf:2", cache_from=["pyc-api-cf:1"]) == 2
        assert cached(tag="pyc-api-cf:3", cache_from=["pyc-api-nosuch:1"]) == 0
        c = dc.containers.create("busybox", ["cat", "/vol/in"], volumes=["/vol"])
        try:
            buf = io.BytesIO()
            with __import__("tarfile").open(fileobj=buf, mode="w") as tf:
                info = __import__("tarfile").TarInfo("in")
                info.size = 3
                tf.addfile(info, io.BytesIO(b"in\n"))
            assert c.put_archive("/vol", buf.getvalue())
            c.start()
            assert c.wait()["StatusCode"] == 0 and c.logs() == b"in\n"
            image = c.commit("pyc-api-cf", "committed")
            assert image.attrs["Parent"] == dc.images.get("busybox").id
            dc.images.remove(image.id)
        finally:
            c.remove(v=True, force=True)
    finally:
        for t in ("pyc-api-cf:1", "pyc-api-cf:2", "pyc-api-cf:3"):
            dc.images.remove(t)


def test_a_legacy_link_is_removed_alone(dc):
    """``remove_container("parent/alias", link=True)`` (docker rm --link)."""
    net = dc.networks.create("pyc-api-links")
    up = dc.containers.create("busybox", "true", network="pyc-api-links", name="pyc-api-up")
    try:
        parent = dc.containers.create("busybox", "true", network="pyc-api-links",
                                      name="pyc-api-parent", links={"pyc-api-up": "mylink"})
        try:
            assert len(parent.attrs["HostConfig"]["Links"]) == 1
            dc.api.remove_container("pyc-api-parent/mylink", link=True)
            parent.reload()
            assert not parent.attrs["HostConfig"]["Links"]
            assert {c.name for c in dc.containers.list(all=True)} >= {"pyc-api-up",
                                                                       "pyc-api-parent"}
            with pytest.raises(docker.errors.NotFound):
                dc.api.remove_container("pyc-api-parent/mylink", link=True)
            with pytest.raises(docker.errors.NotFound):       # no link=1: no such page
                dc.api._result(dc.api._delete(dc.api._url("/containers/pyc-api-parent/x")),
                               False)
        finally:
            parent.remove(force=True)
    finally:
        up.remove(force=True)
        net.remove()
