"""The marshmallow layer: read a SCIM User body into a canonical document, and write one back.

Input follows RFC 7643 §2.1 (attribute names are case-insensitive) and §2.5
(``null`` means unassigned); attributes the schema does not know, unknown
extension URNs and readOnly attributes are ignored (RFC 7644 §3.3). The
document keeps values exactly as sent; only names are canonicalised.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load

from ..errors import InvalidSyntax, InvalidValue
from .schema import CORE_USER, EXTENSIONS, USER_SCHEMA, Attribute

# RFC 3339 date-time (RFC 7643 §2.3.5).
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


class ScimString(fields.Field):
    """A JSON string, kept exactly as sent."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("must be a string")
        return value


class ScimBoolean(fields.Field):
    """A JSON boolean; the strings "true"/"false" in any case are accepted (Entra ID sends them)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValidationError("must be a boolean")


class ScimDateTime(ScimString):
    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not _DATETIME.match(value):
            raise ValidationError("must be an RFC 3339 date-time")
        return value


class CaseInsensitiveSchema(Schema):
    """Map incoming keys to the declared field names ignoring case, and drop nulls."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _canonical_keys(self, data, **kwargs):
        if not isinstance(data, dict):
            raise ValidationError("must be a JSON object")
        names = self._lower_names()
        out = {}
        for key, value in data.items():
            if value is None or not isinstance(key, str):
                continue
            name = names.get(key.lower())
            if name is not None:
                out[name] = value
        return out

    @classmethod
    def _lower_names(cls) -> dict[str, str]:
        cached = cls.__dict__.get("_lower_names_cache")
        if cached is None:
            cached = {(f.data_key or name).lower(): f.data_key or name
                      for name, f in cls._declared_fields.items()}
            cls._lower_names_cache = cached
        return cached


class _DropEmptyList(fields.List):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise ValidationError("must be a JSON array")
        return super()._deserialize([v for v in value if v is not None], attr, data, **kwargs)


def _field(attribute: Attribute) -> fields.Field:
    if attribute.type == "complex":
        inner: fields.Field = fields.Nested(_complex_schema(attribute))
    elif attribute.type == "boolean":
        inner = ScimBoolean()
    elif attribute.type == "dateTime":
        inner = ScimDateTime()
    else:
        inner = ScimString()
    return _DropEmptyList(inner) if attribute.multi_valued else inner


def _writable(attributes: Iterable[Attribute]) -> list[Attribute]:
    # readOnly values sent by a client are ignored (RFC 7643 §2.2); password is taken apart.
    return [a for a in attributes if a.mutability != "readOnly"]


def _complex_schema(attribute: Attribute) -> type[Schema]:
    return _build(attribute.name, tuple(_writable(attribute.sub_attributes)))


@lru_cache(maxsize=None)
def _build(name: str, attributes: tuple[Attribute, ...]) -> type[Schema]:
    declared = {a.name: _field(a) for a in attributes}
    return type(f"{name}Schema", (CaseInsensitiveSchema,), declared)


class _UserSchemaBase(CaseInsensitiveSchema):
    @post_load
    def _extension_keys(self, data, **kwargs):
        # Extensions are loaded under an alias (see _user_schema); give them back their URN.
        for index, extension in enumerate(EXTENSIONS):
            if f"extension{index}" in data:
                data[extension.id] = data.pop(f"extension{index}")
        return data


def _user_schema() -> type[Schema]:
    declared: dict[str, fields.Field] = {a.name: _field(a) for a in _writable(CORE_USER.attributes)}
    declared["externalId"] = ScimString()
    for index, extension in enumerate(EXTENSIONS):
        # A URN contains dots, which marshmallow reads as a nested attribute path
        # ("...:2" -> "0:User"), so the field gets an alias and the URN as data_key.
        declared[f"extension{index}"] = fields.Nested(
            _build(extension.name, tuple(_writable(extension.attributes))), data_key=extension.id
        )
    return type("UserSchema", (_UserSchemaBase,), declared)


_USER_SCHEMA = _user_schema()()


def _flatten_errors(messages: Any, prefix: str = "") -> list[str]:
    out = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix and not isinstance(key, int) else (
                f"{prefix}[{key}]" if isinstance(key, int) else str(key))
            out.extend(_flatten_errors(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out.append(f"{prefix}: {'; '.join(messages)}" if prefix else "; ".join(messages))
    elif isinstance(messages, list):
        for m in messages:
            out.extend(_flatten_errors(m, prefix))
    else:
        out.append(f"{prefix}: {messages}")
    return out


def load_user(payload: Any) -> tuple[dict[str, Any], str | None]:
    """Read a User body (POST or PUT) into (document, password).

    Raises InvalidSyntax if the body is not an object, InvalidValue if a value
    has the wrong type or userName is missing (RFC 7643 §4.1.1).
    """
    if not isinstance(payload, dict):
        raise InvalidSyntax("The request body must be a JSON object describing a User.")
    document = load_document(payload)
    password = document.pop("password", None)
    # RFC 7643 §4.1.1 gives ``active`` no default; this service provisions a user as
    # active unless told otherwise, and says so in the resource. Only a PATCH
    # "remove" leaves it unassigned (then omitted, and still treated as active).
    document.setdefault("active", True)
    user_name = document.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise InvalidValue("userName is required and must be a non-empty string.")
    return document, password


def load_document(payload: dict[str, Any]) -> dict[str, Any]:
    """Canonicalise a (possibly partial) User document without checking required attributes."""
    try:
        document = _USER_SCHEMA.load(payload)
    except ValidationError as error:
        raise InvalidValue("Invalid attribute value: " + ", ".join(_flatten_errors(error.messages)))
    return prune(document)


def prune(value: Any) -> Any:
    """Drop empty complex values and empty lists: RFC 7643 §2.5 treats them as unassigned."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = prune(v)
            if v is None or v == {} or v == []:
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [p for p in (prune(v) for v in value) if p not in (None, {}, [])]
    return value


def schemas_of(document: dict[str, Any]) -> list[str]:
    """The ``schemas`` a resource with this document declares (RFC 7643 §3)."""
    found = [USER_SCHEMA]
    found.extend(ext.id for ext in EXTENSIONS if ext.id in document)
    return found


def format_time(value) -> str:
    """Render a stored (naive UTC) timestamp as RFC 3339 (RFC 7643 §2.3.5)."""
    return value.isoformat(timespec="milliseconds") + "Z"


def dump_user(user, location: str) -> dict[str, Any]:
    """Render a user as its SCIM resource (RFC 7643 §3, §4.1).

    That is the stored document plus ``id`` and ``meta``. ``active`` is in the
    document unless a PATCH removed it (``load_user`` defaults it to true), and an
    unassigned attribute is not returned (RFC 7643 §2.5). ``groups`` is readOnly
    and this service serves no Group resources, so it is never returned.
    """
    data = user.data
    resource: dict[str, Any] = {"schemas": schemas_of(data), "id": user.scim_id}
    resource.update(data)
    resource["meta"] = {
        "resourceType": "User",
        "created": format_time(user.created_at),
        "lastModified": format_time(user.updated_at),
        "location": location,
        "version": f'W/"{user.version}"',
    }
    return resource
