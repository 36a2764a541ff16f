"""Named volumes on disk: ``<root>/volumes/<name>/_data`` plus ``meta.json``.

Every change holds an exclusive flock on ``<root>/volumes/.lock``, so two
processes never create the same volume twice or remove one that a container
is starting with. A volume is in use while a container's ``config.json``
(in the store, or the run root for ephemeral containers) lists it among its
mounts; that scan is the reference count, so nothing has to be decremented
when a container goes away by any path (auto-remove, crash, reboot).

Example:
    >>> store = VolumeStore("/var/lib/pycontainer")
    >>> store.create("cache")["Mountpoint"]
    '/var/lib/pycontainer/volumes/cache/_data'
"""
import contextlib
import fcntl
import json
import os
import re
import secrets
import time

from . import fstree
from .errors import Conflict, InvalidArgument, NotFound, VolumeNotFound
from .jsonfile import write_json_atomic

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ANON_LABEL = "com.docker.volume.anonymous"   # docker's mark on anonymous volumes
META = "meta.json"


def valid_name(name):
    return isinstance(name, str) and len(name) <= 255 and bool(NAME.match(name))


def check_name(name):
    """Raise InvalidArgument unless ``name`` is a valid volume name."""
    if not valid_name(name):
        raise InvalidArgument(f'invalid volume name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]+')
    return name


def check_driver(driver):
    """docker's answer for a driver it lacks: no plugin by that name (404)."""
    if driver not in (None, "", "local"):
        raise NotFound(f"error looking up volume plugin {driver}: plugin {driver!r} not "
                       "found (only the 'local' driver is available)")


class VolumeStore:
    """The volumes of one store root.

    Args:
        root: the store root (``Client.root``).
        run_root: the run-time dir, where ephemeral containers keep their
            config; needed to see every user of a volume.
    """

    def __init__(self, root, run_root=None):
        self.dir = os.path.join(root, "volumes")
        self.containers = os.path.join(root, "containers")
        self.run_root = run_root

    def path(self, name):
        return os.path.join(self.dir, name)

    def data_path(self, name):
        """The host directory that is bound into containers."""
        return os.path.join(self.dir, name, "_data")

    @contextlib.contextmanager
    def locked(self):
        """Exclusive across threads and processes (flock on ``volumes/.lock``)."""
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- read ----------------------------------------------------------------
    def get(self, name):
        """The volume's attrs (docker's ``volume inspect``); NotFound otherwise."""
        if not valid_name(name):
            raise VolumeNotFound(f"no such volume: {name!r}")
        try:
            with open(os.path.join(self.path(name), META)) as f:
                return json.load(f)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise VolumeNotFound(f"no such volume: {name}") from None

    def names(self):
        try:
            entries = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        # temp and trash dirs start with "." and never match a volume name
        return sorted(n for n in entries if valid_name(n))

    def list(self):
        out = []
        for name in self.names():
            with contextlib.suppress(NotFound):
                out.append(self.get(name))
        return out

    def users(self):
        """``{volume name: [container ids]}`` from every container's config."""
        found = {}
        for cid, path in self._container_configs():
            try:
                with open(path) as f:
                    specs = json.load(f)["Runtime"]["Config"].get("mounts") or []
            except (OSError, ValueError, KeyError, TypeError):
                continue    # removed meanwhile, or not ours
            for spec in specs:
                if spec.get("Type") == "volume" and spec.get("Name"):
                    found.setdefault(spec["Name"], []).append(cid)
        return found

    def _container_configs(self):
        with contextlib.suppress(FileNotFoundError):
            for cid in os.listdir(self.containers):
                yield cid, os.path.join(self.containers, cid, "config.json")
        if self.run_root:
            with contextlib.suppress(FileNotFoundError):
                for cid in os.listdir(self.run_root):
                    if len(cid) == 64:
                        yield cid, os.path.join(self.run_root, cid, "config.json")

    # -- write ---------------------------------------------------------------
    def create(self, name=None, driver="local", driver_opts=None, labels=None, anonymous=False):
        """Create a volume, or return the existing one of that name (docker).

        Args:
            name: ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``; a random 64-hex name when None.
            driver: only ``local``.
            driver_opts: not supported (must be empty).
            labels: dict of labels.
            anonymous: mark it as a container's anonymous volume.

        Returns:
            The volume's attrs.
        """
        name = secrets.token_hex(32) if name is None else check_name(name)
        check_driver(driver)
        if driver_opts:
            raise InvalidArgument("driver_opts are not supported by the local driver yet")
        if labels is not None and not isinstance(labels, dict):
            raise InvalidArgument("labels must be a dict")
        with self.locked():
            return self._create_locked(name, labels, anonymous)

    def _create_locked(self, name, labels, anonymous):
        with contextlib.suppress(NotFound):
            return self.get(name)
        if os.path.lexists(self.path(name)):    # never replace data we cannot account for
            raise Conflict(f"volume {name}: {self.path(name)} exists without valid metadata")
        labels = {k: str(v) for k, v in (labels or {}).items()}
        if anonymous:
            labels[ANON_LABEL] = ""
        attrs = {"CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "Driver": "local", "Labels": labels, "Mountpoint": self.data_path(name),
                 "Name": name, "Options": None, "Scope": "local"}
        # Built aside and renamed in: a crash never leaves a half volume.
        tmp = os.path.join(self.dir, f".tmp-{secrets.token_hex(8)}")
        os.mkdir(tmp, 0o701)
        try:
            os.mkdir(os.path.join(tmp, "_data"), 0o755)
            write_json_atomic(os.path.join(tmp, META), attrs)
            os.rename(tmp, self.path(name))
        except BaseException:
            fstree.remove(tmp)
            raise
        return attrs

    def ensure(self, name, labels=None, anonymous=False):
        """The data dir of ``name``, creating the volume when missing.

        Called at container start with the lock held, so a concurrent
        ``remove`` either finished before (the volume is made again) or sees
        the container as a user.
        """
        with self.locked():
            self._create_locked(check_name(name), labels, anonymous)
        return self.data_path(name)

    def remove(self, name, force=False):
        """Remove a volume and its data.

        Raises:
            NotFound: no such volume.
            Conflict: a container uses it (unless ``force``).
        """
        with self.locked():
            self.get(name)
            if not force:
                users = self.users().get(name)
                if users:
                    raise Conflict(f"volume {name} is in use by container(s) "
                                   f"{', '.join(c[:12] for c in sorted(users))}")
            trash = self._unlink_locked(name)
        fstree.remove(trash)

    def _unlink_locked(self, name):
        """Rename the volume out of sight (atomic); the caller deletes it unlocked."""
        trash = os.path.join(self.dir, f".rm-{secrets.token_hex(8)}")
        os.rename(self.path(name), trash)
        return trash

    def prune(self, keep=lambda attrs: False):
        """Remove every unused volume for which ``keep(attrs)`` is false.

        Returns:
            ``(names removed, bytes reclaimed)``.
        """
        trash, removed, size = [], [], 0
        with self.locked():
            used = self.users()
            for attrs in self.list():
                if attrs["Name"] in used or keep(attrs):
                    continue
                size += fstree.size(self.data_path(attrs["Name"]))
                trash.append(self._unlink_locked(attrs["Name"]))
                removed.append(attrs["Name"])
            # leftovers of a crashed remove or create (no create runs while we hold the lock)
            for n in os.listdir(self.dir):
                if n.startswith(".tmp-"):
                    fstree.remove(os.path.join(self.dir, n))
                elif n.startswith(".rm-"):
                    trash.append(os.path.join(self.dir, n))
        for path in trash:
            fstree.remove(path)
        return removed, size
