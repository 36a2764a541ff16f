"""pycontainerd's events, stats and health, read by the real docker CLI and
docker-py: ``docker events --since --until --filter`` (past and live),
``docker stats --no-stream``, the stats stream, ``docker ps``'s health."""
import json
import os
import select
import subprocess
import time

import docker

from api_daemon import DOCKER, daemon, names, until  # noqa: F401 (fixtures)


def test_events_since_until_filter(daemon, names):
    names.append("pyc-api-ev")
    t0 = time.time()
    daemon.docker("run", "--name", "pyc-api-ev", "busybox", "true")
    daemon.docker("rm", "pyc-api-ev")
    t1 = time.time()
    r = daemon.docker("events", "--since", f"{t0:.3f}", "--until", f"{t1:.3f}",
                      "--filter", "container=pyc-api-ev", "--format", "{{.Type}} {{.Action}}")
    got = [line for line in r.stdout.splitlines() if not line.split()[1].startswith("attach")]
    assert got == ["container create", "container start", "container die",
                   "container destroy"], r.stdout
    r = daemon.docker("events", "--since", f"{t0:.3f}", "--until", f"{t1:.3f}",
                      "--filter", "container=pyc-api-ev", "--filter", "event=die",
                      "--format", "{{json .}}")
    (ev,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert ev["Actor"]["Attributes"]["exitCode"] == "0" and ev["status"] == "die"
    status, _, body = daemon.http("GET", "/events?since=yesterday-ish")
    assert status == 400, body


def test_events_follow_sees_cli_actions(daemon, names):
    names.append("pyc-api-evf")
    env = dict(os.environ, DOCKER_HOST=daemon.url, DOCKER_CONFIG=os.path.dirname(daemon.sock))
    # --since now: what happens before the CLI's stream is open is read too (no race)
    p = subprocess.Popen([DOCKER, "events", "--since", f"{time.time():.3f}", "--filter",
                          "container=pyc-api-evf", "--format",
                          "{{.Action}} {{.Actor.Attributes.name}}"],
                         stdout=subprocess.PIPE, env=env)
    try:
        daemon.docker("run", "-d", "--name", "pyc-api-evf", "busybox", "sleep", "60")
        daemon.docker("kill", "pyc-api-evf")
        lines, buf, deadline = [], b"", time.monotonic() + 20
        while "die pyc-api-evf" not in lines and time.monotonic() < deadline:
            if select.select([p.stdout], [], [], 1)[0]:
                buf += os.read(p.stdout.fileno(), 4096)
                lines = buf.decode().splitlines()
        assert lines[:2] == ["create pyc-api-evf", "start pyc-api-evf"], lines
        assert "kill pyc-api-evf" in lines and "die pyc-api-evf" in lines
    finally:
        p.kill()
        p.wait()


def test_stats_no_stream_and_the_stream(daemon, names):
    names.append("pyc-api-st")
    daemon.docker("run", "-d", "--name", "pyc-api-st", "-m", "64m", "busybox", "sh", "-c",
                  "while :; do :; done")
    r = daemon.docker("stats", "--no-stream", "--format",
                      "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}", "pyc-api-st")
    name, cpu, mem, pids = r.stdout.strip().split("|")
    assert name == "pyc-api-st" and pids == "1"
    assert 5.0 < float(cpu.rstrip("%")) <= 200.0, r.stdout        # a busy loop on 2 cores
    used, limit = mem.split(" / ")
    assert limit == "64MiB" and used.endswith(("KiB", "MiB")) and float(used[:-3]) > 0
    dc = docker.DockerClient(base_url=daemon.url, version="auto", timeout=60)
    try:
        c = dc.containers.get("pyc-api-st")
        one = c.stats(stream=False, one_shot=True)
        assert one["name"] == "/pyc-api-st" and one["memory_stats"]["usage"] > 0
        it = c.stats(stream=True, decode=True)
        a, b = next(it), next(it)
        assert b["precpu_stats"]["cpu_usage"]["total_usage"] == \
            a["cpu_stats"]["cpu_usage"]["total_usage"]
        assert b["cpu_stats"]["cpu_usage"]["total_usage"] > a["cpu_stats"]["cpu_usage"][
            "total_usage"]
        it.close()
    finally:
        dc.close()


def test_ps_and_inspect_show_health(daemon, names):
    names.append("pyc-api-hc")
    daemon.docker("run", "-d", "--name", "pyc-api-hc", "--health-cmd", "test -e /tmp/ok",
                  "--health-interval", "200ms", "--health-retries", "1", "busybox", "sh",
                  "-c", "touch /tmp/ok; exec sleep 60")
    ps = until(lambda: daemon.docker("ps", "--filter", "name=pyc-api-hc", "--format",
                                     "{{.Status}}").stdout, lambda s: "(healthy)" in s, 20)
    assert ps.startswith("Up ") and ps.strip().endswith("(healthy)"), ps
    health = json.loads(daemon.docker("inspect", "--format", "{{json .State.Health}}",
                                      "pyc-api-hc").stdout)
    assert health["Status"] == "healthy" and health["Log"][-1]["ExitCode"] == 0
    daemon.docker("exec", "pyc-api-hc", "rm", "/tmp/ok")
    ps = until(lambda: daemon.docker("ps", "--filter", "name=pyc-api-hc", "--format",
                                     "{{.Status}}").stdout, lambda s: "(unhealthy)" in s, 20)
    assert "(unhealthy)" in ps
