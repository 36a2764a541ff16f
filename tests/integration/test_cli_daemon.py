"""The command against daemons: ``-H`` (repeatable), ``$PYCONTAINER_HOST``,
``--context`` and ``context create|ls|use|rm|inspect``, talking to real
``pycontainerd`` processes the test starts (one on the session's store, one
on an empty store of its own), compared with what each store holds.
"""
import json
import re
import time

import pytest

from api_daemon import Daemon
from cli_helpers import CLI, fresh_store, table  # noqa: F401  (a fixture)


@pytest.fixture
def daemons(store_root, busybox, tmp_path, fresh_store, monkeypatch):
    """Two daemons: (session store's, an empty store's with busybox loaded)."""
    root, env = fresh_store
    CLI(root, env=env)("load", input=CLI(store_root)("save", "busybox", binary=True).out,
                       binary=True)
    for d in ("d1", "d2"):
        (tmp_path / d).mkdir()
    one = Daemon(store_root, tmp_path / "d1")
    monkeypatch.setenv("PYCONTAINER_RUN_ROOT", env["PYCONTAINER_RUN_ROOT"])
    try:
        two = Daemon(root, tmp_path / "d2")
    except BaseException:
        one.stop()
        raise
    yield one, two
    for d in (one, two):
        for c in json.loads(d.http("GET", "/containers/json?all=1")[2]):
            d.http("DELETE", f"/containers/{c['Id']}?force=1")
    assert one.stop() == 0, one.log_text()
    assert two.stop() == 0, two.log_text()


@pytest.fixture
def cli(store_root, tmp_path):
    """The command with a config dir of the test's (contexts are kept there)."""
    return CLI(store_root, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg"),
                                "PYCONTAINER_HOST": "", "PYCONTAINER_CONTEXT": ""})


def _ids(d):
    return {c["Id"] for c in json.loads(d.http("GET", "/containers/json?all=1")[2])}


def test_run_ps_logs_rm_version_on_a_daemon(cli, client, daemons):
    one, two = daemons
    h = ("-H", one.url)
    before = _ids(one)          # the session's store: other tests' containers may be there
    r = cli(*h, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", ok=False)
    assert (r.code, r.out, r.err) == (3, "out\n", "err\n")
    assert _ids(one) == before                            # --rm: gone from that store
    cid = cli(*h, "run", "-d", "--name", "pyc-cli-remote", "-e", "X=1", "busybox", "sh", "-c",
              "echo $X; sleep 300").out.strip()
    assert _ids(one) == before | {cid}
    rows = [r for r in table(cli(*h, "ps").out) if r["CONTAINER ID"] == cid[:12]]
    assert [r["NAMES"] for r in rows] == ["pyc-cli-remote"]
    assert rows[0]["STATUS"].startswith("Up ")
    # the daemon serves the session's store: the SDK sees what it made
    assert client.containers.get("pyc-cli-remote").id == cid
    deadline = time.monotonic() + 30
    while cli(*h, "logs", "pyc-cli-remote").out != "1\n":  # the echo, once it has run
        assert time.monotonic() < deadline
    v = json.loads(cli(*h, "version", "--format", "{{json .Server}}").out)
    assert v["Daemonless"] is False and v["ApiVersion"]
    assert cli(*h, "rm", "-f", "pyc-cli-remote").out == "pyc-cli-remote\n"
    assert _ids(one) == before
    r = cli(*h, "rm", "pyc-cli-remote", ok=False)
    assert r.code == 1 and "No such container" in r.err
    r = cli(*h, "cp", "x:/a", "/tmp/b", ok=False)      # a verb not served remotely yet
    assert r.code == 1 and "not available against a daemon" in r.err
    r = cli("-H", "unix:///nonexistent/pyc.sock", "ps", ok=False)
    assert r.code == 1 and "cannot reach the daemon" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_several_hosts_name_the_daemon(cli, daemons):
    one, two = daemons
    a = cli("-H", one.url, "run", "-d", "--name", "pyc-cli-on-one", "busybox", "sleep",
            "300").out.strip()
    b = cli("-H", two.url, "run", "-d", "--name", "pyc-cli-on-two", "busybox", "sleep",
            "300").out.strip()
    rows = table(cli("-H", one.url, "-H", two.url, "ps").out)
    assert sorted((r["DAEMON"], r["CONTAINER ID"], r["NAMES"]) for r in rows) == sorted([
        (one.url, a[:12], "pyc-cli-on-one"), (two.url, b[:12], "pyc-cli-on-two")])
    rows = table(cli("-H", one.url, "-H", two.url, "images").out)
    assert {(r["DAEMON"], r["REPOSITORY"]) for r in rows} >= {(one.url, "busybox"),
                                                             (two.url, "busybox")}
    listed = [json.loads(ln) for ln in cli("-H", one.url, "-H", two.url, "ps", "--format",
                                           "json").lines]
    assert {(x["Daemon"], x["Names"]) for x in listed} == {(one.url, "pyc-cli-on-one"),
                                                          (two.url, "pyc-cli-on-two")}
    # every daemon's events, each line naming its daemon (merged as they come: the
    # session store's daemon has the other tests' events too)
    r = cli("-H", one.url, "-H", two.url, "events", "--since", "10m", "--until", "0s",
            "--filter", "event=start", "--format", "{{json .}}", timeout=30)
    got = [json.loads(ln) for ln in r.out.splitlines()]
    assert {(x["Daemon"], x["Actor"]["Attributes"]["name"]) for x in got} >= {
        (one.url, "pyc-cli-on-one"), (two.url, "pyc-cli-on-two")}
    r = cli("-H", one.url, "-H", two.url, "logs", "pyc-cli-on-one", ok=False)
    assert r.code == 125 and "only ps, images and events" in r.err


def test_contexts_and_the_environment(cli, daemons, tmp_path):
    one, two = daemons
    cid = cli("-H", two.url, "run", "-d", "--name", "pyc-cli-ctx", "busybox", "sleep",
              "300").out.strip()
    assert cli("context", "create", "second", "--description", "the fresh one", "--host",
               two.url).out == "second\n"
    r = cli("context", "create", "second", "--host", two.url, ok=False)
    assert r.code == 1 and "already exists" in r.err
    r = cli("context", "create", "bad", "--host", "ftp://x", ok=False)
    assert r.code == 125
    rows = table(cli("context", "ls").out)
    assert [(r["NAME"], r["DOCKER ENDPOINT"]) for r in rows] == [("default *", ""),
                                                                 ("second", two.url)]
    assert cli("--context", "second", "ps", "-q", "--no-trunc").out == cid + "\n"
    assert cli("ps", "-a", "-q", "--no-trunc").out != cid + "\n"     # still local
    cli("context", "use", "second")
    assert cli("ps", "-q", "--no-trunc").out == cid + "\n"
    assert table(cli("context", "ls").out)[1]["NAME"] == "second *"
    got = json.loads(cli("context", "inspect").out)
    assert got[0]["Name"] == "second" and got[0]["Endpoints"]["docker"]["Host"] == two.url
    r = cli("context", "rm", "second", ok=False)
    assert r.code == 1 and "current context" in r.err
    # the environment wins over the current context, -H over both
    env_cli = CLI(cli.root, env=dict(cli.env, PYCONTAINER_HOST=one.url))
    assert env_cli("ps", "-q").out == ""
    assert env_cli("-H", two.url, "ps", "-q", "--no-trunc").out == cid + "\n"
    cli("context", "use", "default")
    assert cli("context", "rm", "second").out == "second\n"
    r = cli("--context", "second", "ps", ok=False)
    assert r.code == 1 and "does not exist" in r.err
    path = tmp_path / "xdg" / "pycontainer" / "contexts.json"
    assert json.loads(path.read_text())["contexts"] == {}
    assert re.search("default", cli("context", "ls", "-q").out)
