"""The error types of scimsvc.

``ServiceError`` and its subclasses are raised by services for mistakes a
person makes from the CLI; ``ScimError`` and its subclasses carry an RFC 7644
§3.12 status and ``scimType`` and are rendered as a SCIM error body in one
place (``scimsvc.scim.errors``).
"""
from __future__ import annotations


class ServiceError(Exception):
    """A domain mistake (unknown name, duplicate, bad argument) with a one-line message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    pass


class Conflict(ServiceError):
    pass


class Invalid(ServiceError):
    pass


class ScimError(Exception):
    """An RFC 7644 §3.12 error: HTTP status, optional ``scimType`` and a detail."""

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


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"
    default_detail = "The specified filter syntax is invalid or the attribute is not supported."


class TooMany(ScimError):
    scim_type = "tooMany"
    default_detail = "The filter would return more results than the server allows."


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"
    default_detail = "One or more attribute values are already in use."


class Mutability(ScimError):
    scim_type = "mutability"
    default_detail = "The request tried to change an attribute that cannot be changed."


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"
    default_detail = "The request body could not be parsed or is not a valid SCIM message."


class InvalidPath(ScimError):
    scim_type = "invalidPath"
    default_detail = "The path attribute is invalid or malformed."


class NoTarget(ScimError):
    scim_type = "noTarget"
    default_detail = "The path did not match any value."


class InvalidValue(ScimError):
    scim_type = "invalidValue"
    default_detail = "A required value is missing or a value is not compatible with the attribute."


class InvalidVersion(ScimError):
    scim_type = "invalidVers"
    default_detail = "The specified SCIM protocol version is not supported."


class Sensitive(ScimError):
    scim_type = "sensitive"
    default_detail = "The request cannot be completed because of sensitive information in the URI."


class Unauthorized(ScimError):
    status = 401
    default_detail = "Authorization failure: send a valid API key as 'Authorization: Bearer <key>'."


class Forbidden(ScimError):
    status = 403
    default_detail = "This API key's team has no role granting 'Provision Users with SCIM'."


class ResourceNotFound(ScimError):
    status = 404
    default_detail = "Resource not found."


class MethodNotAllowed(ScimError):
    status = 405
    default_detail = "Method not allowed on this endpoint."


class PreconditionFailed(ScimError):
    status = 412
    default_detail = "The resource has changed since the version given in If-Match."


class PayloadTooLarge(ScimError):
    status = 413
    default_detail = "The request body is larger than the server accepts."


class NotImplementedByServer(ScimError):
    status = 501
    default_detail = "This operation is not implemented by scimsvc."
