"""Real builds on the busybox base: each instruction's effect seen in the
image config or from inside a container of the result."""
import io
import json
import tarfile

import pytest

from build_helpers import build, run, text, write_context
from pycontainer.errors import BuildError, DockerfileError, ImageNotFound, NotFound


@pytest.fixture
def bclient(fresh_client):
    fresh_client.images.busybox()
    return fresh_client


def test_metadata_instructions_change_the_config_only(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    image, log = build(bclient, ctx, """\
# syntax=docker/dockerfile:1
ARG FLAVOUR=plain
FROM busybox
ARG FLAVOUR
ARG LEVEL=3
ENV APP=/srv/app \\
    MODE="$FLAVOUR mode" LEVEL=${LEVEL:-9}
LABEL org.example.title="my app" version=1
EXPOSE 80 53/udp
USER nobody
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD wget -q localhost || exit 1
VOLUME ["/data"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/echo"]
CMD ["$APP"]
MAINTAINER someone
""", tag="meta:1", buildargs={"FLAVOUR": "fancy"})
    cfg = image.attrs["Config"]
    assert cfg["Env"][-3:] == ["APP=/srv/app", "MODE=fancy mode", "LEVEL=3"]
    assert cfg["Labels"] == {"org.example.title": "my app", "version": "1"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["User"] == "nobody" and cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost || exit 1"],
                                  "Interval": 5_000_000_000, "Timeout": 2_000_000_000,
                                  "Retries": 4}
    assert cfg["Volumes"] == {"/data": {}} and cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["OnBuild"] == ["RUN echo triggered"]
    assert cfg["Entrypoint"] == ["/bin/echo"] and cfg["Cmd"] == ["$APP"]
    assert image.attrs["Author"] == "someone"
    base = bclient.images.get("busybox")
    # no new layer: metadata only
    assert image.attrs["RootFS"]["Layers"] == base.attrs["RootFS"]["Layers"]
    history = image.record.config["history"]
    mine = history[len(base.record.config["history"]):]
    assert all(h.get("empty_layer") for h in mine)
    assert [h["created_by"].split()[0] for h in mine] == [
        "ENV", "LABEL", "EXPOSE", "USER", "STOPSIGNAL", "HEALTHCHECK", "VOLUME", "SHELL",
        "ONBUILD", "ENTRYPOINT", "CMD", "MAINTAINER"]
    assert "Successfully tagged meta:1\n" in text(log)
    assert {"aux": {"ID": image.id}} in log

    # ONBUILD runs in the next build that starts FROM it
    child, log = build(bclient, ctx, "FROM meta:1\n", tag="child:1")
    assert "# Executing 1 build trigger" in text(log) and "triggered" in text(log)
    assert "OnBuild" not in child.attrs["Config"]
    bclient.images.remove("child:1")
    bclient.images.remove("meta:1")


def test_run_sees_env_args_workdir_user_and_shell(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    image, log = build(bclient, ctx, """\
FROM busybox
ARG WHO=world
ENV GREETING=hello
WORKDIR /work/sub
RUN echo "$GREETING $WHO from $(pwd) as $(id -u)" > /out.txt
RUN ["/bin/sh", "-c", "echo exec form >> /out.txt"]
SHELL ["/bin/sh", "-c", "echo shell-set >> /out.txt; eval \\"$1\\"", "sh"]
RUN echo second >> /out.txt
SHELL ["/bin/sh", "-c"]
USER 65534
RUN id -u > /tmp/uid
WORKDIR rel
CMD cat /out.txt /tmp/uid; pwd
""", tag="run:1", buildargs={"WHO": "you"})
    out = run(bclient, "run:1", None)
    assert out.splitlines() == ["hello you from /work/sub as 0", "exec form", "shell-set",
                                "second", "65534", "/work/sub/rel"]
    # ARG values reach RUN but stay out of the image's ENV
    assert not any(e.startswith("WHO=") for e in image.attrs["Config"]["Env"])
    created = [h.get("created_by", "") for h in image.record.config["history"]]
    assert any(c.startswith("RUN |1 WHO=you /bin/sh -c echo") for c in created)
    assert "Removing intermediate container" in text(log)
    assert bclient.containers.list(all=True) == []       # rm=True
    bclient.images.remove("run:1")


def test_copy_add_modes_owners_globs_heredocs(bclient, tmp_path):
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:gz") as tf:
        data = b"from the tarball\n"
        info = tarfile.TarInfo("pkg/inside.txt")
        info.size, info.uid, info.gid, info.mode = len(data), 7, 8, 0o640
        tf.addfile(info, io.BytesIO(data))
    ctx = write_context(tmp_path / "c", {
        "a.txt": "A\n", "b.txt": "B\n", "c.log": "C\n",
        "tree/x/one": "1\n", "tree/x/skip.o": "o\n", "tree/two": ("mode", 0o700, "2\n"),
        "tree/link": ("link", "two"), "deep/p/q/r.txt": "r\n",
        "pkg.tar.gz": payload.getvalue()})
    build(bclient, ctx, """\
FROM busybox
COPY a.txt /single
COPY *.txt /many/
COPY --chown=1000:1001 --chmod=640 a.txt b.txt /owned/
COPY --exclude=**/*.o tree /tree
COPY --parents deep/p/q/r.txt /par/
COPY tree/two /nobody/
COPY --chown=nobody tree/two /byname
ADD pkg.tar.gz /unpacked/
COPY pkg.tar.gz /packed/
COPY <<EOF /etc/motd
hello $HOSTNAME_UNSET${X:-x}
EOF
WORKDIR /w
COPY a.txt .
""", tag="copy:1")
    out = run(bclient, "copy:1", ["sh", "-c", """
cat /single /many/a.txt /many/b.txt; ls /many
stat -c '%n %u:%g %a' /owned/a.txt /owned/b.txt /tree/two /nobody/two /byname \
    /unpacked/pkg/inside.txt /w/a.txt
ls -A /tree; ls -A /tree/x; readlink /tree/link; cat /par/deep/p/q/r.txt /etc/motd
ls /packed"""])
    assert out.splitlines() == [
        "A", "A", "B", "a.txt", "b.txt",
        "/owned/a.txt 1000:1001 640", "/owned/b.txt 1000:1001 640", "/tree/two 0:0 700",
        "/nobody/two 0:0 700", "/byname 65534:65534 700",
        "/unpacked/pkg/inside.txt 7:8 640", "/w/a.txt 0:0 644",
        "link", "two", "x", "one", "two", "r", "hello x", "pkg.tar.gz"]
    bclient.images.remove("copy:1")


def test_copy_errors(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {"a": "a", "b": "b"})
    with pytest.raises(BuildError, match="destination must be a directory"):
        build(bclient, ctx, "FROM busybox\nCOPY a b /file\n")
    with pytest.raises(BuildError, match="file not found in build context") as err:
        build(bclient, ctx, "FROM busybox\nCOPY missing /x\n")
    assert isinstance(err.value.error, NotFound) and "Dockerfile:2: COPY failed" in str(err.value)
    with pytest.raises(BuildError, match="matches nothing"):
        build(bclient, ctx, "FROM busybox\nCOPY *.none /x/\n")


def test_multi_stage_copy_from_and_target(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    df = """\
FROM busybox AS builder
RUN mkdir -p /out && echo built > /out/artifact && chown 5:6 /out/artifact
FROM busybox AS unused
RUN echo never > /never
FROM busybox
COPY --from=builder /out/artifact /app/
COPY --from=0 /out/* /all/
COPY --from=busybox /bin/busybox /bb
"""
    image, log = build(bclient, ctx, df, tag="multi:1")
    assert "never" not in text(log)           # a stage the target does not need
    out = run(bclient, "multi:1", ["sh", "-c", "cat /app/artifact; stat -c '%u:%g' "
                                   "/app/artifact; ls /all; test -x /bb && echo bb"])
    assert out.splitlines() == ["built", "5:6", "artifact", "bb"]
    first, log = build(bclient, ctx, df, tag="first:1", target="builder")
    assert run(bclient, "first:1", ["cat", "/out/artifact"]) == "built\n"
    assert "Step 1/2 : FROM busybox AS builder" in text(log)
    assert "FROM busybox AS unused" not in text(log)
    with pytest.raises(BuildError, match="target stage 'nope' could not be found"):
        build(bclient, ctx, df, target="nope")
    bclient.images.remove("multi:1")
    bclient.images.remove("first:1")


def test_failing_run_reports_exit_code_and_output(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    with pytest.raises(BuildError) as err:
        build(bclient, ctx, "FROM busybox\nRUN echo going down; echo oops >&2; exit 7\n",
              forcerm=True)
    assert err.value.exit_code == 7
    assert "returned a non-zero code: 7" in str(err.value)
    log = list(err.value.build_log)
    assert "going down\n" in text(log)
    assert "\x1b[91moops\n\x1b[0m" in text(log)          # stderr in red, as docker's
    assert log[-1]["errorDetail"]["code"] == 7
    assert bclient.containers.list(all=True) == []         # forcerm


def test_missing_base_and_parse_errors_are_typed(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    with pytest.raises(BuildError, match="not in the local store") as err:
        build(bclient, ctx, "FROM localhost:1/nothing:1\n")     # a pull is refused at once
    assert isinstance(err.value.error, ImageNotFound)
    with pytest.raises(BuildError, match=r"Dockerfile:3:1: unknown instruction: RUNN") as err:
        build(bclient, ctx, "FROM busybox\n\nRUNN x\n")
    assert isinstance(err.value.error, DockerfileError)
    with pytest.raises(BuildError, match="Cannot locate specified Dockerfile"):
        bclient.images.build(path=ctx, dockerfile="Nope")


def test_heredoc_run_and_network_none(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {})
    build(bclient, ctx, """\
FROM busybox
RUN <<EOF
echo one > /h1
echo two >> /h1
EOF
RUN cat > /h2 <<'END'
literal $HOME
END
RUN --network=none ls /sys/class/net > /nets
""", tag="here:1")
    out = run(bclient, "here:1", ["cat", "/h1", "/h2", "/nets"])
    assert out.splitlines() == ["one", "two", "literal $HOME", "lo"]
    bclient.images.remove("here:1")


def test_tar_context_and_dockerfile_fileobj(bclient, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY f /f\n"), ("f", b"tarred\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = bclient.images.build(fileobj=buf, custom_context=True, tag="tarctx:1")
    assert run(bclient, "tarctx:1", ["cat", "/f"]) == "tarred\n"
    image, _ = bclient.images.build(fileobj=io.BytesIO(b"FROM busybox\nENV ONLY=df\n"),
                                    tag="dfonly:1")
    assert "ONLY=df" in image.attrs["Config"]["Env"]
    bclient.images.remove("tarctx:1")
    bclient.images.remove("dfonly:1")


def test_add_of_the_whole_context(bclient, tmp_path):
    """``ADD . /dst`` copies the context (a directory is no archive to unpack),
    from a tar that names files only (their directories implied) too."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("Dockerfile", b"FROM busybox\nADD . /test\n"),
                           ("deep/er/f", b"implied dirs\n"), ("top", b"t\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    bclient.images.build(fileobj=buf, custom_context=True, tag="addall:1")
    try:
        found = run(bclient, "addall:1", ["find", "/test", "-type", "f"]).split()
        assert sorted(found) == ["/test/Dockerfile", "/test/deep/er/f", "/test/top"]
        assert run(bclient, "addall:1", ["cat", "/test/deep/er/f"]) == "implied dirs\n"
    finally:
        bclient.images.remove("addall:1")


def test_an_image_with_one_layer_twice(bclient, tmp_path):
    """Two steps that change nothing make the same (empty) layer: the image
    has it twice, and the steps after, and its containers, still run."""
    df = b"FROM busybox\nRUN true\nRUN true\nRUN echo ok > /ok\n"
    image, _ = bclient.images.build(fileobj=io.BytesIO(df), tag="twice:1")
    try:
        layers = image.attrs["RootFS"]["Layers"]
        assert len(layers) - len(set(layers)) == 1
        assert run(bclient, "twice:1", ["cat", "/ok"]) == "ok\n"
    finally:
        bclient.images.remove("twice:1")


def test_stream_form_messages(bclient, tmp_path):
    ctx = write_context(tmp_path / "c", {"Dockerfile": "FROM busybox\nLABEL a=b\n"})
    msgs = list(bclient.images.build_stream(path=ctx, tag="stream:1"))
    assert all(set(m) <= {"stream", "aux"} for m in msgs)
    json.dumps(msgs)                                 # plain JSON data
    ids = [m["aux"]["ID"] for m in msgs if "aux" in m]
    assert len(ids) == 1 and bclient.images.get("stream:1").id == ids[0]
    assert msgs[-2]["stream"] == f"Successfully built {ids[0][7:19]}\n"
    assert msgs[-1]["stream"] == "Successfully tagged stream:1\n"
    bad = list(bclient.images.build_stream(path=ctx, dockerfile="Missing"))
    assert "error" in bad[-1] and bad[-1]["errorDetail"]["message"] == bad[-1]["error"]
    bclient.images.remove("stream:1")


def test_add_from_a_url_with_checksum(bclient, tmp_path):
    import hashlib
    import http.server
    import threading

    body = b"served over http\n"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/files/data.txt"
        good = "sha256:" + hashlib.sha256(body).hexdigest()
        ctx = write_context(tmp_path / "c", {})
        build(bclient, ctx, f"FROM busybox\nADD --checksum={good} {url} /dl/\n", tag="url:1")
        out = run(bclient, "url:1", ["sh", "-c", "cat /dl/data.txt; stat -c %a /dl/data.txt"])
        assert out == "served over http\n600\n"
        with pytest.raises(BuildError, match="checksum mismatch"):
            build(bclient, ctx, f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url} /x\n")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    bclient.images.remove("url:1")
