"""docker-py's names over pycontainer, so that a script written for
docker-py runs after one changed line::

    import pycontainer.docker as docker        # was: import docker
    client = docker.from_env()
    client.containers.run("busybox", ["echo", "hi"], remove=True)
    client.api.inspect_container(cid)["State"]["Status"]

``DockerClient`` is :class:`pycontainer.Client` (the same collections and
models) with docker-py's constructor and ``client.api``, a low-level
``APIClient`` over the same engine (``api.py``). ``errors`` and ``types`` are
pycontainer's, whose names and bases mirror docker's.

``base_url=None`` (and ``from_env()`` without ``$PYCONTAINER_HOST``) is the
local engine over ``$PYCONTAINER_ROOT``; a ``unix://`` or ``tcp://`` URL is a
pycontainerd, reached by pycontainer/remote. ``$DOCKER_HOST`` is not read: it
names a dockerd.
"""
import os

from .. import errors, types
from ..client import Client
from .api import APIClient

__all__ = ["APIClient", "DockerClient", "RemoteNotSupported", "errors", "from_env", "types"]
__version__ = "7.1.0"       # the docker-py release whose API this module follows

DEFAULT_TIMEOUT_SECONDS = 60
USER_AGENT = f"pycontainer-docker/{__version__}"


class RemoteNotSupported(errors.InvalidArgument):
    """What this client cannot reach: docker CLI contexts (they name dockerds)."""


class DockerClient(Client):
    """docker-py's ``DockerClient``: ``containers``, ``images``, ``networks``,
    ``volumes``, ``events()``, ``ping()``, ``version()``, ``info()``,
    ``df()``, ``login()``, ``close()``, and ``api`` (:class:`APIClient`).

    Args:
        base_url: None for the local engine; a ``unix://`` or ``tcp://`` URL
            for a pycontainerd (``tls``: :class:`pycontainer.Client`'s).
        version, timeout, tls, user_agent, credstore_env, use_ssh_client,
            max_pool_size: docker-py's transport settings; kept (``version``
            as ``api.api_version``, ``user_agent`` in ``api.headers``), with
            no effect on the in-process engine.
        **kwargs: :class:`pycontainer.Client`'s (``root``, ``run_root``...).

    >>> client = DockerClient()
    >>> client.api.ping()
    True
    """

    def __init__(self, base_url=None, version=None, timeout=DEFAULT_TIMEOUT_SECONDS, tls=False,
                 user_agent=USER_AGENT, credstore_env=None, use_ssh_client=False,
                 max_pool_size=10, **kwargs):
        if base_url:
            kwargs.update(base_url=base_url, tls=tls or None, timeout=timeout)
        super().__init__(**kwargs)
        self.timeout, self.tls = timeout, tls
        self._api = APIClient(self, version=version, user_agent=user_agent, base_url=base_url)

    @property
    def api(self):
        """The low-level :class:`APIClient` (docker-py's ``client.api``)."""
        return self._api

    @classmethod
    def from_env(cls, version=None, timeout=DEFAULT_TIMEOUT_SECONDS, max_pool_size=10,
                 environment=None, use_ssh_client=False, **kwargs):
        """docker-py's ``from_env``: the store from ``$PYCONTAINER_ROOT`` and
        ``$PYCONTAINER_RUN_ROOT`` (see :meth:`pycontainer.Client.from_env`)."""
        env = os.environ if environment is None else environment
        kwargs.update(version=version, timeout=timeout)
        return super().from_env(environment=env, **kwargs)

    @classmethod
    def from_context(cls, context, *args, **kwargs):
        """Refused: docker CLI contexts name daemons (see ``base_url``)."""
        raise RemoteNotSupported(f"from_context({context!r}): docker contexts name remote "
                                 "daemons; use from_env() for the local engine")

    def close(self):
        super().close()
        self._api._execs.clear()


from_env = DockerClient.from_env
