"""User namespaces (``userns_mode="auto"``): each container's root is an
unprivileged host uid range allocated here.

There is no /etc/subuid on these hosts, so pycontainer ships its own
default: ranges of 65536 ids starting at host uid/gid 268435456 (0x10000000,
far above any login or system account), one range per container, at most
4096 at once; override with ``Client(userns_base=..., userns_size=...)``.
Allocations live in ``<store>/userns.json`` under an flock, so several
processes never hand out one range twice.

The container is created in the host's user namespace, mounts its rootfs
(image layers are idmapped mounts through the container's namespace, so
shared layers need no copy or chown), and joins its user namespace last,
just before dropping to its user; see ARCHITECTURE.md.
"""
import contextlib
import fcntl
import json
import os

from .. import _core
from ..errors import InvalidArgument, PyContainerError

BASE = 0x10000000
SIZE = 65536
SLOTS = 4096


class Allocator:
    def __init__(self, root, base=BASE, size=SIZE, slots=SLOTS):
        self.path = os.path.join(root, "userns.json")
        self.lock = os.path.join(root, "userns.lock")
        self.base, self.size, self.slots = base, size, slots

    @contextlib.contextmanager
    def _locked(self):
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                with open(self.path) as f:
                    table = json.load(f)
            except (FileNotFoundError, ValueError):
                table = {}
            before = dict(table)
            yield table
            if table == before:     # a release of a container that had no range
                return
            tmp = f"{self.path}.tmp{os.getpid()}"
            with open(tmp, "w") as f:
                json.dump(table, f)
            os.replace(tmp, self.path)
        finally:
            os.close(fd)

    def allocate(self, cid):
        """The host id where this container's id 0 starts (allocated once)."""
        with self._locked() as table:
            if cid in table:
                return self.base + table[cid] * self.size
            used = set(table.values())
            slot = next((i for i in range(self.slots) if i not in used), None)
            if slot is None:
                raise PyContainerError(f"no free user namespace range ({self.slots} in use)")
            table[cid] = slot
            return self.base + slot * self.size

    def release(self, cid):
        with self._locked() as table:
            table.pop(cid, None)


def create(path, host_id, size=SIZE):
    """A user namespace mapping 0..size-1 to host_id.., bound onto ``path``."""
    if not os.path.exists(path):
        open(path, "w").close()
    m = f"0 {host_id} {size}\n".encode()
    _core.check(_core.lib.pyc_userns_create(m, m, os.fsencode(path)),
                "create the container's user namespace", path)


def release(path):
    """Unmount the namespace file (the namespace goes with its last user)."""
    with contextlib.suppress(OSError):
        _core.check(_core.lib.pyc_umount(os.fsencode(path)), "umount", path)
    with contextlib.suppress(OSError):
        os.unlink(path)


def validate(mode):
    if mode in (None, "", "host"):
        return None
    if mode != "auto":
        raise InvalidArgument(f"userns_mode {mode!r}: use 'auto' or 'host'")
    return "auto"
