"""Checking a pushed manifest: its media type, its shape, what it references.

A manifest is accepted when its ``Content-Type`` is one of the four kinds below
(and agrees with its ``mediaType`` field, if any), it is JSON of schema version
2, and every descriptor is well formed. :func:`parse` returns the descriptor the
registry keeps and the blobs and manifests that must already be in the
repository (the storage checks those under its lock).
"""
import hashlib
import json

from .errors import RegistryError
from .names import check_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_KINDS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_KINDS = (OCI_INDEX, DOCKER_LIST)
MAX_SIZE = 4 << 20      # the Distribution registry's limit on a manifest


def _invalid(message):
    raise RegistryError("MANIFEST_INVALID", message)


def _descriptor(obj, where):
    if not isinstance(obj, dict):
        _invalid(f"{where} is not a descriptor object")
    media, digest, size = obj.get("mediaType"), obj.get("digest"), obj.get("size")
    if not isinstance(media, str) or not media:
        _invalid(f"{where} has no mediaType")
    if not isinstance(digest, str):
        _invalid(f"{where} has no digest")
    check_digest(digest)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        _invalid(f"{where} has no valid size")
    return obj


def _foreign(desc):
    """A non-distributable layer that lives elsewhere (``urls``): not required here."""
    media = desc["mediaType"]
    return bool(desc.get("urls")) and ("nondistributable" in media or "foreign" in media)


def parse(data, content_type):
    """Check manifest bytes; returns (descriptor to keep, (blob digests, manifest
    digests) that must exist)."""
    if len(data) > MAX_SIZE:
        _invalid(f"manifest is {len(data)} bytes, the limit is {MAX_SIZE}")
    try:
        doc = json.loads(data)
    except ValueError as e:
        _invalid(f"manifest is not JSON: {e}")
    if not isinstance(doc, dict):
        _invalid("manifest is not a JSON object")
    if doc.get("schemaVersion") != 2:
        _invalid("schemaVersion must be 2")
    media = (content_type or "").split(";")[0].strip() or doc.get("mediaType")
    if "mediaType" in doc and doc["mediaType"] != media:
        _invalid(f"mediaType {doc['mediaType']!r} does not match the Content-Type {media!r}")
    if media not in IMAGE_KINDS + INDEX_KINDS:
        _invalid(f"unsupported manifest media type {media!r}")
    blobs, manifests = [], []
    artifact = doc.get("artifactType")
    if media in IMAGE_KINDS:
        config = _descriptor(doc.get("config"), "config")
        layers = doc.get("layers")
        if not isinstance(layers, list):
            _invalid("layers must be a list")
        layers = [_descriptor(d, f"layer {i}") for i, d in enumerate(layers)]
        blobs = [config["digest"]] + [d["digest"] for d in layers if not _foreign(d)]
        if artifact is None and media == OCI_MANIFEST:
            artifact = config["mediaType"]
    else:
        children = doc.get("manifests")
        if not isinstance(children, list):
            _invalid("manifests must be a list")
        manifests = [_descriptor(d, f"manifest {i}")["digest"] for i, d in enumerate(children)]
    kept = {"mediaType": media, "size": len(data),
            "digest": "sha256:" + hashlib.sha256(data).hexdigest()}
    if isinstance(artifact, str):
        kept["artifactType"] = artifact
    if "subject" in doc:
        kept["subject"] = _descriptor(doc["subject"], "subject")
    if isinstance(doc.get("annotations"), dict):
        kept["annotations"] = doc["annotations"]
    return kept, (sorted(set(blobs)), sorted(set(manifests)))
