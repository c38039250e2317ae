"""The marshmallow layer: read a SCIM User body into a canonical document, and write one back.

Input follows RFC 7643 §2.1 (attribute names are case-insensitive) and §2.5
(``null`` means unassigned); attributes the schema does not know, unknown
extension URNs and readOnly attributes are ignored (RFC 7644 §3.3). The
document keeps values exactly as sent; only names are canonicalised.

Each SCIM attribute maps to a marshmallow field built once from
``scimsvc.scim.schema``: strings, booleans, date-times, multi-valued lists and
complex values (the User itself is the outermost complex value). A field reads
a value with ``read`` (what its ``_deserialize`` does too, so the fields are
ordinary marshmallow fields); a complex value calls its sub-fields' ``read``
directly rather than nesting ``Schema.load``, whose per-schema machinery this
layer has no validators or hooks for (docs/performance.md).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from marshmallow import ValidationError, fields

from ..errors import InvalidSyntax, InvalidValue, Mutability
from .schema import CORE_USER, EXTENSIONS, SCHEMAS, USER_SCHEMA, Attribute, Schema

# RFC 3339 date-time (RFC 7643 §2.3.5).
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


class ScimField(fields.Field):
    """A field of the SCIM layer: ``read(value)`` canonicalises a non-null value or raises ValidationError."""

    def read(self, value: Any) -> Any:
        raise NotImplementedError

    def _deserialize(self, value, attr, data, **kwargs):
        return self.read(value)


class ScimString(ScimField):
    """A JSON string, kept exactly as sent."""

    def read(self, value: Any) -> str:
        if value.__class__ is not str and not isinstance(value, str):
            raise ValidationError("must be a string")
        return value


class ScimBoolean(ScimField):
    """A JSON boolean; the strings "true"/"false" in any case are accepted (Entra ID sends them)."""

    def read(self, value: Any) -> bool:
        if value is True or value is False:
            return value
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered == "true":
                return True
            if lowered == "false":
                return False
        raise ValidationError("must be a boolean")


class ScimDateTime(ScimString):
    def read(self, value: Any) -> str:
        value = super().read(value)
        if not _DATETIME.match(value):
            raise ValidationError("must be an RFC 3339 date-time")
        return value


class ScimMulti(ScimField):
    """A multi-valued attribute: a JSON array; null items are dropped, then empty complex values (§2.5)."""

    def __init__(self, inner: ScimField, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def read(self, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ValidationError("must be a JSON array")
        read = self.inner.read
        out = []
        errors: dict[int, Any] = {}
        # Indexes count the items left after dropping nulls, as marshmallow's List reported them.
        index = 0
        for item in value:
            if item is None:
                continue
            try:
                item = read(item)
            except ValidationError as error:
                errors[index] = error.messages
            else:
                if not ((item.__class__ is dict or item.__class__ is list) and not item):
                    out.append(item)
            index += 1
        if errors:
            raise ValidationError(errors)
        return out


class ScimComplex(ScimField):
    """A complex value: a JSON object whose keys are matched to sub-attributes ignoring case.

    Null values, unknown keys and non-string keys are dropped; the result keeps the
    schema's attribute order (what a nested marshmallow ``Schema.load`` returned),
    and leaves out sub-values that are empty (§2.5).
    """

    def __init__(self, declared: dict[str, ScimField], **kwargs):
        super().__init__(**kwargs)
        self.declared = declared
        # lower-cased name -> (position in the schema, canonical name, field)
        self.lookup = {name.lower(): (position, name, f) for position, (name, f) in enumerate(declared.items())}

    def read(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValidationError("must be a JSON object")
        lookup = self.lookup
        found: dict[int, tuple[tuple[int, str, ScimField], Any]] = {}
        for key, item in value.items():
            if item is None or key.__class__ is not str and not isinstance(key, str):
                continue
            entry = lookup.get(key.lower())
            if entry is not None:
                found[entry[0]] = (entry, item)  # a name sent twice in two cases: the last wins
        out: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for position in sorted(found):
            (_, name, field), item = found[position]
            try:
                item = field.read(item)
            except ValidationError as error:
                errors[name] = error.messages
                continue
            if (item.__class__ is dict or item.__class__ is list) and not item:
                continue
            out[name] = item
        if errors:
            raise ValidationError(errors)
        return out


class ScimReference(ScimComplex):
    """A single-valued complex value with a ``value`` sub-attribute (the enterprise ``manager``).

    Entra's older form sends it as the bare id string (``"manager": "123456"``),
    read as ``{"value": "123456"}``; anything else is read as a complex value. An empty
    id (``""`` or ``{"value": ""}``) is no reference: the attribute is left out.
    """

    def read(self, value: Any) -> dict[str, Any]:
        if value.__class__ is str or isinstance(value, str):
            value = {"value": value}
        out = super().read(value)
        if out.get("value") == "":
            return {}
        return out


def _field(attribute: Attribute) -> ScimField:
    if attribute.type == "complex" and not attribute.multi_valued and attribute.sub("value"):
        return ScimReference(_declared(attribute.sub_attributes))
    if attribute.type == "complex":
        inner: ScimField = ScimComplex(_declared(attribute.sub_attributes))
    elif attribute.type == "boolean":
        inner = ScimBoolean()
    elif attribute.type == "dateTime":
        inner = ScimDateTime()
    else:
        inner = ScimString()
    return ScimMulti(inner) if attribute.multi_valued else inner


def _writable(attributes: Iterable[Attribute]) -> list[Attribute]:
    # readOnly values sent by a client are ignored (RFC 7643 §2.2); password is taken apart.
    return [a for a in attributes if a.mutability != "readOnly"]


def _declared(attributes: Iterable[Attribute]) -> dict[str, ScimField]:
    return {a.name: _field(a) for a in _writable(attributes)}


def _user_field() -> ScimComplex:
    declared = _declared(CORE_USER.attributes)
    declared["externalId"] = ScimString()
    for extension in EXTENSIONS:
        declared[extension.id] = ScimComplex(_declared(extension.attributes))
    return ScimComplex(declared)


# The User itself, read as the outermost complex value.
USER_FIELD = _user_field()


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
    elif isinstance(messages, str):
        out.append(f"{prefix}: {messages}" if prefix else messages)
    else:
        out.append(f"{prefix}: {messages}")
    return out


def _invalid(messages: Any) -> InvalidValue:
    return InvalidValue("Invalid attribute value: " + ", ".join(_flatten_errors(messages)))


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
    """Canonicalise a (possibly partial) User document without checking required attributes.

    The result is a new document: nothing in it is shared with ``payload`` but strings.
    """
    try:
        return USER_FIELD.read(payload)
    except ValidationError as error:
        raise _invalid(error.messages)


def load_attribute(extension: str | None, name: str, value: Any) -> Any:
    """Canonicalise the value of one writable attribute, as ``load_document`` would read it.

    ``extension`` is the schema URN the attribute lives under (None for the core
    schema and the common attributes), ``name`` its canonical name. Returns None
    when the value is unassigned (null, or empty: RFC 7643 §2.5). Raises
    InvalidValue when the value has the wrong type, naming the attribute as
    ``load_document`` does.
    """
    field = USER_FIELD.declared[extension].declared[name] if extension else USER_FIELD.declared[name]
    if value is None:
        return None
    try:
        loaded = field.read(value)
    except ValidationError as error:
        raise _invalid({extension: {name: error.messages}} if extension else {name: error.messages})
    if (loaded.__class__ is dict or loaded.__class__ is list) and not loaded:
        return None
    return loaded


_EXTENSION_IDS = tuple(extension.id for extension in EXTENSIONS)


def schemas_of(document: dict[str, Any]) -> list[str]:
    """The ``schemas`` a resource with this document declares (RFC 7643 §3)."""
    found = [USER_SCHEMA]
    for extension in _EXTENSION_IDS:
        if extension in document:
            found.append(extension)
    return found


def format_time(value) -> str:
    """Render a stored (naive UTC) timestamp as RFC 3339 (RFC 7643 §2.3.5)."""
    return value.isoformat(timespec="milliseconds") + "Z"


def dump_user(user, location: str, groups: Any = None, group_prefix: str = "") -> dict[str, Any]:
    """Render a user as its SCIM resource (RFC 7643 §3, §4.1).

    That is the stored document plus ``id`` and ``meta``. ``active`` is in the
    document unless a PATCH removed it (``load_user`` defaults it to true), and an
    unassigned attribute is not returned (RFC 7643 §2.5). ``groups`` (readOnly) is
    rendered from ``groups``, the user's (group id, displayName) pairs, when it has any;
    ``group_prefix`` + a group's id is its ``$ref``.
    The resource shares the document's values: project() copies before it edits.
    """
    # A list page renders 100 of these: one timestamp rendering when created == lastModified.
    data, created, updated = user.data, user.created_at, user.updated_at
    created_text = format_time(created)
    resource = {
        "schemas": schemas_of(data),
        "id": user.scim_id,
        **data,
    }
    if groups:
        resource["groups"] = [{"value": group_id, "$ref": group_prefix + group_id,
                               "display": name, "type": "direct"} for group_id, name in groups]
    resource["meta"] = {
        "resourceType": "User",
        "created": created_text,
        "lastModified": created_text if updated == created else format_time(updated),
        "location": location,
        "version": f'W/"{user.version}"',
    }
    return resource


def check_immutable(old: dict[str, Any], new: dict[str, Any],
                    schemas: tuple[Schema, ...] | None = None) -> None:
    """Refuse a change to an immutable attribute that already has a value (RFC 7643 §2.2).

    Applies to PUT and PATCH alike: an immutable attribute may be set once when it
    has no value, and never changed or removed afterwards. Raises Mutability.
    """
    if schemas is None:
        if not _USER_IMMUTABLE:
            return
        schemas = tuple(SCHEMAS.values())
    for schema in schemas:
        ext = None if schema.id == CORE_USER.id else schema.id
        before = old.get(ext, {}) if ext else old
        after = new.get(ext, {}) if ext else new
        _check_attributes(schema.attributes, before, after, schema.id)


def _has_immutable(attributes: tuple[Attribute, ...]) -> bool:
    return any(a.mutability == "immutable" or _has_immutable(a.sub_attributes) for a in attributes)


# RFC 7643's User schemas declare no immutable attribute: every PUT and PATCH can skip the walk.
_USER_IMMUTABLE = any(_has_immutable(schema.attributes) for schema in SCHEMAS.values())


def _check_attributes(attributes: tuple[Attribute, ...], before: Any, after: Any, where: str) -> None:
    if not isinstance(before, dict):
        return
    after = after if isinstance(after, dict) else {}
    for attribute in attributes:
        if attribute.name not in before:
            continue
        if attribute.mutability == "immutable" and before[attribute.name] != after.get(attribute.name):
            raise Mutability(f"'{attribute.name}' ({where}) is immutable (RFC 7643 §2.2).")
        if attribute.sub_attributes and not attribute.multi_valued:
            _check_attributes(attribute.sub_attributes, before[attribute.name],
                              after.get(attribute.name), where)


# --- Caps (issue 15): what every index can hold, and how many values an attribute has ----------

# A PostgreSQL btree row holds at most 2,704 bytes; this leaves room for the other key columns.
INDEXED_BYTES = 2_600
# Single-valued strings with an index of their own (users columns, migration 0002).
INDEXED_STRINGS = (("userName", None), ("externalId", None), ("name", "familyName"))
# Values held to the byte ceiling only: a DER certificate in base64 is ~1.6 KB (RFC 7643 §4.1.2).
BYTES_ONLY = frozenset({"x509Certificates"})


@dataclass(frozen=True)
class Limits:
    """The published caps: values per multi-valued attribute, characters per indexed string."""

    max_values: int = 1000
    max_length: int = 1024


def check_limits(document: dict[str, Any], limits: Limits) -> None:
    """Refuse a document over the caps (400 invalidValue naming the attribute).

    Indexed strings are userName, externalId, name.familyName and the ``value`` of
    every multi-valued attribute: at most ``limits.max_length`` characters and
    INDEXED_BYTES of UTF-8, so every index on both databases can hold them.
    """
    for name, sub in INDEXED_STRINGS:
        value = document.get(name)
        if sub is not None:
            value = value.get(sub) if isinstance(value, dict) else None
        _check_length(value, f"{name}.{sub}" if sub else name, limits.max_length)
    for name in _MULTI_VALUED:
        values = document.get(name)
        if not isinstance(values, list):
            continue
        if len(values) > limits.max_values:
            raise InvalidValue(f"'{name}' has {len(values)} values; at most {limits.max_values} "
                               "are accepted (see /Schemas).")
        characters = INDEXED_BYTES if name in BYTES_ONLY else limits.max_length
        for item in values:
            if isinstance(item, dict):
                _check_length(item.get("value"), f"{name}.value", characters)


def _check_length(value: Any, name: str, characters: int) -> None:
    if not isinstance(value, str):
        return
    if len(value) > characters or (
            len(value) * 4 > INDEXED_BYTES and len(value.encode("utf-8", "surrogatepass")) > INDEXED_BYTES):
        raise InvalidValue(f"'{name}' is longer than this service stores: at most "
                           f"{characters} characters and {INDEXED_BYTES:,} bytes of UTF-8.")


_MULTI_VALUED = tuple(a.name for a in CORE_USER.attributes if a.multi_valued and a.type == "complex"
                      and a.mutability != "readOnly")
