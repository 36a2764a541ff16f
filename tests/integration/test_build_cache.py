"""The build cache: hits reported as docker does, a changed file rebuilds from
the first step that copies it and not earlier, ``nocache`` rebuilds all, a
cache mount persists across builds."""
import os

import pytest

from build_helpers import build, cached_steps, run, text, write_context

DOCKERFILE = """\
FROM busybox
RUN head -c 16 /dev/urandom | od -An -tx1 > /random1
COPY early.txt /early.txt
RUN head -c 16 /dev/urandom | od -An -tx1 > /random2
COPY late.txt /late.txt
ARG LEVEL=1
RUN echo level $LEVEL > /level
CMD cat /random1 /random2 /level
"""


@pytest.fixture
def bclient(fresh_client):
    fresh_client.images.busybox()
    return fresh_client


def test_rebuild_hits_and_a_changed_file_invalidates_exactly_its_steps(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {"early.txt": "e\n", "late.txt": "l\n"})
    first, log = build(bclient, ctx, DOCKERFILE, tag="cache:1")
    assert cached_steps(log) == []
    out1 = run(bclient, "cache:1", None)

    again, log = build(bclient, ctx, tag="cache:1")
    assert cached_steps(log) == [2, 3, 4, 5, 7, 8]
    assert again.id == first.id or again.attrs["RootFS"] == first.attrs["RootFS"]
    assert run(bclient, "cache:1", None) == out1

    # mtime alone changes nothing
    os.utime(os.path.join(ctx, "late.txt"), (1, 1))
    _, log = build(bclient, ctx, tag="cache:1")
    assert cached_steps(log) == [2, 3, 4, 5, 7, 8]

    # a file copied late: the steps before it stay cached
    with open(os.path.join(ctx, "late.txt"), "w") as f:
        f.write("changed\n")
    third, log = build(bclient, ctx, tag="cache:1")
    assert cached_steps(log) == [2, 3, 4]
    layers1, layers3 = first.attrs["RootFS"]["Layers"], third.attrs["RootFS"]["Layers"]
    assert layers3[:-2] == layers1[:-2] and layers3[-2] != layers1[-2]
    assert run(bclient, "cache:1", None) == out1        # random1, random2 from the cache

    # a mode change is a change
    os.chmod(os.path.join(ctx, "early.txt"), 0o600)
    _, log = build(bclient, ctx, tag="cache:1")
    assert cached_steps(log) == [2]

    # a build arg used by a RUN is in its key
    _, log = build(bclient, ctx, tag="cache:1", buildargs={"LEVEL": "2"})
    assert cached_steps(log) == [2, 3, 4, 5]
    assert run(bclient, "cache:1", None).splitlines()[-1] == "level 2"

    # nocache really rebuilds
    fresh, log = build(bclient, ctx, tag="cache:1", nocache=True)
    assert cached_steps(log) == []
    assert run(bclient, "cache:1", None).splitlines()[0] != out1.splitlines()[0]
    assert "---> Using cache" not in text(log)
    bclient.images.remove("cache:1")


def test_cache_survives_a_new_client(bclient, tmp_path):
    from pycontainer import Client
    ctx = write_context(tmp_path / "c", {"early.txt": "e\n", "late.txt": "l\n"})
    build(bclient, ctx, DOCKERFILE, tag="cache:2")
    other = Client(root=bclient.root)
    _, log = build(other, ctx, tag="cache:2")
    assert cached_steps(log) == [2, 3, 4, 5, 7, 8]
    bclient.images.remove("cache:2")


def test_cache_mount_persists_and_stays_out_of_the_layer(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    df = ("FROM busybox\n"
          "RUN --mount=type=cache,target=/var/cache/app "
          "echo run >> /var/cache/app/count && wc -l < /var/cache/app/count > /seen\n")
    build(bclient, ctx, df, tag="cm:1")
    assert run(bclient, "cm:1", ["cat", "/seen"]).strip() == "1"
    build(bclient, ctx, df, tag="cm:1", nocache=True)
    assert run(bclient, "cm:1", ["cat", "/seen"]).strip() == "2"
    # the mount's content is not in the image
    assert run(bclient, "cm:1", ["sh", "-c", "ls -A /var/cache/app 2>&1 || true"]).strip() \
        in ("", "ls: /var/cache/app: No such file or directory")
    bclient.images.remove("cm:1")


def test_source_date_epoch_makes_the_build_reproducible(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {"f": "x\n"})
    df = "FROM busybox\nCOPY f /f\nRUN echo made > /made && mkdir /d\nENV A=1\n"
    dates = {"SOURCE_DATE_EPOCH": "1700000000"}
    one, _ = build(bclient, ctx, df, buildargs=dates, nocache=True)
    two, log = build(bclient, ctx, buildargs=dates, nocache=True)
    assert cached_steps(log) == []                  # every step ran again
    assert one.id == two.id
    assert one.attrs["Created"].startswith("2023-11-14T22:13:20")


def test_an_unchanged_context_is_walked_once_and_a_change_is_never_missed(bclient, tmp_path,
                                                                          monkeypatch):
    """A fully cached rebuild remembers each COPY's digest by the context's
    snapshot; the next one looks the digest up instead of walking again, and
    any change of an entry's stat (ctime included) makes it walk again."""
    from pycontainer.build import copying, executor
    monkeypatch.setattr(copying, "RACY_NS", 0)        # the test cannot wait 2 s
    probes = []
    real = executor.probe_digest
    monkeypatch.setattr(executor, "probe_digest",
                        lambda *a: probes.append(1) or real(*a))
    ctx = write_context(tmp_path / "c", {"d/a.txt": "aaaa\n", "d/b.txt": "b\n"})
    df = "FROM busybox\nCOPY d/ /d/\nCMD [\"cat\", \"/d/a.txt\"]\n"
    build(bclient, ctx, df, tag="memo:1")               # walks (small files: read), remembers
    assert len(probes) == 1
    for _ in range(2):
        _, log = build(bclient, ctx, tag="memo:1")      # looks it up
        assert cached_steps(log) == [2, 3] and len(probes) == 1

    a = os.path.join(ctx, "d", "a.txt")
    st = os.stat(a)
    with open(a, "w") as f:
        f.write("AAAA\n")                               # same size, mtime put back
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    _, log = build(bclient, ctx, tag="memo:1")
    assert cached_steps(log) == [] and len(probes) == 2
    assert run(bclient, "memo:1", None) == "AAAA\n"

    build(bclient, ctx, tag="memo:1")                   # remembered again
    os.chmod(a, 0o600)
    with open(os.path.join(ctx, "d", "new.txt"), "w") as f:
        f.write("new\n")
    _, log = build(bclient, ctx, tag="memo:1")
    assert cached_steps(log) == []
    assert run(bclient, "memo:1", ["sh", "-c", "stat -c %a /d/a.txt; cat /d/new.txt"]) \
        == "600\nnew\n"
    bclient.images.remove("memo:1")
