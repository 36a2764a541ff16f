"""Images end to end: import, commit, share, remove, prune, save/load, with real containers."""
import io
import os
import shutil
import subprocess
import tarfile
import time

import pytest

from conftest import OVERLAY_UPPER_FS, _fstype, _no_mounts_below
from pycontainer import errors
from pycontainer.image import busybox_rootfs_tar


def sh(client, image, script):
    return client.containers.run(image, ["sh", "-c", script], remove=True).decode()


def run_and_commit(client, script, image="busybox", **commit_kw):
    """Run ``script`` in a container, wait for it, commit it, remove it."""
    c = client.containers.run(image, ["sh", "-c", script], detach=True)
    try:
        assert c.wait(timeout=30)["StatusCode"] == 0, c.logs()
        return c.commit(**commit_kw)
    finally:
        c.remove(force=True)


def test_run_imported_image(client, busybox):
    buf = io.BytesIO()
    busybox_rootfs_tar(buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="a") as tf:
        info = tarfile.TarInfo("srv/motd")
        info.size = 6
        tf.addfile(info, io.BytesIO(b"hello\n"))
    img = client.images.import_image(buf.getvalue(), "pyc-test/imported", "1",
                                     changes=['CMD ["cat", "/srv/motd"]', "ENV WHO=me"])
    try:
        assert img.tags == ["pyc-test/imported:1"]
        assert client.containers.run("pyc-test/imported:1", remove=True) == b"hello\n"
        assert sh(client, img.id, "echo $WHO") == "me\n"
        assert img.history()[0]["Comment"] == "Imported from -"
    finally:
        client.images.remove(img.id)


CHANGES = ("echo new > /new && echo changed >> /etc/passwd && rm /etc/group && "
           "rm -rf /usr/sbin && mkdir /usr/sbin && echo only > /usr/sbin/only && "
           "mkdir -p /d && echo f > /d/f && ln /d/f /d/hard && ln -s /new /d/link")
CHECK = ("cat /new; tail -n1 /etc/passwd; test -e /etc/group && echo group || echo no-group; "
         "ls /usr/sbin; cat /d/hard; readlink /d/link; stat -c %h /d/f")


def test_commit_add_change_delete_and_run(client, busybox):
    img = run_and_commit(client, CHANGES, repository="pyc-test/committed", tag="1",
                         message="made by a test", author="tester",
                         changes=['CMD ["cat", "/new"]'])
    second = None
    try:
        assert img.tags == ["pyc-test/committed:1"]
        assert img.record.layer_dirs[0] == busybox.record.layer_dirs[0]
        assert len(img.record.layer_dirs) == 2
        assert img.attrs["Author"] == "tester" and img.attrs["Comment"] == "made by a test"
        assert client.containers.run("pyc-test/committed:1", remove=True) == b"new\n"
        assert img.tag("pyc-test/committed", "2") is True
        assert img.tags == ["pyc-test/committed:1", "pyc-test/committed:2"]
        assert client.images.remove("pyc-test/committed:2") == [
            {"Untagged": "pyc-test/committed:2"}]
        history = img.history()
        assert [h["Comment"] for h in history] == ["made by a test",
                                                   "pycontainer embedded busybox"]
        assert history[0]["Id"] == img.id and history[1]["Id"] == "<missing>"
        assert history[1]["Size"] == busybox.record.size > 0
        assert sh(client, img.id, CHECK).split("\n") == [
            "new", "changed", "no-group", "only", "f", "/new", "2", ""]
        # A commit of a commit: deleting a file of a lower layer keeps it deleted.
        second = run_and_commit(client, "rm /new /usr/sbin/only && echo 2 > /two",
                                image=img.id)
        assert len(second.record.layer_dirs) == 3
        out = sh(client, second.id, "ls /new 2>&1; ls /usr/sbin | wc -l; cat /two /d/f")
        assert out.split("\n")[1:] == ["0", "2", "f", ""] and "No such file" in out
        assert [h["Comment"] for h in second.history()][1] == "made by a test"
    finally:
        if second is not None:
            client.images.remove(second.id)
        client.images.remove(img.id)


def test_commit_running_container(client, busybox):
    c = client.containers.run("busybox", ["sh", "-c", "echo x > /running && echo ready && "
                                          "exec sleep 30"], detach=True)
    try:
        deadline = time.monotonic() + 10
        while b"ready" not in c.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        img = c.commit("pyc-test/live", conf={"Cmd": ["cat", "/running"]})
    finally:
        c.remove(force=True)
    try:
        assert img.tags == ["pyc-test/live:latest"]
        assert client.containers.run("pyc-test/live", remove=True) == b"x\n"
    finally:
        client.images.remove(img.id)


def test_two_images_share_the_base_layer(fresh_client, tmp_path):
    client = fresh_client
    base = client.images.busybox()
    a = run_and_commit(client, "echo a > /a", repository="a")
    b = run_and_commit(client, "echo b > /b", repository="b")
    layers = os.listdir(os.path.join(client.root, "layers"))
    assert len(layers) == 3          # busybox once, one of each
    assert a.record.layer_dirs[0] == b.record.layer_dirs[0] == base.record.layer_dirs[0]
    # Saved together, the shared layer is in the archive once.
    data = b"".join(client._backend.image_store.save(["a", "b"]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
    assert names.count("blobs/sha256/" + base.record.diff_ids[0][7:]) == 1
    # Removing one keeps what the other uses.
    out = client.images.remove("a")
    assert {"Deleted": a.record.diff_ids[1]} in out
    assert {"Deleted": base.record.diff_ids[0]} not in out
    assert sh(client, "b", "cat /b") == "b\n"
    assert len(os.listdir(os.path.join(client.root, "layers"))) == 2


def test_remove_refuses_an_image_in_use(fresh_client):
    client = fresh_client
    client.images.busybox()
    img = run_and_commit(client, "echo kept > /kept", repository="used")
    c = client.containers.create("used", ["cat", "/kept"])
    try:
        with pytest.raises(errors.Conflict, match="must force"):
            client.images.remove("used")
        with pytest.raises(errors.Conflict, match="being used by container " + c.id[:12]):
            client.images.remove(img.id)
        assert client.images.get("used") == img
        # Forced: the image goes; the layers the container runs on stay.
        client.images.remove(img, force=True)
        with pytest.raises(errors.ImageNotFound):
            client.images.get(img.id)
        assert client.images.prune()["ImagesDeleted"] == []
        c.start()
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert c.logs() == b"kept\n"
    finally:
        c.remove(force=True)
    got = client.images.prune()
    assert got["ImagesDeleted"] == [{"Deleted": img.record.diff_ids[1]}]
    assert got["SpaceReclaimed"] > 0


def test_prune_keeps_what_is_used(fresh_client):
    client = fresh_client
    base = client.images.busybox()
    used = run_and_commit(client, "echo u > /u")        # untagged: dangling
    unused = run_and_commit(client, "echo n > /n")
    tagged = run_and_commit(client, "echo t > /t", repository="tagged")
    c = client.containers.run(used.id, ["sleep", "30"], detach=True)
    try:
        got = client.images.prune()
        assert got["ImagesDeleted"] == [{"Deleted": unused.id},
                                        {"Deleted": unused.record.diff_ids[1]}]
        assert got["SpaceReclaimed"] > 0
        ids = {i.id for i in client.images.list()}
        assert ids == {base.id, used.id, tagged.id}
        assert {i.id for i in client.images.list(filters={"dangling": True})} == {used.id}
        assert [i.id for i in client.images.list(name="tagged")] == [tagged.id]
        assert sh(client, used.id, "cat /u") == "u\n"
    finally:
        c.remove(force=True)
    got = client.images.prune()
    assert got["ImagesDeleted"][0] == {"Deleted": used.id}
    assert {i.id for i in client.images.list()} == {base.id, tagged.id}


def test_save_load_round_trip_in_a_fresh_store(client, busybox, fresh_client):
    img = run_and_commit(client, CHANGES, repository="pyc-test/trip",
                         changes=['CMD ["cat", "/usr/sbin/only"]'])
    try:
        data = b"".join(img.save(chunk_size=1 << 16, named=True))
    finally:
        client.images.remove(img.id)
    loaded = fresh_client.images.load(io.BytesIO(data))
    assert [i.id for i in loaded] == [img.id] and loaded[0].tags == ["pyc-test/trip:latest"]
    assert fresh_client.containers.run("pyc-test/trip", remove=True) == b"only\n"
    assert sh(fresh_client, img.id, CHECK).split("\n")[:4] == ["new", "changed", "no-group",
                                                               "only"]
    # Loaded again after removal, in the same store.
    fresh_client.images.remove(img.id)
    assert fresh_client.images.load(data)[0].id == img.id
    assert fresh_client.containers.run(img.id, remove=True) == b"only\n"
