"""Every exception the SDK raises derives from :class:`PyContainerError`
(docker's ``DockerException``: the same class under both names).

The tree mirrors ``docker.errors``: :class:`APIError` is what "the engine
refused" raises, with ``status_code`` as dockerd would answer (400 bad
input, 404 not found, 409 conflict, 500 a host failure), ``explanation``
and ``is_client_error()``/``is_server_error()``; ``except APIError`` catches
every refusal. :class:`NotFound` (containers, images, networks, volumes),
:class:`Conflict`, :class:`InvalidArgument` hang off it.

OS failures keep their errno: they are ``OSError`` subclasses as well
(:class:`HostError`, :class:`OperationError`), so ``except FileNotFoundError``
and ``err.errno`` work as usual.
"""


class PyContainerError(Exception):
    """Base class of all pycontainer errors."""


DockerException = PyContainerError      # docker.errors' base name


class APIError(PyContainerError):
    """The engine refused a request (docker-py's ``APIError``).

    Attributes:
        status_code: the HTTP status dockerd would answer with.
        explanation: the reason (the message, unless one was given).
        response: the HTTP response when a daemon answered, else None.

    >>> try:
    ...     client.containers.get("nope")
    ... except APIError as err:
    ...     err.status_code, err.is_client_error()
    (404, True)
    """

    status_code = 500
    response = None

    def __init__(self, message="", response=None, explanation=None):
        super().__init__(message)
        if response is not None:
            self.response = response
        if explanation is not None:
            self._explanation = explanation

    @property
    def explanation(self):
        return self.__dict__.get("_explanation") or str(self)

    def is_error(self):
        return self.is_client_error() or self.is_server_error()

    def is_client_error(self):
        return 400 <= (self.status_code or 0) < 500

    def is_server_error(self):
        return 500 <= (self.status_code or 0) < 600


class NotFound(APIError, LookupError):
    """A container, image, volume or network does not exist (404)."""

    status_code = 404


class ImageNotFound(NotFound):
    """The image reference matches nothing in the store."""


class ContainerNotFound(NotFound):
    """No container has this id, id prefix or name."""


class VolumeNotFound(NotFound):
    """No volume has this name."""


class NetworkNotFound(NotFound):
    """No network has this id, id prefix or name."""


class Conflict(APIError):
    """The object is in a state that forbids the operation (name taken, in use...): 409."""

    status_code = 409


class InvalidArgument(APIError, ValueError):
    """An argument is malformed or out of range; nothing was created (400).

    Unlike docker-py's (a ``DockerException`` raised before any request),
    it is an :class:`APIError` too: the engine is the one refusing here.
    """

    status_code = 400


class InvalidVersion(InvalidArgument):
    """An API version the engine does not speak (docker's ``InvalidVersion``)."""


class InvalidRepository(InvalidArgument):
    """A malformed repository name (docker's ``InvalidRepository``)."""


class InvalidConfigFile(InvalidArgument):
    """A configuration file cannot be read (docker's ``InvalidConfigFile``)."""


class TLSParameterError(InvalidArgument):
    """TLS settings that do not fit together (docker's ``TLSParameterError``)."""


class UnknownUser(InvalidArgument):
    """A user or group name the container's /etc/passwd or /etc/group lacks."""


class InvalidReference(InvalidArgument):
    """An image reference does not follow the distribution reference grammar."""


class ImageError(APIError):
    """An image or layer is malformed or hostile; the store is unchanged (400)."""

    status_code = 400


class ImageTooLarge(ImageError):
    """A layer or image unpacks to more than a cap of the store; nothing is kept.

    ``limit`` names the cap (``max_layer_size``, ``max_image_size``) and
    ``value`` is its value in bytes.
    """

    def __init__(self, message, limit, value):
        super().__init__(message)
        self.limit = limit
        self.value = value


class RegistryError(APIError):
    """A registry refused a request or could not be reached; nothing was stored.

    ``status_code`` is the registry's HTTP status (500 when there was no
    answer), ``registry_status`` the same or None, and ``errors`` the
    registry's error list (``[{"code": ..., "message": ...}]``).
    """

    def __init__(self, message, status_code=None, errors=None):
        super().__init__(message)
        self.registry_status = status_code
        if status_code is not None:
            self.status_code = status_code
        self.errors = errors or []


class Unauthorized(RegistryError):
    """The registry refused the credentials (or asked for some): HTTP 401/403."""


class StorageError(APIError, OSError):
    """Reading or writing files failed for a reason outside the image (ENOSPC,
    EDQUOT, EIO...); ``errno`` is kept and the store is unchanged.

    ``limit`` is ``"min_free_space"`` (and ``value`` that reserve in bytes)
    when the store refused to fill its filesystem before the kernel would.
    """

    def __init__(self, errno_, message, filename=None, limit=None, value=None):
        OSError.__init__(self, errno_, message, filename)
        self.limit = limit
        self.value = value


class OperationError(APIError, OSError):
    """A kernel operation failed while setting up a container.

    ``errno`` is the kernel's errno; ``op``, ``path`` and ``index`` say which step
    of the child op plan failed.
    """

    def __init__(self, errno_, message, op=None, path=None, index=None):
        OSError.__init__(self, errno_, message, path)
        self.op = op
        self.index = index


class SetupError(OperationError):
    """A step of the child's setup failed, so its program never ran (no such
    program, not executable, no such working directory...): what docker
    reports as "OCI runtime exec failed" (``op`` names the step)."""


class HostError(APIError, OSError):
    """A kernel call or file operation on the host failed (``errno``,
    ``strerror``, ``filename`` as in ``OSError``).

    Made by :func:`os_error`, which also picks the ``OSError`` subclass
    Python would (``FileNotFoundError``, ``PermissionError``...). A 500.
    """

    def __init__(self, *args):
        OSError.__init__(self, *args)   # OSError's errno/strerror/filename, not APIError's


_HOST_ERRORS = {}
for _base in (BlockingIOError, ChildProcessError, ConnectionError, BrokenPipeError,
              ConnectionAbortedError, ConnectionRefusedError, ConnectionResetError,
              FileExistsError, FileNotFoundError, InterruptedError, IsADirectoryError,
              NotADirectoryError, PermissionError, ProcessLookupError, TimeoutError):
    _cls = type(f"Host{_base.__name__}", (HostError, _base),
                {"__module__": __name__, "__doc__": f"A HostError that is a {_base.__name__}."})
    globals()[_cls.__name__] = _HOST_ERRORS[_base] = _cls
del _base, _cls


def os_error(errno_, message, path=None):
    """The :class:`HostError` to raise for ``errno_``: ``os_error(ENOENT, ...)``
    is a ``FileNotFoundError`` too, as ``OSError(ENOENT, ...)`` would be."""
    return _HOST_ERRORS.get(type(OSError(errno_, message)), HostError)(errno_, message, path)


class ContainerError(PyContainerError):
    """The container's command exited with a non-zero status (docker's
    ``ContainerError``: a ``DockerException``, not an ``APIError``: the
    engine did what was asked).

    Attributes:
        container: the Container (may already be removed).
        exit_status: the exit code (128 + signal for a killed process).
        command: the command that ran.
        image: the image it ran in.
        stderr: what the command wrote to stderr (bytes).
        oom_killed: True when the memory limit killed it.
    """

    def __init__(self, container, exit_status, command, image, stderr, oom_killed=False):
        self.container = container
        self.exit_status = exit_status
        self.command = command
        self.image = image
        self.stderr = stderr
        self.oom_killed = oom_killed
        why = " (killed by the memory limit: OOM)" if oom_killed else ""
        err = stderr.decode(errors="replace").strip() if stderr else ""
        super().__init__(
            f"Command {command!r} in image {image!r} returned non-zero exit status "
            f"{exit_status}{why}" + (f": {err}" if err else ""))


class DockerfileError(InvalidArgument):
    """A Dockerfile line is malformed: ``filename``, ``line`` and ``column``
    (1-based) say where, ``reason`` what."""

    def __init__(self, reason, filename=None, line=0, column=0):
        self.reason, self.filename, self.line, self.column = reason, filename, line, column
        where = ":".join(str(x) for x in (filename or "Dockerfile", line, column) if x)
        super().__init__(f"{where}: {reason}")


class BuildError(PyContainerError):
    """A build failed (docker-py's ``BuildError``): ``msg`` is the reason,
    ``build_log`` the messages streamed until then (dicts with ``stream``,
    ``error``...), ``error`` the typed exception behind it when there is one
    (``ImageNotFound`` for a missing base, ``DockerfileError``...), and
    ``exit_code`` the status of a failing ``RUN``."""

    def __init__(self, reason, build_log, error=None, exit_code=None):
        super().__init__(reason)
        self.msg = reason
        self.build_log = build_log
        self.error = error
        self.exit_code = exit_code
