"""The entry point: ``Client(root=...)`` with ``containers`` and ``images``."""
import functools

from .models.containers import ContainerCollection
from .models.images import ImageCollection
from .models.networks import NetworkCollection
from .models.volumes import VolumeCollection


class Client:
    """A handle on one pycontainer store.

    Args:
        root: the store directory; default ``$PYCONTAINER_ROOT``, else
            ``/var/lib/pycontainer``.
        cgroup_parent: where container cgroups go in each hierarchy
            (``<parent>/pycontainer/<id>``); default the hierarchy root.
        run_root: run-time state (tmpfs); default ``$PYCONTAINER_RUN_ROOT``,
            else ``/run/pycontainer`` when /run is a tmpfs, else
            ``/dev/shm/pycontainer``.
        userns_mode: ``"auto"`` gives every container a private host uid range
            (see pycontainer/security/userns.py); default off, per run() too.
        favor_dynmods: remount the cgroup2 tree with ``favordynmods`` so that
            cgroup attach stays fast after the machine idles (a host-wide
            kernel setting; default ``$PYCONTAINER_FAVOR_DYNMODS == "1"``).
        max_layer_size: cap in bytes on what one image layer unpacks to (its
            file contents); default 16 GiB.
        max_image_size: cap in bytes on what one ``import_image``, ``load``
            or ``commit`` unpacks, its new layers together; default 32 GiB.
            Passing a cap raises ``ImageTooLarge`` naming it, and nothing is
            kept. A compression bomb stops at the first cap.
        min_free_space: bytes the store's filesystem keeps free: a layer that
            would use them is refused with ``StorageError`` (ENOSPC). Default
            1 GiB, or 5 % of the filesystem when less; 0 turns the check off.
            A stored layer takes about twice its size (its tar is kept too).
        registry_config: registry settings as dockerd's ``daemon.json`` has
            them (a dict or a path): ``insecure-registries``,
            ``registry-mirrors``, and ``certs-dirs`` (default
            ``/etc/docker/certs.d``), ``docker-config`` (default
            ``~/.docker/config.json``). Loopback registries need none.

    >>> client = Client()
    >>> client.containers.run("busybox", ["echo", "hi"], remove=True)
    b'hi\\n'
    """

    def __init__(self, root=None, cgroup_parent="/", run_root=None, favor_dynmods=None,
                 userns_mode=None, max_layer_size=None, max_image_size=None,
                 min_free_space=None, registry_config=None):
        from .engine.engine import Engine
        self._backend = Engine(root, cgroup_parent=cgroup_parent, run_root=run_root,
                               favor_dynmods=favor_dynmods, userns_mode=userns_mode,
                               max_layer_size=max_layer_size, max_image_size=max_image_size,
                               min_free_space=min_free_space)
        self._backend.images.registry_factory = functools.partial(_registry, registry_config)
        if getattr(self._backend, "builds", None) is None:
            from .build import Builds
            self._backend.builds = Builds(self._backend)
        self.root = self._backend.root
        self.images = ImageCollection(self)
        self.containers = ContainerCollection(self)
        self.volumes = VolumeCollection(self)
        self.networks = NetworkCollection(self)

    @property
    def _runtime(self):
        """The engine's low-level runtime (tests and benchmarks look at it)."""
        return self._backend.runtime

    def registry(self, port=0, htpasswd=None, tls=None):
        """A throwaway registry on 127.0.0.1 for test harnesses, served from a thread
        over a temporary store that is deleted on exit. Arguments and attributes:
        see :class:`pycontainer.registry.server.harness.ThrowawayRegistry`.

        >>> with client.registry() as reg:
        ...     reg.url
        'http://127.0.0.1:41234'
        """
        from .registry.server.harness import ThrowawayRegistry
        return ThrowawayRegistry(port=port, htpasswd=htpasswd, tls=tls)

    def events(self, since=None, until=None, filters=None, decode=None):
        """The store's events, docker's (``docker events``), from every
        process and monitor using the store: a blocking iterator of JSON
        bytes, or dicts with ``decode=True``; ``close()`` it (from any
        thread) to end it.

        Args:
            since / until: datetimes, unix seconds (``"secs.nanos"``, docker's
                form, is exact to the nanosecond), RFC 3339 or a duration
                before now (``"10m"``). Without either, only new events come;
                with an ``until`` in the past, the iterator ends there.
            filters: ``type`` (container, image, network, volume),
                ``event`` (the action), ``container``, ``image``, ``network``,
                ``volume`` (id or name), ``label`` (``key`` or
                ``key=value``, all must match), ``scope``. Values of one key
                OR, keys AND.

        >>> for ev in client.events(filters={"event": "die"}, decode=True):
        ...     print(ev["Actor"]["Attributes"]["exitCode"])
        """
        return self._backend.events.stream(since, until, filters, bool(decode))

    def login(self, username, password=None, email=None, registry=None, reauth=False,
              dockercfg_path=None):
        """Check credentials against a registry and use them for this client's
        pulls and pushes there (kept in memory, as docker-py does).

        Returns:
            ``{"IdentityToken": "", "Status": "Login Succeeded"}``.

        Raises:
            Unauthorized: the registry refused them.
            RegistryError: it could not be reached.

        >>> client.login("me", "secret", registry="localhost:5000")["Status"]
        'Login Succeeded'
        """
        return self._backend.images.login(username, password, registry)

    def close(self):
        """Close the registry connections, if any were opened."""
        reg = self._backend.images._registry
        if reg is not None:
            reg.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _registry(config, store):
    from .registry import Registry     # only when a registry is used (httpx later still)
    return Registry(store, config)
