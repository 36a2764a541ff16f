"""The command's parts that need no engine: shell completion (run in a real
bash), progress output, event lines, the daemon seam's translations, the
credentials file and contexts."""
import base64
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from pycontainer.cli import completion, daemons, distribution, events, main, progress
from pycontainer.cli.verbs import GROUPS, LOCAL_ONLY, MULTI_HOST, REMOTE, TOP, VERBS


def _complete(script, words):
    """COMPREPLY of the bash script for the words typed (the last one being completed)."""
    prog = (f"source {script}\nCOMP_WORDS=({words})\nCOMP_CWORD=$((${{#COMP_WORDS[@]}}-1))\n"
            "_pycontainer\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    if words.endswith(" "):
        prog = prog.replace("COMP_CWORD=$((${#COMP_WORDS[@]}-1))",
                            "COMP_WORDS+=(''); COMP_CWORD=$((${#COMP_WORDS[@]}-1))")
    out = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, check=True)
    return set(filter(None, out.stdout.split("\n")))


def test_bash_completion_follows_the_verb_table(tmp_path, capsys):
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "pycontainer.bash"
    script.write_text(capsys.readouterr().out)
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert _complete(script, "pycontainer im") == {"images", "image", "import"}
    assert _complete(script, "pycontainer image ") == set(GROUPS["image"])
    assert "--pull" in _complete(script, "pycontainer run --rm --pu")
    assert _complete(script, "pycontainer --root /x network cr") == {"create"}
    assert _complete(script, "pycontainer -H unix:///s ps --fo") == {"--format"}
    assert _complete(script, "pycontainer --ro") == {"--root"}
    assert {"--detach-keys", "--sig-proxy", "--no-stdin"} <= _complete(
        script, "pycontainer attach --")
    every = _complete(script, "pycontainer ")
    assert set(TOP) | set(GROUPS) == every


def test_zsh_completion_names_every_verb(capsys):
    assert main(["completion", "zsh"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("#compdef pycontainer pyc")
    for v in TOP:
        assert f"'{v}:" in text or f"{v}:" in text
    if shutil.which("zsh"):
        subprocess.run(["zsh", "-n"], input=text, text=True, check=True)


def test_the_tables_agree():
    routed = set(TOP) | {v for subs in GROUPS.values() for v in subs.values()}
    assert routed <= set(VERBS)
    assert MULTI_HOST <= REMOTE and not (REMOTE & LOCAL_ONLY)
    assert LOCAL_ONLY <= set(VERBS)


def test_progress_plain_and_on_a_terminal():
    msgs = [{"status": "Pulling from pyc/x", "id": "1"},
            {"status": "Pulling fs layer", "progressDetail": {}, "id": "abc"},
            {"status": "Downloading", "id": "abc", "progressDetail": {"current": 10,
                                                                     "total": 100}},
            {"status": "Downloading", "id": "abc", "progressDetail": {"current": 100,
                                                                     "total": 100}},
            {"status": "Pull complete", "progressDetail": {}, "id": "abc"},
            {"status": "Digest: sha256:00"}]
    plain = io.StringIO()
    p = progress.Progress(plain, tty=False)
    for m in msgs:
        p(m)
    assert plain.getvalue() == ("1: Pulling from pyc/x\nabc: Pulling fs layer\n"
                                "abc: Downloading\nabc: Pull complete\nDigest: sha256:00\n")
    term = io.StringIO()
    p = progress.Progress(term, tty=True)
    for m in msgs:
        p(m)
    text = term.getvalue()
    assert "\x1b[1A\x1b[2K\r" in text and progress.bar(10, 100) in text
    assert progress.bar(10, 100) == "[====>" + " " * 45 + "]"
    assert progress.bar(100, 100) == "[" + "=" * 50 + "]"
    quiet = io.StringIO()
    p = progress.Progress(quiet, quiet=True)
    for m in msgs:
        p(m)
    assert quiet.getvalue() == ""


def test_event_lines_and_formats():
    ev = {"Type": "container", "Action": "die", "Actor": {"ID": "c" * 64, "Attributes": {
        "name": "x", "exitCode": "3"}}, "time": 1700000000, "timeNano": 1700000000123456789}
    assert events.line(ev) == ("2023-11-14T22:13:20.123456789Z container die " + "c" * 64
                               + " (exitCode=3, name=x)")
    assert events.render(ev, "{{.Action}} {{.Actor.Attributes.exitCode}}") == "die 3"
    assert events.render(ev, None, "d1").startswith("[d1] 2023-11-14T")
    assert json.loads(events.render(ev, "json", "d1"))["Daemon"] == "d1"


def test_create_body_and_frames():
    body = daemons.create_body("busybox", ["sh"], {"environment": ["A=1"], "mem_limit": "8m",
                                                   "name": "n", "tty": True})
    assert body == {"Image": "busybox", "Cmd": ["sh"], "Env": ["A=1"], "Tty": True,
                    "HostConfig": {"Memory": 8 << 20}}
    from pycontainer.cli import UsageError
    with pytest.raises(UsageError, match="not sent to a daemon"):
        daemons.create_body("busybox", None, {"sysctls": {"a": "b"}})
    raw = b"\x01\0\0\0\0\0\0\x03out" + b"\x02\0\0\0\0\0\0\x03err"
    assert list(daemons.frames([raw[:5], raw[5:13], raw[13:]], False)) == [(1, b"out"),
                                                                          (2, b"err")]
    assert list(daemons.frames([b"raw"], True)) == [(1, b"raw")]


def test_full_names_and_config_keys():
    assert distribution.full_name("busybox") == "docker.io/library/busybox:latest"
    assert distribution.full_name("me/app:1") == "docker.io/me/app:1"
    assert distribution.full_name("127.0.0.1:5000/a/b") == "127.0.0.1:5000/a/b:latest"
    assert distribution.full_name("localhost/a@sha256:00") == "localhost/a@sha256:00"
    assert distribution.server_key(None) == distribution.HUB_KEY
    assert distribution.server_key("https://r.example:5000/") == "r.example:5000"


def test_login_writes_what_docker_reads(tmp_path, monkeypatch, capsys):
    """The file as docker writes it, and read back by the registry client."""
    from pycontainer.registry.config import RegistryConfig
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "", "auths": {
        "other:1": {"auth": "eDp5"}}, "psFormat": "{{.ID}}"}))
    conf = distribution._load(distribution.config_path())
    conf["auths"]["r:5000"] = {"auth": base64.b64encode(b"u:p").decode()}
    distribution._save(distribution.config_path(), conf)
    got = json.loads((tmp_path / "config.json").read_text())
    assert got["psFormat"] == "{{.ID}}" and set(got["auths"]) == {"other:1", "r:5000"}
    assert os.stat(tmp_path / "config.json").st_mode & 0o777 == 0o600
    assert RegistryConfig().credentials("r:5000") == {"username": "u", "password": "p"}
    assert main(["logout", "r:5000"]) == 0
    assert capsys.readouterr().out == "Removing login credentials for r:5000\n"
    assert RegistryConfig().credentials("r:5000") is None
    assert main(["login", "--password-stdin", "r:5000"]) == 125       # no -u
    assert "--username" in capsys.readouterr().err


def test_contexts_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("PYCONTAINER_HOST", raising=False)
    monkeypatch.delenv("PYCONTAINER_CONTEXT", raising=False)
    from pycontainer.cli import contexts
    assert contexts.resolve(None) == []
    assert main(["context", "create", "d", "--host", "unix:///run/x.sock"]) == 0
    assert contexts.resolve("d") == [("d", "unix:///run/x.sock")]
    assert contexts.resolve(None) == []
    assert main(["context", "use", "d"]) == 0
    assert contexts.resolve(None) == [("d", "unix:///run/x.sock")]
    monkeypatch.setenv("PYCONTAINER_HOST", "unix:///a,unix:///b")
    assert contexts.resolve(None) == [("unix:///a", "unix:///a"), ("unix:///b", "unix:///b")]
    monkeypatch.delenv("PYCONTAINER_HOST")
    assert main(["-H", "unix:///a", "--context", "d", "ps"]) == 125
    assert main(["context", "use", "nope"]) == 1
    assert main(["context", "rm", "-f", "d"]) == 0
    assert contexts.resolve(None) == []
    capsys.readouterr()


def test_version_and_help_import_no_engine():
    code = ("import sys; from pycontainer.cli import main; main(['--version']); "
            "main(['completion', 'bash']); "
            "bad = [m for m in sys.modules if m.startswith(('pycontainer.engine', "
            "'pycontainer.registry', 'httpx', 'pycontainer._core'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_events_of_several_daemons_are_merged(tmp_path):
    """Two real journals (engine/events.py), read as two daemons would be."""
    from pycontainer.engine.events import Journal

    class Reader:
        def __init__(self, journal):
            self.journal = journal

        def events(self, since, until, filters):
            return self.journal.read(since, until, filters)
    a, b = Journal(str(tmp_path / "a")), Journal(str(tmp_path / "b"))
    (tmp_path / "a").mkdir(exist_ok=True)
    (tmp_path / "b").mkdir(exist_ok=True)
    import time
    start = time.time() - 1
    a.emit("container", "create", "1" * 64, {"name": "on-a"})
    b.emit("container", "create", "2" * 64, {"name": "on-b"})
    b.emit("container", "start", "2" * 64, {"name": "on-b"})
    got = list(events.merged([("A", Reader(a)), ("B", Reader(b))], start, time.time() + 0.5,
                             {"event": ["create"]}))
    assert sorted((d, ev["Actor"]["Attributes"]["name"]) for d, ev in got) == [
        ("A", "on-a"), ("B", "on-b")]
