"""Differential: the same Dockerfiles built by pycontainer and by ``buildah
bud`` (Debian's 1.28, ``--isolation chroot``, which takes the host's network
only: the corpus's RUN steps use none; vfs storage in a private root) from the same busybox image; the files, modes, owners, link
targets and the config must agree.

Expected differences, left out of the comparison: buildah adds the label
``io.buildah.version``; directory sizes (each store's filesystem); mtimes (buildah keeps the sources', so do we, but
directories made on the way differ); history ``created_by`` texts (each
tool's own format); image IDs (dates); the order of ``Env`` when ENV
replaces a variable (buildah moves it to the end, docker replaces it in
place, as we do).
"""
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from build_helpers import build, write_context

BUILDAH = shutil.which("buildah")
LIST = ("cd / && find {paths} | sort | while read -r p; do "
        "stat -c '%n %A %u:%g' \"$p\"; [ -L \"$p\" ] && readlink \"$p\"; "
        "[ -f \"$p\" ] && [ ! -L \"$p\" ] && md5sum \"$p\" | cut -c1-32; done; true")
CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts",
               "Volumes", "StopSignal")

# setup.sh installs buildah: without it these tests fail (BUILDAH is None), never skip.


class Buildah:
    def __init__(self, top, archive):
        self.base = ["buildah", "--root", os.path.join(top, "root"), "--runroot",
                     os.path.join(top, "runroot"), "--storage-driver", "vfs"]
        self("pull", "--quiet", f"docker-archive:{archive}")
        image = self("images", "--quiet").split()[0]
        self("tag", image, "localhost/busybox:latest")

    def __call__(self, *args, input=None):
        r = subprocess.run(self.base + list(args), capture_output=True, text=True,
                           input=input)
        assert r.returncode == 0, f"buildah {args[0]}: {r.stderr}"
        return r.stdout

    def build(self, ctx, tag):
        with open(os.path.join(ctx, "Dockerfile")) as f:
            text = f.read().replace("FROM busybox", "FROM localhost/busybox:latest")
        with open(os.path.join(ctx, "Dockerfile.buildah"), "w") as f:
            f.write(text)
        self("bud", "--isolation", "chroot", "--pull-never", "--quiet",
             "--layers", "-t", tag, "-f", os.path.join(ctx, "Dockerfile.buildah"), ctx)
        os.unlink(os.path.join(ctx, "Dockerfile.buildah"))

    def config(self, tag):
        return json.loads(self("inspect", "--type", "image", tag))["OCIv1"]["config"]

    def listing(self, tag, paths):
        ctr = self("from", "--quiet", "--pull-never", tag).strip()
        try:
            return self("run", "--isolation", "chroot", "--user", "0:0", ctr, "--", "sh",
                        "-c", LIST.format(paths=paths))
        finally:
            self("rm", ctr)

    def close(self):
        subprocess.run(self.base + ["rm", "--all"], capture_output=True)
        subprocess.run(self.base + ["rmi", "--all", "--force"], capture_output=True)


@pytest.fixture(scope="module")
def peer(tmp_path_factory, busybox):
    top = tmp_path_factory.mktemp("buildah")
    archive = str(top / "busybox.tar")
    with open(archive, "wb") as f:
        for chunk in busybox.save(named=True):
            f.write(chunk)
    b = Buildah(str(top), archive)
    yield b
    b.close()


@pytest.fixture
def bclient(fresh_client):
    fresh_client.images.busybox()
    return fresh_client


def _tarball():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data, mode, uid in (("pkg/bin/tool", b"#!/bin/sh\necho tool\n", 0o755, 3),
                                      ("pkg/etc/conf", b"x=1\n", 0o600, 0)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), mode, uid, uid
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


CORPUS = {
    "copy-modes-owners": ({
        "a.txt": "a\n", "b.sh": ("mode", 0o750, "echo b\n"), "dir/sub/c": "c\n",
        "dir/link": ("link", "sub/c"), "dir/x.o": "o\n"}, """\
FROM busybox
ENV APP=/app PATH=/app/bin:$PATH
WORKDIR $APP
COPY a.txt b.sh ./
COPY --chown=7:8 dir /app/dir
COPY --chmod=700 a.txt /app/secret
RUN mkdir -p /app/run && echo made > /app/run/out && ln -s out /app/run/link \\
    && chmod 640 /app/run/out && rm /app/a.txt
USER 1000:1000
EXPOSE 8080/tcp
LABEL a=b
CMD ["sh", "-c", "cat /app/run/out"]
""", "/app"),
    "multi-stage": ({"src.txt": "source\n"}, """\
FROM busybox AS build
COPY src.txt /src/
RUN cp /src/src.txt /src/built && chown 4:5 /src/built
FROM busybox
COPY --from=build /src/built /out/
ENTRYPOINT ["cat"]
CMD ["/out/built"]
""", "/out"),
    "add-archive": ({"pkg.tar.gz": _tarball()}, """\
FROM busybox
ADD pkg.tar.gz /opt/
VOLUME /data
STOPSIGNAL SIGUSR1
""", "/opt"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_same_result_as_buildah(bclient, peer, tmp_path, name):
    files, dockerfile, paths = CORPUS[name]
    ctx = write_context(tmp_path / "c", files)
    image, _ = build(bclient, ctx, dockerfile, tag=f"diff-{name}:1")
    peer.build(ctx, f"localhost/diff-{name}:1")
    ours = bclient.containers.run(image.id, ["sh", "-c", LIST.format(paths=paths)],
                                  entrypoint=[], remove=True, user="0").decode()
    theirs = peer.listing(f"localhost/diff-{name}:1", paths)
    assert ours == theirs
    mine, other = image.attrs["Config"], peer.config(f"localhost/diff-{name}:1")
    labels = dict(other.get("Labels") or {})
    labels.pop("io.buildah.version", None)
    other["Labels"] = labels or None
    # buildah moves a variable that ENV replaces to the end; docker and
    # BuildKit (and we) replace it in place: the same variables, another order
    assert sorted(mine["Env"]) == sorted(other["Env"])
    for key in CONFIG_KEYS:
        if key != "Env":
            assert (mine.get(key) or None) == (other.get(key) or None), key
