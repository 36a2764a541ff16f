"""The entry point: ``Client(root=...)`` with ``containers`` and ``images``."""
import _thread
import os

from .errors import InvalidArgument
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
        base_url: a daemon instead of a store (``unix:///PATH``,
            ``tcp://HOST:PORT``): the same models over its HTTP API
            (pycontainer/remote); the other arguments are the daemon's then.
        tls: for ``base_url``: ``{"ca": path, "cert": path, "key": path}``.
        timeout: for ``base_url``: seconds to connect and send (reads wait).

    >>> client = Client()
    >>> client.containers.run("busybox", ["echo", "hi"], remove=True)
    b'hi\\n'
    """

    def __init__(self, root=None, cgroup_parent="/", run_root=None, favor_dynmods=None,
                 userns_mode=None, max_layer_size=None, max_image_size=None,
                 min_free_space=None, registry_config=None, base_url=None, tls=None,
                 timeout=None):
        self._engine_lock = _thread.allocate_lock()   # threading costs ~1.5 ms to import
        if base_url:        # a daemon over HTTP (pycontainer/remote): the same models
            from .remote import RemoteBackend
            self._engine = RemoteBackend(base_url, tls=tls, timeout=timeout)
            self.root = None
        else:
            from .engine.engine import store_root      # cheap: the engine's rooms load later
            self._engine_args = dict(root=root, cgroup_parent=cgroup_parent,
                                     run_root=run_root, favor_dynmods=favor_dynmods,
                                     userns_mode=userns_mode, max_layer_size=max_layer_size,
                                     max_image_size=max_image_size,
                                     min_free_space=min_free_space)
            self._registry_config = registry_config
            self._engine = None
            self.root = store_root(root)
        self.images = ImageCollection(self)
        self.containers = ContainerCollection(self)
        self.volumes = VolumeCollection(self)
        self.networks = NetworkCollection(self)

    @property
    def _backend(self):
        """The engine, made on first use: importing its rooms and repairing the
        store cost ~100 ms that a script which never calls the engine (or calls
        it later) should not pay in ``Client()``. Bad arguments raise here."""
        engine = self._engine
        if engine is None:
            with self._engine_lock:
                engine = self._engine
                if engine is None:
                    engine = self._engine = self._make_engine()
        return engine

    def _make_engine(self):
        import functools
        from .engine.engine import Engine
        engine = Engine(**self._engine_args)
        engine.images.registry_factory = functools.partial(_registry, self._registry_config)
        if getattr(engine, "builds", None) is None:
            engine.builds = _LazyBuilds(engine)
        return engine

    @classmethod
    def from_env(cls, environment=None, version=None, timeout=None, **kwargs):
        """A client configured from the environment, as ``docker.from_env()``:
        ``$PYCONTAINER_ROOT`` (the store), ``$PYCONTAINER_RUN_ROOT``, and
        ``$PYCONTAINER_HOST`` for a daemon (``unix:///PATH``, ``tcp://HOST:PORT``).
        ``version`` and ``timeout`` (docker-py's API version and socket
        timeout) have no meaning for the in-process engine; ``kwargs`` go to
        :class:`Client`.

        >>> with Client.from_env() as client:
        ...     client.ping()
        True
        """
        env = os.environ if environment is None else environment
        host = env.get("PYCONTAINER_HOST")
        if host:
            return cls(base_url=host, timeout=timeout)
        kwargs.setdefault("root", env.get("PYCONTAINER_ROOT") or None)
        kwargs.setdefault("run_root", env.get("PYCONTAINER_RUN_ROOT") or None)
        return cls(**kwargs)

    def ping(self):
        """True: the engine answers (docker's ``GET /_ping``)."""
        return self._backend.ping()

    def version(self, api_version=True):
        """docker's version dict: ``Platform.Name``, ``Components``, ``Version``,
        ``ApiVersion``, ``Os``, ``Arch``, ``KernelVersion``."""
        return self._backend.version()

    def info(self):
        """docker's info dict: container and image counts, the store
        (``DockerRootDir``), ``CgroupVersion``, ``NCPU``, ``MemTotal``..."""
        return self._backend.info()

    def df(self):
        """Disk use (``docker system df``): ``LayersSize``, ``Images``,
        ``Containers`` (``SizeRw``), ``Volumes`` (``UsageData``)."""
        return self._backend.df()

    def _swarm(what):
        def refuse(self):
            raise InvalidArgument(f"client.{what}: pycontainer has no swarm mode "
                                  "(no services, nodes, secrets, configs or plugins)")
        return property(refuse)

    configs, nodes, plugins = _swarm("configs"), _swarm("nodes"), _swarm("plugins")
    secrets, services, swarm = _swarm("secrets"), _swarm("services"), _swarm("swarm")
    del _swarm

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
        if self._engine is None:
            return
        reg = self._engine.images._registry
        if reg is not None:
            reg.close()
        if hasattr(self._engine, "close"):
            self._engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _registry(config, store):
    from .registry import Registry     # only when a registry is used (httpx later still)
    return Registry(store, config)


class _LazyBuilds:
    """The build room, imported on the first build only."""

    def __init__(self, engine):
        self._engine, self._builds = engine, None

    def __getattr__(self, name):
        if self._builds is None:
            from .build import Builds
            self._builds = Builds(self._engine)
        return getattr(self._builds, name)
