"""The ``pycontainer`` command's images, networks, volumes and system verbs,
against the SDK's view of the same store (see test_cli.py for containers).

Networks are made in a network namespace of the test's own (the command
runs under ``nsenter --net``), on a store of their own: nothing touches the
machine's network.
"""
import io
import json
import os
import re
import tarfile

import pytest

from cli_helpers import CLI, fresh_store, table  # noqa: F401  (a fixture)
from pycontainer import __version__
from pycontainer.network import netlink


@pytest.fixture
def cli(store_root, busybox):
    return CLI(store_root)


# -- images ---------------------------------------------------------------------------

def test_images_match_the_sdk(cli, client):
    rows = table(cli("images").out)
    assert list(rows[0]) == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    want = sorted((*(t.rsplit(":", 1)), i.id[7:19]) for i in client.images.list() for t in i.tags)
    assert sorted((r["REPOSITORY"], r["TAG"], r["IMAGE ID"]) for r in rows) == want
    bb = next(r for r in rows if r["REPOSITORY"] == "busybox")
    assert re.fullmatch(r"\d+(\.\d+)?MB", bb["SIZE"]) and bb["CREATED"].endswith(" ago")
    assert cli("images", "-q").lines == list(dict.fromkeys(i.id[7:19]
                                                           for i in client.images.list()))
    assert cli("images", "-q", "--no-trunc", "busybox").lines == [client.images.get("busybox").id]
    js = json.loads(cli("images", "--format", "json", "busybox").out)
    assert (js["Repository"], js["Tag"], js["ID"]) == ("busybox", "latest",
                                                       client.images.get("busybox").id[7:19])
    assert cli("images", "--filter", "reference=busy*", "--format", "{{.Repository}}").out == \
        "busybox\n"
    assert cli("images", "-f", "dangling=true", "-q").out == ""
    assert cli("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "busybox").out == \
        "busybox:latest\n"


def test_tag_history_save_load_import_rmi(cli, client, tmp_path):
    assert cli("tag", "busybox", "cli-tag:1").out == ""
    try:
        assert "cli-tag:1" in client.images.get("busybox").tags
        hist = table(cli("history", "cli-tag:1").out)
        sdk = client.images.get("cli-tag:1").history()
        assert [(h["IMAGE"], h["COMMENT"]) for h in hist] == \
            [(s["Id"][7:19] if s["Id"].startswith("sha256:") else s["Id"], s["Comment"])
             for s in sdk]
        assert cli("history", "-q", "--no-trunc", "cli-tag:1").lines[0] == sdk[0]["Id"]
        cli("save", "-o", tmp_path / "img.tar", "cli-tag:1")
        with tarfile.open(tmp_path / "img.tar") as tar:
            assert "manifest.json" in tar.getnames()
        piped = cli("save", "cli-tag:1", binary=True).out           # to stdout, a pipe
        with tarfile.open(fileobj=io.BytesIO(piped)) as tar:
            assert "manifest.json" in tar.getnames()
        assert cli("rmi", "cli-tag:1").out == "Untagged: cli-tag:1\n"
        assert "cli-tag:1" not in client.images.get("busybox").tags
        assert cli("load", "-i", tmp_path / "img.tar").out == "Loaded image: cli-tag:1\n"
        assert "cli-tag:1" in client.images.get("busybox").tags
        cli("rmi", "cli-tag:1")
        assert cli("load", input=piped, binary=True).out == b"Loaded image: cli-tag:1\n"
    finally:
        client.images.remove("cli-tag:1")
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        tar.add("/bin/busybox", "bin/busybox")
    image_id = cli("import", "-c", 'CMD ["/bin/busybox", "echo", "imported"]', rootfs,
                   "cli-imported:1").out.strip()
    try:
        assert client.images.get("cli-imported:1").id == image_id
        assert cli("run", "--rm", "cli-imported:1").out == "imported\n"
        created = cli("create", "cli-imported:1").out.strip()
        r = cli("rmi", "cli-imported:1", ok=False)            # a container uses it
        assert r.code == 1 and "use -f" in r.err
        cli("rm", created)
        out = cli("rmi", "cli-imported:1").lines
        assert out[0] == "Untagged: cli-imported:1" and f"Deleted: {image_id}" in out
    finally:
        for i in client.images.list(name="cli-imported"):
            client.images.remove(i.id, force=True)
    r = cli("rmi", "no-such-image", ok=False)
    assert r.code == 1 and "no-such-image" in r.err
    r = cli("import", tmp_path / "missing.tar", ok=False)
    assert r.code == 1 and "missing.tar" in r.err


def test_image_prune_removes_dangling_images(cli, client):
    cid = cli("create", "busybox", "true").out.strip()
    try:
        dangling = cli("commit", cid).out.strip()             # no tag: dangling
    finally:
        cli("rm", cid)
    assert cli("images", "-f", "dangling=true", "-q", "--no-trunc").lines == [dangling]
    assert "Are you sure" in cli("image", "prune", input="no\n").out
    assert client.images.get(dangling)
    r = cli("image", "prune", "-f")
    assert f"deleted: {dangling}" in r.out and "Total reclaimed space:" in r.out
    assert cli("images", "-f", "dangling=true", "-q").out == ""
    assert client.images.get("busybox")


# -- networks -------------------------------------------------------------------------

@pytest.fixture
def netns():
    """A fresh network namespace with lo up, held only by an fd of this process."""
    nl, fd = netlink.new_netns_fd()
    try:
        nl.set_link(1, up=True)
    finally:
        nl.close()
    try:
        yield f"/proc/{os.getpid()}/fd/{fd}"
    finally:
        os.close(fd)


def test_networks_and_ports(fresh_store, netns):
    root, env = fresh_store
    cli = CLI(root, env=env, prefix=["nsenter", f"--net={netns}"])
    net_id = cli("network", "create", "--subnet", "10.123.0.0/24", "--gateway", "10.123.0.254",
                 "--label", "team=cli", "app").out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", net_id)
    cli("network", "create", "unused")
    nets = {r["NAME"]: r for r in table(cli("network", "ls").out)}
    assert {"app", "unused", "bridge", "host", "none"} <= set(nets)
    assert nets["app"]["NETWORK ID"] == net_id[:12] and nets["app"]["DRIVER"] == "bridge"
    assert cli("network", "ls", "-q", "--filter", "label=team=cli").lines == [net_id[:12]]
    info = json.loads(cli("network", "inspect", "app").out)[0]
    assert info["IPAM"]["Config"][0]["Gateway"] == "10.123.0.254"
    assert info["Labels"] == {"team": "cli"}
    cli("run", "-d", "--name", "web", "--network", "app", "-p", "8080:80", "-p",
        "127.0.0.1::81", "busybox", "sleep", "60")
    cli("run", "-d", "--name", "peer", "--network", "bridge", "busybox", "sleep", "60")
    ports = cli("ps", "--format", "{{.Names}}|{{.Ports}}|{{.Networks}}", "-f", "name=web").out
    assert re.fullmatch(r"web\|0\.0\.0\.0:8080->80/tcp, 127\.0\.0\.1:\d+->81/tcp\|app\n", ports)
    mapping = cli("port", "web").lines
    assert mapping[0] == "80/tcp -> 0.0.0.0:8080"
    assert re.fullmatch(r"81/tcp -> 127\.0\.0\.1:\d+", mapping[1])
    assert cli("port", "web", "80").out == "0.0.0.0:8080\n"
    r = cli("port", "web", "82/tcp", ok=False)
    assert r.code == 1 and "82/tcp" in r.err
    cli("network", "connect", "--alias", "buddy", "--ip", "10.123.0.50", "--link", "web:www",
        "app", "peer")
    assert cli("inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "peer").out == \
        "10.123.0.50\n"
    assert cli("exec", "web", "ping", "-c", "1", "-W", "3", "buddy").code == 0
    # peer's link: a name only peer resolves (started on the default network,
    # peer has no embedded DNS server: its hosts file has the name)
    assert cli("exec", "peer", "ping", "-c", "1", "-W", "3", "www").code == 0
    assert cli("exec", "web", "nslookup", "-type=a", "buddy").code == 0      # web's DNS
    members = cli("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "app")
    assert sorted(members.out.split()) == ["peer", "web"]
    cli("network", "disconnect", "app", "peer")
    assert "app" not in cli("inspect", "-f", "{{json .NetworkSettings.Networks}}", "peer").out
    # -P publishes what the image exposes
    exposed = cli("commit", "-c", "EXPOSE 90", "web", "exposed:1").out.strip()
    cli("run", "-d", "--name", "pub", "--network", "app", "-P", exposed, "sleep", "60")
    assert re.fullmatch(r"90/tcp -> 0\.0\.0\.0:\d+\n", cli("port", "pub").out)
    r = cli("network", "rm", "app", ok=False)                # in use
    assert r.code == 1
    cli("rm", "-f", "web", "peer", "pub")
    assert cli("network", "rm", "app").out == "app\n"
    assert "unused" in cli("network", "prune", "-f").out
    assert {r["NAME"] for r in table(cli("network", "ls").out)} == {"bridge", "host", "none"}
    r = cli("network", "rm", "app", ok=False)
    assert r.code == 1 and "app" in r.err
    assert cli("network", "rm", "-f", "app").code == 0


# -- volumes and the system -----------------------------------------------------------

def test_volumes(cli, client):
    assert cli("volume", "create", "--label", "k=v", "cli-vol").out == "cli-vol\n"
    anon = cli("volume", "create").out.strip()
    try:
        assert re.fullmatch(r"[0-9a-f]{64}", anon)
        rows = {r["VOLUME NAME"]: r for r in table(cli("volume", "ls").out)}
        assert rows["cli-vol"]["DRIVER"] == "local" and anon in rows
        assert cli("volume", "ls", "-q", "--filter", "label=k=v").lines == ["cli-vol"]
        got = json.loads(cli("volume", "inspect", "cli-vol").out)
        assert got == [client.volumes.get("cli-vol").attrs]
        assert json.loads(cli("inspect", "--type", "volume", "cli-vol").out) == got
        assert cli("volume", "inspect", "-f", "{{.Name}} {{.Labels.k}}", "cli-vol").out == \
            "cli-vol v\n"
        cli("run", "--rm", "-v", "cli-vol:/data", "busybox", "sh", "-c", "echo kept > /data/f")
        assert cli("run", "--rm", "-v", "cli-vol:/data:ro", "busybox", "cat", "/data/f").out \
            == "kept\n"
        cli("run", "--name", "cli-vol-user", "-v", "cli-vol:/data", "-v", "/scratch",
            "busybox", "true")
        r = cli("volume", "rm", "cli-vol", ok=False)
        assert r.code == 1 and "use -f" in r.err
        scratch = next(m["Name"] for m in client.containers.get("cli-vol-user").attrs[
            "Runtime"]["Config"]["mounts"] if m["Destination"] == "/scratch")
        cli("rm", "cli-vol-user")                             # without -v: the volume stays
        r = cli("volume", "prune", "-f")      # anonymous ones only: made without a name
        assert scratch in r.out.splitlines() and anon in r.out.splitlines()
        assert "cli-vol" not in r.out
        assert [v.name for v in client.volumes.list()] == ["cli-vol"]
        assert cli("volume", "rm", "cli-vol").out == "cli-vol\n"
        assert cli("volume", "ls", "-q").out == ""
    finally:
        for c in client.containers.list(all=True, filters={"name": "cli-vol-user"}):
            c.remove(force=True)
        for v in client.volumes.list():
            if v.name in ("cli-vol", anon):
                v.remove(force=True)


def test_system_df_info_version_prune(fresh_store):
    cli = CLI(*fresh_store)
    cli("run", "--name", "stopped", "busybox", "sh", "-c", "echo x > /new")
    cli("volume", "create", "kept")
    df = {r["TYPE"]: r for r in table(cli("system", "df").out)}
    assert list(df) == ["Images", "Containers", "Local Volumes", "Build Cache"]
    assert (df["Images"]["TOTAL"], df["Images"]["ACTIVE"]) == ("1", "1")
    assert (df["Containers"]["TOTAL"], df["Containers"]["ACTIVE"]) == ("1", "0")
    assert df["Containers"]["SIZE"] == "2B"                     # "x\n" in its upper layer
    assert (df["Local Volumes"]["TOTAL"], df["Local Volumes"]["ACTIVE"]) == ("1", "0")
    assert "Containers space usage:" in cli("system", "df", "-v").out
    info = cli("info").out
    assert re.search(r"^ Containers: 1\n  Running: 0\n  Paused: 0\n  Stopped: 1\n Images: 1$",
                     info, re.M)
    assert f" Root Dir: {fresh_store[0]}\n" in info
    assert json.loads(cli("info", "--format", "{{json .}}").out)["Containers"] == 1
    assert cli("system", "info", "-f", "{{.Images}} {{.Daemonless}}").out == "1 true\n"
    assert cli("version", "-f", "{{.Client.Version}}").out == f"{__version__}\n"
    assert f"Version:           {__version__}" in cli("version").out
    r = cli("system", "prune", "-f")
    assert "Deleted Containers:" in r.out
    assert cli("ps", "-aq").out == ""
    assert cli("volume", "ls", "-q").out == "kept\n"            # named volumes stay
    assert cli("images", "-q").out != ""                        # tagged images stay
    assert "busybox" in cli("system", "prune", "-af").out       # -a: unused images too
    assert cli("images", "-q").out == ""
