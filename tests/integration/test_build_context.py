"""The build context: .dockerignore, and hostile contexts that try to make a
build read outside (symbolic links, ``../``); secrets stay out of the image."""
import hashlib

import pytest

from build_helpers import build, run, write_context
from pycontainer.errors import BuildError

SECRET = "s3cr3t-value-4242"


@pytest.fixture
def bclient(fresh_client):
    fresh_client.images.busybox()
    return fresh_client


def test_dockerignore(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {
        ".dockerignore": "# build outputs\n**/*.log\nsecret/\n!keep.log\ndocs\n!docs/README\n",
        "app.txt": "a", "x.log": "x", "keep.log": "k", "sub/deep/y.log": "y",
        "secret/key": "k", "docs/README": "r", "docs/other": "o"})
    build(bclient, ctx, "FROM busybox\nCOPY . /ctx/\n", tag="ign:1")
    out = run(bclient, "ign:1", ["find", "/ctx", "-type", "f"])
    assert sorted(out.split()) == ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/app.txt",
                                   "/ctx/docs/README", "/ctx/keep.log"]
    with pytest.raises(BuildError, match="excluded by .dockerignore"):
        build(bclient, ctx, "FROM busybox\nCOPY x.log /x\n")
    bclient.images.remove("ign:1")


def test_dockerfile_specific_ignore_file_wins(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {".dockerignore": "a\n", "app.Dockerfile.dockerignore":
                                         "b\n", "a": "a", "b": "b"})
    build(bclient, ctx, "FROM busybox\nCOPY . /ctx/\n", tag="ign:2",
          dockerfile="app.Dockerfile")
    out = run(bclient, "ign:2", ["ls", "/ctx"])
    assert "a" in out.split() and "b" not in out.split()
    bclient.images.remove("ign:2")


@pytest.mark.parametrize("source,files", [
    ("escape", {"escape": ("link", "/etc/hostname")}),
    ("escape", {"escape": ("link", "../../../../../../etc/hostname")}),
    ("dir/x", {"dir": ("link", "/etc")}),
    ("../outside", {}),
    ("sub/../../outside", {"sub/f": "f"}),
])
def test_hostile_sources_are_refused(bclient, tmp_path, source, files):
    (tmp_path / "outside").write_text("host file\n")
    ctx = write_context(tmp_path / "c", files)
    with pytest.raises(BuildError, match="outside the build context") as err:
        build(bclient, ctx, f"FROM busybox\nCOPY {source} /got\n")
    assert "COPY" in str(err.value) or "forbidden" in str(err.value)


def test_links_inside_a_copied_tree_are_copied_not_followed(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {"tree/ok": "ok\n",
                                         "tree/host": ("link", "/etc/hostname"),
                                         "tree/inside": ("link", "ok")})
    build(bclient, ctx, "FROM busybox\nCOPY tree /tree\n", tag="links:1")
    out = run(bclient, "links:1", ["sh", "-c", "readlink /tree/host; readlink /tree/inside; "
                                   "cat /tree/inside"])
    assert out.splitlines() == ["/etc/hostname", "ok", "ok"]
    bclient.images.remove("links:1")


def test_a_link_inside_the_context_is_followed_as_a_source(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {"real.txt": "real\n", "alias": ("link", "real.txt")})
    build(bclient, ctx, "FROM busybox\nCOPY alias /alias\n", tag="alias:1")
    assert run(bclient, "alias:1", ["cat", "/alias"]) == "real\n"
    bclient.images.remove("alias:1")


def test_secret_is_readable_in_run_and_in_no_layer_or_history(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    image, log = build(bclient, ctx, """\
FROM busybox
RUN --mount=type=secret,id=token test "$(md5sum < /run/secrets/token)" = "%s  -" && echo saw-it
RUN --mount=type=secret,id=token,target=/etc/tok,mode=0440,uid=5 stat -c '%%a %%u' /etc/tok > /st
""" % hashlib.md5(SECRET.encode()).hexdigest(), tag="sec:1", secrets={"token": SECRET.encode()})
    assert "saw-it" in "".join(m.get("stream", "") for m in log)
    assert run(bclient, "sec:1", ["cat", "/st"]) == "440 5\n"
    blob = b"".join(image.save())
    assert SECRET.encode() not in blob
    assert SECRET not in str(image.record.config)
    assert run(bclient, "sec:1", ["sh", "-c", "ls /run/secrets /etc/tok 2>&1; true"]) \
        .count("No such file") == 2
    with pytest.raises(BuildError, match="secret missing not found"):
        build(bclient, ctx, "FROM busybox\nRUN --mount=type=secret,id=missing,required=true "
                            "true\n")
    bclient.images.remove("sec:1")


def test_bind_mount_of_the_context(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {"src/a.txt": "bound\n"})
    build(bclient, ctx, "FROM busybox\nRUN --mount=type=bind,source=src,target=/mnt "
                        "cat /mnt/a.txt > /copied && ! touch /mnt/new 2>/dev/null\n",
          tag="bind:1")
    assert run(bclient, "bind:1", ["sh", "-c", "cat /copied; ls /mnt | wc -l"]) == "bound\n0\n"
    bclient.images.remove("bind:1")


def test_bind_mount_from_a_stage_is_read_only_and_not_copied(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    image, log = build(bclient, ctx, """\
FROM busybox AS tools
RUN mkdir /kit && echo 'echo from the kit' > /kit/run.sh
FROM busybox
RUN --mount=type=bind,from=tools,source=/kit,target=/kit sh /kit/run.sh > /ran \\
    && ! touch /kit/new 2>/dev/null
""", tag="bindfrom:1")
    assert run(bclient, "bindfrom:1", ["sh", "-c", "cat /ran; ls /kit 2>&1 | wc -l"]) == \
        "from the kit\n1\n"
    bclient.images.remove("bindfrom:1")
