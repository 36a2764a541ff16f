"""pycontainerd's daemon.json: dockerd's keys (labels, default-ulimits,
insecure-registries, registry-mirrors, hosts, data-root ...), its errors
(unknown keys, a key both in flags and file), ``--registry-mirror`` feeding the
engine's pulls, and SIGHUP reloading what dockerd reloads."""
import json
import os
import signal
import subprocess

import pytest

from api_daemon import BIN, Daemon, _UnixHTTP, until
from registry_helpers import DistributionRegistry

MIRRORED = "pyc-api-mirrored:1"     # docker.io/library/pyc-api-mirrored:1, on the mirror only


def _info(d):
    return json.loads(d.docker("info", "--format", "{{json .}}").stdout)


def _write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)
    return str(path)


@pytest.fixture(scope="module")
def mirror(store_root, busybox, tmp_path_factory):
    """A Distribution registry holding ``library/pyc-api-mirrored:1`` (busybox)."""
    reg = DistributionRegistry(tmp_path_factory.mktemp("reg"))
    d = Daemon(store_root, tmp_path_factory.mktemp("pycd"))
    try:
        ref = f"{reg.host}/library/{MIRRORED}"
        d.docker("tag", "busybox", ref)
        d.docker("push", ref)
        d.docker("rmi", ref)
    finally:
        assert d.stop() == 0, d.log_text()
    yield reg
    reg.stop()


@pytest.fixture
def started(store_root):
    """Daemons a test starts: stopped afterwards, and the mirrored image removed."""
    made = []
    yield made
    for d in made:
        if d.proc.poll() is None:
            d.docker("rmi", "-f", MIRRORED, ok=False)
            assert d.stop() == 0, d.log_text()


def test_file_keys_reach_the_api(store_root, busybox, tmp_path, started):
    conf = _write(tmp_path / "daemon.json", {
        "labels": ["pyc.test=config"], "insecure-registries": ["127.0.0.1:5999", "10.9.0.0/16"],
        "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1000, "Hard": 2000}},
        "log-level": "info", "live-restore": True})
    d = Daemon(store_root, tmp_path, ["--config-file", conf])
    started.append(d)
    info = _info(d)
    assert info["Labels"] == ["pyc.test=config"]
    reg = info["RegistryConfig"]
    assert "10.9.0.0/16" in reg["InsecureRegistryCIDRs"]
    assert reg["IndexConfigs"]["127.0.0.1:5999"]["Secure"] is False
    sh = ["sh", "-c", "echo $(ulimit -n) $(ulimit -Hn)"]
    assert d.docker("run", "--rm", "--network", "none", "busybox", *sh).stdout == "1000 2000\n"
    assert d.docker("run", "--rm", "--network", "none", "--ulimit", "nofile=500:600",
                    "busybox", *sh).stdout == "500 600\n"      # the container's own wins


def test_hosts_and_data_root_from_the_file(tmp_path):
    sock = tmp_path / "s.sock"
    conf = _write(tmp_path / "daemon.json", {
        "hosts": [f"unix://{sock}"], "data-root": str(tmp_path / "store"),
        "exec-root": str(tmp_path / "exec"), "pidfile": str(tmp_path / "pid")})
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([BIN, "--config-file", conf], stdout=log, stderr=log)
    try:
        info = until(lambda: _get(sock, "/info"), lambda v: v is not None or
                     proc.poll() is not None, timeout=20)
        assert info and info["DockerRootDir"] == str(tmp_path / "store"), \
            (tmp_path / "log").read_text()
        assert (tmp_path / "pid").read_text().strip() == str(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, (tmp_path / "log").read_text()
    assert not sock.exists() and not (tmp_path / "pid").exists()


def _get(sock, path):
    try:
        c = _UnixHTTP(str(sock))
        c.request("GET", path)
        return json.loads(c.getresponse().read())
    except (OSError, ValueError):
        return None


def test_registry_mirror_flag_feeds_pulls(store_root, busybox, tmp_path, mirror, started):
    d = Daemon(store_root, tmp_path, ["--registry-mirror", f"http://{mirror.host}"])
    started.append(d)
    assert _info(d)["RegistryConfig"]["Mirrors"] == [f"http://{mirror.host}/"]
    d.docker("pull", MIRRORED, timeout=60)
    assert d.docker("image", "inspect", "--format", "{{.Id}}", MIRRORED).stdout.strip() == \
        busybox.id


def test_sighup_reloads_mirrors_labels_and_keeps_going_on_a_bad_file(
        store_root, busybox, tmp_path, mirror, started):
    conf = _write(tmp_path / "daemon.json", {"labels": ["stage=1"]})
    d = Daemon(store_root, tmp_path, ["--config-file", conf])
    started.append(d)
    assert _info(d)["RegistryConfig"]["Mirrors"] == []
    _write(conf, {"labels": ["stage=2"], "registry-mirrors": [f"http://{mirror.host}"],
                  "debug": True})
    d.proc.send_signal(signal.SIGHUP)
    info = until(lambda: _info(d), lambda i: i["Labels"] == ["stage=2"])
    assert info["RegistryConfig"]["Mirrors"] == [f"http://{mirror.host}/"] and info["Debug"]
    d.docker("pull", MIRRORED, timeout=60)
    _write(conf, {"labels": ["stage=3"], "bogus-key": 1})
    d.proc.send_signal(signal.SIGHUP)
    until(d.log_text, lambda t: "reloading the configuration failed" in t)
    assert "don't match any configuration option: bogus-key" in d.log_text()
    assert _info(d)["Labels"] == ["stage=2"]        # nothing changed, still serving


def _refused(tmp_path, doc, *flags):
    args = [BIN, "-H", f"unix://{tmp_path}/pyc.sock", "--root", str(tmp_path / "store")]
    if doc is not None:
        args += ["--config-file", _write(tmp_path / "daemon.json", doc)
                 if not isinstance(doc, str) else doc]
    r = subprocess.run(args + list(flags), capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r.stderr
    assert not os.path.exists(tmp_path / "store")        # refused before anything is made
    return r.stderr


@pytest.mark.parametrize("doc, flags, says", [
    ({"bogus": 1, "debug": True, "another": []}, (),
     "the following directives don't match any configuration option: another, bogus"),
    ({"labels": ["a=1"]}, ("--label", "b=2"), "the following directives are specified both "
     "as a flag and in the configuration file: labels: (from flag: [b=2], from file: [a=1])"),
    ({"hosts": ["unix:///tmp/x.sock"]}, (), "specified both as a flag and in the "
     "configuration file: hosts"),
    ({"debug": "yes"}, (), "debug must be a boolean"),
    ({"live-restore": False}, (), "live-restore: false is not supported"),
    ({"registry-mirrors": ["127.0.0.1:5000"]}, (), "invalid mirror"),
    ({"insecure-registries": ["http://x"]}, (), "should not contain '://'"),
    ({"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 9, "Hard": 1}}}, (),
     "soft limit 9 is above the hard limit 1"),
    ("/nonexistent/daemon.json", (), "daemon.json: no such file"),
    (None, ("--registry-mirror", "ftp://m"), "unsupported scheme 'ftp'"),
])
def test_refusals(tmp_path, doc, flags, says):
    assert says in _refused(tmp_path, doc, *flags)


def test_bad_json(tmp_path):
    bad = tmp_path / "daemon.json"
    bad.write_text('{"debug": tru')
    assert "invalid JSON" in _refused(tmp_path, str(bad))
    bad.write_text("[1]")
    assert "must hold a JSON object" in _refused(tmp_path, str(bad))
