"""fstree: walking, sizing and removing trees far deeper than Python's
recursion limit, with paths far longer than PATH_MAX (4096)."""
import errno
import os
import stat

import pytest

from pycontainer import fstree
from pycontainer.engine.diff import _diff

DEPTH = 5000
LONG = "n" * 200          # 5,000 levels of it: a path of ~1 MB
DIFF_DEPTH = 2500         # "/d" each: 5,000 bytes, past PATH_MAX too


def chain(top, depth, name, leaf=None):
    """``top/name/name/...`` ``depth`` levels deep, made one level at a time
    (no path longer than a name is ever used); ``leaf(fd)`` fills the bottom."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
        if leaf:
            leaf(fd)
    finally:
        os.close(fd)


def write(dir_fd, name, data):
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def area(tmp_path):
    """A dir whose deep content is removed with fstree (pytest's own cleanup
    uses shutil.rmtree, which recurses)."""
    yield tmp_path
    for name in os.listdir(tmp_path):
        fstree.remove(os.path.join(tmp_path, name))


def test_walk_deep_long_paths(area):
    chain(str(area), DEPTH, LONG, leaf=lambda fd: write(fd, "bottom", b"x" * 10))
    before = open_fds()
    most, count, bottom = 0, 0, None
    for e in fstree.walk(str(area)):
        count += 1
        most = max(most, open_fds() - before)
        if e.name == "bottom":
            bottom = (e.depth, e.path, e.stat().st_size)
    assert count == DEPTH + 1
    assert bottom == (DEPTH, "/".join([LONG] * DEPTH + ["bottom"]), 10)
    assert len(bottom[1]) > 200 * os.pathconf("/", "PC_PATH_MAX")
    assert most <= fstree.MAX_OPEN + 2          # bounded, whatever the depth
    assert open_fds() == before


def test_size_and_remove_deep(area):
    top = area / "top"
    top.mkdir()

    def leaf(fd):
        write(fd, "f", b"y" * 100)
        os.link("f", "hard", src_dir_fd=fd, dst_dir_fd=fd)
        os.symlink("/etc", "etc", dir_fd=fd)
    chain(str(top), DEPTH, LONG, leaf)
    before = open_fds()
    assert fstree.size(str(top)) == 100         # the hard link once, the link never followed
    assert fstree.remove(str(top)) is True
    assert not top.exists()
    assert os.path.isdir("/etc") and open_fds() == before


def test_walk_order_skip_and_entries(area):
    for p in ("b/y", "a/x", "c"):
        os.makedirs(area / "t" / p)
    (area / "t" / "a" / "file").write_bytes(b"1")
    os.symlink("/", area / "t" / "root")        # a link to a dir: never walked into
    seen = []
    for e in fstree.walk(str(area / "t"), sort=True):
        seen.append(e.path)
        if e.name == "b":
            e.skip = True
    assert seen == ["a", "a/file", "a/x", "b", "c", "root"]


def test_walk_of_an_fd_keeps_it(area):
    (area / "d").mkdir()
    (area / "d" / "f").write_bytes(b"")
    fd = os.open(area / "d", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert [e.name for e in fstree.walk(fd)] == ["f"]
        os.fstat(fd)
    finally:
        os.close(fd)


def test_remove_never_follows_links(area):
    outside = area / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"k")
    tree = area / "tree"
    (tree / "sub").mkdir(parents=True)
    os.symlink(outside, tree / "sub" / "link")
    os.symlink(outside, area / "toplink")
    assert fstree.remove(str(tree)) and not tree.exists()
    assert fstree.remove(str(area / "toplink")) and not os.path.lexists(area / "toplink")
    assert (outside / "keep").read_bytes() == b"k"
    assert fstree.remove(str(area / "missing")) is True
    (area / "file").write_bytes(b"")
    assert fstree.remove(str(area / "file")) and not (area / "file").exists()


def test_moved_directory_is_noticed(area):
    """A directory moved out of the tree while the walk is below it: going
    back up through '..' would leave the tree, so the walk stops."""
    depth = fstree.MAX_OPEN * 3
    (area / "t").mkdir()
    chain(str(area / "t"), depth, "d")
    walk = fstree.walk(str(area / "t"))
    with pytest.raises(fstree.TreeChanged) as info:
        for e in walk:
            if e.depth == depth - 1:
                os.rename(area / "t" / "d" / "d", area / "moved")
    assert info.value.errno == errno.ESTALE
    fstree.remove(str(area / "moved"))


def test_remove_starts_again_when_a_directory_moved(area, monkeypatch):
    chain(str(area), fstree.MAX_OPEN * 3, "d")
    real, calls = fstree.DirStack._reopen_parent, []

    def once(self, child):
        calls.append(1)
        if len(calls) == 1:
            raise fstree.TreeChanged("d")
        return real(self, child)
    monkeypatch.setattr(fstree.DirStack, "_reopen_parent", once)
    assert fstree.remove(str(area / "d")) and not (area / "d").exists()
    assert len(calls) > 1


@pytest.mark.skipif(os.geteuid() != 0, reason="a whiteout is a device node: needs root")
def test_diff_deep_upper_and_lower(area):
    """Container.diff's walk of a deep upper dir against a deep lower layer."""
    lower, upper = area / "lower", area / "upper"
    lower.mkdir()
    upper.mkdir()
    chain(str(lower), DIFF_DEPTH, "d", leaf=lambda fd: (write(fd, "old", b""), write(fd, "gone", b"")))

    def changes(fd):
        write(fd, "old", b"changed")
        write(fd, "new", b"")
        os.mknod("gone", stat.S_IFCHR, os.makedev(0, 0), dir_fd=fd)
    chain(str(upper), DIFF_DEPTH, "d", leaf=changes)
    got = _diff(str(upper), [str(lower)])
    deep = "/" + "/".join(["d"] * DIFF_DEPTH)
    assert {(c["Path"], c["Kind"]) for c in got if c["Path"].count("/") > DIFF_DEPTH} == {
        (deep + "/old", 0), (deep + "/new", 1), (deep + "/gone", 2)}
    assert len(got) == DIFF_DEPTH + 3 and all(c["Kind"] == 0 for c in got[:DIFF_DEPTH])


def test_volume_prune_of_a_deep_volume(area):
    from pycontainer.volumes import VolumeStore
    store = VolumeStore(str(area / "root"))
    store.create("deep")
    chain(store.data_path("deep"), DEPTH, "d", leaf=lambda fd: write(fd, "f", b"z" * 1000))
    assert store.prune() == (["deep"], 1000)
    assert store.names() == [] and os.listdir(store.dir) == [".lock"]
