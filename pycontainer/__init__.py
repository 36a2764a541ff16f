"""pycontainer: a container engine for Linux that Python programs import.

>>> from pycontainer import Client
>>> client = Client()
>>> client.images.busybox()
>>> client.containers.run("busybox", ["sh", "-c", "echo hi"], remove=True)
b'hi\\n'
"""
from . import errors
from .client import Client

__all__ = ["Client", "errors"]
__version__ = "0.1.0"
