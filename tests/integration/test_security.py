"""Docker-grade defaults, checked from inside real containers."""
import hashlib
import io
import os
import sys
import tarfile
import threading
import time

import pytest

from pycontainer import errors
from pycontainer.engine import state as _state

DEFAULT_CAPS = "00000000a80425fb"


def sh(client, script, **kw):
    kw.setdefault("remove", True)
    return client.containers.run("busybox", ["sh", "-c", script], stderr=True, **kw).decode()


def status(out):
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_default_capabilities_and_seccomp(client, busybox):
    st = status(sh(client, "cat /proc/self/status"))
    assert st["CapBnd"] == st["CapEff"] == st["CapPrm"] == DEFAULT_CAPS
    assert st["CapInh"] == st["CapAmb"] == "0000000000000000"
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "0"


def test_non_root_user_has_no_effective_caps(client, busybox):
    st = status(sh(client, "cat /proc/self/status", user="1000:1000"))
    assert st["CapEff"] == st["CapPrm"] == "0000000000000000"
    assert st["CapBnd"] == DEFAULT_CAPS
    assert st["Seccomp"] == "2"


@pytest.mark.parametrize("cmd", [
    "mount -t tmpfs none /mnt", "umount /proc", "unshare -n true", "unshare -U true",
    "nsenter -t 1 -m true",
])
def test_admin_calls_refused(client, busybox, cmd):
    out = sh(client, f"{cmd}; echo rc=$?")
    assert "rc=0" not in out
    assert "ermi" in out or "not permitted" in out      # EPERM, whatever the wording


def test_keyctl_refused_with_eperm(client, busybox, tmp_path):
    # busybox has no keyctl: call the syscall through a tiny static helper.
    exe = _static_probe(tmp_path, "keyctl", textwrap_keyctl())
    out = client.containers.run("busybox", [f"/probe/{exe}"], remove=True,
                                volumes={str(tmp_path): {"bind": "/probe", "mode": "ro"}})
    assert out.decode().split() == ["keyctl", "-1", "1", "add_key", "-1", "1", "userfaultfd", "-1", "1",
                           "io_uring_setup", "-1", "1", "clone3", "-1", "38"]


def textwrap_keyctl():
    return r"""
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
static void t(const char *n, long r) { printf("%s %ld %d\n", n, r, r < 0 ? errno : 0); }
int main(void) {
    t("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
    t("add_key", syscall(SYS_add_key, "user", "x", "y", 1, -1));
    t("userfaultfd", syscall(SYS_userfaultfd, 0));
    t("io_uring_setup", syscall(SYS_io_uring_setup, 1, 0));
    t("clone3", syscall(SYS_clone3, 0, 0));
    return 0;
}
"""


def test_masked_paths_read_empty(client, busybox):
    out = sh(client, "for p in /proc/keys /proc/timer_list /proc/acpi /sys/firmware; do "
                     "[ -e $p ] || continue; if [ -d $p ]; then n=$(ls -A $p | wc -l); "
                     "else n=$(cat $p | wc -c); fi; echo $p=$n; done")
    seen = dict(line.split("=") for line in out.split())
    assert seen and all(v == "0" for v in seen.values()), seen



def test_ghsa_6fw5_f8r9_fgfm_interrupts_and_powercap_masked(client, busybox):
    # Docker masks /proc/interrupts and the thermal throttle counters
    # (GHSA-6fw5-f8r9-fgfm) and powercap (GHSA-jq35-85cj-fj4p, where the host has it).
    host = {p: os.path.exists(p) for p in ("/proc/interrupts", "/sys/devices/virtual/powercap")}
    assert host["/proc/interrupts"]
    out = sh(client, "wc -c < /proc/interrupts; "
                     "[ -d /sys/devices/virtual/powercap ] && ls -A /sys/devices/virtual/powercap "
                     "| wc -l || echo absent")
    lines = out.split()
    assert lines[0] == "0", out
    assert lines[1] == ("0" if host["/sys/devices/virtual/powercap"] else "absent"), out


def test_cve_2026_31431_af_alg_socket_refused(client, busybox, tmp_path):
    # Docker's profile allows socket() for every family but AF_ALG (38) and
    # AF_VSOCK (40); those get the default action, EPERM. AF_NFC (39) and
    # AF_KCM (41) pass the filter (the kernel may still lack them).
    exe = _static_probe(tmp_path, "sock", r"""
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
int main(void) {
    int fams[] = {1, 37, 38, 39, 40, 41};
    for (unsigned i = 0; i < sizeof fams / sizeof *fams; i++) {
        int fd = socket(fams[i], SOCK_SEQPACKET, 0);
        printf("%d %d\n", fams[i], fd < 0 ? errno : 0);
    }
    return 0;
}
""")
    out = client.containers.run("busybox", [f"/probe/{exe}"], remove=True,
                                volumes={str(tmp_path): {"bind": "/probe", "mode": "ro"}})
    got = dict(line.split() for line in out.decode().splitlines())
    assert got["38"] == got["40"] == "1", got            # EPERM from the filter
    assert got["1"] == "0", got                           # AF_UNIX works
    assert "1" not in (got["37"], got["39"], got["41"]), got


def _static_probe(tmp_path, name, source):
    """Compile ``source`` into a static helper in ``tmp_path``; its file name."""
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    exe = tmp_path / name
    os.system(f"gcc -static -O1 -o {exe} {src} 2>/dev/null")
    if not exe.exists():
        pytest.fail("gcc -static is needed for this test (libc6-dev)")
    return name

def test_proc_sys_and_sys_refuse_writes(client, busybox):
    out = sh(client, "echo 1 > /proc/sys/kernel/ns_last_pid; echo rc=$?; "
                     "echo 1 > /proc/sysrq-trigger; echo rc=$?; touch /sys/x; echo rc=$?")
    assert out.count("Read-only file system") >= 2 and "rc=0" not in out


def test_devices_outside_allow_list_refused_after_mknod(client, busybox):
    out = sh(client, "mknod /tmp/mem c 1 1 && echo made; head -c 1 /tmp/mem; echo rc=$?; "
                     "mknod /tmp/sda b 8 0; head -c 1 /tmp/sda; echo rc=$?; head -c 1 /dev/zero | wc -c")
    assert "made" in out
    assert out.count("Operation not permitted") == 2
    assert out.strip().endswith("1")


def test_devices_option_adds_one(client, busybox):
    if not os.path.exists("/dev/fuse"):
        pytest.fail("this test needs /dev/fuse on the host")
    out = sh(client, "ls -l /dev/fuse; exec 3</dev/fuse && echo opened",
             devices=["/dev/fuse:/dev/fuse:rwm"])
    assert "opened" in out


def test_cap_add_drop(client, busybox):
    st = status(sh(client, "cat /proc/self/status", cap_drop=["ALL"], cap_add=["CAP_NET_ADMIN"]))
    assert st["CapBnd"] == "0000000000001000"
    st = status(sh(client, "cat /proc/self/status", cap_drop=["chown"]))
    assert int(st["CapBnd"], 16) == int(DEFAULT_CAPS, 16) & ~1
    with pytest.raises(errors.InvalidArgument):
        sh(client, "true", cap_add=["CAP_NOPE"])


def test_no_new_privileges(client, busybox):
    assert status(sh(client, "cat /proc/self/status",
                     security_opt=["no-new-privileges"]))["NoNewPrivs"] == "1"


def test_seccomp_unconfined_and_custom_profile(client, busybox, tmp_path):
    assert status(sh(client, "cat /proc/self/status",
                     security_opt=["seccomp=unconfined"]))["Seccomp"] == "0"
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", '
                       '"mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}')
    out = sh(client, "mkdir /tmp/x; echo rc=$?", security_opt=[f"seccomp={profile}"])
    assert "Permission denied" in out and "rc=1" in out
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(errors.InvalidArgument):
        sh(client, "true", security_opt=[f"seccomp={bad}"])


def test_privileged(client, busybox):
    out = sh(client, "cat /proc/self/status; mkdir -p /tmp/m; mount -t tmpfs x /tmp/m && "
                     "echo mounted", privileged=True)
    assert "mounted" in out
    st = status(out)
    assert st["Seccomp"] == "0"
    assert int(st["CapEff"], 16) == int(open("/proc/self/status").read().split("CapBnd:\t")[1][:16], 16)


def test_sysctls(client, busybox):
    assert sh(client, "cat /proc/sys/kernel/shmmni", sysctls={"kernel.shmmni": "2048"}) == "2048\n"
    with pytest.raises(errors.InvalidArgument):
        sh(client, "true", sysctls={"kernel.panic": "1"})
    with pytest.raises(errors.InvalidArgument):
        sh(client, "true", sysctls={"net.ipv4.ip_forward": "1"}, network_mode="host")


def test_ulimits(client, busybox):
    assert sh(client, "ulimit -n", ulimits=[{"Name": "nofile", "Soft": 512, "Hard": 1024}]) == "512\n"
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with pytest.raises(errors.InvalidArgument):
        sh(client, "true", ulimits=[{"Name": "nofile", "Soft": 1, "Hard": hard + 1}])
    with pytest.raises(errors.InvalidArgument):
        sh(client, "true", ulimits=[{"Name": "nofile", "Soft": 10, "Hard": 5}])


def test_exec_is_as_confined(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        st = status(c.exec_run(["cat", "/proc/self/status"]).output.decode())
        assert st["CapBnd"] == st["CapEff"] == DEFAULT_CAPS and st["Seccomp"] == "2"
        assert c.exec_run(["sh", "-c", "mount -t tmpfs x /mnt"]).exit_code != 0


# -- the known escapes -------------------------------------------------------

def _import(client, name, members):
    """An image: busybox's files plus ``members`` [(path, kind, data)]."""
    buf = io.BytesIO()
    base = client.images.get("busybox").record.layer_dirs[0]
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for sub in ("bin", "etc"):
            tar.add(os.path.join(base, sub), arcname=sub)
        for path, kind, data in members:
            ti = tarfile.TarInfo(path)
            if kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tar.addfile(ti)
            elif kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    return client.images.import_image(buf.getvalue(), repository=name, tag="1",
                                      changes=['CMD ["sh"]'])


def test_cve_2019_19921_symlinked_proc_sys_dev(client, busybox, tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    img = _import(client, "pyc-evil-links", [
        ("proc", "symlink", str(probe)), ("sys", "symlink", str(probe)),
        ("dev", "symlink", str(probe))])
    out = client.containers.run(img.id, ["sh", "-c", "ls /proc/self/status /dev/null; "
                                                     "cat /proc/1/cmdline; echo x > /dev/null"],
                                remove=True).decode()
    assert "/proc/self/status" in out
    assert os.listdir(probe) == []           # nothing mounted or written through the links


def test_cve_2025_31133_dev_null_symlink_masks(client, busybox):
    before = sha("/etc/passwd")
    img = _import(client, "pyc-evil-null", [("dev", "dir", b""),
                                            ("dev/null", "symlink", "/proc/sys/kernel/core_pattern"),
                                            ("dev/console", "symlink", "/etc/passwd")])
    out = client.containers.run(img.id, ["sh", "-c", "cat /proc/keys | wc -c; "
                                                     "echo owned > /dev/null; readlink /dev/null; "
                                                     "ls -l /dev/null"], remove=True).decode()
    assert out.split()[0] == "0"
    assert sha("/etc/passwd") == before
    with open("/proc/sys/kernel/core_pattern") as f:
        assert "owned" not in f.read()


def test_cve_2024_21626_no_leaked_fds(client, busybox):
    out = sh(client, "ls /proc/self/fd")
    assert sorted(out.split()) == ["0", "1", "2", "3"]      # 3: ls's own directory
    for fd in range(3, 12):
        with pytest.raises((errors.OperationError, errors.ContainerError)):
            client.containers.run("busybox", ["ls", "."], working_dir=f"/proc/self/fd/{fd}",
                                  remove=True)
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        assert sorted(c.exec_run(["ls", "/proc/self/fd"]).output.split()) == [b"0", b"1", b"2", b"3"]
        for fd in range(3, 12):
            with pytest.raises(errors.OperationError):
                c.exec_run(["ls"], workdir=f"/proc/self/fd/{fd}")


def test_cve_2024_21626_image_workdir(client, busybox):
    img = client.images.import_image(_tar_of(client), repository="pyc-evil-wd", tag="1",
                                     changes=["WORKDIR /proc/self/fd/5", 'CMD ["ls", "-la", "../../../"]'])
    with pytest.raises((errors.OperationError, errors.ContainerError)):
        client.containers.run(img.id, remove=True)


def _tar_of(client):
    buf = io.BytesIO()
    base = client.images.get("busybox").record.layer_dirs[0]
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for sub in ("bin", "etc"):
            tar.add(os.path.join(base, sub), arcname=sub)
    return buf.getvalue()


def test_cve_2019_14271_no_nss_in_our_process(client, busybox, monkeypatch):
    import grp
    import pwd

    def refuse(*a):
        raise AssertionError("the host's NSS was consulted")
    for mod, names in ((pwd, ("getpwnam", "getpwuid")), (grp, ("getgrnam", "getgrgid"))):
        for n in names:
            monkeypatch.setattr(mod, n, refuse)
    assert sh(client, "id -u", user="nobody") == "65534\n"
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        assert c.exec_run("id -u", user="daemon").output == b"1\n"


def test_cve_2022_24769_and_2023_25173_groups_and_inheritable(client, busybox):
    st = status(sh(client, "cat /proc/self/status", user="1000:1000"))
    assert st["Groups"].split() == ["1000"]
    assert st["CapInh"] == "0000000000000000"
    st = status(sh(client, "cat /proc/self/status", user="nobody"))
    assert "0" not in st["Groups"].split()


def test_cve_2022_0492_release_agent(client, busybox):
    agents = [os.path.join(m, "release_agent") for m in
              {client._runtime.cgroup_layout.v1.get(c) for c in ("memory", "rdma", "pids")} if m]
    before = {p: open(p).read() for p in agents if os.path.exists(p)}
    out = sh(client, "mkdir -p /tmp/cg; mount -t cgroup -o memory cgroup /tmp/cg; echo m=$?; "
                     "unshare -UrmC sh -c 'mount -t cgroup -o memory cgroup /tmp/cg && "
                     "echo /evil > /tmp/cg/release_agent'; echo u=$?; "
                     "echo /evil > /sys/fs/cgroup/memory/release_agent; echo w=$?")
    assert "m=0" not in out and "u=0" not in out and "w=0" not in out
    assert {p: open(p).read() for p in before} == before


def test_cve_2019_5736_host_binaries_untouched(client, busybox):
    from pycontainer._core import _pyc
    targets = [sys.executable, _pyc.__file__,
               os.path.join(os.path.dirname(_pyc.__file__), "pyc-monitor")]
    hashes = {t: sha(t) for t in targets}
    with client.containers.run("busybox", ["sh", "-c",
                                           "while :; do for p in /proc/[0-9]*; do "
                                           "(echo x >> $p/exe) 2>/dev/null && echo WROTE $p; "
                                           "done; done"], detach=True) as c:
        for _ in range(30):           # execs join the container while it hunts for them
            c.exec_run(["true"])
        assert b"WROTE" not in c.logs()
        # The monitor is outside the container's pid namespace: nothing to find there.
        mon = c.attrs["State"]["MonitorPid"]
        assert c.exec_run(["sh", "-c", f"cat /proc/{mon}/cmdline"]).exit_code != 0 or \
            b"pyc-monitor" not in c.exec_run(["cat", f"/proc/{mon}/cmdline"]).output
    assert {t: sha(t) for t in targets} == hashes


def test_cve_2016_9962_joining_exec_not_dumpable(client, busybox):
    from pycontainer.engine import exec as _exec
    from pycontainer.runtime import process
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        results = []
        real_spawn = process.spawn

        def probing_spawn(plan, argv, env, flags, attach=None, **kw):
            def attach_and_probe(pid):
                if attach:
                    attach(pid)
                _exec.spawn = real_spawn          # the probe itself is a plain exec
                # The joining child waits at its SYNC op now: probe it from inside.
                nspid = [ln.split()[-1] for ln in open(f"/proc/{pid}/status")
                         if ln.startswith("NSpid:")][0]
                # fd numbers may be listed (root's DAC), but no fd, exe or
                # environ can be reached: that needs ptrace access.
                results.append(c.exec_run(["sh", "-c",
                                           f"for f in /proc/{nspid}/fd/*; do readlink $f; "
                                           f"cat $f </dev/null >/dev/null; done; "
                                           f"cat /proc/{nspid}/environ; readlink /proc/{nspid}/exe"],
                                          demux=True))
            return real_spawn(plan, argv, env, flags, attach=attach_and_probe, **kw)
        _exec.spawn, saved = probing_spawn, _exec.spawn
        try:
            c.exec_run(["true"])
        finally:
            _exec.spawn = saved
        code, (out, err) = results[0]
        assert code != 0 and not out
        assert err.count(b"ermission denied") >= 4


def test_cve_2021_30465_mount_target_swap_race(client, busybox, tmp_path):
    """A container swaps a directory of a shared volume with a symlink to / while
    another container mounts onto a path inside that volume."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "d").mkdir()
    probe = tmp_path / "host-probe"
    probe.mkdir()
    swapper = client.containers.run("busybox", ["sh", "-c",
                                                f"cd /v; while :; do mv d d.real; ln -s {probe} d; "
                                                "rm d; mv d.real d; done"],
                                    detach=True, volumes={str(shared): {"bind": "/v", "mode": "rw"}})
    try:
        for _ in range(20):
            try:
                client.containers.run("busybox", ["true"], remove=True,
                                      volumes={str(shared): {"bind": "/v", "mode": "rw"}},
                                      tmpfs={"/v/d/t": "size=1m"})
            except errors.PyContainerError:
                pass
    finally:
        swapper.remove(force=True)
    assert os.listdir(probe) == []
    mounts = open("/proc/self/mountinfo").read()
    assert str(probe) not in mounts


# -- user namespaces ---------------------------------------------------------

def test_userns_auto_maps_root_to_unprivileged_host_uid(client, busybox):
    out = sh(client, "id -u; cat /proc/self/uid_map /proc/self/gid_map; ls -ln /bin/busybox; "
                     "echo hi > /tmp/f && cat /tmp/f", userns_mode="auto")
    lines = out.split("\n")
    assert lines[0] == "0"
    inside, host, size = lines[1].split()
    assert inside == "0" and int(host) >= 0x10000000 and size == "65536"
    assert lines[3].split()[2:4] == ["0", "0"]        # shared layer seen through the id map
    assert "hi" in out


def test_userns_host_view_and_exec(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True,
                               userns_mode="auto") as c:
        pid = c.attrs["State"]["Pid"]
        host_uid = os.stat(f"/proc/{pid}").st_uid
        assert host_uid >= 0x10000000
        assert c.exec_run("id -u") == (0, b"0\n")
        # The host's root files stay out of reach of the container's root.
        code, out = c.exec_run(["sh", "-c", "cat /proc/1/root/etc/shadow 2>&1; "
                                            "mkdir -p /tmp/m; mount -t tmpfs x /tmp/m; echo rc=$?"])
        assert b"rc=0" not in out


def test_userns_ranges_differ_and_are_released(client, busybox):
    a = client.containers.run("busybox", ["sleep", "30"], detach=True, userns_mode="auto")
    b = client.containers.run("busybox", ["sleep", "30"], detach=True, userns_mode="auto")
    try:
        ua = os.stat(f"/proc/{a.attrs['State']['Pid']}").st_uid
        ub = os.stat(f"/proc/{b.attrs['State']['Pid']}").st_uid
        assert abs(ua - ub) >= 65536
    finally:
        a.remove(force=True)
        b.remove(force=True)
    import json
    with open(os.path.join(client.root, "userns.json")) as f:
        table = json.load(f)
    assert a.id not in table and b.id not in table
