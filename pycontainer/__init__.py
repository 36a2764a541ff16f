"""pycontainer: a container engine for Linux that Python programs import.

>>> from pycontainer import Client
>>> client = Client()
>>> client.images.busybox()
>>> client.containers.run("busybox", ["sh", "-c", "echo hi"], remove=True)
b'hi\\n'
"""
from . import errors

__all__ = ["Client", "errors"]
__version__ = "0.1.0"


def __getattr__(name):
    # Client (and the models it imports) load on first use, so that a command
    # such as `pycontainer --version` pays only for what it touches.
    if name == "Client":
        from .client import Client
        return Client
    raise AttributeError(f"module 'pycontainer' has no attribute {name!r}")
