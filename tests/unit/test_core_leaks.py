"""The C core called many times: no fd or memory growth (psutil's leak suite
idea). Uses temp files only; the seccomp compiler needs no privileges."""
import os
import resource

from pycontainer import _core
from pycontainer.security import caps, seccomp
from pycontainer.security.default_profile import PROFILE


def _fds():
    return len(os.listdir("/proc/self/fd"))


def _rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_cgroup_apply_and_openat2_do_not_leak(tmp_path):
    d = tmp_path / "x"
    (tmp_path / "f").write_text("")
    root = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        fds = _fds()
        for i in range(3000):
            _core.cgroup_apply([("d", str(d), ""), ("w", str(tmp_path / "f"), str(i)),
                                ("r", str(d), "")])
            fd = _core.openat2(root, "f", os.O_RDONLY | os.O_CLOEXEC, _core.RESOLVE_IN_ROOT)
            os.close(fd)
            try:
                _core.openat2(root, "../missing", os.O_RDONLY, _core.RESOLVE_IN_ROOT)
            except FileNotFoundError:
                pass
        assert _fds() == fds
    finally:
        os.close(root)


def test_seccomp_compile_does_not_leak():
    names = caps.names(caps.mask())
    seccomp.compile_profile(PROFILE, names)          # warm up allocators
    fds, rss = _fds(), _rss_kib()
    for _ in range(300):
        seccomp._cache.clear()
        seccomp.compile_profile(PROFILE, names)
    assert _fds() == fds
    assert _rss_kib() - rss < 8 * 1024               # KiB: no per-call growth
