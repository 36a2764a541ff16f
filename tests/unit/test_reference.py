import pytest

from pycontainer.errors import InvalidArgument, InvalidReference
from pycontainer.image import parse_reference
from pycontainer.image.reference import Reference

D64 = "a" * 64

GOOD = [
    # (input, normalised, familiar, domain, path, tag, digest)
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest",
     "docker.io", "library/busybox", "latest", None),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36",
     "docker.io", "library/busybox", "1.36", None),
    ("foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest",
     "docker.io", "foo/bar", "latest", None),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest",
     "busybox:latest", "docker.io", "library/busybox", "latest", None),
    ("index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest",
     "docker.io", "library/busybox", "latest", None),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest",
     "docker.io", "library/busybox", "latest", None),
    ("localhost:5000/x:1", "localhost:5000/x:1", "localhost:5000/x:1",
     "localhost:5000", "x", "1", None),
    ("localhost/x", "localhost/x:latest", "localhost/x:latest",
     "localhost", "x", "latest", None),
    ("quay.io/a/b/c:v1.0-rc_1", "quay.io/a/b/c:v1.0-rc_1", "quay.io/a/b/c:v1.0-rc_1",
     "quay.io", "a/b/c", "v1.0-rc_1", None),
    ("Registry.Example.com/x", "Registry.Example.com/x:latest",
     "Registry.Example.com/x:latest", "Registry.Example.com", "x", "latest", None),
    ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest",
     "[::1]:5000", "x", "latest", None),
    ("127.0.0.1:5000/ns/x:t", "127.0.0.1:5000/ns/x:t", "127.0.0.1:5000/ns/x:t",
     "127.0.0.1:5000", "ns/x", "t", None),
    (f"busybox@sha256:{D64}", f"docker.io/library/busybox@sha256:{D64}",
     f"busybox@sha256:{D64}", "docker.io", "library/busybox", None, f"sha256:{D64}"),
    (f"busybox:1@sha256:{D64}", f"docker.io/library/busybox:1@sha256:{D64}",
     f"busybox:1@sha256:{D64}", "docker.io", "library/busybox", "1", f"sha256:{D64}"),
    ("a__b-c---d/e_f.g", "docker.io/a__b-c---d/e_f.g:latest", "a__b-c---d/e_f.g:latest",
     "docker.io", "a__b-c---d/e_f.g", "latest", None),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest",
     "docker.io", "library/busybox", "latest", None),
    ("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest",
     "docker.io", "library/a/b", "latest", None),
    ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000",
     "docker.io", "library/localhost", "5000", None),
    ("x:" + "t" * 128, "docker.io/library/x:" + "t" * 128, "x:" + "t" * 128,
     "docker.io", "library/x", "t" * 128, None),
    (f"busybox@sha512:{'b' * 128}", f"docker.io/library/busybox@sha512:{'b' * 128}",
     f"busybox@sha512:{'b' * 128}", "docker.io", "library/busybox", None,
     f"sha512:{'b' * 128}"),
]


@pytest.mark.parametrize("text,full,familiar,domain,path,tag,digest", GOOD)
def test_good(text, full, familiar, domain, path, tag, digest):
    ref = parse_reference(text)
    assert ref == Reference(domain, path, tag, digest)
    assert str(ref) == full
    assert ref.familiar == familiar
    assert ref.name == f"{domain}/{path}"
    # Normalising twice changes nothing.
    assert parse_reference(full) == ref
    assert parse_reference(familiar) == ref


BAD = [
    # (input, words the message must contain)
    ("", "empty reference"),
    ("Busybox", "must be lowercase"),
    ("foo/Bar", "must be lowercase"),
    ("foo//bar", "empty path component"),
    ("/foo", "empty path component"),
    ("foo/", "empty path component"),
    ("busybox:", "empty tag"),
    ("busybox:a/b", "bad port 'a'"),
    ("a__b.c/x", "bad domain component 'a__b'"),
    ("busybox:-x", "tag '-x'"),
    ("busybox:.x", "tag '.x'"),
    ("busybox:a+b", "tag 'a+b'"),
    ("busybox:" + "t" * 129, "limit is 128"),
    ("a" * 240, "limit is 255"),
    ("example.com/" + "a" * 244, "limit is 255"),
    ("busybox@sha256:abc", "64 hex"),
    ("busybox@sha256:" + "A" * 64, "lowercase hexadecimal"),
    ("busybox@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("busybox@sha256", "must look like"),
    ("busybox@", "must look like"),
    (f"busybox@sha256:{D64}@sha256:{D64}", "more than one '@'"),
    (D64, "image ID"),
    ("bus box", "whitespace"),
    ("foo/-bar", "bad path component '-bar'"),
    ("foo/bar-", "bad path component 'bar-'"),
    ("foo/a...b", "bad path component 'a...b'"),
    ("foo/a@b", "must look like"),
    ("-bad.com/x", "bad domain component '-bad'"),
    ("bad_host.com/x", "bad domain component 'bad_host'"),
    ("localhost:port/x", "bad port 'port'"),
    ("[::1/x", "bad IPv6"),
    (":tag", "empty repository name"),
]


@pytest.mark.parametrize("text,words", BAD)
def test_bad(text, words):
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    assert words in str(info.value)
    assert isinstance(info.value, InvalidArgument)


def test_not_a_string():
    with pytest.raises(InvalidReference):
        parse_reference(None)
