"""BuildKit's scheduling: independent stages build at the same time, the
messages stay in order, a failing stage stops the build cleanly; and two
builds in two processes share one store (its cache and its intermediate
images) without a race."""
import os
import subprocess
import sys
import textwrap

import pytest

from build_helpers import build, run, text, write_context
from pycontainer.errors import BuildError

# Each stage waits for the other's mark in a shared cache mount: built one
# after the other, the first would give up (exit 1) after 20 s.
MEET = ("--mount=type=cache,target=/meet,id=meet-{tag} "
        "touch /meet/{me} && i=0; until [ -e /meet/{other} ]; do i=$((i+1)); "
        "[ $i -gt 400 ] && exit 1; usleep 50000; done; echo {me} > /{me}")


@pytest.fixture
def bclient(fresh_client):
    fresh_client.images.busybox()
    return fresh_client


def test_independent_stages_run_at_the_same_time(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    tag = os.urandom(4).hex()
    image, log = build(bclient, ctx, f"""\
FROM busybox AS left
RUN {MEET.format(tag=tag, me='left', other='right')}
FROM busybox AS right
RUN {MEET.format(tag=tag, me='right', other='left')}
FROM busybox AS unused
RUN exit 3
FROM busybox
COPY --from=left /left /
COPY --from=right /right /
""", tag="par:1")
    assert run(bclient, "par:1", ["cat", "/left", "/right"]) == "left\nright\n"
    steps = [m["stream"] for m in log if m.get("stream", "").startswith("Step ")]
    assert [int(s.split()[1].split("/")[0]) for s in steps] == list(range(1, 8))
    assert all(s.split()[1].endswith("/7") for s in steps)
    assert "unused" not in text(log)
    assert bclient.containers.list(all=True) == []


def test_a_failing_stage_ends_the_build_after_the_others(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    with pytest.raises(BuildError, match="returned a non-zero code: 4") as err:
        build(bclient, ctx, """\
FROM busybox AS ok
RUN echo fine > /fine
FROM busybox AS bad
RUN echo failing; exit 4
FROM busybox
COPY --from=ok /fine /
COPY --from=bad /x /
""", tag="fail:1", forcerm=True)
    assert err.value.exit_code == 4
    assert "failing" in text(err.value.build_log)
    assert bclient.containers.list(all=True) == []
    # the stage that finished is cached
    _, log = build(bclient, ctx, "FROM busybox AS ok\nRUN echo fine > /fine\n", tag="ok:1")
    assert "Using cache" in text(log)


SCRIPT = textwrap.dedent("""\
    import sys
    from pycontainer import Client
    root, ctx, tag, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = Client(root=root)
    for i in range(rounds):
        image, _ = client.images.build(path=ctx, tag=tag, nocache=(i % 2 == 1),
                                       network_mode="none")
        out = client.containers.run(image.id, ["cat", "/made", "/b"], remove=True)
        assert out == b"made\\nb\\n", out
    client.close()
    print("ok")
""")


def test_two_builds_at_once_in_two_processes_share_the_store(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {"b.txt": "b\n", "Dockerfile": """\
FROM busybox AS base
RUN echo made > /made
FROM base
COPY b.txt /b
RUN cat /made /b > /both
"""})
    root = str(tmp_path / "fresh")            # fresh_client's store
    script = str(tmp_path / "builder.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))}
    procs = [subprocess.Popen([sys.executable, script, root, ctx, f"twice:{n}", "4"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for n in (1, 2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode()[-3000:]
        assert out.decode().strip() == "ok"
    for tag in ("twice:1", "twice:2"):
        assert run(bclient, tag, ["cat", "/both"]) == "made\nb\n"
    assert bclient.containers.list(all=True) == []
    leases = os.path.join(root, "build-cache", "leases")
    assert os.listdir(leases) == []
