"""A followed log that rotates between the last look and the exit is read to its end."""
import os

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
