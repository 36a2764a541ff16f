"""list() and prune() filters of containers and volumes as docker has them: an
unknown key is refused (an ignored one matches everything, and a cleanup loop
over ``list(filters=...)`` or ``prune(filters=...)`` removes what it never meant to)."""
import contextlib
import io
import tarfile
import time

import pytest

from pycontainer import errors

LABEL = {"pyc-test": "filters"}
ONLY = {"label": "pyc-test=filters"}


def _ids(cs):
    return {c.id for c in cs}


@contextlib.contextmanager
def made(client):
    """Record containers and images a test makes; force-remove them afterwards."""
    made = {"containers": [], "images": []}
    try:
        yield made
    finally:
        for c in made["containers"]:
            with contextlib.suppress(errors.NotFound):
                c.remove(force=True)
        for ref in made["images"]:
            with contextlib.suppress(errors.NotFound):
                client.images.remove(ref, force=True)


def _tiny_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"hi\n"))
    return buf.getvalue()


def test_unknown_filter_keys_are_refused(client, busybox):
    with made(client) as m:
        c = client.containers.create("busybox", ["true"], labels=LABEL)
        m["containers"].append(c)
        for bad in ({"health": "healthy"}, {"publish": "80"}, {"lable": "x"}):
            with pytest.raises(errors.InvalidArgument):
                client.containers.list(all=True, filters=bad)
        with pytest.raises(errors.InvalidArgument):
            client.containers.list(all=True, filters={"status": "sleeping"})
        with pytest.raises(errors.InvalidArgument):
            client.containers.list(all=True, filters={"exited": "zero"})
        # A misspelt prune key prunes nothing, instead of every stopped container.
        with pytest.raises(errors.InvalidArgument):
            client.containers.prune(filters={"untill": "1h"})
        with pytest.raises(errors.InvalidArgument):
            client.containers.prune(filters={"until": "a while"})
        with pytest.raises(errors.InvalidArgument):
            client.volumes.prune(filters={"dangling": True})
        with pytest.raises(errors.InvalidArgument):
            client.images.list(filters={"ancestor": "busybox"})
        c.reload()


def test_ancestor_matches_image_and_its_descendants(client, busybox):
    with made(client) as m:
        base = client.containers.create("busybox", ["true"], labels=LABEL)
        m["containers"].append(base)
        writer = client.containers.create("busybox", ["sh", "-c", "echo x > /x"], labels=LABEL)
        m["containers"].append(writer)
        writer.start()
        assert writer.wait(timeout=10)["StatusCode"] == 0
        child_img = writer.commit("pyc-t-child", "v1")
        m["images"].append(child_img.id)
        child = client.containers.create("pyc-t-child:v1", ["true"], labels=LABEL)
        m["containers"].append(child)
        other_img = client.images.import_image(_tiny_tar(), "pyc-t-other", changes=['CMD ["/x"]'])
        m["images"].append(other_img.id)
        other = client.containers.create("pyc-t-other", labels=LABEL)
        m["containers"].append(other)

        def ancestor(value):
            return _ids(client.containers.list(all=True, filters=dict(ONLY, ancestor=value)))
        family = {base.id, writer.id, child.id}
        assert ancestor("busybox") == family
        assert ancestor("busybox:latest") == family
        assert ancestor(busybox.id) == family
        assert ancestor(busybox.id[7:19]) == family                      # short id
        assert ancestor("pyc-t-child:v1") == {child.id}
        assert ancestor(child_img.id) == {child.id}
        assert ancestor(["pyc-t-child:v1", "pyc-t-other"]) == {child.id, other.id}   # OR
        assert ancestor("pyc-t-nosuch:1") == set()       # docker: no such image, no match
        assert ancestor(["pyc-t-nosuch:1", "pyc-t-other"]) == {other.id}
        # images.list() filters through the same matcher
        mine = {"reference": "pyc-t-*"}
        assert {i.id for i in client.images.list(filters=mine)} == {child_img.id, other_img.id}
        assert [i.id for i in client.images.list(filters=dict(mine, before="pyc-t-other"))] == \
            [child_img.id]
        assert [i.id for i in client.images.list(filters=dict(mine, since="pyc-t-child:v1"))] == \
            [other_img.id]
        assert client.images.list(filters=dict(mine, dangling=True)) == []


def test_status_exited_name_id_order_network_volume(client, busybox, tmp_path):
    with made(client) as m:
        x = client.containers.run("busybox", ["sh", "-c", "exit 3"], detach=True, labels=LABEL,
                                  name="pyc-t-flt-x")
        m["containers"].append(x)
        assert x.wait(timeout=10)["StatusCode"] == 3
        z = client.containers.run("busybox", ["sleep", "30"], detach=True, labels=LABEL,
                                  name="pyc-t-flt-z")
        m["containers"].append(z)
        y = client.containers.create("busybox", ["true"], labels=LABEL, name="pyc-t-flt-y",
                                     volumes={str(tmp_path): {"bind": "/data", "mode": "ro"}})
        m["containers"].append(y)

        def ls(**f):
            return _ids(client.containers.list(all=True, filters=dict(ONLY, **f)))
        assert _ids(client.containers.list(filters=ONLY)) == {z.id}        # running only
        assert _ids(client.containers.list(filters=dict(ONLY, status="exited"))) == {x.id}
        assert ls(status=["created", "exited"]) == {x.id, y.id}
        assert ls(exited=3) == {x.id}
        assert ls(exited="0") == set()                 # a created container never exited
        assert ls(exited=[0, 3]) == {x.id}
        assert ls(name="pyc-t-flt-y") == {y.id}
        assert ls(name="^/pyc-t-flt-[xz]$") == {x.id, z.id}                # docker's regex
        assert ls(name="pyc-t-flt") == {x.id, y.id, z.id}
        assert ls(id=[x.id[:10], y.id[:10]]) == {x.id, y.id}
        assert ls(before="pyc-t-flt-z") == {x.id}
        assert ls(since=x.id) == {y.id, z.id}
        assert ls(since="pyc-t-flt-x", before="pyc-t-flt-y") == {z.id}
        # before/since (and limit) include stopped containers, as docker does
        assert _ids(client.containers.list(since=x.id, filters=ONLY)) == {y.id, z.id}
        assert [c.id for c in client.containers.list(limit=1, filters=ONLY)] == [y.id]
        with pytest.raises(errors.NotFound):
            client.containers.list(filters=dict(ONLY, since="pyc-t-flt-nosuch"))
        assert ls(network="none") == {x.id, y.id, z.id}
        assert ls(network="bridge") == set()
        assert ls(volume=str(tmp_path)) == {y.id}
        assert ls(volume="/data") == {y.id}
        assert ls(volume="/elsewhere") == set()
        assert ls(label=["pyc-test=filters", "other"]) == set()   # every label must match


def test_container_prune_until_and_labels(client, busybox):
    with made(client) as m:
        old = client.containers.create("busybox", ["true"], labels=dict(LABEL, age="old"))
        m["containers"].append(old)
        between = time.time()
        new = client.containers.create("busybox", ["true"], labels=dict(LABEL, age="new"))
        keep = client.containers.create("busybox", ["true"], labels=dict(LABEL, keep="1"))
        running = client.containers.run("busybox", ["sleep", "30"], detach=True, labels=LABEL)
        m["containers"] += [new, keep, running]
        got = client.containers.prune(filters=dict(ONLY, until="1h"))    # all made just now
        assert got["ContainersDeleted"] == []
        got = client.containers.prune(filters=dict(ONLY, until=str(between)))
        assert got["ContainersDeleted"] == [old.id]
        got = client.containers.prune(filters={"label": "pyc-test=filters", "label!": "keep"})
        assert got["ContainersDeleted"] == [new.id]
        keep.reload()
        running.reload()
        assert running.status == "running"
        rfc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
        got = client.containers.prune(filters=dict(ONLY, until=rfc))
        assert got["ContainersDeleted"] == [keep.id]


def test_volume_prune_takes_anonymous_only_unless_all(client, busybox):
    named = client.volumes.create("pyc-t-vprune", labels={"pyc-test": "vprune"})
    try:
        c = client.containers.run("busybox", ["true"], detach=True, volumes=["/anon"])
        try:
            c.wait(timeout=10)
            c.reload()
            anon = next(s["Name"] for s in c.attrs["Runtime"]["Config"]["mounts"]
                        if s.get("Anonymous"))
        finally:
            c.remove()                                # without v: the volume stays
        assert anon in {v.name for v in client.volumes.list()}
        got = client.volumes.prune()
        assert anon in got["VolumesDeleted"]
        assert "pyc-t-vprune" not in got["VolumesDeleted"]
        named.reload()
        got = client.volumes.prune(filters={"all": "false", "label": "pyc-test=vprune"})
        assert got["VolumesDeleted"] == []
        got = client.volumes.prune(filters={"all": True, "label": "pyc-test=vprune"})
        assert got["VolumesDeleted"] == ["pyc-t-vprune"]
        with pytest.raises(errors.NotFound):
            named.reload()
    finally:
        with contextlib.suppress(errors.NotFound):
            named.remove()


def test_a_whole_id_comes_before_a_name(client, busybox):
    """As dockerd looks up a container: the whole id, then a name, then a prefix."""
    with made(client) as m:
        a = client.containers.create("busybox", ["true"], labels=LABEL)
        m["containers"].append(a)
        b = client.containers.create("busybox", ["true"], name=a.id, labels=LABEL)
        m["containers"].append(b)
        assert client.containers.get(a.id).id == a.id
        assert client.containers.get("/" + a.id).id == a.id
        assert client.containers.get(b.id).id == b.id
        assert client.containers.get(a.id[:12]).id == a.id
        a.remove()
        m["containers"].remove(a)
        assert client.containers.get(a.id).id == b.id      # now only a name
