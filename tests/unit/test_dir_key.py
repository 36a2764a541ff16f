"""``state.dir_key``: every write of a record (a whole file renamed into its
directory) moves the directory's key, and a key is trusted only once it is
older than a clock tick."""
import os
import time

from pycontainer.engine import state
from pycontainer.jsonfile import write_json_atomic


def test_each_atomic_write_moves_the_key(tmp_path):
    d = str(tmp_path)
    write_json_atomic(os.path.join(d, "config.json"), {"a": 1})
    keys = [state.dir_key(d)]
    for name in ("run.json", "state.json", "health.json", "config.json"):
        time.sleep(0.02)            # a tick apart: within one, only ``settled`` guards
        write_json_atomic(os.path.join(d, name), {"b": name})
        keys.append(state.dir_key(d))
    assert len(set(keys)) == len(keys)


def test_a_young_key_is_not_settled(tmp_path):
    d = str(tmp_path)
    write_json_atomic(os.path.join(d, "config.json"), {})
    key = state.dir_key(d)
    assert not state.settled(key, time.time_ns())
    assert state.settled(key, time.time_ns() + state.SETTLE_NS + 10_000_000)
    assert not state.settled(None, time.time_ns())


def test_a_removed_directory_has_no_key(tmp_path):
    d = tmp_path / "gone"
    d.mkdir()
    d.rmdir()
    assert state.dir_key(str(d)) is None


def test_the_keys_of_a_top_are_each_directorys_key(tmp_path):
    for name in ("a" * 64, "b" * 64, "not-a-container"):
        (tmp_path / name).mkdir()
    keys = state.entry_keys(str(tmp_path))
    assert set(keys) == {"a" * 64, "b" * 64, "not-a-container"}
    assert all(keys[n] == state.dir_key(str(tmp_path / n)) for n in keys)
    write_json_atomic(str(tmp_path / ("a" * 64) / "config.json"), {})
    assert state.entry_keys(str(tmp_path))["a" * 64] != keys["a" * 64]
    assert state.entry_keys(str(tmp_path / "gone")) == {}
