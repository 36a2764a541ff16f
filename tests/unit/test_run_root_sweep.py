"""The run root of a deleted store goes once nothing of its containers can
run: a container's dir goes when its cgroups are empty (no monitor reads its
input), a name with it; anything that may still run keeps its run root."""
import json
import os

from pycontainer.runtime.runtime import STORE_MARK, sweep_run_roots


def make(base, name, store, *extra, mark=True, names=()):
    d = base / name
    (d / "names").mkdir(parents=True)
    for n, target in names:
        os.symlink(target, d / "names" / n)
    if mark:
        (d / STORE_MARK).write_text(json.dumps({"Store": str(store)}))
    for e in extra:
        (d / e).mkdir()
    return str(d)


def cgroup(bases, cid, procs=""):
    for b in bases:
        (b / cid).mkdir(parents=True)
        (b / cid / "cgroup.procs").write_text(procs)


def test_run_roots_of_deleted_stores_go_once_nothing_runs(tmp_path):
    base = tmp_path / "run"
    live = tmp_path / "live-store"
    live.mkdir()
    dead = tmp_path / "deleted-store"
    bases = [tmp_path / "cg" / "memory" / "pycontainer", tmp_path / "cg" / "pids" / "pycontainer"]
    a, b, c, e = "a" * 64, "b" * 64, "c" * 64, "e" * 64
    cgroup(bases, c)                      # killed: its cgroups are empty
    cgroup(bases, e, "4242\n")            # still runs
    own = make(base, "000000000000", dead)
    gone = [make(base, "111111111111", dead),
            make(base, "666666666666", dead, c, names=[("web", c), ("old", b)])]
    kept = [make(base, "222222222222", live, c),                    # its store is there
            make(base, "333333333333", dead, a),                    # young, no cgroup: may run
            make(base, "444444444444", dead, a, names=[("web", a)]),
            make(base, "555555555555", dead, mark=False),           # not ours to judge
            make(base, "777777777777", dead, e, c)]                 # e runs; c's dir goes
    assert sorted(sweep_run_roots(str(base), own, [str(b) for b in bases])) == gone
    assert not any(os.path.exists(d) for d in gone)
    assert all(os.path.isdir(d) for d in kept + [own])
    assert sorted(os.listdir(kept[-1])) == sorted(["names", STORE_MARK, e])
    assert os.listdir(os.path.join(kept[2], "names")) == ["web"]


def test_no_base_is_nothing_to_do(tmp_path):
    assert sweep_run_roots(str(tmp_path / "none"), None) == []
