"""Healthchecks: docker's states, results and events, run by the monitor."""
import os
import time

import pytest

from pycontainer import errors
from test_lifecycle import script, wait_until

MS = 1_000_000
FAST = {"interval": 100 * MS, "timeout": 5000 * MS, "retries": 2}


def health(c):
    c.reload()
    return c.attrs["State"].get("Health") or {}


def wait_health(c, status, timeout=60):
    return wait_until(lambda: health(c).get("Status") == status and health(c),
                      f"health {status!r}", timeout)


def probes_done(c):
    """How many probes have finished: results in the log, which keeps 5."""
    return len(health(c).get("Log") or [])


def test_flips_healthy_unhealthy_healthy(client, busybox):
    t0 = time.time()
    hc = dict(FAST, test=["CMD-SHELL", "test -e /tmp/ok && echo fine"])
    with client.containers.run("busybox", ["sh", "-c", "touch /tmp/ok; exec sleep 600"],
                               detach=True, healthcheck=hc) as c:
        assert c.attrs["Config"]["Healthcheck"] == {
            "Test": ["CMD-SHELL", "test -e /tmp/ok && echo fine"], "Interval": 100 * MS,
            "Timeout": 5000 * MS, "StartPeriod": 0, "StartInterval": 0, "Retries": 2}
        h = wait_health(c, "healthy")
        assert c.health == "healthy"
        assert h["FailingStreak"] == 0
        last = h["Log"][-1]
        assert last["ExitCode"] == 0 and last["Output"] == "fine\n"
        assert last["Start"] <= last["End"]

        assert c.exec_run(["rm", "/tmp/ok"]).exit_code == 0
        h = wait_health(c, "unhealthy")
        assert h["FailingStreak"] >= 2
        assert [r["ExitCode"] for r in h["Log"][-2:]] == [1, 1]
        assert c.status == "running"              # unhealthy is not a reason to restart
        assert c.attrs["RestartCount"] == 0

        assert c.exec_run(["touch", "/tmp/ok"]).exit_code == 0
        h = wait_health(c, "healthy")
        assert h["FailingStreak"] == 0
        wait_until(lambda: probes_done(c) == 5, "five results")
        assert len(health(c)["Log"]) == 5         # docker keeps the last five
        events = client.events(since=t0, until=time.time(), decode=True,
                               filters={"container": c.id, "event": "health_status"})
        assert [e["Action"] for e in events] == ["health_status: healthy",
                                                 "health_status: unhealthy",
                                                 "health_status: healthy"]


def test_probes_run_after_the_creator_exited(client, busybox, store_root):
    r = script(store_root, """
        c = client.containers.run("busybox", ["sleep", "600"], detach=True,
                                  name="pyc-health-orphan",
                                  healthcheck={"test": ["CMD", "true"], "interval": 50_000_000,
                                               "retries": 1})
        print(c.id)
    """)
    assert r.returncode == 0, r.stderr
    c = client.containers.get("pyc-health-orphan")
    try:
        wait_health(c, "healthy")
        # the creating process is gone: the monitor alone goes on probing
        first = health(c)["Log"][-1]["End"]
        wait_until(lambda: health(c)["Log"][-1]["End"] > first, "another probe")
        assert c.attrs["State"]["MonitorPid"] != os.getpid()
    finally:
        c.remove(force=True)


def test_timeout_output_cut_and_wait_condition(client, busybox):
    hc = {"test": ["CMD-SHELL", "head -c 10000 /dev/zero | tr '\\0' x; sleep 30"],
          "interval": 50 * MS, "timeout": 300 * MS, "retries": 1}
    with client.containers.run("busybox", ["sleep", "600"], detach=True, healthcheck=hc) as c:
        with pytest.raises(errors.Conflict, match="unhealthy"):
            c.wait(condition="healthy", timeout=60)
        last = health(c)["Log"][-1]
        assert last["ExitCode"] == -1
        assert last["Output"] == "Health check exceeded timeout (300ms)"
    hc = {"test": "head -c 10000 /dev/zero | tr '\\0' y", "interval": 50 * MS}
    with client.containers.run("busybox", ["sleep", "600"], detach=True, healthcheck=hc) as c:
        assert c.wait(condition="healthy", timeout=60) == {"StatusCode": 0, "Error": None}
        assert health(c)["Log"][-1]["Output"] == "y" * 4096      # docker's cut
    with client.containers.run("busybox", ["true"], detach=True,
                               healthcheck={"test": ["CMD", "true"]}) as c:
        with pytest.raises(errors.Conflict, match="stopped before it was healthy"):
            c.wait(condition="healthy", timeout=60)


def test_image_healthcheck_inherited_and_disabled(client, busybox):
    with client.containers.run("busybox", ["true"], detach=True) as base:
        base.wait(timeout=30)
        img = base.commit("pyc-health-img", "v1", conf={"Healthcheck": {
            "Test": ["CMD-SHELL", "exit 3"], "Interval": 50 * MS, "Retries": 1}})
    try:
        with client.containers.run(img.id, ["sleep", "600"], detach=True) as c:
            h = wait_health(c, "unhealthy")
            assert h["Log"][-1]["ExitCode"] == 3
            assert c.attrs["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "exit 3"]
        # only the test is ours: the interval and retries still come from the image
        with client.containers.run(img.id, ["sleep", "600"], detach=True,
                                   healthcheck={"test": ["CMD", "true"]}) as c:
            wait_health(c, "healthy")
            assert c.attrs["Config"]["Healthcheck"]["Interval"] == 50 * MS
        with client.containers.run(img.id, ["sleep", "600"], detach=True,
                                   healthcheck={"test": ["NONE"]}) as c:
            assert c.health == "unknown" and "Health" not in c.attrs["State"]
            with pytest.raises(errors.InvalidArgument, match="no healthcheck"):
                c.wait(condition="healthy", timeout=5)
    finally:
        client.images.remove(img.id, force=True)


@pytest.mark.parametrize("hc, match", [
    ({"test": ["CMD"]}, "needs a command"),
    ({"test": ["RUN", "true"]}, "NONE, CMD or CMD-SHELL"),
    ({"test": ["CMD", "true"], "interval": 5}, "less than 1ms"),
    ({"test": ["CMD", "true"], "retries": -1}, "retries|Retries"),
    ({"test": ["CMD", "true"], "every": 1}, "unknown key"),
    ("true", "must be a dict"),
])
def test_bad_healthcheck_refused(client, busybox, hc, match):
    before = set(client._backend.containers.ids())
    with pytest.raises(errors.InvalidArgument, match=match):
        client.containers.run("busybox", ["true"], detach=True, healthcheck=hc)
    assert set(client._backend.containers.ids()) == before


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_paused_container_with_probes_stops(client, busybox, how):
    """A frozen task dies of SIGKILL only once thawed (cgroup v1): stop and
    kill of a paused container thaw it, and the monitor probes no frozen container."""
    hc = {"test": ["CMD", "true"], "interval": 50 * MS, "timeout": 200 * MS, "retries": 1}
    with client.containers.run("busybox", ["sleep", "600"], detach=True, healthcheck=hc) as c:
        c.wait(condition="healthy", timeout=30)
        c.pause()
        c.stop(timeout=5) if how == "stop" else c.kill()
        assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 137
        assert all(r["ExitCode"] == 0 for r in health(c)["Log"])
