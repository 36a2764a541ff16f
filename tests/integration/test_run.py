"""What a process inside a container sees: real namespaces, mounts, cgroups."""
import errno
import os
import signal

import pytest

from pycontainer import errors


def sh(client, script, **kw):
    kw.setdefault("remove", True)
    return client.containers.run("busybox", ["sh", "-c", script], **kw).decode()


def test_echo(client, busybox):
    assert client.containers.run("busybox", ["sh", "-c", "echo hi"], remove=True) == b"hi\n"


def test_string_command(client, busybox):
    assert client.containers.run("busybox", "echo one two", remove=True) == b"one two\n"


def test_pid_1_and_only_its_own_processes(client, busybox):
    out = sh(client, "echo $$; ls /proc | grep -c '^[0-9]'")
    pid, nprocs = out.split()
    assert pid == "1"
    assert int(nprocs) <= 3      # sh, ls/grep; never the host's hundreds


def test_own_hostname(client, busybox):
    assert sh(client, "hostname", hostname="box1") == "box1\n"
    assert sh(client, "cat /etc/hostname", hostname="box2") == "box2\n"


def test_default_hostname_is_short_id(client, busybox):
    c = client.containers.run("busybox", ["hostname"], detach=True)
    try:
        c.wait(timeout=10)
        assert c.logs().decode().strip() == c.id[:12]
    finally:
        c.remove(force=True)


def test_network_none_has_only_lo(client, busybox):
    assert sh(client, "ls /sys/class/net", network_mode="none").split() == ["lo"]


def test_loopback_is_up(client, busybox):
    # connect once the listener's socket is in LISTEN (0A), on port 4000 (0FA0).
    # The listener's stdin is a fifo it holds open itself: busybox nc half-closes
    # the connection at stdin EOF, and a client that sees that FIN before its
    # own stdin has "ping" quits without sending it (1 run in 12 here).
    listening = "grep -qE '^ *[0-9]+: [0-9A-F]+:0FA0 [0-9A-F]+:0000 0A ' /proc/net/tcp /proc/net/tcp6"
    out = sh(client, "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags; mkfifo /tmp/in; "
                     "nc -l -p 4000 <> /tmp/in > /tmp/got & "
                     f"until {listening} 2>/dev/null; do sleep 0.01; done; "
                     "echo ping | nc 127.0.0.1 4000; wait; cat /tmp/got")
    state, flags, got = out.split()
    assert int(flags, 16) & 1 and got == "ping"


def test_network_host_sees_host_links(client, busybox):
    inside = set(sh(client, "ls /sys/class/net", network_mode="host").split())
    assert inside == set(os.listdir("/sys/class/net"))


def test_host_mounts_invisible(client, busybox):
    mounts = sh(client, "cat /proc/mounts")
    targets = {line.split()[1] for line in mounts.splitlines()}
    assert "/" in targets and "/proc" in targets and "/dev" in targets
    host_targets = {line.split()[4] for line in open("/proc/self/mountinfo")}
    leaked = (targets & host_targets) - {"/", "/proc", "/sys", "/dev", "/dev/shm", "/dev/pts",
                                         "/dev/mqueue", "/sys/fs/cgroup", "/tmp", "/run"}
    leaked = {t for t in leaked if not t.startswith("/sys/fs/cgroup/")}
    assert not leaked


def test_standard_devices(client, busybox):
    out = sh(client, "ls /dev; echo x > /dev/null; head -c 4 /dev/zero | wc -c; readlink /dev/ptmx")
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue",
                 "fd", "stdin", "stdout", "stderr"):
        assert name in out.split()
    assert "pts/ptmx" in out
    assert "4\n" in out


def test_sys_is_read_only(client, busybox):
    out = sh(client, "touch /sys/x 2>&1; echo 1 > /sys/kernel/profiling 2>&1; echo rc=$?")
    assert "Read-only file system" in out
    assert "rc=0" not in out


def test_cgroupfs_read_only_and_own(client, busybox):
    out = sh(client, "cat /proc/self/cgroup; mkdir /sys/fs/cgroup/memory/x 2>&1; echo rc=$?")
    assert "rc=0" not in out
    for line in out.splitlines():
        if ":memory:" in line:
            assert line.endswith(":/")      # its own cgroup, as the root of its namespace


def test_writes_land_in_upper_and_vanish(client, busybox):
    c = client.containers.run("busybox", ["sh", "-c", "echo data > /etc/newfile; rm /bin/ls"],
                              detach=True)
    try:
        assert c.wait(timeout=10)["StatusCode"] == 0
        upper = os.path.join(client._runtime.dir(c.id), "upper")
        with open(os.path.join(upper, "etc", "newfile")) as f:
            assert f.read() == "data\n"
        # The image layer is untouched; the deletion is a whiteout in the upper layer.
        assert all(not os.path.exists(os.path.join(d, "etc", "newfile"))
                   for d in busybox.record.layer_dirs)
        assert any(os.path.lexists(os.path.join(d, "bin", "ls"))
                   for d in busybox.record.layer_dirs)
        # A new container does not see the first one's writes.
        assert sh(client, "cat /etc/newfile 2>&1; ls /bin/ls") .endswith("/bin/ls\n")
    finally:
        c.remove(force=True)
    assert not os.path.exists(client._runtime.dir(c.id))


def test_exit_code_propagates(client, busybox):
    with pytest.raises(errors.ContainerError) as ei:
        sh(client, "echo oops >&2; exit 3")
    assert ei.value.exit_status == 3
    assert ei.value.stderr == b"oops\n"
    assert ei.value.image == "busybox"
    assert not ei.value.oom_killed


def test_signal_propagates(client, busybox):
    with pytest.raises(errors.ContainerError) as ei:
        sh(client, "sleep 10 & kill -TERM $!; wait $!; exit $?")
    assert ei.value.exit_status == 128 + signal.SIGTERM


def test_kill_detached(client, busybox):
    c = client.containers.run("busybox", ["sleep", "30"], detach=True)
    try:
        assert c.status == "running"
        c.kill(signal.SIGKILL)
        assert c.wait(timeout=10)["StatusCode"] == 137
        assert c.status == "exited"
    finally:
        c.remove(force=True)


def test_memory_limit_oom_kills(client, busybox):
    with pytest.raises(errors.ContainerError) as ei:
        # tail buffers /dev/zero (no newline) until the limit kills it
        client.containers.run("busybox", ["tail", "/dev/zero"], mem_limit="16m",
                              memswap_limit="16m", remove=True)
    assert ei.value.exit_status == 137
    assert ei.value.oom_killed
    assert "OOM" in str(ei.value)


def test_pids_limit_stops_fork_loop(client, busybox):
    # ash gives up (exit 2) at the first fork the pids controller refuses
    with pytest.raises(errors.ContainerError) as ei:
        sh(client, "for i in $(seq 40); do sleep 5 & done; echo all forked", pids_limit=10)
    assert ei.value.exit_status == 2
    assert b"can't fork" in ei.value.stderr


def test_cpu_limits_in_cgroup_files(client, busybox):
    out = sh(client, "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us "
                     "/sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus",
             nano_cpus=500_000_000, cpu_shares=512, cpuset_cpus="0")
    assert out.split() == ["50000", "100000", "512", "0"]


def test_memory_limit_in_cgroup_files(client, busybox):
    out = sh(client, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max",
             mem_limit="64m", pids_limit=50)
    assert out.split() == [str(64 << 20), "50"]


@pytest.mark.parametrize("user,expect", [
    ("", "uid=0(root) gid=0(root)"),
    ("1000:1000", "uid=1000 gid=1000"),
    ("nobody", "uid=65534(nobody) gid=65534(nogroup)"),
    ("daemon:users", "uid=1(daemon) gid=100(users)"),
])
def test_user(client, busybox, user, expect):
    assert sh(client, "id", user=user).startswith(expect)


def test_user_supplementary_groups_from_image(client, busybox):
    # busybox's /etc/group lists no members: only the primary group is kept.
    assert sh(client, "id -G", user="daemon") == "1\n"


def test_environment_and_working_dir(client, busybox):
    out = sh(client, "echo $A-$B; pwd; echo $HOME; echo $PATH",
             environment={"A": "1", "B": "two"}, working_dir="/tmp/work")
    a, pwd, home, path = out.split("\n")[:4]
    assert a == "1-two" and pwd == "/tmp/work" and home == "/root" and "/bin" in path
    assert sh(client, "echo $X", environment=["X=y"]) == "y\n"


def test_stdout_stderr_selection(client, busybox):
    script = "echo out; echo err >&2"
    assert sh(client, script) == "out\n"
    assert sh(client, script, stdout=False, stderr=True) == "err\n"
    assert sorted(sh(client, script, stderr=True).split()) == ["err", "out"]


def test_read_only_rootfs(client, busybox):
    out = sh(client, "touch /x 2>&1; touch /tmp/y 2>&1; echo done", read_only=True)
    assert "Read-only file system" in out


def test_unknown_image(client, busybox):
    with pytest.raises(errors.ImageNotFound):
        client.containers.run("nosuchimage:latest", ["true"], remove=True)


def test_missing_command_names_the_op(client, busybox):
    with pytest.raises(errors.OperationError) as ei:
        client.containers.run("busybox", ["/no/such/binary"], remove=True)
    assert ei.value.errno == errno.ENOENT
    assert "exec" in str(ei.value) and "/no/such/binary" in str(ei.value)


@pytest.mark.parametrize("kw", [
    {"mem_limit": "1m"}, {"mem_limit": -5}, {"mem_limit": "lots"}, {"cpu_shares": 1},
    {"cpu_shares": 300000}, {"nano_cpus": 10**12}, {"cpuset_cpus": "0-999"}, {"pids_limit": -7},
    {"user": "nosuchuser"}, {"user": "0:nosuchgroup"}, {"working_dir": "relative"},
    {"hostname": "bad host"}, {"name": "bad/name"}, {"network_mode": "bridge2"},
    {"memswap_limit": "8m", "mem_limit": "16m"}, {"cpu_quota": 10},
])
def test_bad_arguments_create_nothing(client, busybox, kw):
    before = set(os.listdir(client._runtime.containers))
    with pytest.raises(errors.InvalidArgument):
        client.containers.run("busybox", ["true"], remove=True, **kw)
    assert set(os.listdir(client._runtime.containers)) == before


def test_name_conflict(client, busybox):
    c = client.containers.run("busybox", ["sleep", "30"], name="pyc-test-same", detach=True)
    try:
        with pytest.raises(errors.Conflict):
            client.containers.run("busybox", ["true"], name="pyc-test-same", remove=True)
        assert client.containers.get("pyc-test-same").id == c.id
        assert client.containers.get(c.id[:10]).id == c.id
    finally:
        c.remove(force=True)
    with pytest.raises(errors.NotFound):
        client.containers.get("pyc-test-same")


def test_context_manager_removes(client, busybox):
    with client.containers.run("busybox", ["sleep", "30"], detach=True) as c:
        assert c in client.containers.list()
    with pytest.raises(errors.NotFound):
        client.containers.get(c.id)


def test_many_runs_leave_nothing(client, busybox):
    for i in range(50):
        assert sh(client, f"echo {i}") == f"{i}\n"


def test_spawn_path_does_not_grow_memory(client, busybox):
    import resource
    for _ in range(50):
        client.containers.run("busybox", ["true"], remove=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(300):
        client.containers.run("busybox", ["true"], remove=True)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 4 * 1024   # KiB
