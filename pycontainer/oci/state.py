"""A container's state under ``--root``: what ``create`` leaves for every
other verb (and for the C front end, ``csrc/oci/front.c``).

``<root>/<id>/``:

* ``state.json``: the full record (bundle, pid, start time, cgroups, hooks);
* ``front``: the same facts as ``key value`` lines for the C front end;
* ``state.tmpl``: the runtime-spec state with ``@STATUS@`` and ``@PID@``;
* ``exec.fifo``: present from create until start; the init blocks opening it;
* ``config.json``: the bundle's config as it was at create.

The status is never stored: it is read from the process (pid + start time),
the fifo and the freezer, so a dead init reads as stopped with nothing written.
"""
import json
import os
import re

from ..errors import InvalidArgument, NotFound
from ..jsonfile import write_json_atomic

ID = re.compile(r"[\w+\-.]+", re.ASCII)
DEFAULT_ROOT = "/run/pycontainer-runtime"


def check_id(cid):
    if not cid or not ID.fullmatch(cid) or cid in (".", ".."):
        raise InvalidArgument(f"invalid container id {cid!r}: letters, digits, and _+-. only")
    return cid


def proc_start_time(pid):
    """Field 22 of /proc/<pid>/stat, or None (gone, or a zombie: it exited)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


class Container:
    """One container's state dir."""

    def __init__(self, root, cid):
        self.id = check_id(cid)
        self.dir = os.path.join(root, cid)
        self.fifo = os.path.join(self.dir, "exec.fifo")
        self._record = None

    def path(self, name):
        return os.path.join(self.dir, name)

    def exists(self):
        return os.path.isdir(self.dir)

    @property
    def record(self):
        if self._record is None:
            try:
                with open(self.path("state.json")) as f:
                    self._record = json.load(f)
            except FileNotFoundError:
                if self.exists():
                    return {}
                raise NotFound(f"container {self.id} does not exist") from None
        return self._record

    def load(self):
        if not self.exists():
            raise NotFound(f"container {self.id} does not exist")
        return self

    def config(self):
        with open(self.path("config.json")) as f:
            return json.load(f)

    def alive(self):
        r = self.record
        return bool(r.get("pid")) and proc_start_time(r["pid"]) == r.get("start")

    def status(self):
        r = self.record
        if not r:
            return "creating"
        if not self.alive():
            return "stopped"
        if os.path.exists(self.fifo):
            return "created"
        freezer = r.get("freezer")
        if freezer:
            try:
                with open(freezer) as f:
                    if f.read().strip() in ("FROZEN", "FREEZING"):
                        return "paused"
            except OSError:
                pass
        return "running"

    def state(self):
        """The runtime-spec state object (runc's keys and order)."""
        return self.state_for(self.record, self.status())

    def state_for(self, r, status):
        out = {"ociVersion": r.get("ociVersion", "1.0.2"), "id": self.id,
               "pid": r.get("pid", 0) if status != "stopped" else 0, "status": status,
               "bundle": r.get("bundle", ""), "rootfs": r.get("rootfs", ""),
               "created": r.get("created", ""), "owner": ""}
        if r.get("annotations"):
            out["annotations"] = r["annotations"]
        return out

    def save(self, record):
        """state.json, then the front end's files from it."""
        write_json_atomic(self.path("state.json"), record)
        self._record = record
        tmpl = json.dumps({"ociVersion": record["ociVersion"], "id": self.id, "pid": "@PID@",
                           "status": "@STATUS@", "bundle": record["bundle"],
                           "rootfs": record["rootfs"], "created": record["created"],
                           "owner": "", **({"annotations": record["annotations"]}
                                           if record.get("annotations") else {})})
        tmpl = tmpl.replace('"@PID@"', "@PID@")
        lines = [f"pid {record['pid']}", f"start {record['start']}",
                 f"python {1 if record.get('python_verbs') else 0}"]
        for key in ("freezer", "userns", "umount"):
            if record.get(key):
                lines.append(f"{key} {record[key]}")
        lines += [f"cgroup {d}" for d in record["cgroups"]]
        for name, text in (("state.tmpl", tmpl + "\n"), ("front", "\n".join(lines) + "\n")):
            tmp = self.path(name + ".tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, self.path(name))


def list_ids(root):
    try:
        return sorted(n for n in os.listdir(root) if ID.fullmatch(n) and
                      os.path.isdir(os.path.join(root, n)))
    except FileNotFoundError:
        return []
