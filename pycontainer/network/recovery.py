"""Giving back what a container's networking holds: at stop or exit, and
after a crash.

A start records everything before it makes it (``network.json`` first, then
port claims, lease files, the netns mount, the veths), so
:meth:`Recovery.release` (idempotent) undoes any prefix of a start, and
:meth:`Recovery.recover` finds what crashed or killed processes left.

A detached container's monitor runs :meth:`Recovery.hooks` once the
container is done for good: argv lists of fixed programs, no code built per
container. Without published ports or user networks, ``sh`` unmounts the
namespace (the kernel then deletes its veths) and removes the lease files
(~3 ms, no Python); otherwise ``python -I -S`` runs the script
``release.py`` of this package with the store root, run root and container id.
"""
import contextlib
import fcntl
import os
import sys

from .. import _core
from . import hosts, netns, ports
from .leases import unlease
from .store import DEFAULT_NAME

RELEASE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "release.py")
def proc_start(pid):
    """The start time of a live process (``/proc/<pid>/stat`` field 22), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            return None
        return int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def owner():
    """This process, as recorded in ``network.json`` by an attached run."""
    pid = os.getpid()
    return [pid, proc_start(pid)]


def owner_alive(who):
    return bool(who) and proc_start(who[0]) == who[1]


def _lock_held(path):
    """Does another open file hold an exclusive flock on ``path``?"""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


class Recovery:
    """Release and recovery for the containers of one store.

    ``store``: the :class:`.store.NetworkStore`; ``files``: the containers'
    :class:`.store.RunFiles`; ``state_of(cid)``: docker's State dict of a
    container (the engine's reading), or None when there is no such container.
    """

    def __init__(self, store, files, state_of=None):
        self.store = store
        self.files = files
        self.state_of = state_of or (lambda cid: None)

    def hook(self, cid):
        """The release in Python, as the monitor runs it (~25 ms)."""
        return [sys.executable, "-I", "-S", RELEASE_SCRIPT, _core.BACKEND_DIR,
                self.store.root, self.files.run_root, cid]

    def hooks(self, cid, state):
        """The monitor's hooks for a container once it is done for good.

        The common case (no published port, only the default network: no
        hosts file of another container to update) needs no Python: unmount
        the namespace (the kernel deletes its veths) and delete the lease
        files, done by the monitor itself: its ``@`` verbs). Otherwise, or
        once ``network.full`` exists (a user network connected at run time),
        the Python release runs instead.
        """
        d = self.files.rundir(cid)
        full = os.path.join(d, "network.full")
        if state["Ports"] or any(ep["Network"] != DEFAULT_NAME
                                 for ep in state["Endpoints"].values()):
            open(full, "w").close()
        leases = [self.store.path(nid, "leases", ep["IPAddress"])
                  for nid, ep in state["Endpoints"].items()]
        ns = os.path.join(d, "netns")
        return [["@unless-exists", full, "@umount", ns],
                ["@unless-exists", full, "@rm", *leases, ns, os.path.join(d, "network.json"),
                 os.path.join(d, "resolv.conf")],
                ["@if-exists", full, *self.hook(cid)]]

    def has_state(self, cid):
        return os.path.exists(self.files.state(cid)) or self.files.pinned(cid)

    def release(self, cid, thorough=False):
        """Undo everything a start made for ``cid`` (idempotent, any prefix).

        Without ``thorough`` only what ``network.json`` (written first by
        start) says may exist is looked at; ``thorough`` (recovery after a
        reboot wiped the run dir) scans every network and the port registry,
        and deletes the veths explicitly."""
        files = self.files
        state = files.read_state(cid)
        mounted = files.pinned(cid)
        if state is None and not mounted and not thorough:
            return
        state = state or {}
        if state.get("HasPorts") or state.get("Ports") or thorough:
            ports.unpublish(self.store, cid)
        if mounted:
            netns.umount(files.netns(cid))   # the kernel deletes the netns and its veths
        with contextlib.suppress(FileNotFoundError):
            os.unlink(files.netns(cid))
        nids = set(state.get("Networks") or ()) | set(state.get("Endpoints") or ())
        if thorough:
            nids |= set(self.store.ids())
        changed = []
        known = state.get("Endpoints") or {}
        for nid in nids:
            ep = unlease(self.store, nid, cid, known.get(nid, {}).get("IPAddress"))
            if ep:
                if ep.get("Network") != DEFAULT_NAME:
                    changed.append(nid)          # peers on a user network: hosts files
                if thorough and ep.get("Veth"):
                    from . import bridge   # here: the monitor's hook never gets here
                    with contextlib.suppress(OSError):
                        bridge.unplug(ep["Veth"])
        for name in ("network.json", "resolv.conf", "network.full"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(files.path(cid, name))
        if changed:
            hosts.refresh(self.store, files, changed)

    def live(self, cid):
        """Is ``cid`` running, being started (its lock is held) or run attached
        by a live process?"""
        state = self.files.read_state(cid) or {}
        if owner_alive(state.get("Owner")):
            return True
        if _lock_held(self.files.path(cid, "lock")):
            return True
        st = self.state_of(cid)
        if st is None:
            return False
        # a monitor still alive is running its release hooks: leave it to them
        return st["Running"] or st["Restarting"] or bool(
            st.get("MonitorPid") and owner_alive([st["MonitorPid"],
                                                  st.get("MonitorStartTime")]))

    def recover(self, exists=lambda cid: False):
        """Release what crashed or killed processes left: leases, port claims and
        netns mounts of containers that no longer exist (nor are being created).

        Returns the suspects for which ``exists(cid)`` is true: the caller
        releases those under each container's lock, since another process
        may be starting one of them right now."""
        suspects = set()
        for nid in self.store.ids():
            suspects.update(self.store.read_leases(nid))
        suspects.update(v.get("Container") for v in self.store.read_ports().values())
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.files.run_root):
                if len(name) == 64 and (os.path.exists(self.files.state(name))
                                        or self.files.pinned(name)):
                    suspects.add(name)
        kept = set()
        for cid in suspects:
            if cid and exists(cid):
                kept.add(cid)
            elif cid and not self.live(cid):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    self.release(cid, thorough=True)
        return kept

    def drop_stale(self, nid):
        """Release endpoints on ``nid`` whose container is not running (a crash)."""
        for cid in list(self.store.read_leases(nid)):
            if not self.live(cid):
                self.release(cid, thorough=True)
