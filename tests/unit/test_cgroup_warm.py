"""cgroups/warm.py: the attach started ahead moves this process to where it
already is, in every hierarchy, and never two at once."""
import threading
import time

from pycontainer import cgroups
from pycontainer.cgroups import warm


def own_cgroups():
    with open("/proc/self/cgroup") as f:
        return f.read()


def wait_idle(timeout=5.0):
    deadline = time.monotonic() + timeout
    while any(t.name == "pyc-cgroup-warm" for t in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.005)       # polling a thread's end (it has no event)


def test_ahead_leaves_us_where_we_are():
    layout = cgroups.detect()
    before = own_cgroups()
    for _ in range(3):
        warm.ahead(layout)
    assert sum(t.name == "pyc-cgroup-warm" for t in threading.enumerate()) <= 1
    wait_idle()
    assert own_cgroups() == before
    assert warm._busy.acquire(blocking=False)      # released once done
    warm._busy.release()


def test_nothing_on_a_pure_v2_layout():
    warm.ahead(cgroups.Layout(v2="/sys/fs/cgroup"))
    assert not any(t.name == "pyc-cgroup-warm" for t in threading.enumerate())


def test_the_target_is_our_own_cgroup_in_pids():
    layout = cgroups.detect()
    path = warm._own_procs(layout)
    if "pids" in layout.v1:
        rel = next(line.split(":", 2)[2] for line in own_cgroups().splitlines()
                   if "pids" in line.split(":")[1].split(","))
        assert path == f"{layout.v1['pids']}/{rel.lstrip('/')}/cgroup.procs".replace("//", "/")
    else:
        assert (path is None) == (not layout.v1)
