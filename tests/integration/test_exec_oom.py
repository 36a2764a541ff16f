"""An exec into a container at its memory limit never takes the caller down.

The exec child joins the container's memory cgroup before it execs. Had it
shared the caller's memory (CLONE_VM), the OOM killer, scoring tasks by
their mm, would pick it for the caller's size and kill every process sharing
that mm: the caller. The script runs in a subprocess, so a regression shows
as its death, not the test runner's.
"""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from pycontainer import Client
    c = Client(root={store!r}).containers.get({cid!r})
    from pycontainer.errors import Conflict, OperationError
    ballast = bytearray(64 << 20)          # our mm is the biggest by far
    ran = refused = 0
    for _ in range(150):
        try:
            c.exec_run(["true"])
            ran += 1
        except OperationError as err:      # the limit took the exec: said so, typed
            assert "memory limit" in str(err), err
            refused += 1
        except Conflict as err:            # the limit took the container's sh itself
            assert "not running" in str(err), err
            refused += 1
            break
    print(ran + refused, ran)
""")


def test_exec_into_a_container_at_its_memory_limit(client, busybox, store_root):
    # tail /dev/zero grows until the limit kills it, again and again
    with client.containers.run("busybox", ["sh", "-c", "while :; do tail /dev/zero; done"],
                               detach=True, mem_limit="16m", memswap_limit="16m") as c:
        r = subprocess.run([sys.executable, "-c", SCRIPT.format(root=ROOT, store=str(store_root),
                                                                cid=c.id)],
                           capture_output=True, timeout=240)
        assert r.returncode == 0, (r.returncode, r.stderr.decode()[-2000:])
        total, ran = map(int, r.stdout.decode().split())
        assert ran > 0
        if total == 150:                                   # the limit was really hit meanwhile
            assert client._runtime.cg.oom_kills(c.id) > 0
        else:                                              # it took the container's sh
            assert c.wait(timeout=30)["StatusCode"] == 137
