"""The differential build corpus: every case under tests/build_corpus/ is a
Dockerfile and its context, with ``expect.json`` saying what the image must
be; each is built here and its config, history and file tree (paths, kinds,
modes, owners, contents, link targets, whiteouts) checked against it. Where
``buildah bud`` (1.28, chroot isolation, vfs) and/or the legacy builder of
Debian's dockerd (20.10, a private daemon for the module) can build the same
file, their results are compared with ours (the files each build changed
from the same busybox base, their modes, owners and contents, and the
config), less the differences each case lists with its reason.

expect.json keys (all optional):
  build         keywords of images.build() ("{url}" in a build arg: the
                module's HTTP server, serving the case's ``http/`` dir)
  setup         chmod {path: "0600"}, links {path: target}, tars {path:
                {member: text}}, mkdirs [path]: what git cannot keep
  error         {"type": typed error, "match": [substrings], "exit_code": n}
  log           substrings of the build's output
  config        Config keys and their exact values
  history       the entries after the base's: [[first word, empty_layer]]
  files         path -> {"kind", "mode", "owner", "text" | "target"}
  absent        paths the image must not have
  exact         true: the files changed from the base are exactly ``files``
  whiteouts     paths the new layers white out ("dir/*": opaque)
  not_in_image  text that is in no layer and no history entry
  reproducible  true: a second build (nocache) gives the same image ID
  rebuilds      [{"edit": {path: text}, "touch": [path], "chmod": {..},
                  "dockerfile": text, "build": {..}, "cached": [steps],
                  "files": {..}}] in order, each after the one before
  peers         {"buildah": true | "why not", "docker": true | "why not"}
  differences   {"buildah"|"docker": {"ignore": [paths], "config": [keys],
                  "why": "reason"}}: the expected differences from a peer
"""
import concurrent.futures
import functools
import http.server
import json
import os
import shutil
import tarfile
import threading

import pytest

from build_helpers import Buildah, Dockerd, archive_tree, cached_steps, changes, text
from pycontainer.errors import BuildError

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(os.path.dirname(HERE), "build_corpus")
CASES = sorted(d for d in os.listdir(CORPUS)
               if os.path.isfile(os.path.join(CORPUS, d, "expect.json")))
CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts",
               "Volumes", "StopSignal", "Healthcheck", "OnBuild", "Shell")
# Labels buildah adds to every image: not part of the Dockerfile's result.
PEER_LABELS = {"io.buildah.version"}
# Expected difference: buildah's chroot isolation leaves the mount points of
# its RUN containers (empty /etc files, /run) in the layers when the base
# lacks them; docker (its init layer) and BuildKit (and we) leave them out.
_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"
PEER_MOUNT_POINTS = {"/etc/hostname": ("file", 0o755, _EMPTY),
                     "/etc/hosts": ("file", 0o755, _EMPTY),
                     "/etc/resolv.conf": ("file", 0o755, _EMPTY), "/run": ("dir", 0o755, "")}


def _load(name):
    with open(os.path.join(CORPUS, name, "expect.json")) as f:
        return json.load(f)


# --- module fixtures: one store, one HTTP server, the peers, shared by all cases --------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A client on the corpus's own store (its cache is the cases' only), the
    busybox base, its archive and tree."""
    from pycontainer import Client, fstree
    top = tmp_path_factory.mktemp("corpus")
    client = Client(root=str(top / "store"))
    base = client.images.busybox()
    archive = str(top / "busybox.tar")
    with open(archive, "wb") as f:
        for chunk in base.save(named=True):
            f.write(chunk)
    tree, _ = archive_tree(archive)
    yield {"client": client, "top": str(top), "archive": archive, "tree": tree, "base": base}
    for c in client.containers.list(all=True):
        c.remove(force=True)
    client.close()
    if os.path.isdir(client._runtime.run_root):
        fstree.remove(client._runtime.run_root)
    fstree.remove(str(top / "store"))


@pytest.fixture(scope="module")
def http_url(tmp_path_factory):
    """A loopback HTTP server over every case's ``http/`` directory (ADD of a URL)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=CORPUS)
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def peers(corpus):
    """buildah and a private dockerd, started side by side, torn down at the end."""
    out = {}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {
            "buildah": pool.submit(Buildah, os.path.join(corpus["top"], "buildah"),
                                   corpus["archive"]),
            "docker": pool.submit(_dockerd, os.path.join(corpus["top"], "dockerd"),
                                  corpus["archive"])}
        errors = []
        for name, fut in futures.items():
            try:
                out[name] = fut.result()
            except Exception as err:       # noqa: BLE001 (the other one is closed too)
                errors.append(f"{name}: {err}")
    try:
        assert not errors, "a peer did not start: " + "; ".join(errors)
        yield out
    finally:
        for peer in out.values():
            peer.close()


def _dockerd(top, archive):
    os.makedirs(top)
    return Dockerd(top, archive)


# --- one case --------------------------------------------------------------------------

def _context(name, dest, setup):
    shutil.copytree(os.path.join(CORPUS, name), dest, symlinks=True,
                    ignore=shutil.ignore_patterns("expect.json", "http"))
    for path in setup.get("mkdirs", ()):
        os.makedirs(os.path.join(dest, path), exist_ok=True)
    for path, target in setup.get("links", {}).items():
        os.symlink(target, os.path.join(dest, path))
    for path, members in setup.get("tars", {}).items():
        with tarfile.open(os.path.join(dest, path), "w:gz") as tf:
            for member, data in members.items():
                import io
                body = data.encode()
                info = tarfile.TarInfo(member)
                info.size, info.mode, info.uid, info.gid = len(body), 0o640, 5, 6
                tf.addfile(info, io.BytesIO(body))
    for path, mode in setup.get("chmod", {}).items():
        os.chmod(os.path.join(dest, path), int(mode, 8))
    return dest


def _kwargs(spec, url, tag):
    kw = dict(spec or {})
    if "buildargs" in kw:
        kw["buildargs"] = {k: v.replace("{url}", url) for k, v in kw["buildargs"].items()}
    if "secrets" in kw:           # JSON has no bytes: the text is the secret
        kw["secrets"] = {k: v.encode() for k, v in kw["secrets"].items()}
    kw.setdefault("tag", tag)
    kw.setdefault("network_mode", "none")
    return kw


def _our_tree(image, top, name):
    path = os.path.join(top, f"{name}.tar")
    with open(path, "wb") as f:
        for chunk in image.save():
            f.write(chunk)
    try:
        return archive_tree(path)
    finally:
        os.unlink(path)


def _check_files(tree, files, where):
    import hashlib
    for path, want in files.items():
        assert path in tree, f"{where}: {path} missing"
        kind, mode, owner, data = tree[path]
        if "kind" in want:
            assert kind == want["kind"], f"{where}: {path} is a {kind}"
        if "mode" in want:
            assert mode == int(want["mode"], 8), f"{where}: {path} mode {mode:o}"
        if "owner" in want:
            assert owner == want["owner"], f"{where}: {path} owner {owner}"
        if "text" in want:
            assert data == hashlib.md5(want["text"].encode()).hexdigest(), \
                f"{where}: {path} content differs from {want['text']!r}"
        if "target" in want:
            assert data == want["target"], f"{where}: {path} -> {data}"


def _check_image(exp, image, log, corpus, name):
    tree, layers = _our_tree(image, corpus["top"], name)
    changed, gone = changes(tree, corpus["tree"])
    _check_files(tree, exp.get("files", {}), name)
    for path in exp.get("absent", ()):
        assert path not in tree, f"{path} should not be in the image"
    if exp.get("exact"):
        assert sorted(changed) == sorted(exp.get("files", {})), "the changed paths differ"
        assert gone == sorted(p for p in exp.get("absent", ()) if p in corpus["tree"])
    base_layers = len(corpus["base"].attrs["RootFS"]["Layers"])
    new_whiteouts = sorted(w for ws in layers[base_layers:] for w in ws)
    if "whiteouts" in exp:
        assert new_whiteouts == sorted(exp["whiteouts"])
    cfg = image.attrs["Config"]
    for key, want in exp.get("config", {}).items():
        assert (cfg.get(key) or None) == (want or None), f"Config.{key}: {cfg.get(key)!r}"
    history = image.record.config.get("history") or []
    base_history = corpus["base"].record.config.get("history") or []
    if "history" in exp:
        mine = history[len(base_history):] if exp.get("from_busybox", True) else history
        got = [[h["created_by"].split()[0], bool(h.get("empty_layer"))] for h in mine]
        assert got == exp["history"]
        assert len(image.attrs["RootFS"]["Layers"]) - (base_layers if exp.get(
            "from_busybox", True) else 0) == sum(1 for _, e in got if not e)
    for piece in exp.get("log", ()):
        assert piece in text(log), f"{piece!r} not in the build's output"
    if exp.get("not_in_history"):
        assert exp["not_in_history"] not in json.dumps(image.record.config)
    secret = exp.get("not_in_image")
    if secret:
        assert secret not in json.dumps(image.record.config)
        path = os.path.join(corpus["top"], f"{name}.scan.tar")
        with open(path, "wb") as f:
            for chunk in image.save():
                f.write(chunk)
        with open(path, "rb") as f:
            assert secret.encode() not in f.read()
        os.unlink(path)
    return tree, changed


def _edit(ctx, step):
    for path, data in step.get("edit", {}).items():
        with open(os.path.join(ctx, path), "w") as f:
            f.write(data)
    for path in step.get("touch", ()):
        os.utime(os.path.join(ctx, path), (12345, 12345))
    for path, mode in step.get("chmod", {}).items():
        os.chmod(os.path.join(ctx, path), int(mode, 8))
    if "dockerfile" in step:
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(step["dockerfile"])


def _peer_build(peer, ctx, kw, tag, top):
    peer.build(ctx, kw.get("dockerfile", "Dockerfile"), tag, kw.get("buildargs"),
               kw.get("target"))
    path = os.path.join(top, f"{type(peer).__name__}.tar")
    peer.save(tag, path)
    try:
        return archive_tree(path)[0], peer.config(tag)
    finally:
        os.unlink(path)
        peer.remove(tag)


def _compare(name, peer_name, ours, theirs, base, exp, our_cfg):
    tree, cfg = theirs
    diff = exp.get("differences", {}).get(peer_name, {})
    ignore = set(diff.get("ignore", ()))

    def kept(p):
        return not any(p == i or p.startswith(i.rstrip("/") + "/") for i in ignore)
    mine, _ = changes(ours, base)
    other, _ = changes(tree, base)
    # a directory's own entry differs in size/mtime only between tools: the
    # comparison is of kind, mode, owner, content
    mine = {p: v for p, v in mine.items() if kept(p)}
    other = {p: v for p, v in other.items() if kept(p) and
             not (peer_name == "buildah" and PEER_MOUNT_POINTS.get(p) == v[:2] + v[3:])}
    assert mine == other, f"{name}: our files vs {peer_name}'s"
    for key in CONFIG_KEYS:
        if key in diff.get("config", ()):
            continue
        a, b = our_cfg.get(key) or None, cfg.get(key) or None
        if key == "Labels" and b:
            b = {k: v for k, v in b.items() if k not in PEER_LABELS} or None
        if key == "Env" and a and b:          # buildah appends a replaced variable
            a, b = sorted(a), sorted(b)
        assert a == b, f"{name}: Config.{key} ours {a!r}, {peer_name}'s {b!r}"


@pytest.mark.parametrize("name", CASES)
def test_corpus_case(name, corpus, peers, http_url, tmp_path):
    exp = _load(name)
    client = corpus["client"]
    ctx = _context(name, str(tmp_path / "ctx"), exp.get("setup", {}))
    tag = f"corpus-{name}:1"
    kw = _kwargs(exp.get("build"), f"{http_url}/{name}/http", tag)
    wanted = [p for p, v in (exp.get("peers") or {"buildah": True, "docker": True}).items()
              if v is True and "error" not in exp]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {p: pool.submit(_peer_build, peers[p], ctx, kw, f"localhost/{name}:peer",
                                  str(tmp_path)) for p in wanted}
        try:
            _one_case(name, exp, client, ctx, kw, tag, corpus, futures)
        finally:
            for fut in futures.values():
                fut.exception()             # the peer's build is over before cleanup


def _one_case(name, exp, client, ctx, kw, tag, corpus, futures):
    if "error" in exp:
        want = exp["error"]
        with pytest.raises(BuildError) as err:
            client.images.build(path=ctx, **kw)
        message = str(err.value)
        for piece in want.get("match", ()):
            assert piece in message, f"{piece!r} not in {message!r}"
        if "type" in want:
            assert type(err.value.error).__name__ == want["type"], repr(err.value.error)
        if "exit_code" in want:
            assert err.value.exit_code == want["exit_code"]
        log = list(err.value.build_log)
        for piece in exp.get("log", ()):
            assert piece in text(log)
        assert client.containers.list(all=True) == []
        return
    image, log = client.images.build(path=ctx, **kw)
    log = list(log)
    ours, _ = _check_image(exp, image, log, corpus, name)
    if exp.get("reproducible"):
        again, _ = client.images.build(path=ctx, **{**kw, "nocache": True})
        assert again.id == image.id
    for peer_name, fut in futures.items():
        _compare(name, peer_name, ours, fut.result(), corpus["tree"], exp,
                 image.attrs["Config"])
    for i, step in enumerate(exp.get("rebuilds", ())):
        _edit(ctx, step)
        image, log = client.images.build(path=ctx, **{**kw, **step.get("build", {})})
        log = list(log)
        if "cached" in step:
            assert cached_steps(log) == step["cached"], f"rebuild {i}"
        tree, _ = _our_tree(image, corpus["top"], name)
        _check_files(tree, step.get("files", {}), f"{name} rebuild {i}")
    client.images.remove(image.id, force=True)
    assert client.containers.list(all=True) == []
