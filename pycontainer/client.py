"""The entry point: ``Client(root=...)`` with ``containers`` and ``images``."""
import os

from .image import ImageStore
from .models.containers import ContainerCollection
from .models.images import ImageCollection
from .runtime.engine import Runtime

DEFAULT_ROOT = "/var/lib/pycontainer"


class Client:
    """A handle on one pycontainer store.

    Args:
        root: the store directory; default ``$PYCONTAINER_ROOT``, else
            ``/var/lib/pycontainer``.
        cgroup_parent: where container cgroups go in each hierarchy
            (``<parent>/pycontainer/<id>``); default the hierarchy root.

    >>> client = Client()
    >>> client.containers.run("busybox", ["echo", "hi"], remove=True)
    b'hi\\n'
    """

    def __init__(self, root=None, cgroup_parent="/"):
        self.root = os.path.abspath(root or os.environ.get("PYCONTAINER_ROOT") or DEFAULT_ROOT)
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        self._runtime = Runtime(self.root, cgroup_parent=cgroup_parent)
        self.images = ImageCollection(self, ImageStore(self.root))
        self.containers = ContainerCollection(self)

    def close(self):
        """Nothing to release yet; kept for docker-py compatibility."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
