"""Wrong arguments and missing objects raise typed errors at once: at create
(nothing made: no container, no dirs, no cgroups), never late at start and
never as a bare OSError."""
import os

import pytest

from pycontainer import errors

HUGE = [   # (keywords, the one the error must name)
    ({"mem_limit": 2**64}, "mem_limit"),        # was accepted, then OOM-killed at once
    ({"pids_limit": 2**63}, "pids_limit"),      # was ERANGE (untyped OSError) at start
    ({"memswap_limit": 2**64, "mem_limit": "64m"}, "memswap_limit"),
    ({"cpu_quota": 2**62}, "cpu_quota"),
    ({"pids_limit": 5_000_000}, "pids_limit"),  # above the kernel's PID_MAX_LIMIT
    ({"cpuset_cpus": "0-4096"}, "cpuset_cpus"),
    ({"restart_policy": {"Name": "on-failure", "MaximumRetryCount": 2**40}},
     "MaximumRetryCount"),                      # was a struct.error at start
]


def _made(client):
    """Everything a container would leave: ids, store and run dirs, name claims,
    cgroup dirs."""
    rt = client._runtime
    cgroups = set()
    for base in rt.cg.dirs("").values():
        if os.path.isdir(base):
            cgroups |= {os.path.join(base, d) for d in os.listdir(base)}
    return ({c.id for c in client.containers.list(all=True)}, set(os.listdir(rt.containers)),
            set(os.listdir(rt.run_root)), set(os.listdir(rt.names)), cgroups)


def _refused(make):
    """The InvalidArgument ``make()`` raises; a container it made anyway is removed."""
    try:
        made = make()
    except errors.InvalidArgument as err:
        return err
    if made is not None and hasattr(made, "remove"):
        made.remove(force=True)
    pytest.fail("accepted")


@pytest.mark.parametrize("kw, name", HUGE)
@pytest.mark.parametrize("how", ["create", "detach", "attached"])
def test_limits_past_the_kernel_refused_at_create(client, busybox, kw, name, how):
    before = _made(client)
    if how == "create":
        err = _refused(lambda: client.containers.create("busybox", ["true"], **kw))
    else:
        err = _refused(lambda: client.containers.run("busybox", ["true"], remove=True,
                                                     detach=how == "detach", **kw))
    assert str(err).startswith(name)
    assert _made(client) == before


def test_limits_at_the_kernel_bounds_start(client, busybox):
    out = client.containers.run(
        "busybox", ["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max "
                                "/sys/fs/cgroup/memory/memory.limit_in_bytes "
                                "2>/dev/null || cat /sys/fs/cgroup/pids.max"],
        pids_limit=4194304, mem_limit=2**63 - 1, remove=True)
    assert out.split()[0] == b"4194304"


@pytest.mark.parametrize("env, words", [
    ({"A=B": "1"}, "environment key 'A=B'"),
    ({"": "1"}, "environment key ''"),
    ({"A\0B": "1"}, "environment key"),
    ({"A": "x\0y"}, "contains a NUL byte"),
    (["A=x\0y"], "contains a NUL byte"),
])
def test_environment_bad_names_refused(client, busybox, env, words):
    before = _made(client)
    err = _refused(lambda: client.containers.create("busybox", ["true"], environment=env))
    assert words in str(err)
    assert _made(client) == before


def test_environment_list_and_dict_forms_still_work(client, busybox):
    out = client.containers.run("busybox", ["sh", "-c", "echo $A,$B,$C"], remove=True,
                                environment=["A=1", "B=x=y"])
    assert out == b"1,x=y,\n"
    out = client.containers.run("busybox", ["sh", "-c", "echo $A,$B"], remove=True,
                                environment={"A": 1, "B": "x=y"})
    assert out == b"1,x=y\n"


def test_logs_and_commit_of_a_removed_container_not_found(client, busybox):
    c = client.containers.run("busybox", ["echo", "hi"], detach=True)
    c.wait()
    assert c.logs() == b"hi\n"
    c.remove()
    with pytest.raises(errors.NotFound):
        c.logs()
    with pytest.raises(errors.NotFound):
        c.logs(stream=True)
    with pytest.raises(errors.NotFound):
        c.commit("pyc-test-gone")
    assert not client.images.list(name="pyc-test-gone")


def test_logs_of_a_created_container_empty(client, busybox):
    c = client.containers.create("busybox", ["true"])
    try:
        assert c.logs() == b""
    finally:
        c.remove()


def test_import_image_missing_file_typed(client, tmp_path):
    missing = tmp_path / "nonexistent.tar"
    with pytest.raises(errors.NotFound, match="no such file"):
        client.images.import_image(str(missing))
    with pytest.raises(errors.NotFound):
        client.images.import_image(missing)
    with pytest.raises(errors.InvalidArgument, match="is a directory"):
        client.images.import_image(str(tmp_path))


# --- mounts onto what the runtime mounts ---------------------------------------------

MASKED = ("for p in /proc/keys /proc/timer_list /sys/firmware; do [ -e $p ] || continue; "
          "if [ -d $p ]; then n=$(ls -A $p | wc -l); else n=$(cat $p | wc -c); fi; "
          "echo $p=$n; done")


def _masks_hold(out):
    seen = dict(line.split("=") for line in out.split() if line.startswith("/"))
    assert seen and all(v == "0" for v in seen.values()), seen


def test_bind_over_dev_without_null_starts_and_masks_hold(client, busybox, tmp_path):
    # docker allows a bind over /dev; it used to fail at start ("mask /proc/keys: No
    # such file or directory": the masks bound the container's own /dev/null)
    (tmp_path / "marker").write_text("mine\n")
    out = client.containers.run(
        "busybox", ["sh", "-c", f"cat /dev/marker; ls -A /dev | wc -l; {MASKED}"],
        volumes=[f"{tmp_path}:/dev"], remove=True).decode()
    lines = out.split()
    assert lines[:2] == ["mine", "1"]            # the user's dir, nothing of the runtime's
    _masks_hold(out)


def test_bind_host_dev_works(client, busybox):
    out = client.containers.run(
        "busybox", ["sh", "-c", f"echo x > /dev/null && [ -c /dev/null ] && echo ok; {MASKED}"],
        volumes=["/dev:/dev"], remove=True).decode()
    assert out.split()[0] == "ok"
    _masks_hold(out)


def test_tmpfs_on_dev_starts_and_masks_hold(client, busybox):
    # a tmpfs on /dev is the user's /dev; the standard nodes are made in it, as docker does
    out = client.containers.run(
        "busybox", ["sh", "-c", f"[ -c /dev/null ] && [ -c /dev/urandom ] && echo nodes; "
                                f"df /dev | tail -1 | awk '{{print \"size:\" $2}}'; {MASKED}"],
        tmpfs={"/dev": "size=1m"}, remove=True).decode()
    assert out.split()[:2] == ["nodes", "size:1024"]
    _masks_hold(out)


@pytest.mark.parametrize("target", ["/", "/proc", "/sys", "/proc/sys", "/sys/fs/cgroup",
                                    "//", "/proc/../proc"])
def test_bind_onto_runtime_mounts_refused_at_create(client, busybox, tmp_path, target):
    before = _made(client)
    err = _refused(lambda: client.containers.create("busybox", ["true"],
                                                    volumes=[f"{tmp_path}:{target}"]))
    assert "volumes entry" in str(err)
    assert _made(client) == before


# --- the monitor names the step that failed ------------------------------------------

def test_monitor_names_a_failed_cgroup_attach(client, busybox, monkeypatch):
    """The monitor's attach (pid -> cgroup.procs) used to fail as "start the
    container"; it names the step and the cgroup now."""
    cg = client._runtime.cg
    real = cg.attach_steps
    gone = {}

    def attach_steps(cid, pid):   # the last cgroup vanished before the attach
        steps = real(cid, pid)
        kind, path, value = steps[-1]
        gone["dir"] = os.path.dirname(path) + "-gone"
        return steps[:-1] + [(kind, os.path.join(gone["dir"], "cgroup.procs"), value)]
    monkeypatch.setattr(cg, "attach_steps", attach_steps)
    c = client.containers.create("busybox", ["sleep", "30"])
    try:
        with pytest.raises(errors.OperationError) as ei:
            c.start()
        assert str(ei.value) == (f"[Errno 2] attach the init to cgroup {gone['dir']}: No such "
                                 f"file or directory: '{gone['dir']}/cgroup.procs'")
        assert ei.value.index == -2 and ei.value.op.startswith("attach the init to cgroup ")
        c.reload()
        assert not c.attrs["State"]["Running"]
    finally:
        c.remove(force=True)
