"""Shared fixtures: the test store, a client, the busybox image, and a leak check.

Every test runs under ``_leakcheck`` (autouse): before the test it snapshots
mounts, ``pycontainer*`` cgroups, ``pyc*`` links, child processes, open fds and
``<store>/containers/``; after it, anything new that stays for 2 s fails the
test (see tests/leakcheck.py). Fixtures of a wider scope that the test uses are
set up before the snapshot, so what they hold open for the session is not
counted. Opt out with ``@pytest.mark.no_leakcheck`` (all kinds) or
``@pytest.mark.no_leakcheck("fds")`` (only those kinds).

Tests under tests/integration/ are marked ``integration``; they need root and
fail (not skip) without it.
"""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import leakcheck  # noqa: E402

# Tests run in the machine's own network namespace: a container without
# network_mode must not get the default bridge there (bridges, NAT, sysctls).
# tests/integration/test_networks.py runs its engine in a namespace it creates.
os.environ["PYCONTAINER_DEFAULT_NETWORK"] = "none"

INTEGRATION_DIR = os.path.join(HERE, "integration")
# Filesystems on which overlayfs accepts an upper dir.
OVERLAY_UPPER_FS = {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs"}
# Checked once around the whole session: fds are left out, pytest's own come and go.
SESSION_KINDS = leakcheck.KINDS - {"fds", "store"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "integration: needs root and the real kernel (set on every test under tests/integration)")
    config.addinivalue_line(
        "markers", "no_leakcheck(*kinds): skip the leak check, or only the given kinds "
                   f"({', '.join(sorted(leakcheck.KINDS))})")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.path).startswith(INTEGRATION_DIR + os.sep):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.get_closest_marker("integration") and os.geteuid() != 0:
        pytest.fail("integration tests need root (namespaces, mounts, cgroups): "
                    "run them with `sudo bash setup.sh test`", pytrace=False)


# --- the store, the client, the image ------------------------------------------------

def _fstype(path):
    """Type of the filesystem that holds ``path`` (longest mount point prefix)."""
    path = os.path.realpath(path)
    best, fstype = "", None
    for point, fs, _, _ in leakcheck.read_mountinfo():
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, fstype = point, fs
    return fstype


@pytest.fixture(scope="session")
def store_root(tmp_path_factory):
    """The session's store directory, on a filesystem that takes overlay upper dirs.

    When pytest's temporary directory is elsewhere (an overlay, say), a tmpfs is
    mounted on the store for the session.
    """
    path = tmp_path_factory.mktemp("store")
    mounted = False
    if _fstype(path) not in OVERLAY_UPPER_FS and os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0711", "pyc-test-store", str(path)],
                       check=True, capture_output=True)
        mounted = True
    yield path
    if mounted:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _no_mounts_below(path):
    path = os.path.realpath(path)
    return not any(p == path or p.startswith(path + "/") for p, _, _, _ in leakcheck.read_mountinfo())


@pytest.fixture(scope="session")
def client(store_root):
    """``pycontainer.Client`` on the session's store (imported here, so that unit
    tests still run when the package does not import)."""
    from pycontainer import Client

    c = Client(root=str(store_root))
    yield c
    close = getattr(c, "close", None)
    if close is not None:
        close()
    # Run-time state lives outside the store (a tmpfs dir per store): drop it,
    # unless something is still mounted there (that is reported as a leak).
    run_root = getattr(getattr(c, "_runtime", None), "run_root", None)
    if run_root and os.path.isdir(run_root) and _no_mounts_below(run_root):
        shutil.rmtree(run_root, ignore_errors=True)


@pytest.fixture
def fresh_client(tmp_path):
    """A Client on a store of its own (prune, counts and trash need their own),
    on a tmpfs when pytest's temporary directory takes no overlay upper dir."""
    from pycontainer import Client, fstree

    root = tmp_path / "fresh"
    root.mkdir()
    mounted = False
    if _fstype(root) not in OVERLAY_UPPER_FS:
        subprocess.run(["mount", "-t", "tmpfs", "pyc-test-fresh", str(root)], check=True)
        mounted = True
    c = Client(root=str(root))
    try:
        yield c
    finally:
        for cont in c.containers.list(all=True):
            cont.remove(force=True)
        c.close()           # registry connections
        run_root = c._runtime.run_root
        if os.path.isdir(run_root) and _no_mounts_below(run_root):
            fstree.remove(run_root)
        if mounted:
            subprocess.run(["umount", str(root)], check=True)
        else:       # pytest's own clean-up recurses: a deep tree would stop it
            fstree.remove(str(root))


@pytest.fixture(scope="session")
def busybox(client):
    """The embedded default base image (made from Debian's busybox-static)."""
    return client.images.busybox()


# --- leak checks ---------------------------------------------------------------------

def _marked_kinds(node):
    marker = node.get_closest_marker("no_leakcheck")
    if marker is None:
        return leakcheck.KINDS
    if not marker.args:
        return frozenset()
    unknown = set(marker.args) - leakcheck.KINDS
    if unknown:
        raise ValueError(f"no_leakcheck: unknown kinds {sorted(unknown)}; known: {sorted(leakcheck.KINDS)}")
    return leakcheck.KINDS - set(marker.args)


def _wider_scoped_fixtures(request):
    """Names of fixtures of this test whose scope is wider than the function."""
    info = getattr(request.node, "_fixtureinfo", None)
    defs = getattr(info, "name2fixturedefs", None) or {}
    for name in request.fixturenames:
        fixturedefs = defs.get(name)
        if fixturedefs and getattr(fixturedefs[-1], "scope", "function") != "function":
            yield name


def _stop_warm():
    try:
        from pycontainer.cli import warm
        from pycontainer.oci import warm as oci_warm
    except ImportError:       # the package does not import: the unit tests say why
        return
    warm.stop()
    oci_warm.stop_all()         # the OCI runtime's (oci/warm.py), started by a create


def _remove_killed_sessions(tmp_path_factory):
    """The temporary dirs of earlier sessions killed before their clean-up
    (their pytest lock names a pid that is gone): their stores go, so that
    the engine's sweep removes what their containers left on the host (run
    roots and cgroups of deleted stores). Nobody would open them again."""
    from pycontainer import fstree
    own = tmp_path_factory.getbasetemp()
    for d in own.parent.glob("pytest-*"):
        if d == own or d.is_symlink() or not d.is_dir():
            continue
        try:
            pid = int((d / ".lock").read_text())
            os.kill(pid, 0)
            continue                            # a live session's
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue                            # no lock we can read: not ours to judge
        if _no_mounts_below(str(d)):
            fstree.remove(str(d))


@pytest.fixture(scope="session", autouse=True)
def _session_leakcheck(tmp_path_factory):
    """What session fixtures (the client, the image) leave behind at the end,
    and any orphaned container cgroup, however old."""
    _stop_warm()
    if os.geteuid() == 0:
        _remove_killed_sessions(tmp_path_factory)
    before = leakcheck.snapshot(kinds=SESSION_KINDS)
    yield
    _stop_warm()            # the warm processes (cli/warm.py, oci/warm.py) go with the session
    leaks = leakcheck.check(before, kinds=SESSION_KINDS)
    if "cgroups" in SESSION_KINDS:
        leaks += [v for k, v in sorted(leakcheck.orphan_cgroups().items())
                  if f"cgroup {k}" not in leaks]
    if leaks:
        pytest.fail(leakcheck.format_leaks(leaks, "the test session's fixtures"), pytrace=False)


@pytest.fixture(autouse=True)
def _leakcheck(request):
    kinds = _marked_kinds(request.node)
    if not kinds:
        yield
        return
    for name in _wider_scoped_fixtures(request):
        request.getfixturevalue(name)
    roots, watch = [], []
    if "store_root" in request.fixturenames:
        store = request.getfixturevalue("store_root")
        roots.append(store)
        watch.append(os.path.join(store, "containers"))
    if "tmp_path" in request.fixturenames:
        roots.append(request.getfixturevalue("tmp_path"))
    before = leakcheck.snapshot(roots=roots, watch_dirs=watch, kinds=kinds)
    yield
    leaks = leakcheck.check(before, kinds=kinds)
    if leaks:
        pytest.fail(leakcheck.format_leaks(leaks), pytrace=False)
