"""The Bearer token flow against Debian's docker-registry with ``auth: token``
and a token server of the test's (JWTs signed with a key made here).

Who may do what: anyone may pull ``public/*``; ``reader`` may pull anything;
``writer`` may pull and push anything.
"""
import base64
import json

import pytest

from pycontainer import Client
from pycontainer.errors import Unauthorized
from registry_helpers import DistributionRegistry
from token_server import TokenServer

USERS = {"writer": "w-pass", "reader": "r-pass"}


def grant(user, repo):
    if user == "writer":
        return {"pull", "push"}
    if user == "reader" or repo.startswith("public/"):
        return {"pull"}
    return set()


@pytest.fixture
def token_registry(tmp_path):
    tokens = TokenServer(tmp_path, USERS, grant)
    try:
        reg = DistributionRegistry(tmp_path, token=tokens)
    except BaseException:
        tokens.stop()
        raise
    yield reg, tokens
    reg.stop()
    tokens.stop()


def _client(tmp_path, name, auths=None):
    cfg = tmp_path / f"{name}.json"
    cfg.write_text(json.dumps({"auths": {
        host: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()}
        for host, (u, p) in (auths or {}).items()}}))
    return Client(root=str(tmp_path / name), run_root=str(tmp_path / f"{name}-run"),
                  registry_config={"docker-config": str(cfg)})


def _since(tokens, n):
    return tokens.requests[n:]


def test_push_needs_push_scope_and_mounts_across_repositories(fresh_client, tmp_path,
                                                              token_registry):
    reg, tokens = token_registry
    writer = {"username": "writer", "password": "w-pass"}
    reader = {"username": "reader", "password": "r-pass"}
    img = fresh_client.images.busybox()
    img.tag(f"{reg.host}/public/bb", "1")
    img.tag(f"{reg.host}/private/bb", "1")

    # anonymous, then a reader: refused, nothing reaches the registry
    with pytest.raises(Unauthorized):
        fresh_client.images.push(f"{reg.host}/private/bb", "1")
    with pytest.raises(Unauthorized):
        fresh_client.images.push(f"{reg.host}/private/bb", "1", auth_config=reader)
    assert fresh_client.images.get(f"{reg.host}/private/bb:1").attrs["RepoDigests"] == []

    # the writer's push: all blobs in parallel, one token for the scope
    n = len(tokens.requests)
    fresh_client.images.push(f"{reg.host}/public/bb", "1", auth_config=writer)
    assert _since(tokens, n) == [("writer", ["repository:public/bb:pull,push"])]

    # the same image into another repository: its blobs are mounted from the
    # first, with a token that grants pull on the source too
    n = len(tokens.requests)
    events = list(fresh_client.images.push(f"{reg.host}/private/bb", "1", stream=True,
                                           decode=True, auth_config=writer))
    assert _since(tokens, n) == [("writer", ["repository:private/bb:pull,push",
                                             "repository:public/bb:pull"])]
    statuses = [e.get("status", "") for e in events]
    assert any(s == "Mounted from public/bb" for s in statuses), statuses
    assert "Pushing" not in statuses
    digests = fresh_client.images.get(f"{reg.host}/private/bb:1").attrs["RepoDigests"]
    assert sorted(d.split("@")[0] for d in digests) == [f"{reg.host}/private/bb",
                                                        f"{reg.host}/public/bb"]


def test_anonymous_pull_per_scope_credentials_and_token_cache(fresh_client, tmp_path,
                                                              token_registry):
    reg, tokens = token_registry
    writer = {"username": "writer", "password": "w-pass"}
    img = fresh_client.images.busybox()
    for repo in ("public/bb", "private/bb"):
        img.tag(f"{reg.host}/{repo}", "1")
        fresh_client.images.push(f"{reg.host}/{repo}", "1", auth_config=writer)

    anon = _client(tmp_path, "anon")
    try:
        n = len(tokens.requests)
        assert anon.images.pull(f"{reg.host}/public/bb", "1").id == img.id
        # manifest, config and every layer: one anonymous token for the scope
        assert _since(tokens, n) == [(None, ["repository:public/bb:pull"])]
        # the token is cached: another look at the same repository asks for none
        n = len(tokens.requests)
        assert anon.images.get_registry_data(f"{reg.host}/public/bb:1").id.startswith(
            "sha256:")
        assert _since(tokens, n) == []
        # private/bb: the anonymous token grants nothing there
        with pytest.raises(Unauthorized):
            anon.images.pull(f"{reg.host}/private/bb", "1")
        assert [t for t in anon.images.list() if f"{reg.host}/private/bb:1" in t.tags] == []
    finally:
        anon.close()

    # the reader's credentials come from docker's config.json
    named = _client(tmp_path, "named", {reg.host: ("reader", "r-pass")})
    try:
        n = len(tokens.requests)
        assert named.images.pull(f"{reg.host}/private/bb", "1").id == img.id
        assert _since(tokens, n) == [("reader", ["repository:private/bb:pull"])]
    finally:
        named.close()

    # wrong credentials in config.json: the token server refuses them
    wrong = _client(tmp_path, "wrong", {reg.host: ("reader", "nope")})
    try:
        with pytest.raises(Unauthorized, match="refused the credentials"):
            wrong.images.pull(f"{reg.host}/private/bb", "1")
        assert wrong.images.list() == []
    finally:
        wrong.close()
