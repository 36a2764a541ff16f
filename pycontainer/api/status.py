"""Engine errors -> HTTP statuses, as dockerd's errdefs maps them."""
import json
import logging

from aiohttp import web

from .. import errors

log = logging.getLogger("pycontainerd")

# most specific first: ImageNotFound is a NotFound, InvalidReference an InvalidArgument
_STATUS = [(errors.Unauthorized, 401), (errors.NotFound, 404), (errors.Conflict, 409), (errors.InvalidArgument, 400),
           (errors.ImageError, 400), (errors.ContainerError, 500)]


class NotModified(errors.PyContainerError):
    """start of a running container, stop of a stopped one: 304, no body."""


class BadRequest(errors.InvalidArgument):
    """A request the codec refuses (bad JSON, wrong types): 400."""


class NotImplementedYet(errors.PyContainerError):
    """An endpoint or option docker has and this daemon does not yet: 501."""


def error(status, message):
    return web.json_response({"message": message}, status=status,
                             dumps=lambda o: json.dumps(o) + "\n")


def response_for(exc):
    """The response for ``exc`` raised by a route or the engine."""
    if isinstance(exc, NotModified):
        return web.Response(status=304)
    if isinstance(exc, NotImplementedYet):
        return error(501, str(exc))
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return error(status, str(exc))
    if isinstance(exc, TimeoutError):
        return error(408, str(exc) or "timed out")
    log.exception("engine failure", exc_info=exc)
    return error(500, str(exc) or type(exc).__name__)
