"""Every exception the SDK defines or raises from a kernel call is a
PyContainerError, and OS failures stay the OSError subclass of their errno."""
import errno
import importlib
import inspect
import pickle
import pkgutil

import pytest

import pycontainer
from pycontainer import _core, errors
from pycontainer.network import firewall, netlink


def _modules():
    for info in pkgutil.walk_packages(pycontainer.__path__, "pycontainer."):
        if info.name != "pycontainer.demo":
            yield importlib.import_module(info.name)


def test_every_exception_class_is_a_pycontainer_error():
    classes = [cls for mod in _modules() for _, cls in inspect.getmembers(mod, inspect.isclass)
               if issubclass(cls, BaseException) and cls.__module__ == mod.__name__
               and not cls.__name__.startswith("_")]
    assert firewall.FirewallError in classes
    assert [c for c in classes if not issubclass(c, errors.PyContainerError)] == []


@pytest.mark.parametrize("err, kind", [(errno.ENOENT, FileNotFoundError),
                                       (errno.EPERM, PermissionError),
                                       (errno.EEXIST, FileExistsError),
                                       (errno.ESRCH, ProcessLookupError),
                                       (errno.EIO, errors.HostError)])
def test_core_errors_are_host_errors_of_their_errno(err, kind):
    with pytest.raises(kind) as ei:
        _core.check(-err, "do it", "/some/path")
    e = ei.value
    assert isinstance(e, errors.HostError) and isinstance(e, errors.PyContainerError)
    assert (e.errno, e.filename) == (err, "/some/path")
    assert str(e) == f"[Errno {err}] do it: {__import__('os').strerror(err)}: '/some/path'"
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is type(e) and again.args == e.args


def test_a_missing_file_from_the_core_is_still_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError) as ei:
        _core.openat2(-100, str(tmp_path / "missing"), 0, _core.RESOLVE_IN_ROOT)
    assert isinstance(ei.value, errors.PyContainerError)


def test_netlink_errors_are_host_errors():
    with netlink.Netlink() as nl, pytest.raises(errors.HostError) as ei:
        nl.ifindex("pyc-no-such0")
    assert ei.value.errno == errno.ENODEV and "pyc-no-such0" in str(ei.value)


def test_firewall_error_keeps_its_errno():
    e = firewall.FirewallError(errno.ENOENT, "nftables is not installed")
    assert isinstance(e, errors.PyContainerError) and isinstance(e, OSError)
    assert e.errno == errno.ENOENT
