"""pycontainerd driven by the real docker CLI (28.x) over a UNIX socket.

The daemon runs as a subprocess on the session's store (the busybox image is
made there by the SDK first); every command is the docker CLI's own, and
what it prints is checked, along with what the SDK sees in the same store.
"""
import json
import os
import shlex
import stat
import subprocess
import sys

from api_daemon import daemon, names, until  # noqa: F401 (fixtures)


def test_version_and_info(daemon):
    v = json.loads(daemon.docker("version", "--format", "{{json .Server}}").stdout)
    assert v["ApiVersion"] == "1.44" and v["MinAPIVersion"] == "1.24" and v["Os"] == "linux"
    info = daemon.docker("info", "--format", "{{.OSType}} {{.Driver}}").stdout.split()
    assert info == ["linux", "overlay2"]


def test_socket_is_0660(daemon):
    st = os.stat(daemon.sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660


def test_run_rm_prints_the_output_and_leaves_nothing(daemon):
    r = daemon.docker("run", "--rm", "busybox", "echo", "hi")
    assert r.stdout == "hi\n"
    assert daemon.docker("ps", "-aq").stdout == ""


def test_run_exit_code_and_stderr(daemon):
    r = daemon.docker("run", "--rm", "busybox", "sh", "-c", "echo oops >&2; exit 3", ok=False)
    assert r.returncode == 3 and r.stderr == "oops\n" and r.stdout == ""


def test_detached_lifecycle(daemon, names, client):
    names.append("pyc-api-life")
    cid = daemon.docker("run", "-d", "--name", "pyc-api-life", "-e", "WHO=api", "busybox",
                        "sh", "-c", "echo out $WHO; echo err >&2; exec sleep 60").stdout.strip()
    assert len(cid) == 64
    assert client.containers.get("pyc-api-life").status == "running"   # the SDK sees it
    ps = daemon.docker("ps", "--format", "{{.Names}} {{.Image}} {{.Status}}").stdout
    assert ps.startswith("pyc-api-life busybox Up")
    logs = until(lambda: daemon.docker("logs", "pyc-api-life"), lambda r: r.stdout and r.stderr)
    assert (logs.stdout, logs.stderr) == ("out api\n", "err\n")
    state = json.loads(daemon.docker("inspect", "pyc-api-life").stdout)[0]["State"]
    assert state["Running"] and state["Pid"] > 0
    assert daemon.docker("stop", "-t", "1", "pyc-api-life").stdout == "pyc-api-life\n"
    assert daemon.docker("wait", "pyc-api-life").stdout == "137\n"
    assert daemon.docker("ps", "-a", "--filter", "status=exited", "--format",
                         "{{.Names}}").stdout == "pyc-api-life\n"
    assert daemon.docker("rm", "-f", "pyc-api-life").stdout == "pyc-api-life\n"
    assert daemon.docker("ps", "-aq").stdout == ""


def test_images_and_inspect(daemon, busybox):
    out = daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
    assert f"busybox:latest {busybox.id[7:19]}" in out.splitlines()
    doc = json.loads(daemon.docker("image", "inspect", "busybox").stdout)[0]
    assert doc["Id"] == busybox.id and doc["RepoTags"] == ["busybox:latest"]


def test_errors_are_dockers(daemon):
    r = daemon.docker("inspect", "pyc-api-nope", ok=False)
    assert r.returncode == 1 and "No such object: pyc-api-nope" in r.stderr
    r = daemon.docker("rm", "pyc-api-nope", ok=False)
    assert r.returncode == 1 and "No such container: pyc-api-nope" in r.stderr


def test_name_conflict(daemon, names):
    names.append("pyc-api-dup")
    daemon.docker("create", "--name", "pyc-api-dup", "busybox", "true")
    r = daemon.docker("create", "--name", "pyc-api-dup", "busybox", "true", ok=False)
    assert r.returncode == 1 and "already in use" in r.stderr, r.stderr


def test_networks(daemon):
    nid = daemon.docker("network", "create", "pyc-api-net").stdout.strip()
    try:
        ls = daemon.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}").stdout
        assert "pyc-api-net bridge" in ls.splitlines()
        doc = json.loads(daemon.docker("network", "inspect", "pyc-api-net").stdout)[0]
        assert doc["Id"] == nid and doc["Driver"] == "bridge"
    finally:
        assert daemon.docker("network", "rm", "pyc-api-net").stdout == "pyc-api-net\n"
    assert "pyc-api-net" not in daemon.docker("network", "ls").stdout


def test_volumes(daemon):
    assert daemon.docker("volume", "create", "pyc-api-vol").stdout == "pyc-api-vol\n"
    try:
        ls = daemon.docker("volume", "ls", "--format", "{{.Name}} {{.Driver}}").stdout
        assert "pyc-api-vol local" in ls.splitlines()
    finally:
        assert daemon.docker("volume", "rm", "pyc-api-vol").stdout == "pyc-api-vol\n"
    assert "pyc-api-vol" not in daemon.docker("volume", "ls").stdout


README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
README_SOCK = "unix:///tmp/pyc.sock"


def _readme_daemon_lines():
    """``(command, expected stdout or None)`` of the README's daemon block."""
    text = open(README).read()
    start = text.index("```sh\n.venv/bin/pycontainerd")
    block = text[start + 6:text.index("```", start + 6)]
    for line in block.splitlines():
        cmd, _, want = line.partition("    # ")
        yield cmd.strip(), (want.strip() if want else None)


def test_readme_daemon_block(daemon):
    """The README's lines, as written, against this test's daemon (its socket path)."""
    venv = os.path.dirname(sys.executable)
    ran = 0
    for cmd, want in _readme_daemon_lines():
        if cmd.startswith(".venv/bin/pycontainerd") or cmd == "kill %1":
            assert cmd in (f".venv/bin/pycontainerd --host {README_SOCK} &", "kill %1")
            continue                 # the fixture starts and stops it, with these flags
        argv = shlex.split(cmd.replace(README_SOCK, daemon.url))
        if argv[0].startswith(".venv/bin/"):
            argv[0] = os.path.join(venv, argv[0][len(".venv/bin/"):])
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, DOCKER_CONFIG=os.path.dirname(daemon.sock)))
        assert r.returncode == 0, (cmd, r.stderr, daemon.log_text()[-3000:])
        if want is not None:
            assert r.stdout == want + "\n", (cmd, r.stdout)
        ran += 1
    assert ran == 5
