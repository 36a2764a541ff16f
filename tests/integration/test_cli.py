"""The ``pycontainer`` command, driven as a user would: the installed console
script in a subprocess, on the session's store (``--root``), with the
suite's default network ``none``. What the command prints is checked
against what the container sees and against the SDK's view of the store.

Images, networks, volumes and the system verbs: test_cli_objects.py.
"""
import io
import json
import os
import re
import select
import signal
import subprocess
import tarfile
import time

import pytest

import pycontainer
from cli_helpers import BIN, CLI, fresh_store, table  # noqa: F401  (a fixture)
from pycontainer.cli.verbs import GROUPS, TOP


@pytest.fixture
def cli(store_root, busybox):
    return CLI(store_root)


@pytest.fixture
def made(client):
    """Names of containers a test makes; force-removed afterwards, error or not."""
    names = []
    yield names
    for n in names:
        try:
            client.containers.get(n).remove(force=True, v=True)
        except Exception:  # noqa: BLE001  already gone
            pass


def _detached(cli, made, name, *cmd, flags=()):
    made.append(name)
    cid = cli("run", "-d", "--name", name, *flags, "busybox", *cmd).out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    return cid


# -- the command itself ---------------------------------------------------------------

def test_version_and_help_need_no_store(tmp_path):
    missing = tmp_path / "never-made"
    r = subprocess.run([BIN, "--root", str(missing), "--version"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and re.fullmatch(r"pycontainer version \d+\.\d+\.\d+\n", r.stdout)
    # `pyc -v` alone is answered by the C client (its version built in): the same words
    pyc = subprocess.run([os.path.join(os.path.dirname(BIN), "pyc"), "-v"],
                         capture_output=True, text=True)
    assert pyc.stdout == r.stdout == f"pycontainer version {pycontainer.__version__}\n"
    top = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
    for verb in ("run", "ps", "images", "network", "volume", "system", "cp", "commit"):
        assert re.search(rf"^  {verb} +\S", top, re.M), verb
    assert not missing.exists()


def test_every_verb_has_help(tmp_path):
    """``--help`` on every verb and group: usage, exit 0, nothing made."""
    words = [[v] for v in TOP] + [[g] for g in GROUPS] + \
        [[g, s] for g, subs in GROUPS.items() for s in subs]
    procs = [(w, subprocess.Popen([BIN, "--root", str(tmp_path / "x"), *w, "--help"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
             for w in words]
    for w, p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, (w, err)
        assert out.startswith(("usage: pycontainer " + " ".join(w), "Usage:  pycontainer")), \
            (w, out[:200])
    run_help = subprocess.run([BIN, "run", "--help"], capture_output=True, text=True).stdout
    for flag in ("--detach", "--rm", "--env-file", "--mount", "--publish-all", "--hostname",
                 "--pids-limit", "--security-opt", "--userns", "--read-only", "--tmpfs"):
        assert flag in run_help
    assert not (tmp_path / "x").exists()


def test_usage_errors_exit_125_in_one_line(cli):
    for args, text in ((["run", "--no-such-flag", "busybox"], "unrecognized arguments"),
                       (["run", "-d", "--sig-proxy=maybe", "busybox"], "invalid boolean"),
                       (["exec", "-it", "x"], "requires at least 2 arguments"),
                       (["ps", "--filter", "nokey"], "expected name=value"),
                       (["--log-level", "loud", "ps"], "invalid --log-level")):
        r = cli(*args, ok=False)
        assert r.code == 125, (args, r)
        assert text in r.err and len(r.err.strip().splitlines()) == 1, (args, r.err)
    r = cli("frobnicate", ok=False)
    assert r.code == 1 and "'frobnicate' is not a pycontainer command" in r.err
    r = cli("ps", "--filter", "colour=red", ok=False)
    assert r.code == 1 and "unsupported filter" in r.err and "colour" in r.err


# -- run ------------------------------------------------------------------------------

def test_run_exit_codes_are_dockers(cli, client):
    before = {c.id for c in client.containers.list(all=True)}
    r = cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", ok=False)
    assert (r.code, r.out, r.err) == (3, "out\n", "err\n")      # docker's streams
    r = cli("run", "--rm", "busybox", "no-such-command", ok=False)
    assert r.code == 127 and "no-such-command" in r.err and "not found" in r.err
    r = cli("run", "--rm", "busybox", "/etc/passwd", ok=False)
    assert r.code == 126 and "cannot be invoked" in r.err
    r = cli("run", "--rm", "no-such-image", "true", ok=False)
    assert r.code == 125 and "no-such-image" in r.err and "pycontainer images" in r.err
    r = cli("run", "--rm", "-m", "1k", "busybox", "true", ok=False)
    assert r.code == 125 and "--memory" in r.err            # the flag, not the SDK keyword
    r = cli("run", "-d", "--rm", "busybox", "no-such-command", ok=False)
    assert r.code == 127
    r = cli("run", "--rm", "--restart", "always", "busybox", "true", ok=False)
    assert r.code == 125 and "--restart and --rm" in r.err
    assert {c.id for c in client.containers.list(all=True)} == before


def test_run_flags_reach_the_container(cli, client, made, tmp_path, store_root):
    host = tmp_path / "cfg"
    host.mkdir()
    os.chmod(host, 0o755)
    (host / "app.conf").write_text("debug = 1\n")
    envfile = tmp_path / "env"
    envfile.write_text("# a comment\nB=from file\n\nPASSED\n")
    labels = tmp_path / "labels"
    labels.write_text("tier=web\n")
    script = ("id -un; echo A=$A B=$B PASSED=$PASSED; pwd; hostname; cat /cfg/app.conf; "
              "touch /x 2>/dev/null || echo read-only; df -k /run | tail -1; "
              "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; "
              "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes "
              "/sys/fs/cgroup/cpu/cpu.cfs_quota_us; ls /data")
    made.append("flags")
    env = dict(os.environ, PASSED="from the caller")
    r = subprocess.run(
        [BIN, "--root", str(store_root), "run", "--name", "flags", "-e", "A=1", "--env-file",
         str(envfile), "-e", "PASSED", "-w", "/tmp", "-u", "nobody", "--hostname", "myhost",
         "-l", "app=cli", "--label-file", str(labels), "--read-only", "--tmpfs",
         "/run:size=1m", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
         "-m", "64m", "--cpus", "0.5", "--pids-limit", "50", "-v", f"{host}:/cfg:ro",
         "--mount", "type=volume,source=cli-flags-vol,target=/data", "--entrypoint", "sh",
         "--stop-timeout", "3", "busybox", "-c", script],
        capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:6] == ["nobody", "A=1 B=from file PASSED=from the caller", "/tmp", "myhost",
                         "debug = 1", "read-only"]
    assert re.match(r"tmpfs +1024 +0 +1024 +0% /run$", lines[6])
    assert lines[7:9] == ["CapEff:\t0000000000000000", "NoNewPrivs:\t1"]
    assert lines[9:12] == ["50", str(64 << 20), "50000"]
    # what the SDK sees of the container the command made
    attrs = client.containers.get("flags").attrs
    assert attrs["Config"]["Labels"] == {"app": "cli", "tier": "web"}
    assert attrs["HostConfig"]["Memory"] == 64 << 20
    assert attrs["HostConfig"]["NanoCpus"] == 500_000_000
    assert attrs["Config"]["StopTimeout"] == 3
    assert attrs["State"]["Status"] == "exited"
    cli("rm", "-v", "flags")
    made.remove("flags")
    client.volumes.get("cli-flags-vol").remove()


def test_run_makes_busybox_when_missing(fresh_store):
    """As docker pulls a missing image: the embedded busybox, on a new store."""
    c = CLI(*fresh_store)
    r = c("run", "--rm", "busybox", "echo", "hi")
    assert r.out == "hi\n" and "making the embedded busybox image" in r.err
    assert c("images", "--format", "{{.Repository}}:{{.Tag}}").out == "busybox:latest\n"
    r = c("run", "--rm", "busybox", "echo", "again")
    assert r.out == "again\n" and r.err == ""


def test_run_with_a_restart_policy_follows_until_it_stops_for_good(cli, client, made):
    """Without -d, --restart runs under the monitor: the command shows every
    run's output and exits with the last exit code."""
    made.append("again")
    r = cli("run", "--name", "again", "--restart", "on-failure:2", "busybox", "sh", "-c",
            "echo run; exit 3", ok=False)
    assert (r.code, r.out) == (3, "run\nrun\nrun\n"), r.err
    st = client.containers.get("again").attrs["State"]
    assert (st["Status"], st["ExitCode"], st["RestartCount"]) == ("exited", 3, 2)


def test_root_from_the_environment_and_debug_tracebacks(store_root, busybox, client, tmp_path):
    env = dict(os.environ, PYCONTAINER_ROOT=str(store_root))
    r = subprocess.run([BIN, "images", "-q", "--no-trunc", "busybox"], env=env,
                       capture_output=True, text=True)
    assert r.stdout == client.images.get("busybox").id + "\n"
    r = subprocess.run([BIN, "--log-level", "debug", "start", "no-such-container"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" in r.stderr and "NotFound" in r.stderr
    assert r.stderr.rstrip().endswith("(list containers with 'pycontainer ps -a')")


def test_security_flags(cli):
    caps = cli("run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "busybox", "grep",
               "CapEff", "/proc/self/status").out
    assert caps == "CapEff:\t0000000000001000\n"            # CAP_NET_ADMIN is bit 12
    uid_map = cli("run", "--rm", "--userns", "auto", "busybox", "cat", "/proc/self/uid_map").out
    inside, outside, count = uid_map.split()
    assert inside == "0" and outside != "0" and int(count) <= 65536
    assert cli("run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map"
               ).out.split() == ["0", "0", "4294967295"]


def test_signals_reach_an_attached_container(cli, client, made, tmp_path):
    sync = tmp_path / "sync"
    sync.mkdir()
    made.append("sigs")
    p = cli.popen("run", "--rm", "--name", "sigs", "-v", f"{sync}:/sync", "busybox", "sh",
                  "-c", "trap 'echo got TERM; exit 5' TERM; touch /sync/ready; "
                        "while true; do sleep 0.1; done",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (sync / "ready").exists():       # the trap is set
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.01)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 5, err
    assert out == "got TERM\n"
    with pytest.raises(Exception):
        client.containers.get("sigs")


def test_an_attached_run_streams_its_output_as_docker_does(cli, tmp_path):
    """Its lines arrive while it runs, stdout on ours and stderr on ours."""
    sync = tmp_path / "sync"
    sync.mkdir()
    p = cli.popen("run", "--rm", "-v", f"{sync}:/sync", "busybox", "sh", "-c",
                  "echo first; echo warn >&2; while [ ! -e /sync/go ]; do sleep 0.02; done; "
                  "echo second", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for f, want in ((p.stdout, b"first\n"), (p.stderr, b"warn\n")):
            ready, _, _ = select.select([f], [], [], 30)
            assert ready, "no output while the container runs"
            assert os.read(f.fileno(), 100) == want
        assert p.poll() is None                 # still waiting for /sync/go
        (sync / "go").touch()
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert (p.returncode, out, err) == (0, b"second\n", b"")


def test_a_third_ctrl_c_kills_an_attached_container(cli, client, tmp_path):
    """PID 1 without handlers ignores SIGINT; the third one the command gets
    is sent as SIGKILL (signals may merge on the way, so they are sent until
    the command exits)."""
    sync = tmp_path / "sync"
    sync.mkdir()
    p = cli.popen("run", "--rm", "--name", "third-ctrl-c", "-v", f"{sync}:/sync", "busybox",
                  "sh", "-c", "touch /sync/ready; exec sleep 30", stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not (sync / "ready").exists():
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.01)
        # Only while the container runs: a Ctrl-C after it is gone is one
        # more for the command itself, which then dies of it (as docker's).
        for _ in range(200):                     # at most 10 s
            if not client.containers.list(filters={"name": "third-ctrl-c"}):
                break
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                continue
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()
    assert p.returncode == 137


# -- ps and the lifecycle ------------------------------------------------------------

def test_ps_matches_the_sdk(cli, client, made):
    _detached(cli, made, "ps-a", "sleep", "60", flags=("-l", "app=ps", "-l", "tier=x"))
    _detached(cli, made, "ps-b", "sh", "-c", "exit 7", flags=("-l", "app=ps"))
    cli("wait", "ps-b")
    rows = table(cli("ps").out)
    assert list(rows[0]) == ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS",
                             "NAMES"]
    mine = {r["NAMES"]: r for r in rows}
    a = client.containers.get("ps-a")
    assert "ps-b" not in mine                     # exited: only with -a
    assert mine["ps-a"]["CONTAINER ID"] == a.id[:12]
    assert mine["ps-a"]["IMAGE"] == "busybox"
    assert mine["ps-a"]["COMMAND"] == '"sleep 60"'
    assert re.fullmatch(r"Up (Less than a second|\d+ seconds?)", mine["ps-a"]["STATUS"])
    assert re.fullmatch(r"(Less than a second|\d+ seconds?) ago", mine["ps-a"]["CREATED"])
    every = cli("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}").lines
    assert every == [f"{c.id} {c.name} {c.status}" for c in client.containers.list(all=True)]
    b = table(cli("ps", "-a", "--filter", "name=ps-b").out)
    assert len(b) == 1 and re.fullmatch(r"Exited \(7\) .* ago", b[0]["STATUS"])
    assert cli("ps", "-aq", "--filter", "label=app=ps", "--filter", "status=exited").lines == \
        [client.containers.get("ps-b").id[:12]]
    assert sorted(cli("ps", "-a", "--filter", "label=app=ps", "--format", "{{.Names}}").lines) \
        == ["ps-a", "ps-b"]
    newest = client.containers.list(all=True, limit=1)[0]
    assert cli("ps", "-l", "-q", "--no-trunc").lines == [newest.id]
    assert cli("ps", "-n", "2", "-q").lines == [c.id[:12] for c in
                                               client.containers.list(all=True, limit=2)]
    js = [json.loads(line) for line in cli("ps", "--format", "json", "-f", "name=ps-a").lines]
    assert js[0]["Names"] == "ps-a" and js[0]["Labels"] == "app=ps,tier=x"
    assert js[0]["State"] == "running" and js[0]["Networks"] == "none"
    custom = table(cli("ps", "-a", "-f", "name=ps-", "--format",
                       "table {{.Names}}\\t{{.Label \"tier\"}}\\t{{.State}}").out)
    assert sorted(custom, key=lambda r: r["NAMES"]) == [
        {"NAMES": "ps-a", "LABEL": "x", "STATE": "running"},
        {"NAMES": "ps-b", "LABEL": "", "STATE": "exited"}]


def test_lifecycle_verbs(cli, client, made):
    cid = _detached(cli, made, "life", "sleep", "60")
    c = client.containers.get("life")
    assert c.id == cid and c.status == "running"
    assert cli("pause", "life").out == "life\n"
    c.reload()
    assert c.status == "paused"
    assert "(Paused)" in cli("ps", "--format", "{{.Status}}", "-f", "name=life").out
    cli("unpause", "life")
    c.reload()
    assert c.status == "running"
    assert cli("stop", "-t", "0", "life").out == "life\n"
    c.reload()
    assert (c.status, c.attrs["State"]["ExitCode"]) == ("exited", 137)
    assert cli("wait", "life").out == "137\n"
    assert cli("start", "life").out == "life\n"
    c.reload()
    assert c.status == "running"
    first_pid = c.attrs["State"]["Pid"]
    cli("restart", "-t", "0", "life")
    c.reload()
    assert c.status == "running" and c.attrs["State"]["Pid"] != first_pid
    assert cli("kill", "-s", "TERM", "life").out == "life\n"     # sleep as PID 1 ignores it
    c.reload()
    assert c.status == "running"
    cli("kill", "life")
    assert cli("wait", "life").out == "137\n"
    cli("rename", "life", "life2")
    made.append("life2")
    assert client.containers.get(cid).name == "life2"
    r = cli("start", "life2", "nope", ok=False)        # one fails, the other still runs
    assert r.code == 1 and r.out == "life2\n"
    assert "No such container: nope" in r.err and "pycontainer ps -a" in r.err
    r = cli("rm", "life2", ok=False)
    assert r.code == 1 and "rm -f" in r.err
    assert cli("rm", "-f", "life2").out == "life2\n"
    with pytest.raises(Exception):
        client.containers.get(cid)
    created = cli("create", "--name", "made", "busybox", "true").out.strip()
    made.append("made")
    assert client.containers.get("made").id == created
    assert client.containers.get("made").status == "created"
    assert cli("start", created[:10]).out == created[:10] + "\n"
    assert cli("wait", "made").out == "0\n"
    cli("rm", "made")


def test_logs(cli, made):
    _detached(cli, made, "talk", "sh", "-c", "echo one; echo two; echo three")
    _detached(cli, made, "both", "sh", "-c", "echo out; echo err >&2")
    cli("wait", "talk", "both")
    assert cli("logs", "talk").out == "one\ntwo\nthree\n"
    # stdout and stderr are two pipes: their order between them is not kept (as docker's)
    assert sorted(cli("logs", "both").lines) == ["err", "out"]
    assert cli("logs", "--tail", "1", "talk").out == "three\n"
    assert cli("logs", "-n", "2", "talk").out == "two\nthree\n"
    stamped = cli("logs", "-t", "talk").lines
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \w+", x) for x in stamped)
    assert [x.split()[1] for x in stamped] == ["one", "two", "three"]
    assert cli("logs", "--since", "1m", "talk").out == "one\ntwo\nthree\n"
    assert cli("logs", "--until", "1h", "talk").out == ""        # 1 h ago: nothing yet
    assert cli("logs", "--since", "2099-01-01T00:00:00Z", "talk").out == ""
    r = cli("logs", "--since", "yesterday", "talk", ok=False)
    assert r.code == 1 and "--since" in r.err

def test_logs_follow(cli, made, tmp_path):
    """-f shows what comes while it runs, and ends when the container stops."""
    sync = tmp_path / "sync"
    sync.mkdir()
    _detached(cli, made, "follow", "sh", "-c",
              "echo a; while [ ! -e /sync/go ]; do sleep 0.02; done; echo b",
              flags=("-v", f"{sync}:/sync"))
    p = cli.popen("logs", "-f", "follow", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"a\n"
        assert p.poll() is None                 # still following
        (sync / "go").touch()
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert (p.returncode, out) == (0, b"b\n"), err


def test_exec(cli, made, tmp_path):
    _detached(cli, made, "ex", "sleep", "60", flags=("-e", "FROM_RUN=1"))
    r = cli("exec", "ex", "sh", "-c", "echo out; echo err >&2; exit 4", ok=False)
    assert (r.code, r.out, r.err) == (4, "out\n", "err\n")
    envfile = tmp_path / "env"
    envfile.write_text("FILE=f\n")
    r = cli("exec", "-u", "nobody", "-w", "/tmp", "-e", "A=1", "--env-file", str(envfile),
            "ex", "sh", "-c", "id -un; pwd; echo $A $FILE $FROM_RUN")
    assert r.out == "nobody\n/tmp\n1 f 1\n"
    assert cli("exec", "ex", "no-such-command", ok=False).code == 126     # dockerd 20.10's
    assert cli("exec", "ex", "/etc/passwd", ok=False).code == 126
    r = cli("exec", "-u", "pyc-no-such-user", "ex", "true", ok=False)
    assert r.code == 126 and "pyc-no-such-user" in r.err
    cli("exec", "-d", "ex", "sh", "-c", "echo done > /tmp/detached")
    deadline = time.monotonic() + 10
    while cli("exec", "ex", "cat", "/tmp/detached", ok=False).out != "done\n":
        assert time.monotonic() < deadline
    cli("stop", "-t", "0", "ex")
    r = cli("exec", "ex", "true", ok=False)
    assert r.code == 1 and "not running" in r.err


def test_cp_both_ways(cli, made, tmp_path):
    _detached(cli, made, "cpy", "sleep", "60")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_text("a\n")
    (src / "sub" / "b").write_text("b\n")
    (tmp_path / "f.txt").write_text("hello\n")
    cli("cp", tmp_path / "f.txt", "cpy:/tmp/")                     # into a directory
    cli("cp", tmp_path / "f.txt", "cpy:/tmp/renamed")              # to a new name
    cli("cp", src, "cpy:/tmp/")                                    # a directory into one
    cli("cp", src, "cpy:/newdir")                                  # a directory, renamed
    cli("cp", f"{src}/.", "cpy:/root/")                            # its contents
    listing = cli("exec", "cpy", "sh", "-c", "cat /tmp/f.txt /tmp/renamed; "
                  "find /tmp/src /newdir /root -type f | sort; stat -c %u /tmp/src/a").out
    assert listing.splitlines() == ["hello", "hello", "/newdir/a", "/newdir/sub/b", "/root/a",
                                    "/root/sub/b", "/tmp/src/a", "/tmp/src/sub/b", "0"]
    out = tmp_path / "out"
    out.mkdir()
    cli("cp", "cpy:/etc/hostname", out / "hn")
    assert (out / "hn").read_text().strip() == cli("inspect", "-f", "{{.Config.Hostname}}",
                                                   "cpy").out.strip()
    assert (out / "hn").stat().st_uid == os.getuid()
    cli("cp", "cpy:/newdir", out)
    cli("cp", "cpy:/newdir", out / "copy")
    cli("cp", "cpy:/newdir/.", out / "contents")
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert found == ["contents/a", "contents/sub/b", "copy/a", "copy/sub/b", "hn",
                     "newdir/a", "newdir/sub/b"]
    # tar on stdout and on stdin
    r = cli("cp", "cpy:/etc/passwd", "-", binary=True)
    with tarfile.open(fileobj=io.BytesIO(r.out)) as tar:
        assert tar.getnames() == ["passwd"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("from-stdin")
        ti.size = 3
        tar.addfile(ti, io.BytesIO(b"in\n"))
    cli("cp", "-", "cpy:/tmp", input=buf.getvalue(), binary=True)
    assert cli("exec", "cpy", "cat", "/tmp/from-stdin").out == "in\n"
    r = cli("cp", "cpy:/no/such", out, ok=False)
    assert r.code == 1 and "/no/such" in r.err
    r = cli("cp", "cpy:/newdir", out / "hn", ok=False)
    assert r.code == 1 and "cannot copy a directory to a file" in r.err


def test_inspect_matches_the_sdk(cli, client, made):
    _detached(cli, made, "insp", "sleep", "60", flags=("-l", "k=v"))
    cli("stop", "-t", "0", "insp")
    got = json.loads(cli("inspect", "insp").out)
    assert got == [client.containers.get("insp").attrs]
    assert json.loads(cli("container", "inspect", "insp").out) == got
    assert cli("inspect", "-f", "{{.Name}} {{.State.ExitCode}} {{index .Config.Labels \"k\"}}",
               "insp").out == "/insp 137 v\n"
    img = json.loads(cli("inspect", "busybox").out)
    assert img == [client.images.get("busybox").attrs]
    both = cli("inspect", "--format", "{{.Id}}", "insp", "busybox").lines
    assert both == [client.containers.get("insp").id, client.images.get("busybox").id]
    r = cli("inspect", "insp", "nothing-here", ok=False)
    assert r.code == 1 and "no such object: nothing-here" in r.err
    assert json.loads(r.out) == got                          # the found ones are printed
    none = json.loads(cli("inspect", "none").out)[0]        # a network, by the same verb
    assert none == client.networks.get("none").attrs
    r = cli("inspect", "--type", "image", "insp", ok=False)
    assert r.code == 1 and "no such image: insp" in r.err
    assert cli("inspect", "-f", "{{json .State.Status}}", "insp").out == '"exited"\n'


def test_top_stats_port_diff_export_update(cli, client, made, tmp_path):
    _detached(cli, made, "obs", "sleep", "60")
    top = table(cli("top", "obs").out)
    assert [r["CMD"] for r in top] == ["sleep 60"]
    stats = table(cli("stats", "--no-stream").out)
    row = next(r for r in stats if r["NAME"] == "obs")
    assert row["CONTAINER ID"] == client.containers.get("obs").id[:12]
    assert row["PIDS"] == "1" and re.fullmatch(r"\d+\.\d\d%", row["CPU %"])
    assert re.fullmatch(r"[\d.]+[KMG]?i?B / [\d.]+[KMG]iB", row["MEM USAGE / LIMIT"])
    assert cli("stats", "--no-stream", "--format", "{{.Name}}: {{.PIDs}}", "obs").out == \
        "obs: 1\n"
    assert cli("port", "obs").out == ""
    cli("exec", "obs", "sh", "-c", "echo x > /tmp/new")
    diff = cli("diff", "obs").lines
    assert "A /tmp/new" in diff and "C /tmp" in diff
    assert diff == [f"{'CAD'[d['Kind']]} {d['Path']}" for d in client.containers.get("obs").diff()]
    cli("export", "-o", tmp_path / "obs.tar", "obs")
    with tarfile.open(tmp_path / "obs.tar") as tar:
        names = set(tar.getnames())
    assert {"bin/busybox", "tmp/new"} <= names
    with tarfile.open(fileobj=io.BytesIO(cli("export", "obs", binary=True).out)) as tar:
        assert set(tar.getnames()) == names
    assert cli("update", "--memory", "64m", "--pids-limit", "20", "obs").out == "obs\n"
    limits = cli("exec", "obs", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                 "/sys/fs/cgroup/pids/pids.max").lines
    assert limits == [str(64 << 20), "20"]
    assert cli("update", "--restart", "on-failure:3", "obs").out == "obs\n"
    assert client.containers.get("obs").attrs["HostConfig"]["RestartPolicy"] == {
        "Name": "on-failure", "MaximumRetryCount": 3}
    r = cli("update", "--restart", "sometimes", "obs", ok=False)
    assert r.code == 1 and "unknown restart policy" in r.err     # as docker: not a flag error
    r = cli("update", "obs", ok=False)
    assert r.code == 125


def test_commit_and_prune(cli, client, made):
    _detached(cli, made, "snap", "sh", "-c", "echo data > /kept; sleep 60",
              flags=("-l", "cli-prune"))
    cli("exec", "snap", "test", "-f", "/kept")
    image_id = cli("commit", "-m", "from the cli", "-a", "me <me@example.com>", "-c",
                   "ENV FROM_COMMIT=1", "snap", "cli-snap:v1").out.strip()
    img = client.images.get("cli-snap:v1")
    assert img.id == image_id
    assert img.attrs["Comment"] == "from the cli" and img.attrs["Author"] == "me <me@example.com>"
    try:
        assert cli("run", "--rm", "cli-snap:v1", "sh", "-c", "cat /kept; echo $FROM_COMMIT"
                   ).out == "data\n1\n"
    finally:
        client.images.remove("cli-snap:v1", force=True)
    cli("stop", "-t", "0", "snap")
    snap = client.containers.get("snap").id
    r = cli("container", "prune", "--filter", "label=cli-prune", input="n\n")
    assert "Are you sure" in r.out
    assert client.containers.get("snap").status == "exited"      # "no": nothing removed
    cli("container", "prune", "-f", "--filter", "label=cli-prune", "--filter", "until=1h")
    assert client.containers.get("snap")                          # made within the hour
    r = cli("container", "prune", "--filter", "label=cli-prune", input="y\n")
    assert "Deleted Containers:\n" in r.out and snap in r.out.splitlines()
    assert snap not in [c.id for c in client.containers.list(all=True)]
