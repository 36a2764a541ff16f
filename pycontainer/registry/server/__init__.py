"""A registry of our own: an OCI Distribution v1.1 server over the image store's blobs.

What it guarantees:

* **Nothing unverified is stored.** Every upload (monolithic, chunked or the
  last chunk of a PUT) is hashed as it streams to disk, and becomes a blob only
  when its sha256 equals the digest the client named; a body cut short, a wrong
  ``Content-Range`` or a wrong digest leaves no blob and no reference. A
  manifest is stored only when its media type is one of OCI's or Docker's
  manifest and index types, it parses, and every blob (or child manifest) it
  names is already in the repository.
* **One blob store.** Blobs live at ``ImageStore.blob_path(digest)``, shared
  with the images of the store; the registry's repositories, tags and upload
  sessions are in ``<root>/registry/`` (storage.py), changed under the image
  store's writers' lock, so image-store GC keeps what the registry references
  and two processes can serve one store.
* **Checked names.** Repository names, tags and digests follow the reference
  grammar (names.py) before they touch a path.
* **Loopback by default.** It listens on 127.0.0.1 or a UNIX socket unless told
  otherwise; Basic auth from a bcrypt htpasswd file and TLS are optional.

Modules: ``app`` (routes), ``storage`` (disk), ``manifests`` (validation),
``auth`` (htpasswd), ``serve`` (listening, a thread), ``harness`` (the
throwaway registry of ``client.registry()``).

>>> from pycontainer.registry.server import Server
>>> Server("/var/lib/pycontainer", "127.0.0.1:5000").run()
"""
from .serve import Server

__all__ = ["Server"]
