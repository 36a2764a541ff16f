"""oci: ``pycontainer-runtime``, a runc-compatible OCI runtime.

It reads a bundle's ``config.json`` (runtime-spec 1.0-1.2), turns it into
the runtime's typed :class:`~pycontainer.runtime.spec.Spec` (``bundle.py``)
and runs it with the same C core and op plan as the engine. It stands on
``runtime/`` and the leaf rooms only (never the engine or a face), so
dockerd, podman and containerd can use our container format directly.

What it guarantees: every field of the spec is either honoured or refused
with a typed error before anything exists (``InvalidArgument``); a verb
refused by the state machine (creating, created, running, paused, stopped)
changes nothing; the hot verbs (start, state, kill, delete, ps) are answered
by a small C front end (``csrc/oci/front.c``) from the state ``create``
left, with no Python started.
"""
