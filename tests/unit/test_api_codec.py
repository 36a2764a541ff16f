"""The daemon's pure parts: docker's create body -> engine keywords, frames,
--host parsing and the TCP refusal (no root, no daemon)."""
import struct

import pytest

from pycontainer.api import codec, server
from pycontainer.api.status import BadRequest


def test_create_body_becomes_engine_keywords():
    image, cmd, kw, auto = codec.create_kwargs({
        "Image": "busybox", "Cmd": ["echo", "hi"], "Env": ["A=1"], "WorkingDir": "/tmp",
        "User": "", "Labels": {"a": "b"}, "Tty": False,
        "HostConfig": {"Binds": ["/h:/c:ro"], "Memory": 64 << 20, "NanoCpus": 0,
                       "PidsLimit": -1, "RestartPolicy": {"Name": "always"},
                       "AutoRemove": True, "NetworkMode": "default", "CapDrop": ["ALL"],
                       "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                       "Tmpfs": {"/run": "size=1m"}}}, name="web")
    assert (image, cmd, auto) == ("busybox", ["echo", "hi"], True)
    assert kw == {"name": "web", "environment": ["A=1"], "working_dir": "/tmp",
                  "labels": {"a": "b"}, "volumes": ["/h:/c:ro"], "mem_limit": 64 << 20,
                  "cap_drop": ["ALL"], "tmpfs": {"/run": "size=1m"},
                  "restart_policy": {"Name": "always", "MaximumRetryCount": 0},
                  "ports": {"80/tcp": [("", "8080")]}}


@pytest.mark.parametrize("body, says", [
    ({}, "Config cannot be empty"),
    ({"Image": 3}, "cannot unmarshal int into Config.Image"),
    ({"Image": "busybox", "Cmd": 5}, "cannot unmarshal int into Config.Cmd"),
    ({"Image": "busybox", "HostConfig": {"Memory": "64m"}}, "HostConfig.Memory"),
    ({"Image": "busybox", "HostConfig": {"Privileged": 1}}, "HostConfig.Privileged"),
    ({"Image": "busybox", "Tty": "yes"}, "cannot unmarshal str into Config.Tty"),
])
def test_bad_create_bodies_are_400(body, says):
    with pytest.raises(BadRequest, match=says):
        codec.create_kwargs(body)


def test_frame():
    assert codec.frame(2, b"err\n") == struct.pack(">BxxxL", 2, 4) + b"err\n"


def test_hosts():
    assert server.parse_host("unix:///tmp/x.sock") == ("unix", "/tmp/x.sock")
    assert server.parse_host("tcp://127.0.0.1:2375") == ("tcp", ("127.0.0.1", 2375))
    with pytest.raises(server.UsageError, match="absolute"):
        server.parse_host("unix://relative.sock")
    def check(host, tlsverify=False, tls=False, loopback=False, tcp=False):
        server.check_tcp(host, 2376, tlsverify, tls, loopback, tcp)
    with pytest.raises(server.UsageError, match="--insecure-tcp to force it"):
        check("0.0.0.0", loopback=True)
    with pytest.raises(server.UsageError, match="without client verification"):
        check("10.1.2.3", tls=True, loopback=True)
    with pytest.raises(server.UsageError, match="--insecure-loopback"):
        check("127.0.0.1")
    check("127.0.0.1", loopback=True)
    check("0.0.0.0", tlsverify=True)
    check("0.0.0.0", tcp=True)


def test_refuses_a_public_tcp_address(capsys):
    assert server.main(["--host", "tcp://0.0.0.0:2375"]) == 2
    assert "refusing to serve the API without TLS on 0.0.0.0:2375" in capsys.readouterr().err


def _exited(name, finished):
    return {"Id": "c" * 64, "Name": name, "Image": "sha256:" + "1" * 64, "Created": finished,
            "Config": {"Image": "busybox", "Cmd": ["true"], "Labels": {"a": "b"}},
            "State": {"Status": "exited", "Running": False, "ExitCode": 0,
                      "FinishedAt": finished}}


def test_a_listed_record_keeps_its_bytes_and_only_the_status_moves(monkeypatch):
    import json
    memo = {}
    rec = _exited("/one", "2026-01-01T00:00:00Z")
    now = codec.epoch(rec["State"]["FinishedAt"])
    monkeypatch.setattr(codec.time, "time", lambda: now + 5)
    first = codec.summary_json(rec, memo)
    assert json.loads(first) == codec.container_summary(rec)
    assert json.loads(first)["Status"] == "Exited (0) 5 seconds ago"
    assert codec.summary_json(rec, memo) is first       # the same record, the same status
    monkeypatch.setattr(codec.time, "time", lambda: now + 180)
    again = json.loads(codec.summary_json(rec, memo))   # the same record, a later status
    assert again["Status"] == "Exited (0) 3 minutes ago" and again["Names"] == ["/one"]
    changed = _exited("/two", rec["Created"])           # a new record (the files changed)
    assert json.loads(codec.summary_json(changed, memo)) == codec.container_summary(changed)
    assert json.loads(codec.summary_json(changed, memo))["Names"] == ["/two"]


def test_json_bodies_are_json_and_what_orjson_refuses_still_encodes():
    import json
    doc = {"Id": "x", "Env": ["A=\udcff"], "Big": 2 ** 70, "List": [1, 2.5, None, True]}
    assert json.loads(codec.json_body(doc)) == json.loads(json.dumps(doc))
    assert json.loads(codec.json_body({"a": [1, "é"]})) == {"a": [1, "é"]}
    assert json.loads(codec.json_body({1: "int key"})) == {"1": "int key"}


def test_more_host_config_fields_and_endpoints():
    """docker-py's create_host_config and networking_config, as docker sends them."""
    _, _, kw, _ = codec.create_kwargs({
        "Image": "busybox", "Volumes": {"/anon": {}, "/c": {}}, "StopSignal": "SIGUSR1",
        "HostConfig": {"Binds": ["/h:/c"], "LogConfig": {"Type": "", "Config": {}},
                       "Init": True, "PidMode": "host", "ExtraHosts": ["a:10.0.0.1"],
                       "MemorySwappiness": -1, "ShmSize": 1 << 20, "Links": ["db:db"],
                       "NetworkMode": "pycnet"},
        "NetworkingConfig": {"EndpointsConfig": {
            "pycnet": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": ""},
                       "NetworkID": "", "DriverOpts": {"k": "v"}},
            "bridge": {}}}})
    assert kw["volumes"] == ["/h:/c", "/anon"]          # /c is the bind's, not anonymous
    assert "log_config" not in kw and "mem_swappiness" not in kw    # the CLI's defaults
    assert (kw["init"], kw["pid_mode"], kw["shm_size"], kw["stop_signal"]) == (
        True, "host", 1 << 20, "SIGUSR1")
    assert kw["extra_hosts"] == ["a:10.0.0.1"] and kw["links"] == ["db:db"]
    assert kw["network"] == "pycnet" and "network_mode" not in kw
    assert kw["networking_config"] == {"EndpointsConfig": {
        "pycnet": {"Aliases": ["web"], "DriverOpts": {"k": "v"}}}}
    _, _, kw, _ = codec.create_kwargs({"Image": "busybox", "HostConfig": {
        "LogConfig": {"Type": "", "Config": {"max-file": "2"}}, "MemorySwappiness": 0}})
    assert kw["log_config"] == {"Type": "json-file", "Config": {"max-file": "2"}}
    assert kw["mem_swappiness"] == 0
    with pytest.raises(BadRequest):
        codec.create_kwargs({"Image": "busybox", "NetworkingConfig": {
            "EndpointsConfig": {"pycnet": "x"}}})


def test_body_keys_match_as_go_matches_struct_fields():
    got = codec.go_keys({"detachKeys": "ctrl-p", "Tty": True, "tty": False, "Other": 1},
                        ("DetachKeys", "Tty"))
    assert got == {"DetachKeys": "ctrl-p", "Tty": True, "Other": 1}    # exact name wins
