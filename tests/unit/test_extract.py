"""Layer extraction: hostile archives must fail or stay inside the root.

These tests run as root (device nodes, ownership, trusted.* xattrs).
"""

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import tarfile
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycontainer.errors import Conflict, ImageError
from pycontainer.image import extract_layer
from pycontainer.image.extract import LayerStats

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

F, D, L, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def entry(name, kind=F, data=b"", link="", **attrs):
    return dict(name=name, kind=kind, data=data, link=link, attrs=attrs)


def make_tar(entries, compress=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.type = e["kind"]
            info.linkname = e["link"]
            info.mode = 0o755 if e["kind"] == D else 0o644
            for key, value in e["attrs"].items():
                setattr(info, key, value)
            if e["kind"] == F:
                info.size = len(e["data"])
                tf.addfile(info, io.BytesIO(e["data"]))
            else:
                tf.addfile(info)
    data = buf.getvalue()
    if compress == "gzip":
        data = gzip.compress(data)
    elif compress == "bz2":
        data = bz2.compress(data)
    elif compress == "xz":
        data = lzma.compress(data)
    return io.BytesIO(data)


def snapshot(top, skip):
    """Everything under ``top`` (but ``skip``) and /etc/passwd, as comparable data."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) != skip]
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            if path == skip:
                continue
            st_ = os.lstat(path)
            item = (stat.S_IFMT(st_.st_mode), st_.st_mode, st_.st_uid, st_.st_gid,
                    os.listxattr(path, follow_symlinks=False))
            if not stat.S_ISDIR(st_.st_mode):  # a new layer dir bumps its parent
                item += (st_.st_nlink,)
            if stat.S_ISREG(st_.st_mode):
                with open(path, "rb") as f:
                    item += (f.read(), st_.st_mtime_ns)
            elif stat.S_ISLNK(st_.st_mode):
                item += (os.readlink(path),)
            out[path] = item
    pw = os.stat("/etc/passwd")
    with open("/etc/passwd", "rb") as f:
        out["/etc/passwd"] = (pw.st_nlink, pw.st_mode, hashlib.sha256(f.read()).hexdigest())
    return out


@pytest.fixture
def area(tmp_path):
    """A probe outside the destination, and the destination's parent."""
    probe = tmp_path / "probe"
    (probe / "dir").mkdir(parents=True)
    (probe / "file").write_bytes(b"original")
    work = tmp_path / "work"
    work.mkdir()
    (work / "neighbour").write_bytes(b"neighbour")
    return tmp_path


# Where an absolute host path lands inside the layer.
def inside(dest, host_path):
    return os.path.join(dest, str(host_path).lstrip("/"))


def _probe_file(area):
    return str(area / "probe" / "file")


def _probe_dir(area):
    return str(area / "probe")


# Each vector: (id, entries builder(area), expected). ``expected`` is the text
# of the ImageError, or a check(dest, area) for cases docker normalises.
HOSTILE = [
    ("dotdot", lambda a: [entry("../evil", data=b"x")], "climbs above"),
    ("dotdot-deep", lambda a: [entry("a/../../evil", data=b"x")], "climbs above"),
    ("dotdot-probe", lambda a: [entry("../../probe/file", data=b"pwned")], "climbs above"),
    ("absolute-probe", lambda a: [entry(_probe_file(a), data=b"pwned")],
     lambda d, a: open(inside(d, _probe_file(a)), "rb").read() == b"pwned"),
    ("absolute-dotdot", lambda a: [entry("/../../evil", data=b"x")],
     lambda d, a: os.path.isfile(os.path.join(d, "evil"))),
    ("symlink-abs-then-write", lambda a: [entry("l", L, link=_probe_dir(a)),
                                          entry("l/file", data=b"pwned")],
     lambda d, a: (os.readlink(os.path.join(d, "l")) == _probe_dir(a)
                   and open(inside(d, _probe_file(a)), "rb").read() == b"pwned")),
    ("symlink-rel-then-write", lambda a: [entry("l", L, link="../../.."),
                                          entry("l/probe/file", data=b"pwned")],
     lambda d, a: open(os.path.join(d, "probe", "file"), "rb").read() == b"pwned"),
    ("symlink-chain-dotdot", lambda a: [entry("x", L, link=".."),
                                        entry("x/x/x/evil", data=b"x")],
     lambda d, a: os.path.isfile(os.path.join(d, "evil"))),
    ("symlink-etc-self-loop", lambda a: [entry("etc", L, link="/etc"),
                                         entry("etc/passwd", data=b"root::0:0::/:/bin/sh\n")],
     "too many levels"),
    ("symlink-etc-then-file", lambda a: [entry("hostetc", L, link="/etc"),
                                         entry("hostetc/passwd", data=b"pwned\n")],
     lambda d, a: open(os.path.join(d, "etc", "passwd"), "rb").read() == b"pwned\n"),
    ("symlink-then-dir", lambda a: [entry("l", L, link=_probe_dir(a)),
                                    entry("l/newdir", D)],
     lambda d, a: os.path.isdir(os.path.join(inside(d, _probe_dir(a)), "newdir"))),
    ("symlink-abs-loop", lambda a: [entry("a", L, link="/b"), entry("b", L, link="/a"),
                                    entry("a/x", data=b"x")], "too many levels"),
    ("hardlink-etc-passwd", lambda a: [entry("pw", H, link="/etc/passwd")],
     "does not exist"),
    ("hardlink-etc-passwd-dir", lambda a: [entry("etc", D), entry("pw", H, link="/etc/passwd")],
     "was not extracted"),
    ("hardlink-outside", lambda a: [entry("pw", H, link="../../probe/file")],
     "climbs above"),
    ("hardlink-abs-probe", lambda a: [entry("pw", H, link=_probe_file(a))], "does not exist"),
    ("hardlink-via-symlink", lambda a: [entry("l", L, link=_probe_dir(a)),
                                        entry("h", H, link="l/file")], "does not exist"),
    ("hardlink-to-symlink", lambda a: [entry("s", L, link="/etc/passwd"),
                                       entry("h", H, link="s")], "not a regular file"),
    ("hardlink-to-dir", lambda a: [entry("d", D), entry("h", H, link="d")],
     "not a regular file"),
    ("hardlink-to-root", lambda a: [entry("h", H, link="/")], "layer root"),
    ("whiteout-dotdot", lambda a: [entry(".wh...", data=b"")], "bad whiteout name"),
    ("whiteout-dot", lambda a: [entry("d/.wh..", data=b"")], "bad whiteout name"),
    ("whiteout-empty", lambda a: [entry(".wh.", data=b"")], "bad whiteout name"),
    ("whiteout-climb", lambda a: [entry("../.wh.file", data=b"")], "climbs above"),
    ("whiteout-through-symlink", lambda a: [entry("l", L, link=_probe_dir(a)),
                                            entry("l/.wh.file", data=b"")],
     "symbolic link 'l'"),
    ("opaque-through-symlink", lambda a: [entry("l", L, link=_probe_dir(a) + "/dir"),
                                          entry("l/.wh..wh..opq", data=b"")],
     "symbolic link 'l'"),
    ("whiteout-meta-nested", lambda a: [entry("d/.wh..wh.plnk", D)], "whiteout metadata"),
    ("whiteout-and-file", lambda a: [entry("x", data=b"x"), entry(".wh.x", data=b"")],
     "conflicts"),
    ("block-device", lambda a: [entry("sda", tarfile.BLKTYPE, devmajor=8, devminor=0)],
     "device nodes"),
    ("char-device", lambda a: [entry("mem", tarfile.CHRTYPE, devmajor=1, devminor=1)],
     "device nodes"),
    ("duplicate-file", lambda a: [entry("f", data=b"1"), entry("f", data=b"2")], "duplicate"),
    ("duplicate-symlink-then-file", lambda a: [entry("f", L, link=_probe_file(a)),
                                               entry("f", data=b"pwned")], "duplicate"),
    ("duplicate-dir", lambda a: [entry("d", D), entry("d/", D)], "duplicate"),
    ("file-replaces-dir", lambda a: [entry("d", D), entry("d", data=b"x")],
     "replace a directory"),
    ("symlink-replaces-dir", lambda a: [entry("d", D), entry("d", L, link=_probe_dir(a))],
     "replace a directory"),
    ("dir-replaces-file", lambda a: [entry("f", data=b"x"), entry("f", D)], "duplicate"),
    ("file-under-file", lambda a: [entry("f", data=b"x"), entry("f/x", data=b"x")],
     "not a directory"),
    ("root-as-file", lambda a: [entry("./", data=b"x")], "root must be a directory"),
    ("empty-symlink", lambda a: [entry("s", L, link="")], "empty symbolic link"),
]


@pytest.mark.parametrize("case,build,expected", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile(area, case, build, expected):
    dest = str(area / "work" / "layer")
    before = snapshot(str(area), dest)
    tar = make_tar(build(area))
    if isinstance(expected, str):
        with pytest.raises(ImageError) as info:
            extract_layer(tar, dest)
        assert expected in str(info.value)
        assert "layer entry" in str(info.value)
        assert sorted(os.listdir(area / "work")) == ["neighbour"]
    else:
        extract_layer(tar, dest)
        assert expected(dest, area)
        assert sorted(os.listdir(area / "work")) == ["layer", "neighbour"]
    assert snapshot(str(area), dest) == before


def _raw_header(name, size):
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)  # base-256 size


def _tar_of_sizes(sizes):
    return make_tar([entry(f"f{i}", data=b"x" * n) for i, n in enumerate(sizes)])


LIMITS = [
    # (id, stream factory, kwargs, message)
    ("huge-declared-size",
     lambda: io.BytesIO(_raw_header("big", 100 << 30) + b"\0" * 1024), {}, "max_layer_size="),
    ("file-over-max-bytes", lambda: _tar_of_sizes([2000]), {"max_layer_size": 1000},
     "max_layer_size=1000"),
    ("total-over-max-bytes", lambda: _tar_of_sizes([600, 600]), {"max_layer_size": 1000},
     "max_layer_size=1000"),
    ("gzip-bomb", lambda: make_tar([entry("zeros", data=bytes(64 << 20))], "gzip"),
     {"max_layer_size": 1 << 20}, "max_layer_size="),
    ("pax-header-bomb",
     lambda: make_tar([entry("f", data=b"", pax_headers={"comment": "x" * (2 << 20)})], "gzip"),
     {}, "extended tar header"),
    ("decompressed-stream-cap",
     lambda: make_tar([entry(f"f{i}", data=b"", pax_headers={"comment": "x" * (900 << 10)})
                       for i in range(5)], "gzip"),
     {"max_layer_size": 1 << 20, "max_entries": 10}, "decompressed"),
    ("too-many-entries", lambda: _tar_of_sizes([0] * 20), {"max_entries": 10},
     "more than 10 entries"),
    ("not-a-tar", lambda: io.BytesIO(b"hello world" * 100), {}, "not a valid tar"),
    ("empty-stream", lambda: io.BytesIO(b""), {}, "not a valid tar"),
    ("truncated-data",
     lambda: io.BytesIO(_tar_of_sizes([5000]).getvalue()[:2048]), {}, "layer"),
    ("corrupt-gzip", lambda: io.BytesIO(gzip.compress(b"x" * 5000)[:40]), {}, "layer"),
    ("garbage-after-entry",
     lambda: io.BytesIO(_tar_of_sizes([10]).getvalue()[:1024] + b"\x01" * 512), {},
     "not a valid tar"),
]


@pytest.mark.parametrize("case,factory,kwargs,message", LIMITS, ids=[c[0] for c in LIMITS])
def test_limits_and_corruption(area, case, factory, kwargs, message):
    dest = str(area / "work" / "layer")
    before = snapshot(str(area), dest)
    with pytest.raises(ImageError) as info:
        extract_layer(factory(), dest, **kwargs)
    assert message in str(info.value)
    assert sorted(os.listdir(area / "work")) == ["neighbour"]
    assert snapshot(str(area), dest) == before


def test_zstd_without_module(area, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "zstandard":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    stream = io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 100)
    with pytest.raises(ImageError, match="zstandard"):
        extract_layer(stream, area / "work" / "layer")
    assert sorted(os.listdir(area / "work")) == ["neighbour"]


# -- good layers --------------------------------------------------------------

def test_good_layer(tmp_path):
    entries = [
        entry("./", D, mode=0o751, mtime=111),
        entry("bin", D, mtime=222),
        entry("bin/su", data=b"su!", mode=0o4755),
        entry("bin/wall", data=b"wall", mode=0o2755, gid=5),
        entry("bin/sh", L, link="/bin/busybox"),
        entry("bin/rel", L, link="../etc/x"),
        entry("bin/su-again", H, link="bin/su"),
        entry("bin/su-third", H, link="/bin/su-again"),
        entry("home/user/notes", data=b"hello", uid=1000, gid=1000, mode=0o640,
              mtime=1234567890),
        entry("tmp", D, mode=0o1777),
        entry("fifo", tarfile.FIFOTYPE, mode=0o620),
        entry("gone/.wh.old", data=b""),
        entry("opaque/.wh..wh..opq", data=b""),
        entry("opaque/kept", data=b"k"),
        entry("wh-dev", tarfile.CHRTYPE, devmajor=0, devminor=0),
        entry(".wh..wh.aufs", data=b""),  # old AUFS metadata: skipped
        entry(".wh..wh.plnk/123.45", data=b"aufs"),
        entry("attrs", data=b"a", pax_headers={
            "SCHILY.xattr.user.kept": "yes",
            "SCHILY.xattr.trusted.other": "t",
            "SCHILY.xattr.security.capability": "cap",
            "SCHILY.xattr.security.selinux": "label",
            "SCHILY.xattr.trusted.overlay.opaque": "y",
        }),
        entry("adir", D, pax_headers={"SCHILY.xattr.trusted.overlay.opaque": "y",
                                      "SCHILY.xattr.user.d": "1"}),
    ]
    dest = tmp_path / "layer"
    stats = extract_layer(make_tar(entries), dest)
    assert stats == LayerStats(size=3 + 4 + 5 + 1 + 1, files=len(entries) - 3)

    root = os.stat(dest)
    assert stat.S_IMODE(root.st_mode) == 0o751 and root.st_mtime == 111
    assert os.stat(dest / "bin").st_mtime == 222  # kept though children came later
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"
    assert os.readlink(dest / "bin/rel") == "../etc/x"
    su = os.stat(dest / "bin/su")
    assert stat.S_IMODE(su.st_mode) == 0o4755 and su.st_nlink == 3
    assert os.stat(dest / "bin/su-third").st_ino == su.st_ino
    wall = os.stat(dest / "bin/wall")
    assert stat.S_IMODE(wall.st_mode) == 0o2755 and wall.st_gid == 5
    notes = os.stat(dest / "home/user/notes")
    assert (notes.st_uid, notes.st_gid, stat.S_IMODE(notes.st_mode)) == (1000, 1000, 0o640)
    assert notes.st_mtime == 1234567890
    assert stat.S_IMODE(os.stat(dest / "home").st_mode) == 0o755  # implicit parent
    assert stat.S_IMODE(os.stat(dest / "tmp").st_mode) == 0o1777
    assert stat.S_ISFIFO(os.stat(dest / "fifo").st_mode)
    assert stat.S_IMODE(os.stat(dest / "fifo").st_mode) == 0o620
    for whiteout in ("gone/old", "wh-dev"):
        st_ = os.lstat(dest / whiteout)
        assert stat.S_ISCHR(st_.st_mode) and st_.st_rdev == os.makedev(0, 0)
    assert not os.path.lexists(dest / "gone/.wh.old")
    assert os.getxattr(dest / "opaque", "trusted.overlay.opaque") == b"y"
    assert not os.path.lexists(dest / "opaque/.wh..wh..opq")
    assert not os.path.lexists(dest / ".wh..wh.aufs")
    assert not os.path.lexists(dest / ".wh..wh.plnk")
    assert sorted(os.listxattr(dest / "attrs")) == ["trusted.other", "user.kept"]
    assert os.getxattr(dest / "attrs", "user.kept") == b"yes"
    assert os.listxattr(dest / "adir") == ["user.d"]
    assert os.listdir(tmp_path) == ["layer"]


@pytest.mark.parametrize("compress", [None, "gzip", "bz2", "xz"])
def test_compressions(tmp_path, compress):
    tar = make_tar([entry("a/b", data=b"data")], compress)
    assert extract_layer(tar, tmp_path / "l") == LayerStats(4, 1)
    assert (tmp_path / "l/a/b").read_bytes() == b"data"


def test_non_seekable_stream(tmp_path):
    data = make_tar([entry("x", data=b"1" * 100000)], "gzip").getvalue()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # writer child
        os.close(read_fd)
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        extract_layer(pipe, tmp_path / "l")
    os.waitpid(pid, 0)
    assert (tmp_path / "l/x").read_bytes() == b"1" * 100000


def test_empty_dir_destination_and_conflict(tmp_path):
    (tmp_path / "empty").mkdir()
    extract_layer(make_tar([entry("f", data=b"x")]), tmp_path / "empty")
    assert (tmp_path / "empty/f").read_bytes() == b"x"
    with pytest.raises(Conflict):
        extract_layer(make_tar([entry("g", data=b"x")]), tmp_path / "empty")
    assert sorted(os.listdir(tmp_path)) == ["empty"]


def test_implicit_parent_gets_its_entry_later(tmp_path):
    entries = [entry("a/b/c", data=b"x"), entry("a", D, mode=0o700, uid=7, mtime=5)]
    extract_layer(make_tar(entries), tmp_path / "l")
    st_ = os.stat(tmp_path / "l/a")
    assert (stat.S_IMODE(st_.st_mode), st_.st_uid, st_.st_mtime) == (0o700, 7, 5)


# -- fuzzing ------------------------------------------------------------------

# Repeated items weigh the draw towards names that reach the file system.
COMPONENTS = ["a", "a", "b", "b", "c", "etc", "probe", "file", "..", ".", "",
              ".wh.a", ".wh..wh..opq", "a", "b", "c", "etc"]
paths = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "", "", "/", "/", "./", "../"]),
    st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4),
)


def fuzz_entry(kind, name, target, data):
    if kind == "file":
        return entry(name, data=data)
    if kind == "dir":
        return entry(name, D)
    if kind == "symlink":
        return entry(name, L, link=target or ".")
    if kind == "hardlink":
        return entry(name, H, link=target or ".")
    return entry(name, tarfile.FIFOTYPE)


entries_strategy = st.lists(
    st.builds(fuzz_entry,
              st.sampled_from(["file", "dir", "symlink", "hardlink", "fifo"]),
              paths,
              st.one_of(paths, st.sampled_from(["PROBE", "PROBE/file", "/", "../../.."])),
              st.binary(max_size=8)),
    min_size=1, max_size=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries_strategy)
def test_fuzz_nothing_escapes(entries):
    with tempfile.TemporaryDirectory() as top:
        probe = os.path.join(top, "probe")
        os.mkdir(probe)
        with open(os.path.join(probe, "file"), "wb") as f:
            f.write(b"original")
        work = os.path.join(top, "work")
        os.mkdir(work)
        dest = os.path.join(work, "layer")
        for e in entries:
            e["link"] = e["link"].replace("PROBE", probe)
        before = snapshot(top, dest)
        try:
            extract_layer(make_tar(entries), dest)
        except ImageError:
            assert os.listdir(work) == []
        else:
            assert os.listdir(work) == ["layer"]
            # Nothing in the layer is a hard link to a file outside it.
            outside = {os.stat(os.path.join(probe, "file")).st_ino}
            for dirpath, _, filenames in os.walk(dest):
                for name in filenames:
                    assert os.lstat(os.path.join(dirpath, name)).st_ino not in outside
        assert snapshot(top, dest) == before
