"""Image references: parsing and normalisation.

The grammar is the one of the distribution reference package used by docker::

    reference       := name [ ":" tag ] [ "@" digest ]
    name            := [domain "/"] path
    domain          := host [":" port]
    host            := domain-name | IPv4 | "[" IPv6 "]"
    domain-name     := component ("." component)*, component = [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?
    path            := path-component ("/" path-component)*
    path-component  := [a-z0-9]+ (separator [a-z0-9]+)*
    separator       := "." | "_" | "__" | "-"+
    tag             := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest          := algorithm ":" hex   (sha256: 64, sha384: 96, sha512: 128 lowercase hex)

Normalisation follows docker: a name whose first component is not a domain
(no ``.``, no ``:``, not ``localhost``, no uppercase) lives on ``docker.io``;
a single component on ``docker.io`` gets the ``library/`` prefix; the tag
defaults to ``latest`` unless a digest is given; ``index.docker.io`` is
spelled ``docker.io``.
"""

import re
from dataclasses import dataclass

from pycontainer.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255
TAG_MAX = 128

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?")
_IPV6 = re.compile(r"\[[a-fA-F0-9:]+\]")
_PORT = re.compile(r"[0-9]+")
_TAG = re.compile(r"[\w][\w.-]*", re.ASCII)
_HEX = re.compile(r"[a-f0-9]+")
_ID = re.compile(r"[a-f0-9]{64}")
DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class Reference:
    """A parsed, normalised image reference.

    Attributes:
        domain: registry host, e.g. ``docker.io`` or ``localhost:5000``.
        path: repository path, e.g. ``library/busybox``.
        tag: tag, or None when only a digest was given.
        digest: ``algorithm:hex`` or None.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name, ``domain/path``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository name as docker prints it (``busybox``, ``foo/bar``)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
            return self.path[len(OFFICIAL_PREFIX):]
        return self.path

    @property
    def familiar(self) -> str:
        """Docker's short form, e.g. ``busybox:latest``."""
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag is not None else ""
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def __str__(self) -> str:
        return self.name + self._suffix()


def _fail(ref, problem):
    raise InvalidReference(f"invalid reference format {ref!r}: {problem}")


def _check_digest(ref, digest):
    algorithm, sep, hexpart = digest.partition(":")
    if not sep or not algorithm or not hexpart:
        _fail(ref, f"digest {digest!r} must look like 'sha256:<hex>'")
    if algorithm not in DIGEST_LENGTHS:
        _fail(ref, f"unsupported digest algorithm {algorithm!r}")
    if not _HEX.fullmatch(hexpart):
        _fail(ref, f"digest {digest!r} must be lowercase hexadecimal")
    if len(hexpart) != DIGEST_LENGTHS[algorithm]:
        _fail(ref, f"{algorithm} digest must have {DIGEST_LENGTHS[algorithm]} hex "
                   f"characters, got {len(hexpart)}")


def _check_tag(ref, tag):
    if not tag:
        _fail(ref, "empty tag")
    if len(tag) > TAG_MAX:
        _fail(ref, f"tag is {len(tag)} characters long, the limit is {TAG_MAX}")
    if not _TAG.fullmatch(tag):
        _fail(ref, f"tag {tag!r} may only contain [A-Za-z0-9_.-] and must not "
                   "start with '.' or '-'")


def _check_domain(ref, domain):
    host, port = domain, None
    if domain.startswith("["):
        end = domain.find("]")
        host, rest = domain[:end + 1], domain[end + 1:]
        if end < 0 or not _IPV6.fullmatch(host):
            _fail(ref, f"bad IPv6 address in domain {domain!r}")
        if rest:
            if not rest.startswith(":"):
                _fail(ref, f"bad domain {domain!r}")
            port = rest[1:]
    elif ":" in domain:
        host, port = domain.split(":", 1)
        for comp in host.split("."):
            if not _DOMAIN_COMPONENT.fullmatch(comp):
                _fail(ref, f"bad domain component {comp!r} in {domain!r}")
    else:
        for comp in host.split("."):
            if not _DOMAIN_COMPONENT.fullmatch(comp):
                _fail(ref, f"bad domain component {comp!r} in {domain!r}")
    if port is not None and not _PORT.fullmatch(port):
        _fail(ref, f"bad port {port!r} in domain {domain!r}")


def _check_path(ref, path):
    for comp in path.split("/"):
        if not comp:
            _fail(ref, "empty path component (leading, trailing or double '/')")
        if comp != comp.lower() and _PATH_COMPONENT.fullmatch(comp.lower()):
            _fail(ref, f"repository name {path!r} must be lowercase")
        if not _PATH_COMPONENT.fullmatch(comp):
            _fail(ref, f"bad path component {comp!r}: only [a-z0-9] separated by "
                       "'.', '_', '__' or '-' is allowed")


def _split_domain(name):
    # Same rule as docker: the first component is a domain only when it
    # looks like one; otherwise the image lives on Docker Hub.
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"
                or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def parse(ref: str) -> Reference:
    """Parse and normalise an image reference.

    Args:
        ref: a reference such as ``busybox``, ``foo/bar:1.0``,
            ``localhost:5000/x:1`` or ``name@sha256:<64 hex>``.

    Returns:
        The normalised :class:`Reference`; ``tag`` is ``latest`` when neither
        a tag nor a digest was given.

    Raises:
        InvalidReference: the text does not follow the grammar; the message
            names the problem.
    """
    if not isinstance(ref, str):
        raise InvalidReference(f"image reference must be a string, not {type(ref).__name__}")
    if not ref:
        _fail(ref, "empty reference")
    if ref != ref.strip() or any(c.isspace() for c in ref):
        _fail(ref, "whitespace is not allowed")
    if _ID.fullmatch(ref):
        _fail(ref, "a 64-character hexadecimal string is an image ID, not a repository name")

    rest, at, digest = ref.partition("@")
    if at:
        if "@" in digest:
            _fail(ref, "more than one '@'")
        _check_digest(ref, digest)
    else:
        digest = None

    tag = None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1:]
        _check_tag(ref, tag)

    if not rest:
        _fail(ref, "empty repository name")
    domain, path = _split_domain(rest)
    _check_domain(ref, domain)
    _check_path(ref, path)
    name = f"{domain}/{path}"
    if len(name) > NAME_MAX:
        _fail(ref, f"repository name is {len(name)} characters long once normalised, "
                   f"the limit is {NAME_MAX}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)
