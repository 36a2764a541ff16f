"""The tar reader of layer extraction (csrc/untar.c): header formats, entry
types, and streams cut anywhere. Runs as root (ownership, device nodes)."""

import io
import os
import random
import stat
import tarfile
import threading

import pytest

from pycontainer.errors import ImageError
from pycontainer.image import extract_layer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

END = bytes(1024)


def header(name=b"f", kind=b"0", size=0, mode=0o644, uid=0, gid=0, mtime=0, link=b"",
           magic=b"ustar\x0000", prefix=b"", size_field=None, uid_field=None, major=0,
           minor=0):
    """One raw 512-byte header, checksum right, fields as given."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"%07o\0" % mode
    h[108:116] = uid_field or b"%07o\0" % uid
    h[116:124] = b"%07o\0" % gid
    h[124:136] = size_field or b"%011o\0" % size
    h[136:148] = b"%011o\0" % mtime
    h[156:157] = kind
    h[157:157 + len(link)] = link
    h[257:265] = magic
    h[329:337] = b"%07o\0" % major
    h[337:345] = b"%07o\0" % minor
    h[345:345 + len(prefix)] = prefix
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def padded(data):
    return data + bytes(-len(data) % 512)


def pax(records, kind=b"x"):
    body = b""
    for key, value in records.items():
        rec = b" %s=%s\n" % (key, value)
        n = len(rec) + 1
        while n != len(rec) + len(str(n)):
            n = len(rec) + len(str(n))
        body += str(n).encode() + rec
    return header(b"././@PaxHeader", kind, len(body)) + padded(body)


def tar_with(entries, fmt):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def info(name, kind=tarfile.REGTYPE, size=0, **attrs):
    i = tarfile.TarInfo(name)
    i.type, i.size = kind, size
    for key, value in attrs.items():
        setattr(i, key, value)
    return i


LONG = "/".join(["a-rather-long-directory-name-%d" % i for i in range(6)]) + "/file"


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_and_link_targets(tmp_path, fmt):
    target = "/" + LONG.replace("file", "elsewhere") * 2
    tar = tar_with([(info(LONG, size=3), b"abc"),
                    (info(LONG + "-sym", tarfile.SYMTYPE, linkname=target), None),
                    (info(LONG + "-hard", tarfile.LNKTYPE, linkname=LONG), None)], fmt)
    extract_layer(io.BytesIO(tar), tmp_path / "l")
    assert (tmp_path / "l" / LONG).read_bytes() == b"abc"
    assert os.readlink(tmp_path / "l" / (LONG + "-sym")) == target
    assert os.stat(tmp_path / "l" / (LONG + "-hard")).st_ino == os.stat(
        tmp_path / "l" / LONG).st_ino


def test_ustar_prefix(tmp_path):
    name = "p" * 120 + "/" + "n" * 90
    tar = tar_with([(info(name, size=1), b"x")], tarfile.USTAR_FORMAT)
    extract_layer(io.BytesIO(tar), tmp_path / "l")
    assert (tmp_path / "l" / name).read_bytes() == b"x"


def test_pax_overrides_and_non_ascii(tmp_path):
    tar = (pax({b"path": "dé/ünïcode".encode(), b"mtime": b"1234567890.5",
                b"uid": b"5000000", b"gid": b"77"})
           + header(b"ignored", size=2) + padded(b"hi")
           + pax({b"mtime": b"-1.25"}) + header(b"old") + END)
    extract_layer(io.BytesIO(tar), tmp_path / "l")
    st = os.stat(tmp_path / "l" / "dé" / "ünïcode")
    assert (st.st_uid, st.st_gid, st.st_mtime_ns) == (5000000, 77, 1234567890_500000000)
    assert os.stat(tmp_path / "l" / "old").st_mtime_ns == -1_250_000_000
    assert not os.path.lexists(tmp_path / "l" / "ignored")


def test_base256_size_and_uid(tmp_path):
    size = b"\x80" + (5).to_bytes(11, "big")
    uid = b"\x80" + (3_000_000_000).to_bytes(7, "big")
    tar = header(b"big", size_field=size, uid_field=uid) + padded(b"12345") + END
    extract_layer(io.BytesIO(tar), tmp_path / "l")
    assert (tmp_path / "l/big").read_bytes() == b"12345"
    assert os.stat(tmp_path / "l/big").st_uid == 3_000_000_000


def test_negative_base256_uid_is_refused(tmp_path):
    uid = b"\xff" * 7 + b"\xfe"         # -2
    with pytest.raises(ImageError, match="bad owner"):
        extract_layer(io.BytesIO(header(b"f", uid_field=uid) + END), tmp_path / "l")
    assert os.listdir(tmp_path) == []


def test_hard_link_through_a_link_inside(tmp_path):
    tar = tar_with([(info("d/f", size=1), b"x"),
                    (info("l", tarfile.SYMTYPE, linkname="/d"), None),
                    (info("h", tarfile.LNKTYPE, linkname="l/f"), None)], tarfile.PAX_FORMAT)
    extract_layer(io.BytesIO(tar), tmp_path / "l")
    assert os.stat(tmp_path / "l/h").st_ino == os.stat(tmp_path / "l/d/f").st_ino


def test_all_entry_types(tmp_path):
    tar = (header(b"reg", b"0", 1) + padded(b"r")
           + header(b"areg", b"\0", 1) + padded(b"a")
           + header(b"cont", b"7", 1) + padded(b"c")
           + header(b"olddir/", b"\0", mode=0o711)
           + header(b"dir", b"5", mode=0o750)
           + header(b"sym", b"2", link=b"reg")
           + header(b"hard", b"1", link=b"reg")
           + header(b"fifo", b"6", mode=0o600)
           + header(b"whiteout", b"3")
           + pax({b"comment": b"global"}, b"g")
           + END)
    extract_layer(io.BytesIO(tar), tmp_path / "l")
    root = tmp_path / "l"
    for name, data in (("reg", b"r"), ("areg", b"a"), ("cont", b"c")):
        assert (root / name).read_bytes() == data
    assert stat.S_IMODE(os.stat(root / "olddir").st_mode) == 0o711
    assert stat.S_IMODE(os.stat(root / "dir").st_mode) == 0o750
    assert os.readlink(root / "sym") == "reg"
    assert os.stat(root / "hard").st_nlink == 2
    assert stat.S_ISFIFO(os.lstat(root / "fifo").st_mode)
    assert os.lstat(root / "whiteout").st_rdev == os.makedev(0, 0)


REFUSED = [
    ("block-device", header(b"b", b"4", major=8), "device nodes"),
    ("char-device", header(b"c", b"3", major=1, minor=3), "device nodes"),
    ("gnu-sparse", header(b"s", b"S"), "sparse"),
    ("pax-sparse", pax({b"GNU.sparse.map": b"0,1"}) + header(b"s"), "sparse"),
    ("unknown-type", header(b"u", b"Z"), "unsupported tar entry type b'Z'"),
    ("bad-checksum", header(b"f")[:148] + b"0000000\0" + header(b"f")[156:], "bad checksum"),
    ("bad-number", header(b"f", size_field=b"12x45678901\0"), "invalid header"),
    ("bad-pax-record", header(b"p", b"x", 8) + padded(b"9 a=b\nxx") + header(b"f"),
     "bad extended header"),
    ("pax-without-newline", header(b"p", b"x", 6) + padded(b"6 a=bc") + header(b"f"),
     "bad extended header"),
    ("pax-then-end", pax({b"path": b"x"}) + END, "bad extended header"),
    ("pax-bad-size", pax({b"size": b"12a"}) + header(b"f"), "bad extended header"),
    ("nul-in-pax-path", pax({b"path": b"a\0b"}) + header(b"f"), "NUL byte"),
    ("nul-in-pax-linkpath", pax({b"linkpath": b"a\0b"}) + header(b"f", b"2"), "NUL byte"),
    ("truncated-header", header(b"f", size=1) + padded(b"x") + header(b"g")[:300],
     "not a valid tar archive"),
    ("truncated-body", header(b"f", size=1000) + b"x" * 700, "unexpected end of data"),
    ("truncated-padding", header(b"f", size=10) + b"x" * 100, "unexpected end of data"),
    ("truncated-extended", header(b"p", b"x", 600) + b"3", "unexpected end of data"),
    ("gnu-longname-then-eof", header(b"././@LongLink", b"L", 10) + padded(b"long/name\0"),
     "unexpected end of data"),
    ("only-a-short-block", b"x" * 100, "not a valid tar archive"),
    ("gnu-longname-bomb", header(b"././@LongLink", b"L", 2 << 20), "extended tar header of"),
    ("root-twice", header(b"./", b"5") + header(b"/", b"5"), "duplicate entry for the layer root"),
    ("mtime-out-of-range", pax({b"mtime": b"99999999999999"}) + header(b"f"), "bad mtime"),
]


@pytest.mark.parametrize("case,data,message", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(tmp_path, case, data, message):
    if not case.startswith(("truncated", "only", "gnu-long")):
        data += END
    with pytest.raises(ImageError) as err:
        extract_layer(io.BytesIO(data), tmp_path / "l")
    assert message in str(err.value)
    assert os.listdir(tmp_path) == []


def test_no_end_blocks_is_fine(tmp_path):
    extract_layer(io.BytesIO(header(b"f", size=2) + padded(b"ok")), tmp_path / "l")
    assert (tmp_path / "l/f").read_bytes() == b"ok"


def test_empty_archive(tmp_path):
    assert extract_layer(io.BytesIO(END), tmp_path / "l").files == 0
    assert os.listdir(tmp_path / "l") == []


class Trickle:
    """A stream that hands out its bytes in small, uneven reads."""

    def __init__(self, data, seed):
        self.data, self.pos, self.rnd = data, 0, random.Random(seed)

    def read(self, n=-1):
        n = self.rnd.choice([1, 3, 7, 100, 511, 512, 513, 4096])
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def tree(top):
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            data = open(p, "rb").read() if stat.S_ISREG(st.st_mode) else None
            # implicit parents get the time they were made
            mtime = None if stat.S_ISDIR(st.st_mode) and name != "d0" else st.st_mtime_ns
            out[os.path.relpath(p, top)] = (st.st_mode, st.st_uid, mtime, data)
    return out


def sample_layer(n=60):
    entries = []
    for i in range(n):
        entries.append((info(f"d{i % 5}/sub{i % 3}/f{i}" + "x" * (i % 40 * 3), size=i * 37,
                             mtime=1000 + i, uid=i, pax_headers={"SCHILY.xattr.user.i": str(i)}),
                        bytes([i % 256]) * (i * 37)))
    entries.append((info("d0", tarfile.DIRTYPE, mode=0o701, mtime=5), None))
    return tar_with(entries, tarfile.PAX_FORMAT)


@pytest.mark.parametrize("seed", range(5))
def test_any_read_sizes_give_the_same_tree(tmp_path, seed):
    data = sample_layer()
    extract_layer(io.BytesIO(data), tmp_path / "whole")
    extract_layer(Trickle(data, seed), tmp_path / "trickle")
    assert tree(tmp_path / "trickle") == tree(tmp_path / "whole")
    assert os.stat(tmp_path / "trickle" / "d0").st_mtime == 5
    assert os.getxattr(tmp_path / "trickle" / "d1/sub1/f1xxx", "user.i") == b"1"


def test_layers_in_parallel_threads(tmp_path):
    data = sample_layer(300)
    extract_layer(io.BytesIO(data), tmp_path / "ref")
    want = tree(tmp_path / "ref")
    errors = []

    def one(i):
        try:
            extract_layer(io.BytesIO(data), tmp_path / f"t{i}")
        except Exception as e:     # reported below: a thread's exception is lost otherwise
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(4):
        assert tree(tmp_path / f"t{i}") == want


@pytest.mark.parametrize("trickle", [False, True])
def test_budget_checked_again_every_few_mib(tmp_path, trickle):
    """With a free space reserve the C stops every 8 MiB to have the budget
    look at the disk again; extraction goes on where it stopped."""
    from pycontainer.image.limits import Budget, Limits
    entries = [(info(f"d{i // 100}/f{i}", size=4000), bytes([i % 256]) * 4000)
               for i in range(3000)]
    data = tar_with(entries, tarfile.PAX_FORMAT)
    budget = Budget(Limits(min_free_space=1), path=str(tmp_path))
    stream = Trickle(data, 1) if trickle else io.BytesIO(data)
    stats = extract_layer(stream, tmp_path / "l", budget=budget)
    assert (stats.size, stats.files) == (3000 * 4000, 3000)
    assert budget.layer == budget.image == 3000 * 4000
    assert (tmp_path / "l/d29/f2999").read_bytes() == bytes([2999 % 256]) * 4000


def test_no_fd_left_open(tmp_path):
    """Every path out of the C loop, good or refused, closes what it opened."""
    before = sorted(os.listdir("/proc/self/fd"))
    for i, (_, data, _) in enumerate(REFUSED):
        with pytest.raises(ImageError):
            extract_layer(io.BytesIO(data), tmp_path / f"r{i}")
    extract_layer(io.BytesIO(sample_layer()), tmp_path / "good")
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_xattrs_by_entry_type(tmp_path):
    tar = (pax({b"SCHILY.xattr.trusted.f": b"fifo"}) + header(b"fifo", b"6")
           + pax({b"SCHILY.xattr.user.s": b"link"}) + header(b"sym", b"2", link=b"fifo")
           + pax({b"SCHILY.xattr.user.g": b"global"}, b"g") + header(b"plain", size=0)
           + END)
    extract_layer(io.BytesIO(tar), tmp_path / "l")
    assert os.getxattr(tmp_path / "l/fifo", "trusted.f") == b"fifo"   # user.* only on files, dirs
    assert os.listxattr(tmp_path / "l/sym", follow_symlinks=False) == []
    assert os.listxattr(tmp_path / "l/plain") == []      # global headers are ignored


def test_xattr_the_kernel_refuses(tmp_path):
    tar = pax({b"SCHILY.xattr.bogus.name": b"x"}) + header(b"f") + END
    with pytest.raises(ImageError, match="cannot set extended attribute 'bogus.name'"):
        extract_layer(io.BytesIO(tar), tmp_path / "l")
    assert os.listdir(tmp_path) == []
