"""A container's record read just before its monitor records the exit and
leaves is not taken for an orphan (the clean exit 143 once came out as 137)."""
import json
import os

from pycontainer.engine import state


class FakeCgroups:
    def is_frozen(self, cid):
        return False

    def know_parent(self, cid, parent):
        pass


class FakeRuntime:
    cg = FakeCgroups()

    def __init__(self, root):
        self.root = str(root)

    def config_path(self, cid):
        return os.path.join(self.root, cid, "config.json")

    def rundir(self, cid):
        return os.path.join(self.root, "run", cid)


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)


def running_container(tmp_path):
    """A store with one container whose record says running; (runtime, run.json)."""
    os.makedirs(tmp_path / "c1")
    write(tmp_path / "c1" / "config.json", {"Config": {}})
    run = tmp_path / "c1" / "run.json"
    write(run, {"Status": "running", "Pid": 10, "MonitorPid": 11, "MonitorStartTime": 5})
    return FakeRuntime(tmp_path), run


def test_a_monitor_that_records_the_exit_and_leaves_between_read_and_check(tmp_path, monkeypatch):
    rt, run = running_container(tmp_path)

    def alive(pid, start):        # the monitor writes its last record and exits now
        write(run, {"Status": "exited", "ExitCode": 143, "MonitorPid": 11,
                    "MonitorStartTime": 5})
        return False

    monkeypatch.setattr(state, "alive", alive)
    st = state.load(rt, "c1")["State"]
    assert (st["Status"], st["ExitCode"], st["Error"]) == ("exited", 143, "")


def test_a_monitor_that_leaves_after_it_was_seen_alive(tmp_path, monkeypatch):
    rt, run = running_container(tmp_path)
    looks = []

    def alive(pid, start):        # alive at the first look; gone (its exit recorded) after
        looks.append(1)
        if len(looks) == 1:
            return True
        write(run, {"Status": "exited", "ExitCode": 143, "MonitorPid": 11,
                    "MonitorStartTime": 5})
        return False

    monkeypatch.setattr(state, "alive", alive)
    st = state.load(rt, "c1")["State"]
    assert (st["Status"], st["Error"]) == ("running", ""), st      # the next look sees 143
    assert state.load(rt, "c1")["State"]["ExitCode"] == 143


def test_a_monitor_that_died_without_a_word_is_still_an_orphan(tmp_path, monkeypatch):
    rt, _ = running_container(tmp_path)
    monkeypatch.setattr(state, "alive", lambda pid, start: False)
    st = state.load(rt, "c1")["State"]
    assert (st["Status"], st["ExitCode"]) == ("exited", 137)
    assert "monitor died" in st["Error"]
