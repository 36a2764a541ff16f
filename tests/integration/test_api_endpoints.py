"""The rest of the served endpoints, each through the real docker CLI:
create's HostConfig, the container verbs, files (cp, diff, export), images
(tag, history, save/load, rmi, prune), prune of networks, volumes, containers,
and system df."""
import json
import os
import subprocess
import tarfile
import time

from api_daemon import daemon, names, until  # noqa: F401 (fixtures)


def test_create_options_reach_the_container(daemon, tmp_path):
    (tmp_path / "f").write_text("from the host\n")
    r = daemon.docker(
        "run", "--rm", "-e", "A=1", "-w", "/tmp", "--label", "x=y",
        "--memory", "64m", "--pids-limit", "50", "--read-only", "--tmpfs", "/run:size=1m",
        "--cap-drop", "ALL", "-v", f"{tmp_path}:/data:ro", "busybox", "sh", "-c",
        "echo $A $PWD; cat /data/f; touch /x 2>/dev/null || echo ro; "
        "grep -c ' /run tmpfs' /proc/mounts; grep CapEff /proc/self/status")
    assert r.stdout.splitlines() == ["1 /tmp", "from the host", "ro", "1",
                                     "CapEff:\t0000000000000000"]
    assert daemon.docker("run", "--rm", "-u", "1000:1000", "busybox", "id").stdout == \
        "uid=1000 gid=1000 groups=1000\n"


def test_hostconfig_is_recorded(daemon, names):
    names.append("pyc-api-hc")
    daemon.docker("create", "--name", "pyc-api-hc", "--memory", "64m", "--pids-limit", "50",
                  "--restart", "on-failure:3", "busybox", "true")
    doc = json.loads(daemon.docker("inspect", "pyc-api-hc").stdout)[0]
    assert doc["HostConfig"]["Memory"] == 64 << 20
    assert doc["HostConfig"]["PidsLimit"] == 50
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert doc["Config"]["Tty"] is False and doc["Path"] == "true"


def test_container_verbs(daemon, names, client):
    names += ["pyc-api-v", "pyc-api-v2"]
    daemon.docker("run", "-d", "--name", "pyc-api-v", "busybox", "sleep", "60")
    top = daemon.docker("top", "pyc-api-v").stdout
    assert "sleep 60" in top
    daemon.docker("rename", "pyc-api-v", "pyc-api-v2")
    daemon.docker("pause", "pyc-api-v2")
    fmt = ("ps", "--filter", "name=pyc-api-v2", "--format", "{{.Names}} {{.Status}}")
    assert daemon.docker(*fmt).stdout.endswith("(Paused)\n")
    daemon.docker("unpause", "pyc-api-v2")
    assert not daemon.docker(*fmt).stdout.endswith("(Paused)\n")
    daemon.docker("update", "--memory", "128m", "--memory-swap", "256m", "pyc-api-v2")
    # the cgroup has the new limit (read through the SDK on the same store)
    assert client.containers.get("pyc-api-v2").stats(stream=False, one_shot=True)["memory_stats"]["limit"] == 128 << 20
    daemon.docker("kill", "--signal", "KILL", "pyc-api-v2")
    assert daemon.docker("wait", "pyc-api-v2").stdout == "137\n"
    r = daemon.docker("kill", "pyc-api-v2", ok=False)
    assert r.returncode == 1 and "is not running" in r.stderr
    daemon.docker("restart", "-t", "1", "pyc-api-v2")
    assert json.loads(daemon.docker("inspect", "pyc-api-v2").stdout)[0]["State"]["Running"]
    daemon.docker("rm", "-f", "pyc-api-v2")


def test_files_cp_diff_export(daemon, names, tmp_path):
    names.append("pyc-api-files")
    daemon.docker("create", "--name", "pyc-api-files", "busybox", "true")
    src = tmp_path / "hello.txt"
    src.write_text("hello\n")
    daemon.docker("cp", str(src), "pyc-api-files:/tmp/")
    daemon.docker("cp", "pyc-api-files:/tmp/hello.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "hello\n"
    assert "A /tmp/hello.txt" in daemon.docker("diff", "pyc-api-files").stdout.splitlines()
    out = tmp_path / "export.tar"
    daemon.docker("export", "-o", str(out), "pyc-api-files")
    with tarfile.open(out) as t:
        names_in = t.getnames()
    assert "tmp/hello.txt" in names_in and "bin/busybox" in names_in
    r = daemon.docker("cp", "pyc-api-files:/no/such", str(tmp_path), ok=False)
    assert r.returncode == 1 and "No such" in r.stderr or "not found" in r.stderr.lower()


def test_images_tag_history_save_load_rmi(daemon, busybox, tmp_path):
    daemon.docker("tag", "busybox", "pyc-api-tag:v1")
    try:
        imgs = daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
        assert "pyc-api-tag:v1" in imgs.splitlines()
        hist = daemon.docker("history", "--format", "{{.Comment}}", "busybox").stdout
        assert hist.strip()
        tar = tmp_path / "img.tar"
        daemon.docker("save", "-o", str(tar), "pyc-api-tag:v1")
        assert daemon.docker("rmi", "pyc-api-tag:v1").stdout == "Untagged: pyc-api-tag:v1\n"
        load = daemon.docker("load", "-i", str(tar)).stdout
        assert "Loaded image: pyc-api-tag:v1" in load
    finally:
        daemon.docker("rmi", "pyc-api-tag:v1", ok=False)
    r = daemon.docker("rmi", "pyc-api-notag:v9", ok=False)
    assert r.returncode == 1 and "No such image" in r.stderr
    daemon.docker("image", "prune", "-f")
    assert busybox.id in daemon.docker("images", "-q", "--no-trunc").stdout


def test_prunes_and_df(daemon):
    daemon.docker("create", "--name", "pyc-api-prune", "busybox", "true")
    out = daemon.docker("container", "prune", "-f").stdout
    assert "Total reclaimed space" in out
    assert daemon.docker("ps", "-aq", "--filter", "name=pyc-api-prune").stdout == ""
    daemon.docker("network", "create", "pyc-api-pnet")
    out = daemon.docker("network", "prune", "-f").stdout
    assert "pyc-api-pnet" in out
    daemon.docker("volume", "create", "pyc-api-pvol")
    doc = json.loads(daemon.docker("volume", "inspect", "pyc-api-pvol").stdout)[0]
    assert doc["Name"] == "pyc-api-pvol" and doc["Driver"] == "local"
    out = daemon.docker("volume", "prune", "-af").stdout
    assert "pyc-api-pvol" in out
    df = daemon.docker("system", "df").stdout
    assert df.startswith("TYPE") and "Images" in df


def test_logs_follow_tail_timestamps(daemon, names):
    names.append("pyc-api-logs")
    daemon.docker("run", "-d", "--name", "pyc-api-logs", "busybox", "sh", "-c",
                  "echo 1; echo 2; echo 3; exec sleep 60")
    until(lambda: daemon.docker("logs", "pyc-api-logs").stdout, lambda o: o == "1\n2\n3\n")
    assert daemon.docker("logs", "--tail", "1", "pyc-api-logs").stdout == "3\n"
    ts = daemon.docker("logs", "-t", "--tail", "2", "pyc-api-logs").stdout.splitlines()
    assert [t.split(" ", 1)[1] for t in ts] == ["2", "3"] and ts[0][:2] == "20"
    assert daemon.docker("logs", "--since", "2999-01-01T00:00:00Z",
                         "pyc-api-logs").stdout == ""
    env = dict(os.environ, DOCKER_HOST=daemon.url)
    with subprocess.Popen(["docker", "logs", "-f", "pyc-api-logs"], stdout=subprocess.PIPE,
                          env=env, text=True) as follow:
        assert follow.stdout.readline() == "1\n"    # streamed while the container runs
        daemon.docker("kill", "pyc-api-logs")
        rest = follow.stdout.read()                 # ends when the container stops
        assert follow.wait(30) == 0 and rest == "2\n3\n"


def test_a_blocking_call_does_not_block_the_daemon(daemon, names):
    """A wait in flight (an engine call in a thread) while /_ping still answers."""
    names.append("pyc-api-block")
    daemon.docker("run", "-d", "--name", "pyc-api-block", "busybox", "sleep", "60")
    env = dict(os.environ, DOCKER_HOST=daemon.url)
    with subprocess.Popen(["docker", "wait", "pyc-api-block"], stdout=subprocess.PIPE,
                          env=env, text=True) as waiter:
        t0 = time.monotonic()
        for _ in range(20):
            assert daemon.http("GET", "/_ping")[0] == 200
        assert time.monotonic() - t0 < 5 and waiter.poll() is None
        daemon.docker("kill", "pyc-api-block")
        assert waiter.stdout.read() == "137\n" and waiter.wait(30) == 0
