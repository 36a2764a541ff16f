"""The registry's error codes (OCI Distribution spec, "Error Codes") as one typed error."""
from pycontainer.errors import PyContainerError

# code -> HTTP status, as the spec and docker's registry answer them.
STATUS = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "TAG_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
    "RANGE_INVALID": 416,
}


class RegistryError(PyContainerError):
    """A request the registry refuses: ``code`` (``MANIFEST_UNKNOWN`` ...), its HTTP
    ``status`` and a message; ``detail`` is any JSON value."""

    def __init__(self, code, message, detail=None, status=None):
        super().__init__(message)
        self.code = code
        self.status = status or STATUS[code]
        self.detail = detail

    def body(self):
        """The spec's error body: ``{"errors": [{"code", "message", "detail"}]}``."""
        entry = {"code": self.code, "message": str(self)}
        if self.detail is not None:
            entry["detail"] = self.detail
        return {"errors": [entry]}
