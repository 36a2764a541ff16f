"""Storage without root: run()'s volumes/mounts/tmpfs parsing, the mount ops in
the plan, the Mount type and the volume store (flock, reference counts)."""
import json
import os
import struct
import types

import pytest

from pycontainer._core import lib
from pycontainer.errors import Conflict, InvalidArgument, NotFound
from pycontainer.engine import mounts
from pycontainer.runtime import plan as planmod
from pycontainer.engine.config import ContainerConfig, build_config
from pycontainer.types import DriverConfig, Mount, parse_bytes
from pycontainer.volumes import ANON_LABEL, VolumeStore

RDONLY, NOSUID, NODEV, NOEXEC = 0x1, 0x2, 0x4, 0x8
_OP = struct.Struct("=6I3q")


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "file").write_text("x")
    return str(d)


def one(**kw):
    (spec,) = mounts.parse(**kw)
    return spec


# --- the Mount type ------------------------------------------------------------------

def test_mount_type_shapes():
    m = Mount("/data", "vol", labels={"a": "b"}, driver_config=DriverConfig("local"))
    assert m == {"Target": "/data", "Source": "vol", "Type": "volume", "ReadOnly": False,
                 "VolumeOptions": {"Labels": {"a": "b"}, "DriverConfig": {"Name": "local"}}}
    t = Mount("/t", None, type="tmpfs", tmpfs_size="64m", tmpfs_mode=0o1777)
    assert t["TmpfsOptions"] == {"SizeBytes": 64 << 20, "Mode": 0o1777}
    assert (t.target, t.source, t.type, t.read_only) == ("/t", None, "tmpfs", False)


@pytest.mark.parametrize("kw", [dict(type="npipe"), dict(type="bind", tmpfs_size=1),
                                dict(type="volume", propagation="rshared"),
                                dict(type="tmpfs", labels={"a": "b"}),
                                dict(type="tmpfs", tmpfs_mode="1777")])
def test_mount_type_refuses_mismatched_options(kw):
    with pytest.raises(InvalidArgument):
        Mount("/x", None, **kw)


def test_parse_mount_string_and_bytes():
    assert Mount.parse_mount_string("/h:/c:ro") == Mount("/c", "/h", type="bind", read_only=True)
    assert Mount.parse_mount_string("v:/c")["Type"] == "volume"
    assert Mount.parse_mount_string("/anon")["Source"] is None
    for bad in ("a:b:c:d", "/h:/c:rx", "/h::ro"):
        with pytest.raises(InvalidArgument):
            Mount.parse_mount_string(bad)
    assert parse_bytes("1k") == 1024 and parse_bytes("2G") == 2 << 30 and parse_bytes(7) == 7
    for bad in ("1x", "-1", 1.5, True):
        with pytest.raises(InvalidArgument):
            parse_bytes(bad)


# --- parsing run() keywords ----------------------------------------------------------

def test_volumes_dict_forms(src):
    assert one(volumes={src: {"bind": "/d", "mode": "ro"}}) == mounts._spec(
        "bind", "/d", source=src, rw=False)
    assert one(volumes={src: {"bind": "/d", "ro": True}})["RW"] is False
    assert one(volumes={src: "/d"})["RW"] is True
    v = one(volumes={"data": {"bind": "/data", "mode": "rw"}})
    assert (v["Type"], v["Name"], v["RW"], v["Anonymous"]) == ("volume", "data", True, False)


def test_volumes_list_forms(src):
    b, v, a = mounts.parse(volumes=[f"{src}:/d:ro", "data:/data", "/anon"])
    assert (b["Type"], b["Source"], b["Destination"], b["RW"]) == ("bind", src, "/d", False)
    assert (v["Type"], v["Name"]) == ("volume", "data")
    assert a["Type"] == "volume" and a["Anonymous"] and len(a["Name"]) == 64


def test_file_source_is_file(src):
    assert one(volumes=[f"{src}/file:/etc/app.conf:ro"])["IsFile"] is True
    assert one(volumes=[f"{src}:/d"])["IsFile"] is False


def test_mounts_forms(src):
    b, v, a, t = mounts.parse(mounts=[
        Mount("/b", src, type="bind", read_only=True), Mount("/v", "vol", labels={"k": "v"}),
        {"Target": "/a", "Source": None, "Type": "volume"},
        Mount("/t", None, type="tmpfs", tmpfs_size="64m", tmpfs_mode=0o1777)])
    assert (b["Type"], b["RW"]) == ("bind", False)
    assert (v["Name"], v["Labels"]) == ("vol", {"k": "v"})
    assert a["Anonymous"]
    assert (t["Type"], t["Options"], t["Flags"]) == ("tmpfs", f"size={64 << 20},mode=1777",
                                                     ["nodev", "nosuid"])


def test_tmpfs_forms():
    t = one(tmpfs={"/run": "size=64m,mode=1777"})
    assert (t["Options"], t["Flags"], t["RW"]) == ("size=64m,mode=1777",
                                                   ["nodev", "noexec", "nosuid"], True)
    t = one(tmpfs=["/run:size=1g,exec,ro"])
    assert (t["Options"], t["Flags"], t["RW"]) == ("size=1g", ["nodev", "nosuid"], False)
    assert one(tmpfs=["/run"])["Options"] == ""


@pytest.mark.parametrize("kw", [
    dict(volumes={"/nonexistent-pyc-source": {"bind": "/d"}}),
    dict(volumes=["data:relative"]),
    dict(volumes=["data:/a/../etc"]),
    dict(volumes=["data:/"]),
    dict(volumes=["data:/proc/x"]),
    dict(volumes=["data:/sys"]),
    dict(volumes=["./data:/d"]),
    dict(volumes=["d:/d"]),                       # names are 2+ characters
    dict(volumes=["data:/d:rx"]),
    dict(volumes=["data:/d:ro,rw"]),
    dict(volumes=["data:/d:z"]),
    dict(volumes=["relative"]),
    dict(volumes=["a:b:c:d"]),
    dict(volumes="data:/d"),
    dict(volumes={"data": 5}),
    dict(volumes=["data:/d", "other:/d/"]),       # duplicate after normalisation
    dict(volumes=["data:/d"], tmpfs={"/d": ""}),
    dict(mounts=[Mount("/d", "/nonexistent-pyc-source", type="bind")]),
    dict(mounts=[Mount("/d", "relative/path", type="bind")]),
    dict(mounts=[Mount("/d", "/etc", type="bind", propagation="rshared")]),
    dict(mounts=[Mount("/d", "/abs", type="volume")]),
    dict(mounts=[Mount("/d", "v1", driver_config=DriverConfig("nfs"))]),
    dict(mounts=[{"Target": "/d", "Source": "x", "Type": "tmpfs"}]),
    dict(mounts=Mount("/d", "vol")),
    dict(tmpfs={"/t": "size=lots"}),
    dict(tmpfs={"/t": "mode=999"}),
    dict(tmpfs={"/t": "huge=always"}),
    dict(tmpfs={"/t": "suid2"}),
    dict(tmpfs={"t": ""}),
    dict(tmpfs="/t"),
    dict(image_volumes={"/data/../etc": {}}),
    dict(image_volumes={"data": {}}),
])
def test_bad_inputs(kw, src):
    with pytest.raises(InvalidArgument):
        mounts.parse(**kw)


@pytest.mark.parametrize("kw, words", [
    # tmpfs wraps a size past 64 bits silently (2**64 became 0: no limit at all)
    (dict(tmpfs={"/t": "size=18446744073709551616"}), "tmpfs size '18446744073709551616'"),
    (dict(tmpfs={"/t": "size=8589934592g"}), "is above the kernel's limit"),
    (dict(tmpfs={"/t": "nr_inodes=99999999999999999999"}), "tmpfs nr_inodes"),
    (dict(tmpfs={"/t": "uid=4294967295"}), "tmpfs uid"),
    (dict(mounts=[Mount("/t", None, type="tmpfs", tmpfs_size=2**64)]), "tmpfs SizeBytes"),
])
def test_tmpfs_numbers_past_what_the_kernel_takes(kw, words):
    with pytest.raises(InvalidArgument, match=words):
        mounts.parse(**kw)
    assert one(tmpfs={"/t": "size=8589934591g,uid=4294967294"})["Options"] == \
        "size=8589934591g,uid=4294967294"


def test_image_volumes_become_anonymous_unless_covered(src):
    specs = mounts.parse(volumes={src: {"bind": "/data"}},
                         image_volumes={"/data": {}, "/var/lib/x/": {}})
    assert [(s["Type"], s["Destination"]) for s in specs] == [("bind", "/data"),
                                                             ("volume", "/var/lib/x")]
    assert specs[1]["Anonymous"]


def test_build_config_keeps_specs_as_plain_data(tmp_path, src):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    record = types.SimpleNamespace(id="sha256:1", layer_dirs=[str(tmp_path)], config={
        "config": {"Cmd": ["sh"], "Volumes": {"/var/data": {}}}})
    cfg = build_config("img", record, "c" * 64, volumes=[f"{src}:/src:ro"],
                       tmpfs={"/run": "size=1m"})
    assert [s["Destination"] for s in cfg.mounts] == ["/src", "/run", "/var/data"]
    d = json.loads(json.dumps(cfg.to_dict()))
    assert ContainerConfig.from_dict(d) == cfg
    old = dict(d)
    del old["mounts"]                 # configs written before volumes existed
    assert ContainerConfig.from_dict(old).mounts == []
    with pytest.raises(InvalidArgument):
        build_config("img", record, "c" * 64, volumes=["x:relative"])


# --- ops in the plan -----------------------------------------------------------------

def _ops(plan):
    def s(off):
        return None if off == 0xFFFFFFFF else plan.strs[off:plan.strs.index(b"\0", off)].decode()
    out = []
    for i in range(plan.nops):
        kind, s1, s2, s3, s4, _, a, b, c = _OP.unpack_from(plan.ops, i * _OP.size)
        out.append((kind, s(s1), s(s2), s(s3), s(s4), a, b, plan.labels[i]))
    return out


def test_plan_mount_ops(src, tmp_path):
    """engine/spec.py turns the config's mounts into spec Mounts; the compiler
    emits them shallow first, after /dev and before the SYNC."""
    from pycontainer.engine import spec as engine_spec
    specs = mounts.parse(volumes=[f"{src}/file:/etc/app.conf:ro", "data:/data"],
                         mounts=[Mount("/data/sub/t", None, type="tmpfs", tmpfs_size=1024)],
                         tmpfs={"/run": "size=1m,mode=1777"})
    specs = [dict(s, Source="/store/volumes/data/_data") if s["Type"] == "volume" else s
             for s in specs]
    cfg = ContainerConfig(image="i", image_id="sha256:1", argv=["sh"], env=[], hostname="h",
                          mounts=specs)
    rundir = tmp_path / "run"
    rundir.mkdir()
    spec, labels = engine_spec.build(cfg, str(rundir), "/r", ["/l"], str(tmp_path / "store"))
    ops = _ops(planmod.compile_plan(spec, [], labels))
    kinds = [o[0] for o in ops]
    mine = [o for o in ops if o[0] == lib.PYC_OP_MOUNT_IN and o[2] in
            ("data", "run", "etc/hosts", "etc/app.conf", "data/sub/t")]
    # shallow first, all after /dev and before the SYNC
    assert [o[2] for o in mine] == ["data", "run", "etc/hosts", "etc/app.conf", "data/sub/t"]
    first, last = ops.index(mine[0]), ops.index(mine[-1])
    assert max(i for i, o in enumerate(ops) if o[2] and o[2].startswith("dev")) < first
    assert last < kinds.index(lib.PYC_OP_SYNC)
    bind = lib.PYC_MNT_BIND_SRC | lib.PYC_MNT_RECURSIVE
    vol, run, hosts, conf, sub = mine
    assert vol[1].endswith("/volumes/data/_data") and vol[5] == 0
    assert vol[6] == bind | lib.PYC_MNT_MKDIR and "volume data" in vol[7]
    assert conf[1] == f"{src}/file" and conf[5] == RDONLY and conf[6] == bind | lib.PYC_MNT_MKFILE
    assert hosts[1] == str(rundir / "hosts")
    assert run[1:5] == ("tmpfs", "run", "tmpfs", "size=1m,mode=1777")
    assert run[5] == NOSUID | NODEV | NOEXEC and run[6] == lib.PYC_MNT_MKDIR
    assert sub[4] == "size=1024" and sub[5] == NOSUID | NODEV
    assert run[7] == "mount tmpfs on /run"


def test_user_mount_replaces_runtime_bind(src, tmp_path):
    from pycontainer.engine import spec as engine_spec
    cfg = ContainerConfig(image="i", image_id="sha256:1", argv=["sh"], env=[], hostname="h",
                          mounts=mounts.parse(volumes=[f"{src}/file:/etc/hosts"]))
    spec, _ = engine_spec.build(cfg, str(tmp_path), "/r", ["/l"], str(tmp_path / "store"))
    etc = [(m.source, m.destination) for m in spec.mounts if m.destination.startswith("/etc/")]
    assert etc == [(str(tmp_path / "hostname"), "/etc/hostname"), (f"{src}/file", "/etc/hosts")]


# --- the volume store ----------------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    return VolumeStore(str(tmp_path / "root"), run_root=str(tmp_path / "run"))


def _use(store, tmp_path, cid, *names, ephemeral=False):
    """A container config that lists volumes, as the runtime writes it."""
    d = os.path.join(store.run_root if ephemeral else store.containers, cid)
    os.makedirs(d)
    specs = [{"Type": "volume", "Name": n, "Destination": f"/{i}"} for i, n in enumerate(names)]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"Runtime": {"Config": {"mounts": specs}}}, f)
    return d


def test_store_create_get_list_remove(store):
    attrs = store.create("data", labels={"a": 1})
    assert attrs["Name"] == "data" and attrs["Driver"] == "local" and attrs["Labels"] == {"a": "1"}
    assert os.path.isdir(attrs["Mountpoint"])
    assert attrs["Mountpoint"].endswith("/volumes/data/_data")
    assert store.create("data", labels={"other": ""}) == attrs      # existing: returned
    assert store.create("v" * 255)["Name"] == "v" * 255
    store.remove("v" * 255)
    assert store.get("data") == attrs
    anon = store.create(anonymous=True)
    assert len(anon["Name"]) == 64 and ANON_LABEL in anon["Labels"]
    assert [v["Name"] for v in store.list()] == sorted(["data", anon["Name"]])
    store.remove("data")
    with pytest.raises(NotFound):
        store.get("data")
    with pytest.raises(NotFound):
        store.remove("data")
    assert not [n for n in os.listdir(store.dir) if n.startswith(".") and n != ".lock"]


@pytest.mark.parametrize("kw", [dict(name="a"), dict(name="../x"), dict(name=".hidden"),
                                dict(name="a/b"), dict(name="x" * 256), dict(name=5),
                                dict(name="ok", driver_opts={"type": "nfs"}),
                                dict(name="ok", labels=["a"])])
def test_store_refuses(store, kw):
    with pytest.raises(InvalidArgument):
        store.create(**kw)


def test_an_unknown_driver_is_no_such_plugin(store):
    with pytest.raises(NotFound):
        store.create(name="ok", driver="nfs")
    assert store.list() == []


def test_store_get_never_leaves_the_dir(store):
    for name in ("..", "../root", "/etc"):
        with pytest.raises(NotFound):
            store.get(name)


def test_store_in_use(store, tmp_path):
    store.create("data")
    store.create("eph")
    _use(store, tmp_path, "a" * 64, "data")
    _use(store, tmp_path, "b" * 64, "eph", ephemeral=True)
    assert store.users() == {"data": ["a" * 64], "eph": ["b" * 64]}
    for name in ("data", "eph"):
        with pytest.raises(Conflict):
            store.remove(name)
    store.create("free")
    assert store.prune() == (["free"], 0)
    store.remove("data", force=True)
    assert [v["Name"] for v in store.list()] == ["eph"]


def test_store_prune_counts_bytes_and_sweeps_leftovers(store):
    store.create("big")
    with open(os.path.join(store.data_path("big"), "f"), "wb") as f:
        f.write(b"x" * 5000)
    os.symlink("/etc", os.path.join(store.data_path("big"), "link"))   # never followed
    os.mkdir(os.path.join(store.dir, ".rm-0123456789abcdef"))
    os.mkdir(os.path.join(store.dir, ".tmp-0123456789abcdef"))
    removed, size = store.prune()
    assert removed == ["big"] and size >= 5000
    assert os.listdir(store.dir) == [".lock"]
    assert os.path.isdir("/etc")


def test_store_ensure_creates_and_keeps(store):
    path = store.ensure("data", labels={"x": "1"})
    open(os.path.join(path, "f"), "w").close()
    assert store.ensure("data") == path and os.listdir(path) == ["f"]
    assert store.get("data")["Labels"] == {"x": "1"}


def test_store_refuses_to_replace_unknown_dir(store):
    os.makedirs(os.path.join(store.dir, "data", "_data"))
    with pytest.raises(Conflict):
        store.create("data")


def test_store_two_processes(store):
    """Create and remove the same names from two processes at once."""
    names = [f"v{i}" for i in range(30)]
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for n in names:
                    store.create(n)
                    try:
                        store.remove(n)
                    except NotFound:
                        pass
                    store.create(n)
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    for pid in pids:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert [v["Name"] for v in store.list()] == sorted(names)
    assert all(os.listdir(store.data_path(n)) == [] for n in names)
    assert not [n for n in os.listdir(store.dir) if n.startswith(".") and n != ".lock"]
