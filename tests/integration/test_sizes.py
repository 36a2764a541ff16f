"""Sizes in real containers: mem_limit, tmpfs size= and Mount(tmpfs_size=) take
the same forms (docker's units.RAMInBytes), and the kernel gets the bytes."""
from pycontainer.types import Mount


def sh(client, script, **kw):
    return client.containers.run("busybox", ["sh", "-c", script], remove=True, **kw).decode()


def test_decimal_sizes_reach_the_kernel(client, busybox):
    out = sh(client, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
                     "grep -E ' /(t|m) ' /proc/mounts",
             mem_limit="1.5g", tmpfs={"/t": "size=1.5g,mode=1777"},
             mounts=[Mount("/m", None, type="tmpfs", tmpfs_size="0.5MiB")])
    limit, *mounts = out.splitlines()
    assert int(limit) == 3 << 29
    by_target = {line.split()[1]: line.split()[3] for line in mounts}
    assert "size=1572864k" in by_target["/t"].split(",")     # the kernel shows KiB
    assert "size=512k" in by_target["/m"].split(",")


def test_a_percentage_passes_to_the_kernel(client, busybox):
    out = sh(client, "grep MemTotal /proc/meminfo; grep ' /t ' /proc/mounts",
             tmpfs={"/t": "size=25%"})
    total_kib = int(out.split()[1])
    pages = total_kib // 4            # the kernel takes 25 % of the RAM pages, rounded up
    # not 50 %: that is tmpfs's default, which /proc/mounts leaves out when the
    # page count is even
    assert f"size={(pages * 25 + 99) // 100 * 4}k" in out.split("\n")[1]
