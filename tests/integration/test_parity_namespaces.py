"""docker-py's namespace keywords, seen from inside the container:
ipc_mode, pid_mode, uts_mode, cgroupns, init, hostname/domainname rules,
shm_size, group_add, oom_score_adj, stop_signal."""
import os
import subprocess

import pytest

from pycontainer import errors


def sh(client, script, **kw):
    kw.setdefault("remove", True)
    return client.containers.run("busybox", ["sh", "-c", script], **kw).decode()


def ns(kind, pid="self"):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def test_pid_mode_host_sees_host_pids(client, busybox):
    out = sh(client, "echo $$; readlink /proc/self/ns/pid", pid_mode="host")
    pid, inode = out.split()
    assert pid != "1" and inode == ns("pid")


def test_pid_mode_container_shares_the_pid_namespace(client, busybox):
    with client.containers.run("busybox", ["sleep", "60"], detach=True) as a:
        theirs = ns("pid", a.attrs["State"]["Pid"])
        out = sh(client, "readlink /proc/self/ns/pid; ps -o comm | grep -c sleep",
                 pid_mode=f"container:{a.name}")
        inode, sleeps = out.split()
        assert inode == theirs and sleeps == "1"
        with client.containers.run("busybox", ["readlink", "/proc/self/ns/pid"], detach=True,
                                   pid_mode=f"container:{a.id}") as b:
            assert b.wait(timeout=10)["StatusCode"] == 0
            assert b.logs().decode().strip() == theirs


def test_ipc_modes(client, busybox):
    assert sh(client, "readlink /proc/self/ns/ipc", ipc_mode="host").strip() == ns("ipc")
    private = sh(client, "readlink /proc/self/ns/ipc", ipc_mode="private").strip()
    assert private != ns("ipc")
    # none: a private namespace and no /dev/shm mount
    out = sh(client, "readlink /proc/self/ns/ipc; grep -c ' /dev/shm ' /proc/self/mounts || true",
             ipc_mode="none")
    inode, shm = out.split()
    assert inode != ns("ipc") and shm == "0"


def test_ipc_container_needs_shareable_and_shares_shm(client, busybox):
    with client.containers.run("busybox", ["sleep", "60"], detach=True) as private:
        with pytest.raises(errors.Conflict, match="shareable"):
            client.containers.create("busybox", "true", ipc_mode=f"container:{private.id}")
    with client.containers.run("busybox", ["sh", "-c", "echo hi > /dev/shm/x; sleep 60"],
                               detach=True, ipc_mode="shareable") as donor:
        theirs = ns("ipc", donor.attrs["State"]["Pid"])
        for _ in range(200):                       # the donor writes its file first
            if donor.exec_run(["cat", "/dev/shm/x"]).output == b"hi\n":
                break
        out = sh(client, "readlink /proc/self/ns/ipc; cat /dev/shm/x",
                 ipc_mode=f"container:{donor.name}")
        assert out.split() == [theirs, "hi"]


def test_uts_mode_host(client, busybox):
    assert sh(client, "hostname", uts_mode="host").strip() == os.uname().nodename
    with pytest.raises(errors.InvalidArgument, match="hostname"):
        client.containers.create("busybox", "true", uts_mode="host", hostname="x")


def test_cgroupns_host_and_private(client, busybox):
    private = sh(client, "readlink /proc/self/ns/cgroup")
    host = sh(client, "readlink /proc/self/ns/cgroup", cgroupns="host")
    assert host.strip() == ns("cgroup") and private.strip() != ns("cgroup")


def test_hostname_rules_with_network_mode(client, busybox):
    assert sh(client, "hostname", network_mode="host").strip() == os.uname().nodename
    with client.containers.run("busybox", ["sleep", "60"], detach=True, hostname="donor",
                               network_mode="none") as a:
        with pytest.raises(errors.InvalidArgument, match="hostname"):
            client.containers.create("busybox", "true", network_mode=f"container:{a.id}",
                                     hostname="other")
        assert sh(client, "cat /etc/hostname; echo $HOSTNAME",
                  network_mode=f"container:{a.id}").split() == ["donor", "donor"]


def test_domainname(client, busybox):
    out = sh(client, "hostname; cat /proc/sys/kernel/domainname", hostname="web",
             domainname="example.test")
    assert out.split() == ["web", "example.test"]


def test_init_reaps_orphans_and_forwards_signals(client, busybox):
    # pid 1 is our init; an orphaned zombie is reaped (no 'Z' left)
    out = sh(client, "cat /proc/1/cmdline | tr '\\0' ' '; echo; (sleep 0.1 &) ; sleep 0.5; "
                     "grep -l zombie /proc/[0-9]*/status 2>/dev/null | wc -l", init=True)
    cmdline, zombies = out.strip().splitlines()
    assert cmdline.split()[:2] == ["/sbin/pyc-init", "--"] and zombies.strip() == "0"
    # the exit code passes through, and SIGTERM reaches sh (which has no handler as pid 1)
    with pytest.raises(errors.ContainerError) as err:
        sh(client, "exit 7", init=True)
    assert err.value.exit_status == 7
    with client.containers.run("busybox", ["sleep", "60"], detach=True, init=True,
                               stop_timeout=30) as c:
        c.stop()
        assert c.wait(timeout=10)["StatusCode"] == 128 + 15
    # read-only in the container
    assert "Read-only" in sh(client, "(echo > /sbin/pyc-init) 2>&1 || true", init=True)


def test_shm_size_group_add_oom_score_adj(client, busybox):
    out = sh(client, "df -k /dev/shm | tail -1; id -G; cat /proc/self/oom_score_adj",
             shm_size="8m", group_add=["disk", 4242], oom_score_adj=500)
    df, groups, adj = out.strip().splitlines()
    assert df.split()[1] == str(8 * 1024)
    gids = groups.split()
    assert "6" in gids and "4242" in gids        # the image's disk group is 6
    assert adj == "500"


def test_a_signal_sent_at_once_after_start_reaches_the_program_under_init(client, busybox):
    """pid 1 drops signals it has no handler for: the runtime execs pyc-init
    with them blocked, so one sent before it is set up waits for it; the
    program itself starts with none blocked. Busy loops make pyc-init late
    (before the fix: 2 in 60 lost, waiting for the timeout)."""
    assert sh(client, "grep SigBlk /proc/self/status", init=True).split() == \
        ["SigBlk:", "0000000000000000"]
    spin = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(3)]
    try:
        for _ in range(40):
            with client.containers.run("busybox", ["sleep", "60"], detach=True,
                                       init=True) as c:
                c.kill(signal="SIGTERM")
                code = c.wait(timeout=20)["StatusCode"]
                c.reload()
                assert code == 128 + 15, str(c.attrs["State"])
    finally:
        for p in spin:
            p.kill()
            p.wait()



def test_stop_signal(client, busybox):
    script = "trap 'exit 42' USR1; touch /ready; sleep 60 & wait"
    with client.containers.run("busybox", ["sh", "-c", script], detach=True,
                               stop_signal="SIGUSR1") as c:
        assert c.attrs["Config"]["StopSignal"] == "SIGUSR1"
        while c.exec_run(["test", "-e", "/ready"]).exit_code != 0:
            pass                                   # the trap is set once /ready exists
        c.stop(timeout=30)
        assert c.wait(timeout=10)["StatusCode"] == 42
