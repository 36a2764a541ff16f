"""The error tree mirrors docker.errors: APIError catches every refusal,
with dockerd's status codes, and docker's names exist with docker's bases."""
import errno
import importlib
import inspect
import pickle
import pkgutil

import docker.errors
import pytest

import pycontainer
from pycontainer import errors
from pycontainer.engine.archive import ContainerPathNotFound
from pycontainer.network.store import NetworkNotFound

# Not refusals: the command failed (ContainerError, a build step), control flow
# of the daemon and the CLI, an internal retry signal, the registry server's own.
NOT_API_ERRORS = {"PyContainerError", "ContainerError", "BuildError", "StepFailed", "CLIError",
                  "NotModified", "NotImplementedYet", "TreeChanged", "_Refused", "_NeedsRead", "_Stale", "_Elsewhere",
                  "RegistryError"}


def _classes():
    for info in pkgutil.walk_packages(pycontainer.__path__, "pycontainer."):
        if info.name == "pycontainer.demo":
            continue
        mod = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == mod.__name__:
                yield cls


def test_every_refusal_is_an_api_error_with_a_status():
    others = {c.__name__ for c in _classes() if not issubclass(c, errors.APIError)}
    assert others <= NOT_API_ERRORS
    assert not issubclass(pycontainer.registry.server.errors.RegistryError, errors.APIError)
    for cls in _classes():
        if issubclass(cls, errors.APIError):
            assert cls.status_code in (400, 404, 409, 500), cls


@pytest.mark.parametrize("cls, status", [
    (errors.NotFound, 404), (errors.ImageNotFound, 404), (errors.ContainerNotFound, 404),
    (errors.VolumeNotFound, 404), (errors.NetworkNotFound, 404), (NetworkNotFound, 404),
    (errors.Conflict, 409), (errors.InvalidArgument, 400), (errors.InvalidReference, 400),
    (errors.InvalidVersion, 400), (errors.ImageError, 400), (errors.HostError, 500)])
def test_status_codes(cls, status):
    e = cls(errno.EIO, "boom") if issubclass(cls, OSError) else cls("boom")
    assert e.status_code == status
    assert e.is_error() and e.is_client_error() == (status < 500)
    assert e.is_server_error() == (status >= 500)
    assert e.explanation == str(e) and e.response is None


def test_docker_names_and_bases():
    assert errors.DockerException is errors.PyContainerError
    for name in ("APIError", "NotFound", "ImageNotFound", "ContainerError", "BuildError",
                 "InvalidArgument", "InvalidVersion", "InvalidRepository", "InvalidConfigFile",
                 "TLSParameterError", "DockerException"):
        assert hasattr(docker.errors, name) and hasattr(errors, name), name
    assert issubclass(errors.ImageNotFound, errors.NotFound)
    assert issubclass(errors.NotFound, errors.APIError)
    assert issubclass(errors.APIError, errors.DockerException)
    assert issubclass(errors.ContainerError, errors.DockerException)
    assert not issubclass(errors.ContainerError, errors.APIError)       # as docker's
    assert issubclass(errors.InvalidArgument, ValueError)
    assert issubclass(errors.NotFound, LookupError)


def test_api_error_takes_docker_arguments():
    e = errors.APIError("500 Server Error", response="resp", explanation="why")
    assert (str(e), e.response, e.explanation, e.status_code) == ("500 Server Error", "resp",
                                                                   "why", 500)
    assert pickle.loads(pickle.dumps(errors.ImageNotFound("gone"))).args == ("gone",)


def test_os_errors_keep_errno_and_are_server_errors():
    e = errors.os_error(errno.ENOENT, "open", "/x")
    assert isinstance(e, FileNotFoundError) and isinstance(e, errors.APIError)
    assert (e.errno, e.filename, e.status_code) == (errno.ENOENT, "/x", 500)
    p = ContainerPathNotFound(errno.ENOENT, "no such path", "/etc/x")
    assert isinstance(p, FileNotFoundError) and p.status_code == 404 and p.errno == errno.ENOENT
    s = errors.StorageError(errno.ENOSPC, "full", limit="min_free_space", value=1)
    assert s.errno == errno.ENOSPC and s.status_code == 500 and s.limit == "min_free_space"


def test_registry_errors_carry_the_registry_status():
    assert errors.RegistryError("unreachable").status_code == 500
    assert errors.RegistryError("unreachable").registry_status is None
    u = errors.Unauthorized("denied", 401)
    assert u.status_code == 401 and u.registry_status == 401 and u.is_client_error()
