"""Find what a test left behind on the host.

``snapshot()`` records the host objects a container engine creates and may
forget; ``check(before)`` takes new snapshots for a short grace period and
returns what is still new, as readable lines::

    >>> before = snapshot(roots=[store])
    >>> ...                                   # the test
    >>> leaks = check(before, roots=[store])
    >>> assert not leaks, format_leaks(leaks)

Kinds of objects (``KINDS``):

* ``mounts``: entries of /proc/self/mountinfo whose mount point or source is
  under one of ``roots`` or contains ``pycontainer`` or ``/pyc-``;
* ``cgroups``: directories below a directory named ``pycontainer*`` in every
  mounted cgroup (v1) and cgroup2 hierarchy (the ``pycontainer*`` directory
  itself is a shared parent and may stay);
* ``links``: network links named ``pyc*`` and named network namespaces
  (/run/netns) whose name contains ``pyc``;
* ``processes``: descendants of the process (zombies included);
* ``fds``: open file descriptors of the process (/proc/<pid>/fd);
* ``store``: entries of the ``watch_dirs`` (say ``<store>/containers``);
* ``rules``: firewall objects naming pyc: the chains of nftables' ``ip
  pycontainer`` table (one per network) and the ``pyc*`` interface names in
  its sets and maps, and iptables-save lines naming ``pyc``/``PYCONTAINER``.

Only additions count, and only those that stay for the whole grace period:
something that a concurrent test run creates and removes again, or a child
that is still exiting, is not a leak.
"""
import gc
import os
import time
from collections import Counter
from dataclasses import dataclass, field

KINDS = frozenset({"mounts", "cgroups", "links", "processes", "fds", "store", "rules"})
MOUNT_MARKERS = ("pycontainer", "/pyc-")
CGROUP_MARKER = "pycontainer"
LINK_PREFIX = "pyc"
NETNS_DIR = "/run/netns"


@dataclass
class Snapshot:
    """What was there at one moment; each field maps a key to a description."""

    pid: int
    roots: tuple = ()
    watch_dirs: tuple = ()
    mounts: Counter = field(default_factory=Counter)
    cgroups: dict = field(default_factory=dict)
    links: dict = field(default_factory=dict)
    processes: dict = field(default_factory=dict)
    fds: dict = field(default_factory=dict)
    store: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)


def _unescape(s):
    # mountinfo escapes space, tab, newline and backslash as \ooo
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1:i + 4].isdigit() and len(s[i + 1:i + 4]) == 3:
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def read_mountinfo(path="/proc/self/mountinfo"):
    """Yield ``(mount_point, fstype, source, super_options)`` per mount."""
    with open(path) as f:
        for line in f:
            left, _, right = line.rstrip("\n").partition(" - ")
            lf, rf = left.split(), right.split()
            if len(lf) < 5 or len(rf) < 2:
                continue
            yield (_unescape(lf[4]), rf[0], _unescape(rf[1]), rf[2] if len(rf) > 2 else "")


def _under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def _mount_matches(point, source, roots):
    for text in (point, source):
        if any(m in text for m in MOUNT_MARKERS):
            return True
        if any(_under(text, r) for r in roots):
            return True
    return False


def snap_mounts(roots=()):
    """Counter of ``(mount point, fstype, source)`` for the mounts we watch."""
    found = Counter()
    for point, fstype, source, _ in read_mountinfo():
        if _mount_matches(point, source, roots):
            found[(point, fstype, source)] += 1
    return found


def cgroup_mounts():
    """Mount points of every cgroup (v1) and cgroup2 hierarchy, each once."""
    seen = []
    for point, fstype, _, _ in read_mountinfo():
        if fstype in ("cgroup", "cgroup2") and point not in seen:
            seen.append(point)
    return seen


def _walk_dirs(top):
    stack = [top]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                subdirs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:        # removed meanwhile, or unreadable
            continue
        yield from subdirs
        stack.extend(subdirs)


def snap_cgroups(mounts=None):
    """Directories strictly below a ``pycontainer*`` directory, in every hierarchy."""
    found = {}
    for mnt in cgroup_mounts() if mounts is None else mounts:
        for d in _walk_dirs(mnt):
            parts = os.path.relpath(d, mnt).split(os.sep)
            if any(p.startswith(CGROUP_MARKER) for p in parts[:-1]):
                found[d] = f"cgroup {d}"
    return found


def orphan_cgroups(mounts=None):
    """Container cgroups below a ``pycontainer*`` directory that nobody will
    remove, whenever they were made: no process in them, and every dir their
    owner record names (the container's dirs in its store and run root) is
    gone. The engine's sweep removes these when it starts; one still here at
    the end of a session is a leak, even one older than the session."""
    out = {}
    for d in snap_cgroups(mounts):
        try:
            owner = os.getxattr(d, "trusted.pyc.owner").decode()
            with open(os.path.join(d, "cgroup.procs")) as f:
                if f.read().strip():
                    continue
        except OSError:         # gone meanwhile, or no owner recorded
            continue
        if not any(os.path.exists(p) for p in owner.split("\t")):
            out[d] = f"cgroup {d} (orphaned: its owner's dirs are gone)"
    return out


def snap_rules():
    """Firewall objects naming pyc (see the module docstring); counters and
    rule handles are left out, so only objects made or left count."""
    import re
    import subprocess
    found = {}
    try:
        nft = subprocess.run(["nft", "list", "table", "ip", "pycontainer"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        nft = ""
    for chain in re.findall(r"^\s*chain (\S+) \{", nft, re.M):
        found[f"nft chain {chain}"] = f"nft chain {chain} in table ip pycontainer"
    for name in set(re.findall(r'"(pyc[^"]*)"', nft)):
        found[f"nft name {name}"] = f"nft rule or set element naming {name}"
    try:
        ipt = subprocess.run(["iptables-save"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        ipt = ""
    for line in ipt.splitlines():
        if ("pyc" in line or "PYCONTAINER" in line) and not line.startswith("#"):
            line = re.sub(r"\[\d+:\d+\]", "", line).strip()
            found[f"iptables {line}"] = f"iptables rule {line}"
    return found


def snap_links():
    """Network links named ``pyc*`` (this netns) and named netns with ``pyc``."""
    names = set()
    try:
        names.update(os.listdir("/sys/class/net"))
    except OSError:
        pass
    try:
        with open("/proc/self/net/dev") as f:
            for line in f.readlines()[2:]:
                names.add(line.split(":", 1)[0].strip())
    except OSError:
        pass
    found = {f"link {n}": f"network link {n}" for n in names if n.startswith(LINK_PREFIX)}
    try:
        for n in os.listdir(NETNS_DIR):
            if LINK_PREFIX in n:
                found[f"netns {n}"] = f"network namespace {NETNS_DIR}/{n}"
    except OSError:
        pass
    return found


def _read_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    comm = data[data.index("(") + 1:data.rindex(")")]
    rest = data[data.rindex(")") + 2:].split()
    # rest[0] = state, rest[1] = ppid, rest[19] = starttime
    return comm, rest[0], int(rest[1]), int(rest[19])


def snap_processes(pid):
    """Descendants of ``pid``, keyed by (pid, start time) so reused pids differ."""
    children = {}
    info = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            comm, state, ppid, start = _read_stat(name)
        except (OSError, ValueError, IndexError):
            continue
        p = int(name)
        info[p] = (comm, state, ppid, start)
        children.setdefault(ppid, []).append(p)
    found = {}
    stack = list(children.get(pid, ()))
    while stack:
        p = stack.pop()
        comm, state, ppid, start = info[p]
        found[(p, start)] = f"process {p} ({comm}), state {state}, child of {ppid}"
        stack.extend(children.get(p, ()))
    return found


def snap_fds(pid):
    """Open fds of ``pid`` (0-2 excluded) with what they point to."""
    fd_dir = f"/proc/{pid}/fd"
    found = {}
    for name in os.listdir(fd_dir):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:     # closed meanwhile: the directory fd of listdir itself
            continue
        if target in (fd_dir, "/proc/self/fd"):
            continue
        found[fd] = f"fd {fd} -> {target}"
    return found


def snap_store(watch_dirs):
    """Entries of each watched directory (not recursive)."""
    found = {}
    for d in watch_dirs:
        try:
            for name in os.listdir(d):
                path = os.path.join(d, name)
                found[path] = f"store entry {path}"
        except FileNotFoundError:
            pass
    return found


def snapshot(roots=(), watch_dirs=(), pid=None, kinds=KINDS):
    """Record the watched host objects now.

    Args:
        roots: directories (the store root) under which every mount counts.
        watch_dirs: directories whose entries count (``<store>/containers``).
        pid: the process whose children and fds count; default this one.
        kinds: which of ``KINDS`` to record.
    """
    pid = os.getpid() if pid is None else pid
    roots = tuple(os.path.abspath(str(r)) for r in roots)
    watch_dirs = tuple(os.path.abspath(str(d)) for d in watch_dirs)
    s = Snapshot(pid=pid, roots=roots, watch_dirs=watch_dirs)
    if "mounts" in kinds:
        s.mounts = snap_mounts(roots)
    if "cgroups" in kinds:
        s.cgroups = snap_cgroups()
    if "links" in kinds:
        s.links = snap_links()
    if "processes" in kinds:
        s.processes = snap_processes(pid)
    if "fds" in kinds:
        s.fds = snap_fds(pid)
    if "store" in kinds:
        s.store = snap_store(watch_dirs)
    if "rules" in kinds:
        s.rules = snap_rules()
    return s


def _new_items(before, after, kinds=KINDS):
    """``{(kind, key): description}`` of what ``after`` has and ``before`` had not."""
    new = {}
    if "mounts" in kinds:
        for key, n in after.mounts.items():
            extra = n - before.mounts.get(key, 0)
            for i in range(extra):
                point, fstype, source = key
                new[("mounts", key, i)] = f"mount {point} ({fstype}, source {source})"
    for kind in ("cgroups", "links", "processes", "fds", "store", "rules"):
        if kind not in kinds:
            continue
        old = getattr(before, kind)
        for key, desc in getattr(after, kind).items():
            if key not in old:
                new[(kind, key)] = desc
    return new


def diff(before, after, kinds=KINDS):
    """Readable lines for what is in ``after`` but was not in ``before``."""
    return sorted(_new_items(before, after, kinds).values())


def check(before, grace=2.0, interval=0.05, kinds=KINDS):
    """What is new since ``before`` and stays new for ``grace`` seconds.

    Returns at once when nothing is new; otherwise polls, dropping whatever
    goes away (an exiting child, a concurrent run's transient mount), until
    nothing is left or ``grace`` has passed.

    Returns:
        A sorted list of readable lines, empty when nothing leaked.
    """
    gc.collect()     # fds held by unreachable objects are not leaks of the code under test
    deadline = time.monotonic() + grace
    leaked = None
    while True:
        after = snapshot(before.roots, before.watch_dirs, before.pid, kinds)
        new = _new_items(before, after, kinds)
        leaked = new if leaked is None else {k: v for k, v in new.items() if k in leaked}
        if not leaked or time.monotonic() >= deadline:
            return sorted(leaked.values())
        time.sleep(interval)


def format_leaks(leaks, what="the test"):
    """One message for ``pytest.fail``."""
    lines = [f"{what} left {len(leaks)} thing(s) behind:"]
    lines += [f"  {line}" for line in leaks]
    return "\n".join(lines)
