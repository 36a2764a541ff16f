"""Copying files in and out of containers: put/get_archive, put/get_file, diff,
export, on running and stopped containers, and the symlink attacks that must
never reach the host (CVE-2018-15664, CVE-2019-14271)."""
import contextlib
import errno
import gzip
import io
import os
import tarfile
import time
import uuid

import pytest

from pycontainer import errors


def make_tar(entries):
    """``entries``: name -> bytes (a file), None (a dir), ("link", text),
    ("hard", target) or ("file", bytes, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, what in entries.items():
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_700_000_000
            if what is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif isinstance(what, bytes):
                ti.size, ti.mode = len(what), 0o644
                tf.addfile(ti, io.BytesIO(what))
            elif what[0] == "link":
                ti.type, ti.linkname = tarfile.SYMTYPE, what[1]
                tf.addfile(ti)
            elif what[0] == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, what[1]
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(what[1]), what[2]
                tf.addfile(ti, io.BytesIO(what[1]))
    return buf.getvalue()


def read_tar(chunks):
    data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: (m, tf.extractfile(m).read() if m.isfile() else None) for m in tf}


@contextlib.contextmanager
def container(client, state, command=None):
    """A busybox container that is running (sleeping) or only created."""
    if state == "running":
        c = client.containers.run("busybox", command or ["sleep", "30"], detach=True)
    else:
        c = client.containers.create("busybox", command or ["true"])
    try:
        yield c
    finally:
        c.remove(force=True)


def wait_for(c, path, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return c.get_file(path)
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


STATES = ["running", "created"]


# -- put / get ------------------------------------------------------------------

@pytest.mark.parametrize("state", STATES)
def test_put_and_get_archive(client, busybox, state):
    with container(client, state) as c:
        tar = make_tar({"hello.txt": b"hello", "sub": None, "sub/deep.txt": b"deep",
                        "lnk": ("link", "hello.txt"), "hard": ("hard", "hello.txt"),
                        "exec.sh": ("file", b"#!/bin/sh\n", 0o4755)})
        assert c.put_archive("/tmp", tar) is True
        assert c.get_file("/tmp/hello.txt") == b"hello"
        assert c.get_file("/tmp/sub/deep.txt") == b"deep"
        assert c.get_file("/tmp/lnk") == b"hello"      # followed inside the container

        bits, st = c.get_archive("/tmp/hello.txt")
        files = read_tar(bits)
        assert list(files) == ["hello.txt"]
        m, data = files["hello.txt"]
        assert data == b"hello" and m.mode == 0o644 and m.mtime == 1_700_000_000
        assert m.uname == "" and m.gname == ""
        assert st["name"] == "hello.txt" and st["size"] == 5
        assert st["mode"] == 0o644 and st["linkTarget"] == ""
        assert st["mtime"].startswith("2023-11-14T22:13:20")

        bits, st = c.get_archive("/tmp/lnk")
        files = read_tar(bits)
        assert files["lnk"][0].issym() and files["lnk"][0].linkname == "hello.txt"
        assert st["linkTarget"] == "/tmp/hello.txt" and st["mode"] & (1 << 27)

        bits, st = c.get_archive("/tmp")
        files = read_tar(bits)
        assert st["name"] == "tmp" and st["mode"] & (1 << 31)
        assert {"tmp", "tmp/hello.txt", "tmp/sub", "tmp/sub/deep.txt", "tmp/lnk",
                "tmp/hard", "tmp/exec.sh"} <= set(files)
        assert files["tmp/sub/deep.txt"][1] == b"deep"
        assert files["tmp/exec.sh"][0].mode == 0o4755       # setuid kept
        # hard links stay hard links
        linked = [n for n in ("tmp/hello.txt", "tmp/hard") if files[n][0].islnk()]
        assert len(linked) == 1

        bits, _ = c.get_archive("/tmp/sub/.")          # only the contents
        assert set(read_tar(bits)) == {".", "./deep.txt"}


@pytest.mark.parametrize("state", STATES)
def test_round_trip_and_overwrite(client, busybox, state):
    with container(client, state) as c:
        c.put_archive("/tmp", make_tar({"d": None, "d/f": b"one"}))
        bits, _ = c.get_archive("/tmp/d")
        tar = b"".join(bits)
        c.put_archive("/", tar)                 # -> /d
        assert c.get_file("/d/f") == b"one"
        c.put_archive("/", make_tar({"d/f": b"two"}))     # a file replaces a file
        assert c.get_file("/d/f") == b"two"
        with pytest.raises(IsADirectoryError):            # docker's rule
            c.put_archive("/", make_tar({"d": b"file over a dir"}))
        with pytest.raises(NotADirectoryError):
            c.put_archive("/d", make_tar({"f": None}))
        gz = gzip.compress(make_tar({"z.txt": b"zipped"}))
        c.put_archive("/tmp", io.BytesIO(gz))             # file object, gzip
        assert c.get_file("/tmp/z.txt") == b"zipped"


def test_running_container_sees_put(client, busybox):
    script = "while [ ! -f /tmp/go ]; do sleep 0.02; done; cat /tmp/in/msg"
    with container(client, "running", ["sh", "-c", script]) as c:
        c.put_archive("/tmp", make_tar({"in": None, "in/msg": b"from the host\n"}))
        c.put_file("/tmp/go", b"")
        assert c.wait(timeout=10)["StatusCode"] == 0
        assert c.logs() == b"from the host\n"


def test_put_before_start_and_get_after_exit(client, busybox):
    script = "cat /tmp/in.txt; echo result > /tmp/out.txt"
    with container(client, "created", ["sh", "-c", script]) as c:
        c.put_file("/tmp/in.txt", "created\n")
        c.start()
        assert c.wait(timeout=10)["StatusCode"] == 0
        assert c.logs() == b"created\n"
        assert c.get_file("/tmp/out.txt") == b"result\n"
        bits, st = c.get_archive("/tmp/")
        assert {"tmp/in.txt", "tmp/out.txt"} <= set(read_tar(bits))
        # nothing of the private mount is left in the run-time dir
        rundir = client._runtime.rundir(c.id)
        assert not [n for n in os.listdir(rundir) if n.startswith(".archive-")]


@pytest.mark.parametrize("state", STATES)
def test_put_file_get_file(client, busybox, state):
    with container(client, state) as c:
        c.put_file("/etc/app.conf", b"a=1\n", mode=0o600)
        assert c.get_file("/etc/app.conf") == b"a=1\n"
        _, st = c.get_archive("/etc/app.conf")
        assert st["mode"] == 0o600 and st["size"] == 4
        c.put_file("/etc/app.conf", "a=2\n")              # overwrite, str
        assert c.get_file("/etc/app.conf") == b"a=2\n"
        big = os.urandom(3 << 20)
        c.put_file("/tmp/big", big)
        assert c.get_file("/tmp/big") == big
        with pytest.raises(IsADirectoryError):
            c.put_file("/tmp", b"x")
        with pytest.raises(IsADirectoryError):
            c.get_file("/tmp")
        assert b"root:x:0:0" in c.get_file("/etc/passwd")


@pytest.mark.parametrize("state", STATES)
def test_missing_paths(client, busybox, state):
    with container(client, state) as c:
        tar = make_tar({"f": b"x"})
        for call in (lambda: c.put_archive("/nope", tar), lambda: c.get_archive("/nope"),
                     lambda: c.get_file("/nope"), lambda: c.put_file("/nope/f", b"x"),
                     lambda: c.get_archive("/tmp/nope/")):
            with pytest.raises(errors.NotFound) as ei:
                call()
            assert isinstance(ei.value, FileNotFoundError)
            assert "/nope" in str(ei.value)
        with pytest.raises(NotADirectoryError):
            c.put_archive("/etc/passwd", tar)
        with pytest.raises(errors.NotFound):
            client.containers.get("no-such-container").get_file("/etc/passwd")


def test_bad_archives(client, busybox):
    with container(client, "created") as c:
        with pytest.raises(errors.InvalidArgument):
            c.put_archive("/tmp", make_tar({"../../escape": b"x"}))
        with pytest.raises(errors.InvalidArgument):
            c.put_archive("/tmp", b"not a tar archive at all" * 40)
        dev = io.BytesIO()
        with tarfile.open(fileobj=dev, mode="w") as tf:
            ti = tarfile.TarInfo("sda")
            ti.type, ti.devmajor, ti.devminor = tarfile.BLKTYPE, 8, 0
            tf.addfile(ti)
        with pytest.raises(errors.InvalidArgument):
            c.put_archive("/tmp", dev.getvalue())
        c.put_archive("/tmp", make_tar({"/abs/x": b"x"}))   # absolute: below the target
        assert c.get_file("/tmp/abs/x") == b"x"


def test_read_only_rootfs(client, busybox):
    c = client.containers.create("busybox", ["true"], read_only=True)
    try:
        with pytest.raises(OSError) as ei:
            c.put_file("/tmp/x", b"x")
        assert ei.value.errno == errno.EROFS
        assert b"root" in c.get_file("/etc/passwd")
    finally:
        c.remove(force=True)


def test_stopped_volatile_container(client, busybox):
    """A volatile mount leaves a dirty mark in the container's work dir: writes
    to the stopped container use a work dir of their own."""
    c = client.containers.run("busybox", ["sh", "-c", "echo hi > /tmp/x"], detach=True,
                              volatile=True)
    try:
        assert c.wait(timeout=10)["StatusCode"] == 0
        c.put_file("/tmp/y", b"y")
        assert c.get_file("/tmp/x") == b"hi\n" and c.get_file("/tmp/y") == b"y"
        layer_dir = c.attrs["Runtime"]["LayerDir"]
        assert not [n for n in os.listdir(layer_dir) if n.startswith(".archive-")]
    finally:
        c.remove(force=True)


def test_stream_closed_early(client, busybox):
    with container(client, "running") as c:
        bits, _ = c.get_archive("/bin", chunk_size=4096)
        assert len(next(bits)) == 4096
        bits.close()                        # the helper is stopped and reaped
        bits, _ = c.get_archive("/bin")     # never read: dropped
        del bits
        it = c.export(chunk_size=1024)
        next(it)
        del it


# -- diff / export --------------------------------------------------------------

CHANGES = ("echo new > /tmp/new; echo more >> /etc/passwd; rm /etc/group; rm /bin/ls; "
           "rm -rf /usr/sbin; mkdir /usr/sbin; echo mine > /usr/sbin/mine")


def test_diff(client, busybox):
    c = client.containers.create("busybox", ["sh", "-c", CHANGES])
    try:
        assert c.diff() == []
        lower_sbin = c.get_archive("/usr/sbin")
        sbin = sorted(n for n in read_tar(lower_sbin[0]) if n != "sbin")  # "sbin/..."
        assert sbin
        c.start()
        assert c.wait(timeout=10)["StatusCode"] == 0
        kinds = {d["Path"]: d["Kind"] for d in c.diff()}
        assert kinds["/tmp"] == 0 and kinds["/tmp/new"] == 1
        assert kinds["/etc"] == 0 and kinds["/etc/passwd"] == 0 and kinds["/etc/group"] == 2
        assert kinds["/bin"] == 0 and kinds["/bin/ls"] == 2
        assert kinds["/usr/sbin"] == 0 and kinds["/usr/sbin/mine"] == 1
        for name in sbin:
            assert kinds["/usr/" + name] == 2
        assert "/etc/hosts" not in kinds and "/proc" not in kinds
        paths = [d["Path"] for d in c.diff()]
        assert paths == sorted(paths, key=lambda p: p.split("/"))
        c.put_file("/root/added", b"x")
        assert {"Path": "/root/added", "Kind": 1} in c.diff()
    finally:
        c.remove(force=True)


def test_export(client, busybox):
    c = client.containers.run("busybox", ["sh", "-c", CHANGES + "; sleep 30"], detach=True)
    try:
        wait_for(c, "/usr/sbin/mine")
        for running in (True, False):
            files = read_tar(c.export())
            assert files["bin/busybox"][0].isfile() and files["bin/sh"][0].issym()
            assert files["tmp/new"][1] == b"new\n"
            assert files["etc/passwd"][1].endswith(b"more\n")
            assert files["usr/sbin/mine"][1] == b"mine\n"
            assert "etc/group" not in files and "bin/ls" not in files
            assert [n for n in files if n.startswith("usr/sbin/")] == ["usr/sbin/mine"]
            assert files["proc"][0].isdir()
            assert not [n for n in files if n.startswith(("proc/", "sys/", "dev/"))]
            assert not [n for n in files if n.startswith(("/", "./"))]
            if running:
                c.kill()
                c.wait(timeout=10)
    finally:
        c.remove(force=True)


def test_running_get_skips_kernel_filesystems(client, busybox):
    with container(client, "running", ["sh", "-c", "ln -s /proc/sys/kernel /tmp/k; "
                                       "sleep 30"]) as c:
        deadline = time.monotonic() + 10
        while True:
            try:
                c.get_archive("/tmp/k")
                break
            except FileNotFoundError:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        files = read_tar(c.get_archive("/")[0])
        assert "./bin/busybox" in files and files["./proc"][0].isdir()
        assert not [n for n in files if n.startswith(("./proc/", "./sys/", "./dev/"))]
        for path in ("/proc/1/status", "/tmp/k/ostype", "/sys/kernel/uevent_seqnum"):
            with pytest.raises(PermissionError):
                c.get_file(path)
        with pytest.raises(PermissionError):
            c.get_archive("/proc/1/")
        with pytest.raises(PermissionError) as ei:
            c.put_file("/tmp/k/pyc-never-written", b"x")
        assert "kernel filesystems" in str(ei.value)


def test_running_sees_volumes(client, busybox, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "from-host").write_bytes(b"host data")
    c = client.containers.run("busybox", ["sleep", "30"], detach=True,
                              volumes=[f"{vol}:/data"])
    try:
        assert c.get_file("/data/from-host") == b"host data"
        c.put_file("/data/from-container", b"via put")
        assert (vol / "from-container").read_bytes() == b"via put"
    finally:
        c.remove(force=True)


def test_stopped_containers_volumes_and_binds(client, busybox, tmp_path):
    """docker cp into and out of a created or exited container reaches its
    volumes and binds, as dockerd mounts them for the copy."""
    bound = tmp_path / "bound"
    bound.mkdir()
    (bound / "host-file").write_bytes(b"from the host")
    c = client.containers.create("busybox", ["sh", "-c", "cat /vol1/in.txt; echo out > "
                                             "/vol1/out.txt; ls /ro"],
                                 volumes=["/vol1", f"{bound}:/ro:ro"])
    try:
        c.put_archive("/vol1", make_tar({"in.txt": b"put before start\n"}))
        with pytest.raises(OSError) as ei:
            c.put_file("/ro/new", b"x")
        assert ei.value.errno == errno.EROFS and not (bound / "new").exists()
        c.start()
        assert c.wait(timeout=10)["StatusCode"] == 0
        assert c.logs() == b"put before start\nhost-file\n"
        assert c.get_file("/vol1/out.txt") == b"out\n"     # exited: from the volume
        assert c.get_file("/ro/host-file") == b"from the host"
        vol = [m for m in c.attrs["Mounts"] if m["Destination"] == "/vol1"][0]
        assert sorted(os.listdir(vol["Source"])) == ["in.txt", "out.txt"]
    finally:
        c.remove(force=True, v=True)
    assert not os.path.exists(vol["Source"])


def test_a_never_started_containers_volume_is_read_empty(client, busybox):
    c = client.containers.create("busybox", ["true"], volumes=["/vol2"])
    try:
        with pytest.raises(FileNotFoundError):
            c.get_file("/vol2/nothing")       # no volume made by a read
        assert client.volumes.list() == []
    finally:
        c.remove(force=True, v=True)


# -- confinement ------------------------------------------------------------------

@pytest.fixture
def probe(tmp_path):
    """A host directory with a secret that no container path may reach."""
    d = tmp_path / "probe"
    d.mkdir()
    (d / "secret").write_bytes(b"host secret")
    return d


def links_to_host(probe):
    return {"etc_link": ("link", "/etc"), "host_link": ("link", str(probe)),
            "secret_link": ("link", str(probe / "secret")),
            "up": ("link", "../../../../../../../../../.."),
            "rel_secret": ("link", "../../../../../../../../.." + str(probe / "secret"))}


def assert_host_untouched(probe, names=()):
    assert sorted(os.listdir(probe)) == ["secret"]
    assert (probe / "secret").read_bytes() == b"host secret"
    assert os.stat(probe / "secret").st_nlink == 1
    for name in names:
        assert not os.path.lexists(os.path.join("/etc", name))


@pytest.mark.parametrize("state", STATES)
def test_symlinks_never_reach_the_host(client, busybox, state, probe):
    marker = f"pyc-probe-{uuid.uuid4().hex[:12]}"
    with container(client, state) as c:
        c.put_archive("/tmp", make_tar(links_to_host(probe)))

        # writes through a link to /etc land in the container's /etc
        c.put_file(f"/tmp/etc_link/{marker}", b"inside")
        assert c.get_file(f"/etc/{marker}") == b"inside"
        c.put_archive("/tmp/up/etc", make_tar({marker + "-2": b"inside"}))
        assert c.get_file(f"/etc/{marker}-2") == b"inside"

        # links to host paths resolve in the container, where they do not exist
        for path in (f"/tmp/host_link/{marker}", f"/tmp/up{probe}/{marker}"):
            with pytest.raises(FileNotFoundError):
                c.put_file(path, b"pwned")
        with pytest.raises(FileNotFoundError):
            c.put_archive("/tmp/host_link", make_tar({marker: b"pwned"}))
        for path in ("/tmp/secret_link", "/tmp/rel_secret", f"/tmp/up{probe}/secret"):
            with pytest.raises(FileNotFoundError):
                c.get_file(path)
        with pytest.raises(FileNotFoundError):
            c.get_archive("/tmp/host_link/")

        # `..` stops at the container's root
        assert c.get_file("/tmp/up/etc/passwd") == c.get_file("/etc/passwd")
        assert c.get_file("/tmp/up/etc/passwd") != open("/etc/passwd", "rb").read()

        # the archive of a directory holds the links, never what they point at
        bits, _ = c.get_archive("/tmp")
        data = b"".join(bits)
        assert b"host secret" not in data
        files = read_tar([data])
        assert files["tmp/secret_link"][0].issym()

        # a final link is replaced, not written through
        c.put_file("/tmp/secret_link", b"replaced")
        _, st = c.get_archive("/tmp/secret_link")
        assert st["linkTarget"] == "" and c.get_file("/tmp/secret_link") == b"replaced"

        # links inside the archive itself
        with pytest.raises(FileNotFoundError):
            c.put_archive("/tmp", make_tar({"evil": ("link", str(probe)),
                                            "evil/" + marker: b"pwned"}))
        with pytest.raises(FileNotFoundError):
            c.put_archive("/tmp", make_tar({"hl": ("hard", str(probe / "secret"))}))
        with pytest.raises(errors.InvalidArgument):
            c.put_archive("/tmp", make_tar({"hl2": ("hard", "../../../.." +
                                                    str(probe / "secret"))}))
        c.put_archive("/tmp", make_tar({"el": ("link", "/etc"), f"el/{marker}-3": b"in"}))
        assert c.get_file(f"/etc/{marker}-3") == b"in"

        assert_host_untouched(probe, [marker, marker + "-2", marker + "-3"])


def test_a_linked_mount_point_never_mounts_on_the_host(client, busybox, probe):
    """In the image, the mount point of a stopped container's volume is a link
    to a host path: it resolves inside the container's root, where it leads
    nowhere, so the copy fails (as the start would) and the host is untouched."""
    base = client.containers.create("busybox", ["true"])
    try:
        base.put_archive("/tmp", make_tar({"mnt": ("link", str(probe))}))
        image = base.commit()
    finally:
        base.remove(force=True)
    c = client.containers.create(image.id, ["true"], volumes=["/tmp/mnt"])
    try:
        with pytest.raises(FileNotFoundError):
            c.put_file("/tmp/mnt/dropped", b"pwned")
        with pytest.raises(FileNotFoundError):
            c.get_file("/tmp/mnt/secret")
        assert_host_untouched(probe)
    finally:
        c.remove(force=True, v=True)
        client.images.remove(image.id)


def test_links_made_by_a_running_container(client, busybox, probe):
    """The container itself plants the links (and may swap them at any time)."""
    marker = f"pyc-probe-{uuid.uuid4().hex[:12]}"
    script = (f"ln -s {probe} /tmp/h; ln -s / /tmp/root; ln -s {probe}/secret /tmp/s; "
              f"mkdir -p {probe}; echo decoy > {probe}/secret; touch /tmp/ready; "
              "while true; do ln -sfn /etc /tmp/swap; ln -sfn /tmp /tmp/swap; done")
    with container(client, "running", ["sh", "-c", script]) as c:
        wait_for(c, "/tmp/ready")
        # the container made the probe path inside itself: that one is reached
        assert c.get_file("/tmp/s") == b"decoy\n"
        c.put_file(f"/tmp/h/{marker}", b"inside")
        assert c.get_file(f"{probe}/{marker}") == b"inside"
        assert c.get_file(f"/tmp/root{probe}/{marker}") == b"inside"
        for i in range(20):
            with contextlib.suppress(FileNotFoundError, OSError):
                c.put_file(f"/tmp/swap/{marker}-{i}", b"race")
        for i in range(20):
            assert not os.path.lexists(f"/etc/{marker}-{i}")
        assert_host_untouched(probe, [marker])


def test_the_helper_is_never_a_fork_of_the_caller(client, busybox, monkeypatch):
    """The caller may be multi-threaded (a daemon): a forked child of such a
    process can deadlock on a lock another thread held. The helper is a fresh
    interpreter, started with posix_spawn."""
    def no_fork():
        raise AssertionError("the archive helper forked the calling process")
    monkeypatch.setattr(os, "fork", no_fork)
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        assert c.put_file("/tmp/f", b"data")
        assert c.get_file("/tmp/f") == b"data"
        assert b"tmp/f" in b"".join(c.export())
    stopped = client.containers.create("busybox", ["true"])
    try:
        assert stopped.put_file("/g", b"x") and stopped.get_file("/g") == b"x"
    finally:
        stopped.remove()
