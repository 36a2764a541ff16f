"""A followed log that rotates between the last look and the exit is read to its end."""
import os
import threading

from pycontainer.engine import logs


def record(text):
    return b"2026-01-01T00:00:00.000000000Z stdout F " + text + b"\n"


def test_a_rotation_just_before_the_exit_is_followed(tmp_path):
    path = str(tmp_path / "pyc.log")
    with open(path, "wb") as f:
        f.write(record(b"one"))
    calls = []

    def running():      # the writer rotates, writes on and exits while we look away
        calls.append(1)
        if len(calls) == 1:
            with open(path, "ab") as f:
                f.write(record(b"two"))
            os.rename(path, path + ".1")
            with open(path, "wb") as f:
                f.write(record(b"three"))
        return False

    got = b"".join(logs.read(path, follow=running))
    assert got == b"one\ntwo\nthree\n"
    assert calls == [1]


def test_the_rest_of_the_live_file_is_read_after_the_exit(tmp_path):
    path = str(tmp_path / "pyc.log")
    with open(path, "wb") as f:
        f.write(record(b"one"))

    def running():
        with open(path, "ab") as f:
            f.write(record(b"last"))
        return False

    assert b"".join(logs.read(path, follow=running)) == b"one\nlast\n"


def _atomic_write(path, data):
    with open(path + ".pyc-tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".pyc-tmp", path)


def test_a_follow_waits_through_a_rotation_half_done(tmp_path):
    # the monitor renamed PATH to PATH.1 and has not made the new PATH yet
    path = str(tmp_path / "pyc.log")
    with open(path, "wb") as f:
        f.write(record(b"one"))
    calls = []

    def running():
        calls.append(1)
        if len(calls) == 1:
            with open(path, "ab") as f:
                f.write(record(b"two"))
            os.rename(path, path + ".1")
            threading.Timer(0.2, _atomic_write, (path, record(b"three"))).start()
            return True
        return False

    assert b"".join(logs.read(path, follow=running)) == b"one\ntwo\nthree\n"


def test_files_opened_mid_rotation_are_opened_again(tmp_path):
    # the chain is half way: .2 went to .3, .1 is still to move; a reader
    # must not take .1 and PATH as the whole log
    path = str(tmp_path / "pyc.log")
    for name, text in ((".3", b"a"), (".1", b"b"), ("", b"c")):
        with open(path + name, "wb") as f:
            f.write(record(text))

    def finish():
        os.rename(path + ".1", path + ".2")
        os.rename(path, path + ".1")
        _atomic_write(path, record(b"d"))

    t = threading.Timer(0.1, finish)
    t.start()
    files = logs._open_all(path)
    t.join()
    try:
        assert [f.read()[-2:-1] for f in files] == [b"a", b"b", b"c", b"d"]
    finally:
        for f in files:
            f.close()


def test_a_log_gone_for_good_is_empty(tmp_path):
    assert logs._open_all(str(tmp_path / "pyc.log")) == []
