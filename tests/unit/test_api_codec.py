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
