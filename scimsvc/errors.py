"""The one error family of scimsvc.

Every error carries an HTTP status, an optional RFC 7644 §3.12 ``scimType`` and a
one-line detail. Services raise them; each surface renders them once: the SCIM
API as an error body, the CLI as a one-line message.
"""
from __future__ import annotations


class ScimsvcError(Exception):
    """A failure the caller can act on: HTTP status, optional ``scimType`` and a detail."""

    status: int = 400
    scim_type: str | None = None
    default_detail: str = "The request is not valid."

    def __init__(self, detail: str | None = None, *, status: int | None = None,
                 scim_type: str | None = None, headers: dict[str, str] | None = None):
        self.detail = detail or self.default_detail
        if status is not None:
            self.status = status
        if scim_type is not None:
            self.scim_type = scim_type
        self.headers = headers or {}
        super().__init__(self.detail)

    @property
    def message(self) -> str:
        return self.detail


class NotFound(ScimsvcError):
    status = 404
    default_detail = "Resource not found."


class Conflict(ScimsvcError):
    status = 409
    default_detail = "The request conflicts with the current state."


class Uniqueness(Conflict):
    scim_type = "uniqueness"
    default_detail = "One or more attribute values are already in use."


class InvalidValue(ScimsvcError):
    scim_type = "invalidValue"
    default_detail = "A required value is missing or a value is not compatible with the attribute."


class InvalidFilter(ScimsvcError):
    scim_type = "invalidFilter"
    default_detail = "The specified filter syntax is invalid or the attribute is not supported."


class TooMany(ScimsvcError):
    scim_type = "tooMany"
    default_detail = "The filter would return more results than the server allows."


class Mutability(ScimsvcError):
    scim_type = "mutability"
    default_detail = "The request tried to change an attribute that cannot be changed."


class InvalidSyntax(ScimsvcError):
    scim_type = "invalidSyntax"
    default_detail = "The request body could not be parsed or is not a valid SCIM message."


class InvalidPath(ScimsvcError):
    scim_type = "invalidPath"
    default_detail = "The path attribute is invalid or malformed."


class NoTarget(ScimsvcError):
    scim_type = "noTarget"
    default_detail = "The path did not match any value."


class InvalidVersion(ScimsvcError):
    scim_type = "invalidVers"
    default_detail = "The specified SCIM protocol version is not supported."


class Sensitive(ScimsvcError):
    scim_type = "sensitive"
    default_detail = "The request cannot be completed because of sensitive information in the URI."


class Unauthorized(ScimsvcError):
    status = 401
    default_detail = "Authorization failure: send a valid API key as 'Authorization: Bearer <key>'."


class Forbidden(ScimsvcError):
    status = 403
    default_detail = "This API key's team has no role granting 'Provision Users with SCIM'."


class MethodNotAllowed(ScimsvcError):
    status = 405
    default_detail = "Method not allowed on this endpoint."


class PreconditionFailed(ScimsvcError):
    status = 412
    default_detail = "The resource has changed since the version given in If-Match."


class PayloadTooLarge(ScimsvcError):
    status = 413
    default_detail = "The request body is larger than the server accepts."


class TooManyRequests(ScimsvcError):
    """A rate limit is exhausted (RFC 6585 §4); ``Retry-After`` says when to try again."""

    status = 429
    default_detail = "Too many requests: the rate limit is exhausted. Retry later."

    def __init__(self, detail: str | None = None, *, retry_after: int = 1):
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class Busy(ScimsvcError):
    """The database could not give the request its lock in time; the client may retry."""

    status = 503
    default_detail = "The service is busy: the database lock was not granted in time. Retry later."

    def __init__(self, detail: str | None = None, *, retry_after: int = 1):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class SourceFailed(ScimsvcError):
    """A directory that a sync reads (the Google Directory API) refused or failed a request;
    the detail says what to fix (API not enabled, delegation missing, wrong admin, timeout)."""

    status = 502
    default_detail = "The directory did not answer."


class NotImplementedByServer(ScimsvcError):
    status = 501
    default_detail = "This operation is not implemented by scimsvc."


class DatabaseMissing(ScimsvcError):
    """The SQLite file the settings name does not exist, and only ``scimsvc init`` may create it.

    Raised instead of letting SQLite create an empty file: a command run from the
    wrong folder would otherwise work on a second, empty database.
    """

    status = 503

    def __init__(self, path: str, instance_path: str):
        super().__init__(
            f"No database at {path} (instance folder {instance_path}): set SCIMSVC_INSTANCE_PATH "
            "or SCIMSVC_DATABASE_URL to point at yours, or run 'scimsvc init' to create it there.")
        self.path, self.instance_path = path, instance_path


class DatabaseFolderMissing(ScimsvcError):
    """The folder of the SQLite file the settings name does not exist.

    ``scimsvc init`` creates the instance folder, nothing else: a folder elsewhere is
    the operator's to create (a typo in SCIMSVC_DATABASE_URL must not become a new tree).
    """

    status = 503

    def __init__(self, path: str, folder: str):
        super().__init__(
            f"The folder {folder} of the database {path} does not exist: create it (mode 0700) "
            "or correct SCIMSVC_DATABASE_URL.")
        self.path, self.folder = path, folder
