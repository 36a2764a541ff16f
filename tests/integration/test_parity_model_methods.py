"""Behaviour of docker-py's model methods that tests/unit/test_parity_models.py
walks by name: stop's 10 s default, kill's signals, remove's v/force, export
and get_archive chunks, containers.list's keywords, every collection's prune
and exists, Image.save(named=), history, tag and remove."""
import contextlib
import io
import json
import tarfile
import time

import pytest

from pycontainer import errors
from test_networks import containers, wait_for

TRAP = "trap '' TERM; echo ready; while :; do sleep 1; done"


def test_stop_default_is_docker_10_seconds(client, busybox):
    with containers(client.containers.run("busybox", ["sh", "-c", TRAP], detach=True)) as (c,):
        wait_for(lambda: c.logs() == b"ready\n", what="trap set")
        t0 = time.monotonic()
        c.stop()                              # timeout=None: docker's 10 s, then SIGKILL
        took = time.monotonic() - t0
        assert 9.5 <= took < 20 and c.attrs["State"]["ExitCode"] == 137
    with containers(client.containers.run("busybox", ["sh", "-c", TRAP], detach=True,
                                          stop_timeout=1)) as (c,):
        wait_for(lambda: c.logs() == b"ready\n", what="trap set")
        t0 = time.monotonic()
        c.stop()                              # the container's stop_timeout wins
        assert time.monotonic() - t0 < 6 and c.status == "exited"


def test_kill_with_a_signal_name_or_number(client, busybox):
    script = "trap 'echo usr1' USR1; trap 'echo hup' HUP; echo ready; while :; do sleep 1; done"
    with containers(client.containers.run("busybox", ["sh", "-c", script],
                                          detach=True)) as (c,):
        wait_for(lambda: c.logs() == b"ready\n", what="traps set")
        c.kill(signal="SIGUSR1")
        wait_for(lambda: b"usr1" in c.logs(), what="USR1 handled")
        c.kill(signal=1)
        wait_for(lambda: b"hup" in c.logs(), what="HUP handled")
        assert c.status == "running"


def test_remove_v_and_force(client, busybox):
    before = {v.name for v in client.volumes.list()}
    c = client.containers.run("busybox", ["sleep", "60"], detach=True, volumes=["/data"])
    try:
        (vol,) = {v.name for v in client.volumes.list()} - before
        with pytest.raises(errors.Conflict):
            c.remove()                        # running: refused, nothing lost
        assert client.containers.exists(c.id)
        c.remove(v=True, force=True)
        assert not client.containers.exists(c.id) and not client.volumes.exists(vol)
    finally:
        with contextlib.suppress(errors.NotFound):
            c.remove(v=True, force=True)


def test_export_and_get_archive_chunks(client, busybox):
    with containers(client.containers.run("busybox", ["sh", "-c", "echo hello > /f; sleep 60"],
                                          detach=True)) as (c,):
        wait_for(lambda: c.exec_run("test -f /f").exit_code == 0, what="file")
        chunks = list(c.export(chunk_size=4096))
        assert all(len(x) <= 4096 for x in chunks) and len(chunks) > 1
        names = tarfile.open(fileobj=io.BytesIO(b"".join(chunks))).getnames()
        assert "bin/busybox" in names and "f" in names
        stream, stat = c.get_archive("/f", chunk_size=1, encode_stream=True)
        parts = list(stream)
        assert all(len(p) <= 1 for p in parts) and stat["name"] == "f" and stat["size"] == 6
        tf = tarfile.open(fileobj=io.BytesIO(b"".join(parts)))
        assert tf.extractfile("f").read() == b"hello\n"


def test_containers_list_keywords(client, busybox):
    a = client.containers.create("busybox", "true", labels={"pycpar-l": "a"})
    b = client.containers.run("busybox", ["sleep", "60"], detach=True, labels={"pycpar-l": "b"})
    c = client.containers.create("busybox", "true", labels={"pycpar-l": "c"})
    with containers(a, b, c):
        f = {"label": "pycpar-l"}
        ids = lambda cs: [x.id for x in cs]  # noqa: E731
        assert ids(client.containers.list(filters=f)) == [b.id]
        assert ids(client.containers.list(all=True, filters=f)) == [c.id, b.id, a.id]
        assert ids(client.containers.list(all=True, filters=f, limit=2)) == [c.id, b.id]
        assert ids(client.containers.list(filters=f, before=c.id)) == [b.id, a.id]
        assert ids(client.containers.list(filters=f, since=a.id)) == [c.id, b.id]
        sparse = client.containers.list(all=True, filters=f, sparse=True, ignore_removed=True)
        assert ids(sparse) == [c.id, b.id, a.id]


def test_prune_and_exists_per_collection(fresh_client):
    cl = fresh_client
    cl.images.busybox()
    keep = cl.containers.create("busybox", "true", labels={"keep": "1"})
    gone = cl.containers.create("busybox", "true")
    assert cl.containers.prune(filters={"label!": "keep"})["ContainersDeleted"] == [gone.id]
    assert cl.containers.exists(keep.id) and not cl.containers.exists(gone.id)
    keep.remove()
    cl.volumes.create("pycpar-v1", labels={"pycpar": "1"})
    cl.volumes.create("pycpar-v2")
    out = cl.volumes.prune(filters={"all": True, "label": "pycpar=1"})
    assert out["VolumesDeleted"] == ["pycpar-v1"]
    assert not cl.volumes.exists("pycpar-v1") and cl.volumes.exists("pycpar-v2")
    cl.volumes.get("pycpar-v2").remove()
    cl.networks.create("pycpar-n1", labels={"pycpar": "1"})
    assert cl.networks.exists("pycpar-n1")
    assert cl.networks.prune(filters={"label": "pycpar"})["NetworksDeleted"] == ["pycpar-n1"]
    assert not cl.networks.exists("pycpar-n1") and cl.networks.exists("bridge")
    img = cl.images.get("busybox")
    img.tag("pycpar/tmp", "x")
    assert cl.images.exists("pycpar/tmp:x") and not cl.images.exists("pycpar/none:x")
    assert cl.images.prune(filters={"dangling": True})["ImagesDeleted"] in (None, [])
    assert cl.images.exists("busybox")       # tagged: dangling prune keeps it
    cl.images.remove("pycpar/tmp:x")
    if hasattr(cl._backend.builds, "prune"):
        assert "SpaceReclaimed" in cl.images.prune_builds()
    else:                                     # the builder keeps no cache to prune yet
        with pytest.raises(errors.InvalidArgument, match="cache"):
            cl.images.prune_builds()


def test_image_save_named_history_tag_remove(fresh_client):
    img = fresh_client.images.busybox()
    assert img.tag("pycpar/save", "v1") is True
    img = fresh_client.images.get("pycpar/save:v1")
    manifest = lambda named: json.loads(tarfile.open(fileobj=io.BytesIO(  # noqa: E731
        b"".join(img.save(named=named)))).extractfile("manifest.json").read())
    assert manifest(False)[0]["RepoTags"] in (None, [])
    assert manifest("pycpar/save:v1")[0]["RepoTags"] == ["pycpar/save:v1"]
    assert manifest(True)[0]["RepoTags"] == [img.tags[0]]
    with pytest.raises(errors.InvalidArgument):
        img.save(named="pycpar/other:v9")
    hist = img.history()
    assert hist and {"Id", "Created", "CreatedBy", "Size", "Tags"} <= set(hist[0])
    fresh_client.images.remove("pycpar/save:v1")     # one of two tags: the image stays
    assert not fresh_client.images.exists("pycpar/save:v1")
    assert fresh_client.images.exists(img.id)
    img.remove()                                     # its last tag: the image goes
    assert not fresh_client.images.exists(img.id)
