"""``Engine``: one store's containers, images, networks and volumes.

The engine is the core every face stands on: the SDK's models (``Client``),
and later the daemon and the CLI. Its verbs take and return plain data
(ids, dicts, image records); it never imports a face.

>>> engine = Engine("/var/lib/pycontainer")
>>> cid = engine.containers.create("busybox", ["true"], {})
>>> engine.containers.start(cid)
"""
import os

from ..errors import NotFound

# The rooms are imported when an Engine is made, not with this module: a
# Client is made at import time of many scripts, and builds its engine on
# first use (client.py).

DEFAULT_ROOT = "/var/lib/pycontainer"


def store_root(root=None):
    """The store directory: ``root``, else ``$PYCONTAINER_ROOT``, else the default."""
    return os.path.abspath(root or os.environ.get("PYCONTAINER_ROOT") or DEFAULT_ROOT)


def preload():
    """Import what ``Engine()`` and a container's start import, and compute
    what every start would (the default seccomp filter, ~12 ms): for a
    process that forks workers which each make an engine (cli/warm.py)."""
    import importlib
    for name in ("cgroups", "volumes", "image", "image.limits", "network.manager",
                 "runtime.runtime", "security.userns", "engine.state", "engine.containers",
                 "engine.events", "engine.images", "engine.networks", "engine.volumes"):
        importlib.import_module(f"pycontainer.{name}")
    from .. import security
    security.seccomp_bpf(security.build())


class Engine:
    """The engine of one store. Arguments as :class:`pycontainer.Client`'s.

    Attributes:
        containers: container verbs (engine/containers.py).
        images: image verbs (engine/images.py).
        networks: network verbs (engine/networks.py).
        volumes: volume verbs (engine/volumes.py).
        events: the store's event journal (engine/events.py); ``events.emit``
            records one.
        builds: the build verb, attached by the client (pycontainer/build).
        runtime: the low-level runtime (runtime/runtime.py).
    """

    def __init__(self, root=None, cgroup_parent="/", run_root=None, favor_dynmods=None,
                 userns_mode=None, max_layer_size=None, max_image_size=None,
                 min_free_space=None, reconcile=True):
        from .. import cgroups
        from ..image import ImageStore
        from ..image.limits import Limits
        from ..network.manager import Networking
        from ..runtime.runtime import Runtime
        from ..security import userns as _userns
        from ..volumes import VolumeStore
        from .containers import Containers
        from .events import Journal
        from .images import Images
        from .networks import Networks
        from .volumes import Volumes
        self.root = store_root(root)
        self.userns_mode = _userns.validate(userns_mode)
        limits = Limits(max_layer_size=max_layer_size, max_image_size=max_image_size,
                        min_free_space=min_free_space)          # InvalidArgument before anything
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        self.runtime = Runtime(self.root, run_root=run_root, cgroup_parent=cgroup_parent)
        if favor_dynmods is None:
            favor_dynmods = os.environ.get("PYCONTAINER_FAVOR_DYNMODS") == "1"
        if favor_dynmods:
            cgroups.favor_dynmods(self.runtime.cgroup_layout)
        self.image_store = ImageStore(
            self.root, max_layer_size=limits.max_layer_size,
            max_image_size=limits.max_image_size, min_free_space=limits.min_free_space)
        if self.runtime.run_root not in self.image_store.container_dirs:
            # ephemeral containers' upper dirs live there: image removal checks them
            self.image_store.container_dirs.append(self.runtime.run_root)
        self.volume_store = VolumeStore(self.root, self.runtime.run_root)
        self.net = Networking(self.root, self.runtime.run_root, state_of=self._state_of)
        self.events = Journal(self.root)          # engine/events.py
        self.containers = Containers(self)
        self.images = Images(self)
        self.networks = Networks(self)
        self.volumes = Volumes(self)
        # Hook: the build room (pycontainer/build, which stands on the engine)
        # attaches its verbs here; the engine never imports it.
        self.builds = None
        self.net.resolve_container = self.containers.resolve
        if reconcile:
            self.reconcile()

    def _state_of(self, cid):
        from . import state as _state
        try:
            return _state.load(self.runtime, cid)["State"]
        except (NotFound, OSError, ValueError, KeyError):
            return None

    # -- about the engine (engine/system.py) ---------------------------------------
    def ping(self):
        return True

    def version(self):
        from . import system
        return system.version(self)

    def info(self):
        from . import system
        return system.info(self)

    def df(self):
        from . import system
        return system.df(self)

    def reconcile(self):
        """Repair the store after crashes or a reboot (see Containers.recover):
        called when a Client starts; reading state never repairs anything."""
        self.containers.recover()
