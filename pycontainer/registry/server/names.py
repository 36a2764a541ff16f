"""The grammar of repository names, tags and digests, as the registry checks them.

The rules are the reference grammar of image/reference.py (one copy of them):
a repository name is path components ``[a-z0-9]+(separator[a-z0-9]+)*`` joined
by ``/``, at most 255 characters; a tag ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``;
a digest ``sha256:<64 hex>`` (the blob store keeps sha256 only).
"""
from pycontainer.errors import InvalidReference
from pycontainer.image import reference

from .errors import RegistryError


def check_name(name):
    """``name`` if it is a valid repository name, else ``NAME_INVALID``."""
    if len(name) > reference.NAME_MAX:
        raise RegistryError("NAME_INVALID", f"repository name is {len(name)} characters "
                            f"long, the limit is {reference.NAME_MAX}", {"name": name[:300]})
    try:
        reference._check_path(name, name)
    except InvalidReference as e:
        raise RegistryError("NAME_INVALID", str(e), {"name": name}) from None
    return name


def check_tag(tag):
    try:
        reference._check_tag(tag, tag)
    except InvalidReference as e:
        raise RegistryError("TAG_INVALID", str(e), {"tag": tag}) from None
    return tag


def is_digest(text):
    return ":" in text


def check_digest(digest):
    """``digest`` if it is ``sha256:<64 lowercase hex>``, else ``DIGEST_INVALID``."""
    try:
        reference._check_digest(digest, digest)
    except InvalidReference as e:
        raise RegistryError("DIGEST_INVALID", str(e), {"digest": digest}) from None
    if not digest.startswith("sha256:"):
        raise RegistryError("DIGEST_INVALID", f"unsupported digest algorithm in {digest!r}: "
                            "this registry stores sha256 only", {"digest": digest})
    return digest
