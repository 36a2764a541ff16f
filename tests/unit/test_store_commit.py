"""image.commit: an overlay upper dir (made by hand here) becomes a layer."""
import os
import socket
import stat
import tarfile

import pytest

from pycontainer.errors import ImageError, InvalidArgument, NotFound
from pycontainer.image import ImageStore
from pycontainer.image.commit import commit
from store_helpers import rootfs_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")



@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path / "store")


@pytest.fixture
def base(store):
    return store.import_image(rootfs_tar({"keep": b"k", "gone": b"g", "dir/old": b"o",
                                          "etc/conf": b"v1"}), "base",
                              changes=["ENV A=1", 'CMD ["sh"]'])


def make_upper(path):
    """What overlayfs leaves after: add, change, delete, replace a dir's content."""
    os.makedirs(path / "etc")
    (path / "etc" / "conf").write_bytes(b"v2")
    (path / "new").write_bytes(b"new\n")
    os.setxattr(path / "new", "user.note", b"hi")
    os.setxattr(path / "new", "trusted.overlay.origin", b"x")
    os.mknod(path / "gone", stat.S_IFCHR, os.makedev(0, 0))
    os.makedirs(path / "dir")
    os.setxattr(path / "dir", "trusted.overlay.opaque", b"y")
    (path / "dir" / "fresh").write_bytes(b"f")
    os.link(path / "dir" / "fresh", path / "hard")
    os.symlink("/new", path / "link")
    os.mkfifo(path / "fifo")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path / "sock"))


def test_commit_layer_and_config(store, base, tmp_path):
    upper = tmp_path / "upper"
    make_upper(upper)
    rec = commit(store, str(upper), base, "derived", "v1", message="my change",
                 author="me <me@example.com>", changes=["ENV B=2"],
                 conf={"Cmd": ["/new"], "Hostname": "ignored"})
    assert rec.tags == ["derived:v1"]
    assert rec.diff_ids[:1] == base.diff_ids and len(rec.diff_ids) == 2
    cfg = rec.config
    assert cfg["config"]["Cmd"] == ["/new"] and cfg["config"]["Env"][-2:] == ["A=1", "B=2"]
    assert cfg["author"] == "me <me@example.com>"
    assert cfg["history"][-1]["comment"] == "my change"
    assert cfg["history"][-1]["author"] == "me <me@example.com>"
    assert len(cfg["history"]) == 2 and cfg["created"] > base.created
    # The layer tar, as other tools would read it.
    with open(store.blob_path(rec.diff_ids[1]), "rb") as f, tarfile.open(fileobj=f) as tf:
        members = {m.name: m for m in tf.getmembers()}
        assert tf.extractfile("etc/conf").read() == b"v2"
    assert set(members) == {"dir", "dir/.wh..wh..opq", "dir/fresh", "etc", "etc/conf",
                            "fifo", "hard", "link", "new", ".wh.gone"}
    assert members["hard"].islnk() and members["hard"].linkname == "dir/fresh"
    assert members["link"].issym() and members["link"].linkname == "/new"
    assert members["fifo"].isfifo() and members[".wh.gone"].isreg()
    assert members["new"].pax_headers == {"SCHILY.xattr.user.note": "hi"}
    assert not any("overlay" in k for m in members.values() for k in m.pax_headers)
    # The unpacked layer stacks on overlay as the upper dir did.
    top = rec.layer_dirs[1]
    assert stat.S_ISCHR(os.lstat(os.path.join(top, "gone")).st_mode)
    assert os.getxattr(os.path.join(top, "dir"), "trusted.overlay.opaque") == b"y"
    assert os.path.samefile(os.path.join(top, "hard"), os.path.join(top, "dir", "fresh"))
    assert os.getxattr(os.path.join(top, "new"), "user.note") == b"hi"
    assert os.listdir(store.tmp_dir) == []


def test_commit_untagged_and_empty(store, base, tmp_path):
    upper = tmp_path / "empty"
    upper.mkdir()
    rec = commit(store, str(upper), base)
    assert rec.tags == [] and len(rec.diff_ids) == 2
    assert os.listdir(rec.layer_dirs[1]) == []
    # Committing a commit stacks layers.
    again = commit(store, str(upper), rec, "third")
    assert again.diff_ids[:2] == rec.diff_ids and len(again.layer_dirs) == 3


def test_commit_refusals_leave_store_unchanged(store, base, tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "moved").mkdir()
    os.setxattr(upper / "moved", "trusted.overlay.redirect", b"/old")
    before = sorted(os.listdir(os.path.join(store.root, "blobs", "sha256")))
    with pytest.raises(ImageError, match="redirect"):
        commit(store, str(upper), base, "x")
    with pytest.raises(InvalidArgument, match="unsupported key"):
        commit(store, str(upper), base, conf={"Bogus": 1})
    with pytest.raises(InvalidArgument):
        commit(store, str(upper), base, changes=["RUN x"])
    with pytest.raises(InvalidArgument):
        commit(store, str(upper), base, tag="only-tag")
    with pytest.raises(NotFound, match="is gone"):       # the container was removed
        commit(store, str(tmp_path / "missing"), base)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ImageError, match="not a directory"):
        commit(store, str(tmp_path / "file"), base)
    assert sorted(os.listdir(os.path.join(store.root, "blobs", "sha256"))) == before
    assert os.listdir(store.tmp_dir) == []


def test_a_commit_names_its_parent_until_the_parent_goes(store, base, tmp_path):
    upper = tmp_path / "empty"
    upper.mkdir()
    child = commit(store, str(upper), base, "child")
    grandchild = commit(store, str(upper), child, "grandchild")
    assert store.get("child").parent == base.id and base.parent == ""
    assert store.get("grandchild").parent == child.id
    store.remove("child")
    assert store.get("grandchild").parent == ""     # docker: a parent that went is ""
    assert store.get("base").parent == "" and grandchild.id != child.id
