"""The run root of a deleted store goes when it holds nothing; any other stays."""
import json
import os

from pycontainer.runtime.runtime import STORE_MARK, sweep_run_roots


def make(base, name, store, *extra, mark=True, names=()):
    d = base / name
    (d / "names").mkdir(parents=True)
    for n in names:
        (d / "names" / n).write_text("x")
    if mark:
        (d / STORE_MARK).write_text(json.dumps({"Store": str(store)}))
    for e in extra:
        (d / e).mkdir()
    return str(d)


def test_only_empty_run_roots_of_deleted_stores_go(tmp_path):
    base = tmp_path / "run"
    live = tmp_path / "live-store"
    live.mkdir()
    dead = tmp_path / "deleted-store"
    own = make(base, "000000000000", dead)
    gone = make(base, "111111111111", dead)
    kept = [make(base, "222222222222", live),                       # its store is there
            make(base, "333333333333", dead, "a" * 64),             # a container may run
            make(base, "444444444444", dead, names=["web"]),        # a name is held
            make(base, "555555555555", dead, mark=False)]           # not ours to judge
    assert sweep_run_roots(str(base), own) == [gone]
    assert not os.path.exists(gone)
    assert all(os.path.isdir(d) for d in kept + [own])


def test_no_base_is_nothing_to_do(tmp_path):
    assert sweep_run_roots(str(tmp_path / "none"), None) == []
