"""csrc/tree.c: one call gives the lstat of a whole tree; any change of an
entry (content, mode, a name added, removed or moved) changes the records."""
import os

from pycontainer import _core


def snap(path):
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return _core.tree_stat(fd)
    finally:
        os.close(fd)


def test_records_change_with_any_entry_and_only_then(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    f = tmp_path / "d" / "e" / "f"
    f.write_text("x")
    os.symlink("nowhere", tmp_path / "link")        # not followed
    first, newest = snap(tmp_path)
    assert newest >= os.lstat(f).st_ctime_ns
    assert snap(tmp_path)[0] == first
    seen = {first}
    for change in (lambda: f.write_text("y"),
                   lambda: os.chmod(f, 0o600),
                   lambda: (tmp_path / "d" / "g").write_text(""),
                   lambda: os.rename(tmp_path / "d" / "g", tmp_path / "d" / "h"),
                   lambda: os.unlink(tmp_path / "d" / "h")):
        change()
        now = snap(tmp_path)[0]
        assert now not in seen
        seen.add(now)


def test_a_small_buffer_grows(tmp_path):
    for i in range(9000):       # ~1.2 MB of records: past the first buffer
        (tmp_path / f"{'n' * 70}-{i:06d}").touch()
    data, _ = snap(tmp_path)
    assert len(data) > 1 << 20


def names(data):
    """The entry names of a record stream: u16 length, name, seven u64s;
    0xffff ends a directory."""
    out, at = [], 0
    while at < len(data):
        n = int.from_bytes(data[at:at + 2], "little")
        at += 2
        if n == 0xffff:
            continue
        out.append(data[at:at + n])
        at += n + 56
    return out


def test_levels_bound_the_walk(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "f").write_text("x")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        own, _ = _core.tree_stat(fd, 0)
        one, _ = _core.tree_stat(fd, 1)
        every, _ = _core.tree_stat(fd)
    finally:
        os.close(fd)
    assert names(own) == [b"."]
    assert sorted(names(one)) == [b".", b"a", b"f"]
    assert sorted(names(every)) == [b".", b"a", b"deep", b"f"]
    assert one.startswith(own)
