"""Networks on disk, and their leases, safe across processes.

::

    <root>/networks/.lock                 flock: create/remove, subnet choice, bridges
    <root>/networks/ports.json (+ .lock)  published host ports -> container
    <root>/networks/<id>/config.json      the network (docker's inspect fields)
    <root>/networks/<id>/leases/<a.b.c.d> one file per leased address: the endpoint
                                          (JSON, with its container's id)
    <root>/networks/<id>/next             where the next search starts (a hint)
    <root>/networks/<id>/lock             flock held while leases change

and, per container, in its run dir (tmpfs; :class:`RunFiles`)::

    <run dir>/network.json   what start set up (written first: release reads it)
    <run dir>/netns          the pinned network namespace (a bind mount)
    <run dir>/hosts, resolv.conf   bound on the container's /etc
    <run dir>/network.full   the monitor's hook must run the Python release

A lease is claimed by creating its file with O_EXCL, so no address is ever
handed out twice, whatever the processes; the flock orders claims, releases
and the removal of the network. Other files are replaced atomically (temp +
rename); readers never lock.
"""
import contextlib
import fcntl
import json
import os

from .. import jsonfile
from ..errors import InvalidArgument, NetworkNotFound as _NetworkNotFound

write_json = jsonfile.write_json_atomic
DEFAULT_NAME = "bridge"
OPT_DEFAULT = "com.docker.network.bridge.default_bridge"


def read_json(path, default=None):
    """None (or ``default``) for a missing or broken file: network state is optional."""
    return jsonfile.read_json(path, default)


class NetworkNotFound(_NetworkNotFound, InvalidArgument):
    """No network has that name or id (also an InvalidArgument: a run()
    keyword naming a missing network is a bad argument)."""


def is_default(rec):
    """Is ``rec`` the default network (no names, not removable)?"""
    return rec["Name"] == DEFAULT_NAME or (rec.get("Options") or {}).get(OPT_DEFAULT) == "true"


def is_mount(path):
    """Is ``path`` a mount point (a pinned namespace)? One statx-free check:
    a bind-mounted nsfs file lives on another device than its directory."""
    try:
        st = os.stat(path)
        return st.st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False


class RunFiles:
    """The networking files of containers, in their run dirs."""

    def __init__(self, run_root):
        self.run_root = run_root

    def rundir(self, cid):
        return os.path.join(self.run_root, cid)

    def path(self, cid, name):
        return os.path.join(self.run_root, cid, name)

    def netns(self, cid):
        return os.path.join(self.run_root, cid, "netns")

    def state(self, cid):
        return os.path.join(self.run_root, cid, "network.json")

    def read_state(self, cid):
        return read_json(self.state(cid))

    def write_state(self, cid, state):
        write_json(self.state(cid), state)

    def pinned(self, cid):
        """Is the container's namespace bind-mounted on its ``netns`` file?"""
        return is_mount(self.netns(cid))


@contextlib.contextmanager
def flock(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Leases:
    """The leases of one network while its lock is held."""

    def __init__(self, store, nid):
        self.dir = store.path(nid, "leases")
        self.hint = store.path(nid, "next")

    def used(self):
        """Leased addresses (text)."""
        try:
            return [n for n in os.listdir(self.dir) if not n.startswith(".")]
        except FileNotFoundError:
            return []

    @property
    def last(self):
        try:
            with open(self.hint, "rb") as f:
                return int(f.read().strip() or 0) or None
        except (FileNotFoundError, ValueError):
            return None

    @last.setter
    def last(self, value):
        fd = os.open(self.hint, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.pwrite(fd, b"%010d\n" % value, 0)     # fixed width: rewritten in place
        finally:
            os.close(fd)

    def claim(self, ip, endpoint):
        """Create the lease file; FileExistsError when the address is taken."""
        os.makedirs(self.dir, 0o700, exist_ok=True)
        path = os.path.join(self.dir, ip)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, json.dumps(endpoint).encode())
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)

    def drop(self, cid, ip=None):
        """Remove ``cid``'s lease (at ``ip`` if known); returns its endpoint or None."""
        for name in [ip] if ip else self.used():
            path = os.path.join(self.dir, name)
            ep = read_json(path)
            if ep is not None and ep.get("Container") == cid:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                return ep
        if ip:               # not where state said: look everywhere
            return self.drop(cid)
        return None


class NetworkStore:
    def __init__(self, root):
        self.root = root
        self.dir = os.path.join(root, "networks")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self._cache = {}

    def path(self, nid, *parts):
        return os.path.join(self.dir, nid, *parts)

    def lock(self):
        """The store-wide lock (create/remove, subnet choice, bridge setup)."""
        return flock(os.path.join(self.dir, ".lock"))

    # -- records -------------------------------------------------------------
    def ids(self):
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return [n for n in names if len(n) == 64 and os.path.exists(self.path(n, "config.json"))]

    def load(self, nid):
        rec = self._read(nid)
        if rec is None:
            raise NetworkNotFound(f"network {nid} not found")
        return rec

    def _read(self, nid):
        """A network's record, parsed once per version of its file (treat as read-only)."""
        path = self.path(nid, "config.json")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        hit = self._cache.get(nid)
        if hit and hit[0] == key:
            return hit[1]
        rec = read_json(path)
        if rec is not None:
            self._cache[nid] = (key, rec)
        return rec

    def records(self):
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        out = []
        for nid in names:
            if len(nid) == 64:
                rec = self._read(nid)
                if rec is not None:
                    out.append(rec)
        return out

    def find(self, key, records=None):
        """By exact id, exact name, or unique id prefix (docker's order)."""
        key = str(key)
        recs = self.records() if records is None else records
        for rec in recs:
            if rec["Id"] == key:
                return rec
        for rec in recs:
            if rec["Name"] == key:
                return rec
        matches = [r for r in recs if key and r["Id"].startswith(key)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NetworkNotFound(f"network id prefix {key!r} is ambiguous "
                                  f"({len(matches)} matches)")
        raise NetworkNotFound(f"network {key} not found")

    def add(self, rec):
        """Write a new network (call with :meth:`lock` held)."""
        os.makedirs(self.path(rec["Id"], "leases"), mode=0o700)
        write_json(self.path(rec["Id"], "config.json"), rec)

    def save(self, rec):
        write_json(self.path(rec["Id"], "config.json"), rec)

    def delete(self, nid):
        """Forget a network: its config goes first (gone for every reader)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(nid, "config.json"))
        self._cache.pop(nid, None)
        d = self.path(nid)
        for sub in ("leases", ""):
            dd = os.path.join(d, sub) if sub else d
            for name in os.listdir(dd) if os.path.isdir(dd) else ():
                with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                    os.unlink(os.path.join(dd, name))
            with contextlib.suppress(OSError):
                os.rmdir(dd)

    # -- leases --------------------------------------------------------------
    @contextlib.contextmanager
    def leases(self, nid):
        """Lock the network's leases (claims, releases, its removal)."""
        if not os.path.isdir(self.path(nid)):
            raise NetworkNotFound(f"network {nid} not found")
        with flock(self.path(nid, "lock")):
            if not os.path.exists(self.path(nid, "config.json")):
                raise NetworkNotFound(f"network {nid} not found")
            yield Leases(self, nid)

    def read_leases(self, nid):
        """The network's endpoints now, without locking: ``{cid: endpoint}``."""
        d = self.path(nid, "leases")
        out = {}
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return out
        for name in names:
            ep = read_json(os.path.join(d, name))
            if ep and ep.get("Container"):
                out[ep["Container"]] = ep
        return out

    # -- published ports ------------------------------------------------------
    @contextlib.contextmanager
    def ports(self):
        """Lock the host port registry: yields ``{key: {"Container": cid, ...}}``,
        saved when the block ends without an exception."""
        path = os.path.join(self.dir, "ports.json")
        with flock(os.path.join(self.dir, ".ports.lock")):
            table = read_json(path) or {}
            before = json.dumps(table, sort_keys=True)
            yield table
            if json.dumps(table, sort_keys=True) != before:
                write_json(path, table)

    def read_ports(self):
        return read_json(os.path.join(self.dir, "ports.json")) or {}

    def hosts_lock(self):
        """Serialises rewrites of containers' /etc/hosts files."""
        return flock(os.path.join(self.dir, ".hosts.lock"))
