"""The registry server's pieces without a network: names, manifests, htpasswd,
addresses, and the storage's rules (verified uploads, atomic records)."""
import base64
import hashlib
import json
import os

import pytest

from pycontainer.errors import InvalidArgument
from pycontainer.registry.server import auth, manifests, names
from pycontainer.registry.server.errors import RegistryError
from pycontainer.registry.server.serve import parse_addr
from pycontainer.registry.server.storage import Storage

OCI = manifests.OCI_MANIFEST


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def code(exc_info):
    return exc_info.value.code


@pytest.mark.parametrize("name", ["a", "library/busybox", "a.b_c__d-e/f--g/h", "x" * 255])
def test_good_names(name):
    assert names.check_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "a/", "/a", "a//b", "_a", "a/../b", "a/.", "a b",
                                  "x" * 256, "a/_repo.json"])
def test_bad_names_are_name_invalid(name):
    with pytest.raises(RegistryError) as e:
        names.check_name(name)
    assert code(e) == "NAME_INVALID" and e.value.status == 400


def test_tags_and_digests():
    assert names.check_tag("v1.0_rc-2") == "v1.0_rc-2"
    for bad in ("", ".x", "-x", "a/b", "x" * 129):
        with pytest.raises(RegistryError) as e:
            names.check_tag(bad)
        assert code(e) == "TAG_INVALID"
    good = digest_of(b"")
    assert names.check_digest(good) == good
    for bad in ("sha256:abc", "sha256:" + "A" * 64, "md5:" + "0" * 32, "sha512:" + "0" * 128):
        with pytest.raises(RegistryError) as e:
            names.check_digest(bad)
        assert code(e) == "DIGEST_INVALID"


def _manifest(**over):
    doc = {"schemaVersion": 2, "mediaType": OCI,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": digest_of(b"c"), "size": 1},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": digest_of(b"l"), "size": 1}]}
    doc.update(over)
    return json.dumps(doc).encode()


def test_manifest_parse_keeps_descriptor_and_needs():
    data = _manifest(annotations={"a": "b"})
    kept, (blobs, children) = manifests.parse(data, OCI + "; charset=utf-8")
    assert kept == {"mediaType": OCI, "size": len(data), "digest": digest_of(data),
                    "artifactType": "application/vnd.oci.image.config.v1+json",
                    "annotations": {"a": "b"}}
    assert blobs == sorted([digest_of(b"c"), digest_of(b"l")]) and children == []
    index = json.dumps({"schemaVersion": 2, "mediaType": manifests.OCI_INDEX, "manifests": [
        {"mediaType": OCI, "digest": digest_of(data), "size": len(data)}]}).encode()
    kept, needs = manifests.parse(index, manifests.OCI_INDEX)
    assert needs == ([], [digest_of(data)]) and "artifactType" not in kept


@pytest.mark.parametrize("data,ctype", [
    (b"[]", OCI), (b"{", OCI), (_manifest(schemaVersion=1), OCI),
    (_manifest(), "application/json"), (_manifest(), manifests.DOCKER_MANIFEST),
    (_manifest(layers={}), OCI), (_manifest(config={"digest": "sha256:x"}), OCI),
    (_manifest(layers=[{"mediaType": "x", "digest": digest_of(b""), "size": -1}]), OCI),
    (b" " * (manifests.MAX_SIZE + 1), OCI)])
def test_bad_manifests_are_manifest_invalid(data, ctype):
    with pytest.raises(RegistryError) as e:
        manifests.parse(data, ctype)
    assert code(e) in ("MANIFEST_INVALID", "DIGEST_INVALID")


def test_htpasswd_accepts_bcrypt_only(tmp_path):
    path = tmp_path / "htpasswd"
    path.write_text(f"# users\nann:{auth.hash_password('pw')}\n")
    checker = auth.Htpasswd(str(path))

    def basic(text):
        return "Basic " + base64.b64encode(text.encode()).decode()
    assert checker.check(basic("ann:pw")) == "ann"
    assert checker.check(basic("ann:pw")) == "ann"          # remembered
    for header in (None, "", basic("ann:no"), basic("bob:pw"), "Basic !!", "Bearer x",
                   basic("annpw")):
        assert checker.check(header) is None, header
    path.write_text("ann:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
    with pytest.raises(InvalidArgument, match="bcrypt"):
        auth.Htpasswd(str(path))
    path.write_text("\n")
    with pytest.raises(InvalidArgument, match="no users"):
        auth.load(str(path))


def test_addresses_are_loopback_unless_allowed():
    assert parse_addr("127.0.0.1:5000") == ("tcp", "127.0.0.1", 5000)
    assert parse_addr("[::1]:0") == ("tcp", "::1", 0)
    assert parse_addr("localhost:80") == ("tcp", "localhost", 80)
    assert parse_addr("unix:/run/x.sock") == ("unix", "/run/x.sock")
    for bad in ("0.0.0.0:5000", "10.1.2.3:5000", "example.com:5000"):
        with pytest.raises(InvalidArgument, match="loopback"):
            parse_addr(bad)
    assert parse_addr("0.0.0.0:5000", allow_remote=True) == ("tcp", "0.0.0.0", 5000)
    for bad in ("5000", "127.0.0.1:", "127.0.0.1:99999", "unix:"):
        with pytest.raises(InvalidArgument):
            parse_addr(bad)


def test_storage_publishes_only_verified_uploads(tmp_path):
    st = Storage(str(tmp_path))
    sid = st.new_upload("app")
    with open(st.upload_data("app", sid), "ab") as f:
        f.write(b"payload")
    with pytest.raises(RegistryError) as e:
        st.upload_data("other", sid)                # a session belongs to its repository
    assert code(e) == "BLOB_UPLOAD_UNKNOWN"
    with pytest.raises(RegistryError) as e:
        st.finish_upload("app", sid, digest_of(b"something else"))
    assert code(e) == "DIGEST_INVALID"
    assert os.listdir(st.uploads_dir) == [] and st.repo("app") is None
    assert os.listdir(os.path.join(str(tmp_path), "blobs", "sha256")) == []

    sid = st.new_upload("app")
    with open(st.upload_data("app", sid), "ab") as f:
        f.write(b"payload")
    assert st.finish_upload("app", sid, digest_of(b"payload")) == 7
    assert st.blob_size("app", digest_of(b"payload")) == 7
    assert st.repo("app") == {"blobs": {digest_of(b"payload")[7:]: 7}, "manifests": {},
                              "tags": {}}
    # the record was replaced whole: no temporary file beside it
    assert os.listdir(os.path.join(st.repos_dir, "app")) == ["_repo.json"]


def test_stale_uploads_are_purged(tmp_path):
    st = Storage(str(tmp_path))
    old, fresh = st.new_upload("a"), st.new_upload("a")
    past = os.path.getmtime(st.upload_data("a", old)) - 2 * 86400
    os.utime(st.upload_data("a", old), (past, past))
    st.purge_uploads()
    assert os.listdir(st.uploads_dir) == [fresh]


def test_image_gc_keeps_registry_blobs_and_stops_on_an_unreadable_record(tmp_path):
    from pycontainer.errors import ImageError
    from pycontainer.image import removal
    st = Storage(str(tmp_path))
    sid = st.new_upload("held")
    with open(st.upload_data("held", sid), "ab") as f:
        f.write(b"registry blob")
    st.finish_upload("held", sid, digest_of(b"registry blob"))
    stray = st.blob_path(digest_of(b"stray"))
    with open(stray, "wb") as f:
        f.write(b"stray")
    removal.prune(st.images)
    assert os.path.exists(st.blob_path(digest_of(b"registry blob")))
    assert not os.path.exists(stray)
    with open(os.path.join(st.repos_dir, "held", "_repo.json"), "w") as f:
        f.write("{")                                  # a partial view: delete nothing
    with pytest.raises(ImageError, match="registry"):
        removal.prune(st.images)
    assert os.path.exists(st.blob_path(digest_of(b"registry blob")))
