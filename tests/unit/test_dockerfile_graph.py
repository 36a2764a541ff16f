"""The stage graph (which stages a target needs, and what each waits for),
the COPY probe (a digest without writing, never from a stale memo), and
the build leases, on temporary directories."""
import os

from pycontainer.build import copying, graph
from pycontainer.build.cache import Lease
from pycontainer.build.context import Context
from pycontainer.build.dockerfile import parse
from pycontainer.build.layer import LayerWriter


class _Builder:
    def __init__(self, text, target=None):
        self.df, self.target = parse(text), target

    def meta_scope(self):
        return {"SRC": "tools"}


DOCKERFILE = """\
ARG SRC
FROM busybox AS tools
FROM busybox AS left
FROM busybox AS right
FROM left AS both
COPY --from=right /r /r
RUN --mount=type=bind,from=${SRC},target=/t true
FROM busybox AS unused
FROM both
COPY --from=0 /x /x
"""


def test_plan_keeps_what_the_target_needs_and_each_stage_waits_for_its_sources():
    stages, deps = graph.plan(_Builder(DOCKERFILE))
    assert [s.name for s in stages] == ["tools", "left", "right", "both", None]
    assert deps == {0: set(), 1: set(), 2: set(), 3: {0, 1, 2}, 5: {0, 3}}
    stages, deps = graph.plan(_Builder(DOCKERFILE, target="right"))
    assert [s.name for s in stages] == ["right"] and deps == {2: set()}


def _digest(ctx, probe):
    def fill(job):
        job.add_tree(ctx, "src", "/dst", True)
    if probe:
        return copying.probe_digest([], {}, fill)
    writer = LayerWriter(ctx.path)
    try:
        job = copying.CopyJob(writer, [])
        fill(job)
        return job.digest()
    finally:
        writer.close()


def test_probe_gives_the_written_digest_and_sees_every_change(tmp_path, monkeypatch):
    root = tmp_path / "c"
    (root / "src" / "sub").mkdir(parents=True)
    for i in range(5):
        (root / "src" / "sub" / f"f{i}").write_text(f"{i}\n")
    old = 1_000_000_000
    for p in (root / "src" / "sub").iterdir():
        os.utime(p, (old, old))
    ctx = Context(str(root))
    try:
        written = _digest(ctx, probe=False)
        assert _digest(ctx, probe=True) == written
        # a change within the racy window of the last read is seen (read again)
        (root / "src" / "sub" / "f1").write_text("changed\n")
        changed = _digest(ctx, probe=True)
        assert changed != written and changed == _digest(ctx, probe=False)
        # past the probe's read budget it gives up: the layer is written instead
        monkeypatch.setattr(copying, "PROBE_READ", 1)
        (root / "src" / "sub" / "f2").write_text("again\n")
        assert _digest(ctx, probe=True) is None
        # mode is in the digest, mtime is not
        os.chmod(root / "src" / "sub" / "f3", 0o600)
        monkeypatch.setattr(copying, "PROBE_READ", 1 << 20)
        with_mode = _digest(ctx, probe=True)
        os.utime(root / "src" / "sub" / "f3", (old, old))
        assert _digest(ctx, probe=True) == with_mode == _digest(ctx, probe=False)
    finally:
        ctx.close()


def test_a_live_lease_keeps_its_images_and_a_stale_one_is_cleared(tmp_path):
    one, two = Lease(str(tmp_path)), Lease(str(tmp_path))
    try:
        with one.using("sha256:aaa"):
            pass
        removed = []
        two.drop(removed.append, ["sha256:aaa", "sha256:bbb"])
        assert removed == ["sha256:bbb"]
        one.close()
        # a build that died: its file stays, its lock went with it
        (tmp_path / "leases" / "999-dead").write_text("sha256:aaa\n")
        removed = []
        two.drop(removed.append, ["sha256:aaa"])
        assert removed == ["sha256:aaa"]
        assert os.listdir(tmp_path / "leases") == [os.path.basename(two.path)]
    finally:
        one.close()
        two.close()
    assert os.listdir(tmp_path / "leases") == []
