"""``pull``, ``push``, ``login``, ``logout``, ``run --pull``, ``build``,
``events`` and ``image prune -a``: the installed command against a loopback
Distribution registry (Debian's docker-registry, with htpasswd), checked
against the SDK's view of the store and docker's config.json.
"""
import base64
import json
import os
import re
import stat

import pytest

from cli_helpers import CLI, Pty, fresh_store  # noqa: F401  (a fixture)
from registry_helpers import DistributionRegistry

USER, PASSWORD = "pyc-user", "pyc-secret-1"


@pytest.fixture
def registry(tmp_path):
    r = DistributionRegistry(tmp_path, users={USER: PASSWORD})
    yield r
    r.stop()


@pytest.fixture
def dconf(tmp_path):
    d = tmp_path / "docker-config"
    d.mkdir()
    return d


@pytest.fixture
def cli(store_root, busybox, dconf):
    return CLI(store_root, env={"DOCKER_CONFIG": str(dconf)})


def _auths(dconf):
    with open(dconf / "config.json") as f:
        return json.load(f)["auths"]


def test_login_push_pull_logout(cli, client, registry, dconf, fresh_store):
    host = registry.host
    ref = f"{host}/pyc-cli/bb:1"
    # a wrong password: one line, nothing stored
    r = cli("login", "-u", USER, "--password-stdin", host, input="wrong\n", ok=False)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    assert not (dconf / "config.json").exists()
    r = cli("login", "-u", USER, "--password-stdin", host, input=PASSWORD + "\n")
    assert r.out == "Login Succeeded\n"
    auth = _auths(dconf)[host]["auth"]
    assert base64.b64decode(auth).decode() == f"{USER}:{PASSWORD}"
    assert stat.S_IMODE(os.stat(dconf / "config.json").st_mode) == 0o600
    cli("tag", "busybox", ref)
    try:
        r = cli("push", ref, timeout=120)
        assert "\x1b" not in r.out           # not a terminal: plain lines
        assert re.search(r"^1: digest: sha256:[0-9a-f]{64} size: \d+$", r.out, re.M), r.out
        # pulled into an empty store (credentials from config.json), plain lines
        root, env = fresh_store
        other = CLI(root, env=dict(env, DOCKER_CONFIG=str(dconf)))
        r = other("pull", ref, timeout=120)
        lines = r.out.splitlines()
        assert lines[-1] == ref and "\x1b" not in r.out
        assert any(re.fullmatch(r"[0-9a-f]{12}: Pull complete", ln) for ln in lines), lines
        assert len([ln for ln in lines if "Downloading" in ln]) <= 1    # once per layer
        pushed = client.images.get(ref)
        listed = other("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
        assert f"{pushed.id} {ref}" in listed.lines
        assert other("pull", "-q", ref).out == ref + "\n"
        other("rmi", ref)
        # run --pull: never refuses, missing pulls, the container sees the image
        r = other("run", "--rm", "--pull=never", ref, "true", ok=False)
        assert r.code == 125 and "--pull=never" in r.err
        r = other("run", "--rm", "--pull=missing", ref, "cat", "/etc/hostname", ok=False)
        assert r.code == 0, r.err
        assert "Pull complete" in r.err and "Unable to find image" in r.err
        r = other("run", "--rm", "--pull=always", ref, "echo", "again")
        assert r.out == "again\n"
        # logout: the entry goes, others stay
        with open(dconf / "config.json") as f:
            conf = json.load(f)
        conf["auths"]["other.example:5000"] = {"auth": "eDp5"}
        with open(dconf / "config.json", "w") as f:
            json.dump(conf, f)
        assert cli("logout", host).out == f"Removing login credentials for {host}\n"
        assert list(_auths(dconf)) == ["other.example:5000"]
        assert cli("logout", host).out == f"Not logged in to {host}\n"
        r = other("pull", ref + "-missing", ok=False)
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1
    finally:
        cli("rmi", ref, ok=False)


def test_pull_on_a_terminal_draws_bars(cli, registry, dconf, fresh_store):
    host = registry.host
    ref = f"{host}/pyc-cli/bars:1"
    cli("login", "-u", USER, "--password-stdin", host, input=PASSWORD)
    cli("tag", "busybox", ref)
    try:
        cli("push", "-q", ref, timeout=120)
        root, env = fresh_store
        other = CLI(root, env=dict(env, DOCKER_CONFIG=str(dconf), TERM="xterm"))
        p = Pty(other.argv("pull", ref), other.env)
        try:
            assert p.wait(timeout=120) == 0
        finally:
            p.close()
        shown = p.seen.decode()
        assert re.search(r"\[=*>? *\] ", shown) or "Pull complete" in shown
        assert "\x1b[" in shown                 # lines rewritten in place
        assert shown.rstrip().endswith(ref)
    finally:
        cli("rmi", ref, ok=False)


def test_push_needs_a_login(cli, registry):
    ref = f"{registry.host}/pyc-cli/nologin:1"
    cli("tag", "busybox", ref)
    try:
        r = cli("push", ref, ok=False, timeout=60)
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1
        assert "authentication required" in r.err and "pycontainer login" in r.err
    finally:
        cli("rmi", ref)


def test_build(cli, client, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello from the context\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox AS base\nARG WHO=nobody\nRUN echo \"built for $WHO\" > /who\n"
        "COPY hello.txt /hello.txt\n"
        "FROM base AS final\nRUN echo final > /stage\n")
    (tmp_path / "Other.dockerfile").write_text("FROM busybox\nRUN echo other > /other\n")
    tags = ["pyc-cli-build:1", "pyc-cli-build:2", "pyc-cli-build:base", "pyc-cli-build:q",
            "pyc-cli-build:other", "pyc-cli-build:stdin"]
    try:
        r = cli("build", "-t", tags[0], "-t", tags[1], "--build-arg", "WHO=tests",
                "--progress=plain", str(ctx), timeout=120)
        assert "Step 1/" in r.out and "Successfully tagged pyc-cli-build:2" in r.out
        img = client.images.get(tags[0])
        assert client.images.get(tags[1]).id == img.id
        r = cli("run", "--rm", tags[0], "cat", "/who", "/hello.txt", "/stage")
        assert r.out == "built for tests\nhello from the context\nfinal\n"
        # --target stops at a stage; -q prints only the id; --no-cache rebuilds
        cli("build", "-t", tags[2], "--target", "base", str(ctx), timeout=120)
        r = cli("run", "--rm", tags[2], "sh", "-c", "cat /who; test -e /stage || echo no-stage")
        assert r.out == "built for nobody\nno-stage\n"
        r = cli("build", "-q", "--no-cache", "-t", tags[3], str(ctx), timeout=120)
        assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", r.out), r.out
        assert client.images.get(tags[3]).id == r.out.strip()
        # -f from where the command runs; a Dockerfile on stdin (no context)
        cli("build", "-f", str(tmp_path / "Other.dockerfile"), "-t", tags[4], str(ctx),
            timeout=120)
        assert cli("run", "--rm", tags[4], "cat", "/other").out == "other\n"
        cli("build", "-t", tags[5], "-", input="FROM busybox\nRUN echo piped > /p\n",
            timeout=120)
        assert cli("run", "--rm", tags[5], "cat", "/p").out == "piped\n"
        # a failing RUN: its exit code, one line saying so (--force-rm: its container goes)
        before = {c.id for c in client.containers.list(all=True)}
        r = cli("build", "--force-rm", "-", input="FROM busybox\nRUN exit 3\n", ok=False,
                timeout=120)
        assert r.code == 3 and "exit 3" in r.err and r.err.startswith("pycontainer build: ")
        assert {c.id for c in client.containers.list(all=True)} == before
        r = cli("build", str(tmp_path / "nope"), ok=False)
        assert r.code == 1 and "not a directory" in r.err
    finally:
        for t in tags:
            cli("rmi", t, ok=False)


def test_events(cli, client):
    import time
    start = time.time()
    cli("run", "--name", "pyc-cli-events", "--rm", "busybox", "true")
    until = time.time() + 1
    r = cli("events", "--since", str(start), "--until", str(until), "--filter",
            "container=pyc-cli-events", "--format", "{{.Type}} {{.Action}}", timeout=30)
    assert r.lines[:2] == ["container create", "container start"]
    assert "container die" in r.lines and r.lines[-1] == "container destroy"
    r = cli("system", "events", "--since", str(start), "--until", str(until), "--filter",
            "event=die", "--filter", "container=pyc-cli-events", timeout=30)
    assert len(r.lines) == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z container die [0-9a-f]{64} "
                        r"\(.*exitCode=0.*name=pyc-cli-events.*\)", r.lines[0]), r.lines
    r = cli("events", "--since", str(start), "--until", str(until), "--filter",
            "container=pyc-cli-events", "--format", "json", timeout=30)
    assert [json.loads(ln)["Action"] for ln in r.lines][0] == "create"
    r = cli("events", "--since", "yesterday-ish", "--until", "1s", ok=False)
    assert r.code == 1 and "--since" in r.err


def test_image_prune_all_and_inspect(fresh_store, busybox, store_root):
    root, env = fresh_store
    mine = CLI(root, env=env)
    saved = CLI(store_root)("save", "busybox", binary=True).out
    mine("load", input=saved, binary=True)
    mine("tag", "busybox", "pyc-cli-prune:unused")
    mine("create", "--name", "pyc-cli-keeps", "busybox", "true")
    ids = json.loads(mine("image", "inspect", "busybox").out)
    assert ids[0]["Id"].startswith("sha256:")
    # busybox is used by a container; the same image under another tag goes with -a?
    # docker keeps an image while a container uses it, whatever its tags
    r = mine("image", "prune", "-a", "-f")
    assert "Total reclaimed space" in r.out
    assert json.loads(mine("image", "inspect", "busybox").out)[0]["Id"] == ids[0]["Id"]
    mine("rm", "pyc-cli-keeps")
    r = mine("image", "prune", "-a", "-f")
    assert "Deleted Images:" in r.out
    assert mine("images", "-q").out == ""
    r = mine("image", "inspect", "busybox", ok=False)
    assert r.code == 1 and "no such image" in r.err.lower()
