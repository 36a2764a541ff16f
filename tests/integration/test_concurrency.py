"""Several processes on one store at once: starts never fail because another
process constructs a Client (repair) or collects garbage meanwhile.

Regression for the cross-process races: repair used to remove the cgroups of
containers another process was starting, and garbage collection could delete
a run dir between its mkdir and its lock. The starters and the repairers run
in the test's own network namespace (see test_networks.py), on one user
network, so leases and veths are exercised too.
"""
import json
import subprocess
import sys
import textwrap

from test_networks import ROOT, in_netns, netns  # noqa: F401  (fixture)

LABEL = "pyc-test-concurrency"

STARTER = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from pycontainer import Client, errors
    c = Client(root={store!r})
    failures = []
    for i in range({n}):
        try:
            if i % 2:
                x = c.containers.run("busybox", ["true"], network={net!r}, detach=True,
                                     labels={{{label!r}: "1"}})
                x.wait(timeout=30)
                x.remove(force=True)
            else:
                c.containers.run("busybox", ["true"], network={net!r}, remove=True,
                                 labels={{{label!r}: "1"}})
        except Exception as err:
            failures.append(f"{{i}}: {{type(err).__name__}}: {{err}}")
    print(json.dumps(failures))
""")

REPAIRER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from pycontainer import Client
    n = 0
    while not os.path.exists({stop!r}):
        Client(root={store!r}).ping()       # the first use repairs the store
        n += 1
    print(n)
""")


def _remove_labelled(client):
    for c in client.containers.list(all=True, filters={"label": LABEL}):
        c.remove(force=True)


def test_starts_survive_concurrent_repair(client, busybox, netns, store_root, tmp_path):
    def body(client):
        net = client.networks.create("pyc-t-race")
        stop = str(tmp_path / "stop")
        fmt = dict(root=ROOT, store=str(store_root), net="pyc-t-race", label=LABEL, stop=stop)
        starters, repairers = [], []
        try:
            repairers = [subprocess.Popen([sys.executable, "-c", REPAIRER.format(**fmt)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                         for _ in range(2)]
            starters = [subprocess.Popen([sys.executable, "-c", STARTER.format(n=100, **fmt)],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                        for _ in range(2)]
            failures = []
            for p in starters:
                out, err = p.communicate(timeout=300)
                assert p.returncode == 0, err.decode()
                failures += json.loads(out)
            open(stop, "w").close()
            rounds = []
            for p in repairers:
                out, err = p.communicate(timeout=60)
                assert p.returncode == 0, err.decode()
                rounds.append(int(out))
            assert failures == []
            assert min(rounds) > 0          # the repairers really ran meanwhile
        finally:
            open(stop, "w").close()
            for p in starters + repairers:
                if p.poll() is None:
                    p.kill()
                p.wait()
            _remove_labelled(client)     # what a failed subprocess left
            net.remove()
    in_netns(netns, body, client)
