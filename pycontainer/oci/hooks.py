"""OCI hooks: each runs with the container's state JSON on its stdin.

prestart and createRuntime run in the runtime's namespaces once the init
exists and waits; createContainer and startContainer in the container's
mount namespace (entered by ``setns`` in the hook's child); poststart after
start, poststop at delete. A failing hook before start fails the verb
(and create is undone); a failing poststart or poststop is reported only,
as the spec says.
"""
import errno
import json
import os

from .. import _core
from ..errors import InvalidArgument, OperationError

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop")
IN_CONTAINER = ("createContainer", "startContainer")


def check(hooks):
    """Validate ``config.json``'s hooks before anything is created."""
    for kind, entries in (hooks or {}).items():
        if kind not in KINDS:
            raise InvalidArgument(f"config.json: unknown hook kind {kind!r}")
        for h in entries or []:
            path = h.get("path") if isinstance(h, dict) else None
            if not isinstance(path, str) or not os.path.isabs(path):
                raise InvalidArgument(f"config.json: {kind} hook needs an absolute path, "
                                      f"got {path!r}")


def run(hooks, kind, state, pid=None):
    """Run every ``kind`` hook in order; raises OperationError on the first failure."""
    entries = (hooks or {}).get(kind) or []
    if not entries:
        return
    import subprocess           # off the start path of a container without hooks
    data = json.dumps(state).encode()
    for h in entries:
        args = h.get("args") or [h["path"]]
        pre = None
        if kind in IN_CONTAINER and pid:
            fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)

            def pre(fd=fd):
                if _core.lib.pyc_setns(fd, _core.CLONE_NEWNS) < 0:
                    os._exit(126)
        try:
            p = subprocess.run(args, executable=h["path"], input=data, env=_env(h),
                               capture_output=True, timeout=h.get("timeout"),
                               preexec_fn=pre)
        except subprocess.TimeoutExpired as err:
            raise OperationError(errno.ETIME, f"{kind} hook {h['path']} timed out after "
                                 f"{h.get('timeout')} s", op=kind) from err
        except OSError as err:
            raise OperationError(err.errno, f"{kind} hook {h['path']}: {err.strerror}",
                                 op=kind) from err
        finally:
            if pre is not None:
                os.close(fd)
        if p.returncode != 0:
            raise OperationError(errno.EIO, f"{kind} hook {h['path']} failed with exit status "
                                 f"{p.returncode}: {p.stderr.decode(errors='replace').strip()}",
                                 op=kind)


def _env(h):
    env = {}
    for e in h.get("env") or []:
        k, _, v = e.partition("=")
        env[k] = v
    return env
