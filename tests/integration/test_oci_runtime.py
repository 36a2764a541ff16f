"""pycontainer-runtime, the OCI runtime, driven as engines drive runc.

Every test makes a bundle (busybox-static as the rootfs, ``spec``'s default
config edited) and runs the real command, the C front end; what the process
inside sees is read from its own output.
"""
import errno
import json
import os
import re
import select
import shutil
import socket
import subprocess

import pytest

import pycontainer

FRONT = os.path.join(os.path.dirname(pycontainer.__file__), "oci", "pycontainer-runtime")
TOOLS = ("sh", "cat", "echo", "id", "hostname", "sleep", "true", "stty", "mkdir", "touch",
         "grep", "ls", "wc", "head", "tail")


@pytest.fixture
def bundle(tmp_path):
    b = tmp_path / "bundle"
    bindir = b / "rootfs" / "bin"
    bindir.mkdir(parents=True)
    shutil.copy("/bin/busybox", bindir / "busybox")
    for t in TOOLS:
        os.symlink("busybox", bindir / t)
    (b / "rootfs" / "tmp").mkdir()
    subprocess.run([FRONT, "spec", "--bundle", str(b)], check=True)
    return b


def edit(b, fn):
    path = b / "config.json"
    cfg = json.loads(path.read_text())
    cfg["process"]["terminal"] = False
    cfg["root"]["readonly"] = False
    fn(cfg)
    path.write_text(json.dumps(cfg))


@pytest.fixture
def rt(tmp_path):
    """Runs the front end on a state root of the test; force-deletes what is left."""
    root = tmp_path / "state"
    made = []

    def run(*args, check=True, cwd=None, input=None):
        if args and args[0] in ("create", "run"):
            made.append(args[-1])
        # Files, not pipes: a created init holds our stdout and stderr (as with runc).
        with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:
            p = subprocess.run([FRONT, "--root", str(root), *args], stdout=out, stderr=err,
                               text=True, cwd=cwd, input=input, timeout=60)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read(), err.read()
        if check and p.returncode != 0:
            raise AssertionError(f"{args}: exit {p.returncode}: {p.stderr}")
        return p
    run.root = root
    run.made = made
    yield run
    for cid in made:
        subprocess.run([FRONT, "--root", str(root), "delete", "--force", cid],
                       capture_output=True, timeout=60)


def state(rt, cid):
    return json.loads(rt("state", cid).stdout)


def wait_stopped(rt, cid):
    """Until the init is gone (its pidfd says so), then the state."""
    pid = state(rt, cid)["pid"]
    if pid:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            fd = None
        if fd is not None:
            select.select([fd], [], [], 30)
            os.close(fd)
    return state(rt, cid)


def test_run_honours_the_spec(bundle, rt, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "f").write_text("from the host\n")
    script = ("echo host=$(hostname) uid=$(id -u) gid=$(id -g) groups=$(id -G) cwd=$PWD "
              "env=$GREETING; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; "
              "echo nofile=$(ulimit -n) oom=$(cat /proc/self/oom_score_adj); "
              "cat /data/f; touch /data/x 2>/dev/null || echo data-ro; "
              "touch /x 2>/dev/null || echo root-ro; echo timer=$(cat /proc/timer_list | wc -c);"
              "echo ipfwd=$(cat /proc/sys/net/ipv4/ip_forward); "
              "cat /dev/null && echo devnull-ok")

    def fn(cfg):
        p = cfg["process"]
        cfg["root"]["readonly"] = True
        p.update(args=["sh", "-c", script], cwd="/tmp", oomScoreAdj=123,
                 user={"uid": 1000, "gid": 1000, "additionalGids": [7]})
        p["env"].append("GREETING=hello")
        p["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512}]
        cfg["hostname"] = "pyc-oci"
        cfg["mounts"].append({"destination": "/data", "type": "bind", "source": str(shared),
                              "options": ["rbind", "ro"]})
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    edit(bundle, fn)
    out = rt("run", "c1", cwd=bundle).stdout
    assert "host=pyc-oci uid=1000 gid=1000 groups=1000 7 cwd=/tmp env=hello" in out
    # runc's default: AUDIT_WRITE, KILL, NET_BIND_SERVICE
    assert re.search(r"CapBnd:\s+0000000020000420", out)
    assert re.search(r"NoNewPrivs:\s+1", out)
    assert "nofile=512 oom=123" in out
    assert "from the host\ndata-ro\nroot-ro\n" in out
    assert "timer=0" in out and "ipfwd=1" in out
    assert "devnull-ok" in out               # runc's always-allowed devices, past deny-all
    assert not os.listdir(rt.root)            # run removed it


def test_state_machine(bundle, rt):
    edit(bundle, lambda c: c["process"].update(args=["sleep", "1000"]))
    rt("create", "--bundle", str(bundle), "--pid-file", str(bundle / "pid"), "c2")
    st = state(rt, "c2")
    assert st["status"] == "created" and st["pid"] == int((bundle / "pid").read_text())
    assert st["bundle"] == str(bundle) and st["id"] == "c2"
    assert rt("create", "--bundle", str(bundle), "c2", check=False).returncode == 1
    # the spec: delete of a container that is not stopped is an error, and no change
    p = rt("delete", "c2", check=False)
    assert p.returncode == 1 and "not stopped: created" in p.stderr
    assert state(rt, "c2")["status"] == "created"
    rt("delete", "--force", "c2")
    assert rt("state", "c2", check=False).returncode == 1
    rt("create", "--bundle", str(bundle), "c3")
    rt("start", "c3")
    assert state(rt, "c3")["status"] == "running"
    # a refused verb changes nothing
    p = rt("start", "c3", check=False)
    assert p.returncode == 1 and "running" in p.stderr
    p = rt("delete", "c3", check=False)
    assert p.returncode == 1 and "not stopped" in p.stderr
    assert state(rt, "c3")["status"] == "running"
    assert json.loads(rt("ps", "--format", "json", "c3").stdout) == [state(rt, "c3")["pid"]]
    table = rt("ps", "c3").stdout.splitlines()      # runc's: ps -ef, the container's rows
    assert table[0].split()[:2] == ["UID", "PID"] and len(table) == 2
    assert int(table[1].split()[1]) == state(rt, "c3")["pid"] and "sleep 1000" in table[1]
    rt("pause", "c3")
    assert state(rt, "c3")["status"] == "paused"
    rt("resume", "c3")
    assert state(rt, "c3")["status"] == "running"
    listed = json.loads(rt("list", "--format", "json").stdout)
    assert [s["id"] for s in listed] == ["c3"]
    rt("kill", "c3", "KILL")
    st = wait_stopped(rt, "c3")
    assert st["status"] == "stopped" and st["pid"] == 0
    assert rt("kill", "c3", "TERM", check=False).returncode == 1
    rt("delete", "c3")
    assert rt("state", "c3", check=False).returncode == 1
    assert rt("delete", "--force", "c3").returncode == 0


def test_kill_by_name_and_number_and_all(bundle, rt):
    edit(bundle, lambda c: c["process"].update(
        args=["sh", "-c", "trap 'echo got-usr1 > /tmp/sig' USR1; touch /tmp/ready; "
              "sleep 1000 & while ! [ -e /tmp/sig ]; do sleep 0.05; done; wait"]))
    rt("run", "-d", "--bundle", str(bundle), "c4")
    # the trap is set once /tmp/ready exists (before, USR1 would kill the init)
    rt("exec", "c4", "sh", "-c", "while ! [ -e /tmp/ready ]; do sleep 0.05; done")
    rt("kill", "c4", "10")                       # SIGUSR1 by number
    rt("exec", "c4", "sh", "-c", "while ! [ -e /tmp/sig ]; do sleep 0.05; done")
    assert rt("exec", "c4", "cat", "/tmp/sig").stdout == "got-usr1\n"
    assert len(json.loads(rt("ps", "--format", "json", "c4").stdout)) >= 2
    rt("kill", "--all", "c4", "SIGKILL")
    assert wait_stopped(rt, "c4")["status"] == "stopped"
    rt("delete", "c4")


def test_exec_flags_and_process_json(bundle, rt, tmp_path):
    edit(bundle, lambda c: c["process"].update(args=["sleep", "1000"]))
    rt("run", "-d", "--bundle", str(bundle), "c5")
    p = rt("exec", "--cwd", "/tmp", "-e", "X=1", "-u", "1000:1000", "c5", "sh", "-c",
           "echo $PWD $X $(id -u) $(id -g); exit 3", check=False)
    assert p.returncode == 3 and p.stdout == "/tmp 1 1000 1000\n"
    proc = tmp_path / "process.json"
    proc.write_text(json.dumps({"args": ["sh", "-c", "grep CapBnd /proc/self/status"],
                                "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0},
                                "capabilities": {"bounding": ["CAP_CHOWN"]}}))
    out = rt("exec", "--process", str(proc), "c5").stdout
    assert re.search(r"CapBnd:\s+0000000000000001", out)
    out = rt("exec", "--cap", "CAP_SYS_ADMIN", "c5", "grep", "CapBnd", "/proc/self/status").stdout
    assert re.search(r"CapBnd:\s+0000000020200420", out)
    rt("delete", "--force", "c5")


def test_hooks_get_the_state(bundle, rt, tmp_path):
    log = tmp_path / "hooks.log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\n{{ echo \"$1\"; cat; echo; }} >> {log}\n")
    hook.chmod(0o755)

    def fn(cfg):
        cfg["process"]["args"] = ["true"]
        cfg["hooks"] = {k: [{"path": str(hook), "args": [str(hook), k]}]
                        for k in ("prestart", "createRuntime", "poststart", "poststop")}
    edit(bundle, fn)
    rt("create", "--bundle", str(bundle), "c6")
    rt("start", "c6")
    wait_stopped(rt, "c6")
    rt("delete", "c6")
    lines = log.read_text().splitlines()
    kinds = lines[0::2]
    assert kinds == ["prestart", "createRuntime", "poststart", "poststop"]
    states = [json.loads(s) for s in lines[1::2]]
    assert all(s["id"] == "c6" and s["bundle"] == str(bundle) for s in states)
    assert states[0]["status"] == "created" and states[0]["pid"] > 0


def test_a_failing_prestart_hook_undoes_create(bundle, rt):
    def fn(cfg):
        cfg["process"]["args"] = ["sleep", "1000"]
        cfg["hooks"] = {"prestart": [{"path": "/bin/false"}]}
    edit(bundle, fn)
    p = rt("create", "--bundle", str(bundle), "c7", check=False)
    assert p.returncode == 1 and "prestart hook /bin/false failed" in p.stderr
    assert rt("state", "c7", check=False).returncode == 1
    assert not os.listdir(rt.root)


def test_console_socket_gets_the_pty(bundle, rt, tmp_path):
    def fn(cfg):
        cfg["process"].update(terminal=True, args=["stty", "size"],
                              consoleSize={"height": 33, "width": 101})
    edit(bundle, fn)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = True
    (bundle / "config.json").write_text(json.dumps(cfg))
    path = str(tmp_path / "console.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(path)
        srv.listen(1)
        rt("create", "--bundle", str(bundle), "--console-socket", path, "c8")
        conn, _ = srv.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    master = fds[0]
    try:
        rt("start", "c8")
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:          # EIO: the last slave closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    text = out.decode().replace("\r", "")
    assert text == "33 101\n"
    wait_stopped(rt, "c8")
    rt("delete", "c8")


@pytest.mark.parametrize("nnp", [True, False])
def test_seccomp_from_the_spec(bundle, rt, nnp):
    """Without no_new_privs the filter goes in while CAP_SYS_ADMIN is still
    effective (the spec's effective set lacks it), as runc does."""
    def fn(cfg):
        cfg["process"]["args"] = ["sh", "-c", "mkdir /tmp/d || echo denied; ls /"]
        cfg["process"]["noNewPrivileges"] = nnp
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": errno.EPERM}]}
    edit(bundle, fn)
    out = rt("run", "c9", cwd=bundle)
    assert "denied" in out.stdout and "Operation not permitted" in out.stderr
    assert "bin" in out.stdout


def test_cgroups_and_update(bundle, rt):
    cid = "c10"
    path = f"/pycontainer/oci-test-{os.getpid()}"

    def fn(cfg):
        cfg["process"]["args"] = ["sleep", "1000"]
        cfg["linux"]["cgroupsPath"] = path
        # kernel: deprecated, ignored as runc does; kernelTCP: v1's TCP buffer limit
        cfg["linux"]["resources"].update(memory={"limit": 64 << 20, "kernel": 1 << 26,
                                                 "kernelTCP": 16 << 20}, pids={"limit": 40})
    edit(bundle, fn)
    rt("run", "-d", "--bundle", str(bundle), cid)
    pids = f"/sys/fs/cgroup/pids{path}"
    if os.path.isdir("/sys/fs/cgroup/pids"):
        with open(f"{pids}/pids.max") as f:
            assert f.read().strip() == "40"
        rt("update", "--resources", "-", cid, input=json.dumps({"pids": {"limit": 60}}))
        with open(f"{pids}/pids.max") as f:
            assert f.read().strip() == "60"
        with open("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes") as f:
            assert int(f.read()) == 64 << 20
        with open("/sys/fs/cgroup/memory" + path + "/memory.kmem.tcp.limit_in_bytes") as f:
            assert int(f.read()) == 16 << 20
    ev = json.loads(rt("events", "--stats", cid).stdout)
    assert ev["type"] == "stats" and ev["data"]["pids"]["current"] == 1
    rt("delete", "--force", cid)
    assert not os.path.exists(pids)


def test_user_namespace_with_mappings(bundle, rt):
    def fn(cfg):
        cfg["process"]["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map"]
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    edit(bundle, fn)
    out = rt("run", "c11", cwd=bundle).stdout.split()
    assert out == ["0", "0", "200000", "65536"]


@pytest.mark.parametrize("field,value,words", [
    ("apparmorProfile", "docker-default", "AppArmor"),
    ("selinuxLabel", "system_u:system_r:container_t:s0", "SELinux"),
])
def test_absent_lsms_are_refused(bundle, rt, field, value, words):
    edit(bundle, lambda c: c["process"].update({field: value}))
    p = rt("create", "--bundle", str(bundle), "c12", check=False)
    assert p.returncode == 1 and words in p.stderr
    assert not os.path.exists(rt.root / "c12")


def test_systemd_cgroup_is_refused_and_logged_as_json(rt, tmp_path):
    log = tmp_path / "log.json"
    p = subprocess.run([FRONT, "--root", str(rt.root), "--log", str(log), "--log-format",
                        "json", "--systemd-cgroup", "state", "x"], capture_output=True,
                       text=True)
    assert p.returncode == 1 and "systemd" in p.stderr
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "systemd" in entry["msg"]


# -- the same argv forms with runc and with ours -----------------------------

@pytest.mark.parametrize("exe", ["runc", FRONT])
def test_runc_compatible_forms(exe, bundle, tmp_path):
    runtime = shutil.which(exe) or exe
    if not os.path.exists(runtime):
        pytest.fail(f"{exe} is not installed (setup.sh installs runc)")
    root = str(tmp_path / "root")
    g = [runtime, "--root", root]
    edit(bundle, lambda c: (c["process"].update(args=["sleep", "1000"]),
                            c["root"].update(readonly=False)))
    v = subprocess.run([runtime, "--version"], capture_output=True, text=True).stdout
    assert re.match(r"\S+ version \S+\ncommit: .+\nspec: \d+\.\d+\.\d+", v)
    missing = subprocess.run(g + ["state", "nope"], capture_output=True, text=True)
    assert missing.returncode == 1
    cid = f"pyc-compat-{os.getpid()}"
    try:
        subprocess.run(g + ["create", "--bundle", str(bundle), cid], check=True)
        st = json.loads(subprocess.run(g + ["state", cid], capture_output=True,
                                       check=True).stdout)
        assert {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                "owner"} <= set(st)
        assert st["status"] == "created"
        subprocess.run(g + ["start", cid], check=True)
        ps = subprocess.run(g + ["ps", "--format", "json", cid], capture_output=True,
                            check=True).stdout
        assert json.loads(ps) == [st["pid"]]
        assert subprocess.run(g + ["delete", cid], capture_output=True).returncode == 1
        subprocess.run(g + ["kill", cid, "KILL"], check=True)
    finally:
        subprocess.run(g + ["delete", "--force", cid], capture_output=True)
    assert not os.path.exists(os.path.join(root, cid))


def test_preserve_fds_reach_the_container(bundle, rt, tmp_path):
    edit(bundle, lambda c: c["process"].update(args=["sh", "-c", "echo via-fd3 >&3"]))
    out = tmp_path / "fd3"
    # fd 3 is opened by a shell that then becomes the runtime (as a shim passes fds)
    p = subprocess.run(["bash", "-c", 'exec 3>"$0"; exec "$@"', str(out), FRONT, "--root",
                        str(rt.root), "run", "--preserve-fds", "1", "--bundle", str(bundle),
                        "c13"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert out.read_text() == "via-fd3\n"


def test_a_failing_setup_step_is_named_and_leaves_nothing(bundle, rt):
    failing_setup_step(bundle, rt, "c14")


def failing_setup_step(bundle, rt, cid):
    """A mount the child cannot make: create names it; nothing is left."""
    cgroup = f"/pycontainer/oci-fail-{os.getpid()}"

    def fn(cfg):
        cfg["mounts"].append({"destination": "/x", "type": "pycnosuchfs", "source": "none"})
        cfg["linux"]["cgroupsPath"] = cgroup
    edit(bundle, fn)
    p = rt("create", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == 1 and "mount pycnosuchfs on /x: No such device" in p.stderr
    assert not os.listdir(rt.root)
    assert not os.path.exists(f"/sys/fs/cgroup/pids{cgroup}")


def test_exec_tty_through_the_console_socket(bundle, rt, tmp_path):
    edit(bundle, lambda c: c["process"].update(args=["sleep", "1000"]))
    rt("run", "-d", "--bundle", str(bundle), "c15")
    proc = tmp_path / "p.json"
    proc.write_text(json.dumps({"args": ["stty", "size"], "cwd": "/", "terminal": True,
                                "env": ["PATH=/bin"], "consoleSize": {"height": 12,
                                                                      "width": 34}}))
    path = str(tmp_path / "exec.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(path)
        srv.listen(1)
        rt("exec", "--process", str(proc), "--tty", "--console-socket", path, "--detach",
           "c15")
        conn, _ = srv.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    out = b""
    try:
        while True:
            try:
                chunk = os.read(fds[0], 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(fds[0])
    assert out.decode().replace("\r", "") == "12 34\n"
    rt("delete", "--force", "c15")


@pytest.mark.parametrize("section,value,words", [
    ("rdma", {"mlx5_0": {"hcaHandles": 3}}, "no such controller"),
    ("hugepageLimits", [{"pageSize": "2MB", "limit": 1 << 21}], "no such controller"),
])
def test_resources_this_host_lacks_are_refused(bundle, rt, section, value, words):
    edit(bundle, lambda c: c["linux"]["resources"].update({section: value}))
    p = rt("create", "--bundle", str(bundle), "c16", check=False)
    assert p.returncode == 1 and words in p.stderr
    assert not os.path.exists(rt.root / "c16")


def test_spec_and_features_have_runcs_shape(tmp_path):
    runc = shutil.which("runc")
    if runc is None:
        pytest.fail("runc is not installed (setup.sh installs it)")
    ours, theirs = tmp_path / "ours", tmp_path / "runc"
    ours.mkdir()
    theirs.mkdir()
    subprocess.run([FRONT, "spec"], cwd=ours, check=True)
    subprocess.run([runc, "spec"], cwd=theirs, check=True)
    a = json.loads((ours / "config.json").read_text())
    b = json.loads((theirs / "config.json").read_text())
    assert set(a) == set(b) and set(a["process"]) == set(b["process"])
    assert set(a["linux"]) <= set(b["linux"]) | {"resources"}
    assert [m["destination"] for m in a["mounts"]] == [m["destination"] for m in b["mounts"]]
    assert a["process"]["capabilities"] == b["process"]["capabilities"]
    # a second spec refuses to overwrite, as runc's does
    p = subprocess.run([FRONT, "spec"], cwd=ours, capture_output=True, text=True)
    assert p.returncode == 1 and "exists" in p.stderr
    f = json.loads(subprocess.run([FRONT, "features"], capture_output=True, check=True).stdout)
    assert f["ociVersionMin"].startswith("1.0") and "prestart" in f["hooks"]
    assert {"pid", "mount", "user"} <= set(f["linux"]["namespaces"])
    assert f["linux"]["cgroup"]["systemd"] is False and f["linux"]["apparmor"]["enabled"] is False


def test_events_report_the_oom_kill(bundle, rt, tmp_path):
    def fn(cfg):
        # tail keeps a line-less stream in memory: the 8 MiB limit kills it
        cfg["process"]["args"] = ["sh", "-c", "head -c 100m /dev/zero | tail; exit 0"]
        cfg["linux"]["resources"]["memory"] = {"limit": 8 << 20, "swap": 8 << 20}
    edit(bundle, fn)
    rt("create", "--bundle", str(bundle), "c17")
    ev = subprocess.Popen([FRONT, "--root", str(rt.root), "events", "--interval", "50ms",
                           "c17"], stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(ev.stdout.readline())      # it has its baseline: start the hog
        assert first["type"] == "stats"
        rt("start", "c17")
        kinds = [json.loads(line)["type"] for line in ev.stdout]
    finally:
        ev.kill()
        ev.wait()
        ev.stdout.close()
    assert "oom" in kinds
    rt("delete", "c17")


def test_capability_sets_propagation_fifos_and_device_order(bundle, rt):
    """The five OCI capability sets as given (a non-root user keeps its ambient
    ones across exec), / and a mount made shared/unbindable in the container's
    own mount namespace, a FIFO device node, the spec's device rules first."""
    path = f"/pycontainer/oci-test-{os.getpid()}"
    script = ("(grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status; "
              "cat /proc/self/mountinfo; ls -l /dev/fifo0) >/tmp/out")
    os.chmod(bundle / "rootfs" / "tmp", 0o1777)

    def fn(cfg):
        kill, bind = "CAP_KILL", "CAP_NET_BIND_SERVICE"
        cfg["process"].update(args=["sh", "-c", script], user={"uid": 1000, "gid": 1000})
        cfg["process"]["capabilities"] = {"bounding": [kill, bind, "CAP_CHOWN"],
                                          "permitted": [kill, bind], "effective": [kill, bind],
                                          "inheritable": [kill, bind], "ambient": [bind]}
        cfg["linux"]["rootfsPropagation"] = "rshared"
        cfg["mounts"].append({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                              "options": ["unbindable"]})
        cfg["linux"]["devices"] = [{"path": "/dev/fifo0", "type": "p", "fileMode": 0o640}]
        cfg["linux"]["cgroupsPath"] = path
        cfg["linux"]["resources"]["devices"] = [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]
    edit(bundle, fn)
    rt("create", "--bundle", str(bundle), "c20")
    if os.path.isdir("/sys/fs/cgroup/devices"):
        with open(f"/sys/fs/cgroup/devices{path}/devices.list") as f:
            assert f.readline() == "c 10:229 rwm\n"
    rt("start", "c20")
    wait_stopped(rt, "c20")
    rt("delete", "c20")
    out = (bundle / "rootfs" / "tmp" / "out").read_text()
    caps = dict(line.split(":\t") for line in out.splitlines() if line.startswith("Cap"))
    # KILL (5) + NET_BIND_SERVICE (10) = 0x420; a uid 1000 exec keeps the ambient one only
    assert caps == {"CapInh": "0000000000000420", "CapPrm": "0000000000000400",
                    "CapEff": "0000000000000400", "CapBnd": "0000000000000421",
                    "CapAmb": "0000000000000400"}, caps
    mounts = {line.split()[4]: line for line in out.splitlines() if line.count(" - ")}
    assert "shared:" in mounts["/"] and "unbindable" in mounts["/mnt"], out
    assert re.search(r"^prw-r----- .* /dev/fifo0$", out, re.M), out


@pytest.fixture
def holder():
    """A process in new net, uts, ipc, mount and pid namespaces (runtime-tools'
    ``unshare ... sleep``), its hostname set; killed with its group after."""
    p = subprocess.Popen(["unshare", "--net", "--uts", "--ipc", "--mount", "--pid", "--fork",
                          "sh", "-c", "hostname pyc-held; echo ready; exec sleep 1000"],
                         stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert p.stdout.readline() == "ready\n"
        yield p.pid
    finally:
        os.killpg(p.pid, 9)
        p.wait()
        p.stdout.close()


# type: (the holder's file, the init's file)
NS_FILES = {"network": ("net", "net"), "uts": ("uts", "uts"), "ipc": ("ipc", "ipc"),
            "mount": ("mnt", "mnt"), "pid": ("pid_for_children", "pid")}


def test_joins_namespaces_by_path(bundle, rt, holder):
    """Every namespace of the holder joined by path (the pid one by the
    runtime before the clone): the init is in them from create on."""
    def fn(cfg):
        cfg["process"]["args"] = ["sh", "-c", "hostname; echo pid=$$; ls /proc | grep -x 1"]
        cfg["linux"]["namespaces"] = [{"type": t, "path": f"/proc/{holder}/ns/{f}"}
                                      for t, (f, _) in NS_FILES.items()]
        cfg.pop("hostname", None)
    edit(bundle, fn)
    out = bundle / "out"
    with open(out, "w") as f:
        subprocess.run([FRONT, "--root", str(rt.root), "create", "--bundle", str(bundle), "c21"],
                       stdout=f, check=True, timeout=60)
    rt.made.append("c21")
    pid = state(rt, "c21")["pid"]
    for theirs, ours in NS_FILES.values():
        assert os.readlink(f"/proc/{pid}/ns/{ours}") == \
            os.readlink(f"/proc/{holder}/ns/{theirs}"), ours
    rt("start", "c21")
    wait_stopped(rt, "c21")
    rt("delete", "c21")
    lines = out.read_text().split()
    # the holder's hostname; pid 1 there is the holder's sleep, not us
    assert lines[0] == "pyc-held" and lines[1] != "pid=1" and lines[2] == "1", lines


def test_joins_another_containers_user_namespace(bundle, rt):
    def fn(cfg):
        cfg["process"]["args"] = ["sleep", "1000"]
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    edit(bundle, fn)
    rt("run", "-d", "--bundle", str(bundle), "c22")
    owner = state(rt, "c22")["pid"]

    def fn2(cfg):
        cfg["process"]["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map"]
        user = next(n for n in cfg["linux"]["namespaces"] if n["type"] == "user")
        user["path"] = f"/proc/{owner}/ns/user"
        for key in ("uidMappings", "gidMappings"):
            cfg["linux"].pop(key)
    edit(bundle, fn2)
    out = rt("run", "c23", cwd=bundle).stdout.split()
    assert out == ["0", "0", "200000", "65536"]
    rt("delete", "--force", "c22")


def test_a_namespace_path_of_another_type_is_refused(bundle, rt):
    def fn(cfg):
        ipc = next(n for n in cfg["linux"]["namespaces"] if n["type"] == "ipc")
        ipc["path"] = "/proc/self/ns/net"
    edit(bundle, fn)
    p = rt("create", "--bundle", str(bundle), "c24", check=False)
    assert p.returncode == 1 and "is a network namespace" in p.stderr
    assert not (rt.root / "c24").exists()


def test_rlimits_seen_in_proc_self_limits(bundle, rt):
    """runtime-tools' process_rlimits values: soft below hard, each kept."""
    limits = {"RLIMIT_CORE": (3 << 30, 4 << 30), "RLIMIT_CPU": (60, 120),
              "RLIMIT_NOFILE": (3000, 4000), "RLIMIT_STACK": (9 << 30, 10 << 30)}

    def fn(cfg):
        cfg["process"]["args"] = ["cat", "/proc/self/limits"]
        cfg["process"]["rlimits"] = [{"type": k, "soft": s, "hard": h}
                                     for k, (s, h) in limits.items()]
    edit(bundle, fn)
    rows = {line[:26].strip(): line[26:].split()[:2]
            for line in rt("run", "c25", cwd=bundle).stdout.splitlines()[1:]}
    assert rows["Max core file size"] == [str(3 << 30), str(4 << 30)]
    assert rows["Max cpu time"] == ["60", "120"]
    assert rows["Max open files"] == ["3000", "4000"]
    assert rows["Max stack size"] == [str(9 << 30), str(10 << 30)]


def test_mounts_in_the_spec_order_with_their_options(bundle, rt):
    """The runtime spec's order, /sys among them (the engine mounts it after
    its network namespace), and each mount's flags in /proc/self/mountinfo."""
    def fn(cfg):
        cfg["process"]["args"] = ["cat", "/proc/self/mountinfo"]
        cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "cgroup"] + [
            {"destination": "/tmp/a", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "noexec", "size=1k"]},
            {"destination": "/mnt/etc", "source": "/etc", "options": ["rbind", "ro", "nosuid"]}]
        sys = next(m for m in cfg["mounts"] if m["destination"] == "/sys")
        cfg["mounts"].remove(sys)
        cfg["mounts"].insert(1, sys)                     # /proc, /sys, /dev...
    edit(bundle, fn)
    want = [m["destination"] for m in json.loads((bundle / "config.json").read_text())["mounts"]]
    seen = {}
    for line in rt("run", "c26", cwd=bundle).stdout.splitlines():
        f = line.split()
        if f[4] in want and f[4] not in seen:
            seen[f[4]] = f[5].split(",")
    assert list(seen) == want
    assert {"nosuid", "nodev", "noexec"} <= set(seen["/tmp/a"])
    assert {"ro", "nosuid"} <= set(seen["/mnt/etc"]) and "ro" in seen["/sys"]


def mount_points():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def test_without_a_mount_namespace(bundle, rt):
    """No mount namespace in the spec: the container's mounts are made in ours,
    on its rootfs, it chroots there (a pivot_root would move the host's root),
    exec enters the same root, and delete unmounts them all."""
    def fn(cfg):
        cfg["process"]["args"] = ["sleep", "1000"]
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "mount"]
    edit(bundle, fn)
    rt("run", "-d", "--bundle", str(bundle), "c27")
    pid = state(rt, "c27")["pid"]
    rootfs = str(bundle / "rootfs")
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    assert os.readlink(f"/proc/{pid}/root") == rootfs
    assert {rootfs, rootfs + "/proc"} <= mount_points()
    assert set(rt("exec", "c27", "ls", "/").stdout.split()) == set(os.listdir(rootfs))
    # a second one on the same rootfs would stack its mounts on the first's
    p = rt("create", "--bundle", str(bundle), "c28", check=False)
    assert p.returncode == 1 and "already a mount point" in p.stderr
    rt("delete", "--force", "c27")
    assert not any(m.startswith(rootfs) for m in mount_points())


def test_a_sysctl_of_the_hosts_namespace_is_refused(bundle, rt):
    def fn(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "network"]
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    edit(bundle, fn)
    p = rt("create", "--bundle", str(bundle), "c29", check=False)
    assert p.returncode == 1 and "needs a network namespace" in p.stderr
    assert not (rt.root / "c29").exists()


def test_a_mount_label_without_selinux_is_ignored_with_a_warning(bundle, rt):
    """As runc: file labels confine nothing on a host without SELinux (a
    process label, the confinement, is refused: test_absent_lsms_are_refused)."""
    if os.path.exists("/sys/fs/selinux/enforce"):
        pytest.fail("this test is for hosts without SELinux")

    def fn(cfg):
        cfg["process"]["args"] = ["echo", "ran"]
        cfg["linux"]["mountLabel"] = "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811"
    edit(bundle, fn)
    p = rt("run", "c30", cwd=bundle)
    assert p.stdout == "ran\n" and "mountLabel ignored" in p.stderr
