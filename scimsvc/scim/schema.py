"""The SCIM User schemas as data: RFC 7643 §4.1 (core User) and §4.3 (Enterprise User).

These definitions are the single source of truth: discovery (``/Schemas``) publishes
them, the marshmallow layer reads input with them, and the filter, sort and PATCH
code resolve attribute paths against them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def fold(value: str) -> str:
    """Normalise a case-insensitive string (RFC 7643 §2.3.1 caseExact=false) for storage and lookup."""
    return value.lower()


@dataclass(frozen=True)
class Attribute:
    """An attribute definition with the characteristics of RFC 7643 §2.2 and §7."""

    name: str
    type: str = "string"
    multi_valued: bool = False
    description: str = ""
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple["Attribute", ...] = ()

    def sub(self, name: str) -> "Attribute | None":
        """Return the sub-attribute called ``name`` (case-insensitive), if any."""
        return _index(self.sub_attributes).get(name.lower())

    def to_scim(self) -> dict[str, Any]:
        """Render the definition as RFC 7643 §7 describes it."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
        }
        if self.type in ("string", "reference", "binary"):
            out["caseExact"] = self.case_exact
        if self.canonical_values:
            out["canonicalValues"] = list(self.canonical_values)
        out["mutability"] = self.mutability
        out["returned"] = self.returned
        if self.type in ("string", "reference", "binary", "integer", "decimal", "dateTime"):
            out["uniqueness"] = self.uniqueness
        if self.reference_types:
            out["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            out["subAttributes"] = [s.to_scim() for s in self.sub_attributes]
        return out


# Keyed by id() (hashing a tuple of dataclasses is deep); the entry keeps the tuple
# alive, so its id cannot be reused by another tuple while the entry exists.
_INDEXES: dict[int, tuple[tuple[Attribute, ...], dict[str, Attribute]]] = {}


def _index(attributes: tuple[Attribute, ...]) -> dict[str, Attribute]:
    entry = _INDEXES.get(id(attributes))
    if entry is None:
        entry = _INDEXES[id(attributes)] = (attributes, {a.name.lower(): a for a in attributes})
    return entry[1]


@dataclass(frozen=True)
class Schema:
    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...] = field(default=())

    def attribute(self, name: str) -> Attribute | None:
        """Return the top-level attribute called ``name`` (case-insensitive), if any."""
        return _index(self.attributes).get(name.lower())

    def to_scim(self, location: str) -> dict[str, Any]:
        return {
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_scim() for a in self.attributes],
            "meta": {"resourceType": "Schema", "location": location},
        }


def _multi(name: str, description: str, *, value_type: str = "string",
           types: tuple[str, ...] = (), value_ref: tuple[str, ...] = (),
           value_required: bool = False, case_exact_value: bool = False) -> Attribute:
    """Build the usual multi-valued complex attribute (value, display, type, primary)."""
    subs = [
        Attribute("value", value_type, description=f"The value of the {name} item.",
                  required=value_required, case_exact=case_exact_value,
                  reference_types=value_ref),
        Attribute("display", description="A human-readable name, primarily used for display purposes."),
        Attribute("type", description="A label indicating the attribute's function.",
                  canonical_values=types),
        Attribute("primary", "boolean",
                  description="Indicates the 'primary' or preferred value for this attribute."),
    ]
    return Attribute(name, "complex", True, description, sub_attributes=tuple(subs))


NAME = Attribute(
    "name", "complex", description="The components of the user's real name.",
    sub_attributes=(
        Attribute("formatted", description="The full name, formatted for display."),
        Attribute("familyName", description="The family name of the User."),
        Attribute("givenName", description="The given name of the User."),
        Attribute("middleName", description="The middle name(s) of the User."),
        Attribute("honorificPrefix", description="The honorific prefix(es) of the User."),
        Attribute("honorificSuffix", description="The honorific suffix(es) of the User."),
    ),
)

ADDRESSES = Attribute(
    "addresses", "complex", True, "A physical mailing address for this User.",
    sub_attributes=(
        Attribute("formatted", description="The full mailing address, formatted for display."),
        Attribute("streetAddress", description="The full street address component."),
        Attribute("locality", description="The city or locality component."),
        Attribute("region", description="The state or region component."),
        Attribute("postalCode", description="The zip code or postal code component."),
        Attribute("country", description="The country name component (ISO 3166-1 alpha-2)."),
        Attribute("type", description="A label indicating the attribute's function.",
                  canonical_values=("work", "home", "other")),
        Attribute("primary", "boolean", description="Indicates the primary mailing address."),
    ),
)

GROUPS = Attribute(
    "groups", "complex", True,
    "A list of groups to which the user belongs, maintained by the service provider.",
    mutability="readOnly",
    sub_attributes=(
        Attribute("value", description="The identifier of the User's group.", mutability="readOnly"),
        Attribute("$ref", "reference", description="The URI of the Group resource.",
                  mutability="readOnly", reference_types=("User", "Group")),
        Attribute("display", description="A human-readable name.", mutability="readOnly"),
        Attribute("type", description="direct or indirect membership.", mutability="readOnly",
                  canonical_values=("direct", "indirect")),
    ),
)

CORE_USER = Schema(
    USER_SCHEMA, "User", "User Account",
    (
        Attribute("userName", required=True, uniqueness="server",
                  description="Unique identifier for the User, used to authenticate; "
                              "unique in the organization, ignoring case."),
        NAME,
        Attribute("displayName", description="The name of the User, suitable for display."),
        Attribute("nickName", description="The casual way to address the user."),
        Attribute("profileUrl", "reference", reference_types=("external",),
                  description="A fully qualified URL pointing to a page representing the User."),
        Attribute("title", description="The user's title, such as 'Vice President'."),
        Attribute("userType", description="Identifies the relationship between the organization and the user."),
        Attribute("preferredLanguage", description="The User's preferred written or spoken language."),
        Attribute("locale", description="The User's default location, e.g. 'en-US'."),
        Attribute("timezone", description="The User's time zone in the 'Olson' format."),
        Attribute("active", "boolean", description="The User's administrative status."),
        Attribute("password", mutability="writeOnly", returned="never",
                  description="The User's cleartext password; stored only as a hash, never returned."),
        _multi("emails", "Email addresses for the user.", types=("work", "home", "other")),
        _multi("phoneNumbers", "Phone numbers for the User.",
               types=("work", "home", "mobile", "fax", "pager", "other")),
        _multi("ims", "Instant messaging addresses for the User.",
               types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")),
        _multi("photos", "URLs of photos of the User.", value_type="reference",
               types=("photo", "thumbnail"), value_ref=("external",), case_exact_value=True),
        ADDRESSES,
        GROUPS,
        _multi("entitlements", "A list of entitlements for the User."),
        _multi("roles", "A list of roles for the User."),
        _multi("x509Certificates", "A list of certificates issued to the User.",
               value_type="binary", case_exact_value=True),
    ),
)

MANAGER = Attribute(
    "manager", "complex", description="The User's manager.",
    sub_attributes=(
        Attribute("value", description="The id of the SCIM resource representing the manager."),
        Attribute("$ref", "reference", reference_types=("User",),
                  description="The URI of the SCIM resource representing the manager."),
        Attribute("displayName", mutability="readOnly", description="The displayName of the manager."),
    ),
)

ENTERPRISE_USER = Schema(
    ENTERPRISE_SCHEMA, "EnterpriseUser", "Enterprise User",
    (
        Attribute("employeeNumber", description="A string identifier, typically numeric or alphanumeric."),
        Attribute("costCenter", description="Identifies the name of a cost center."),
        Attribute("organization", description="Identifies the name of an organization."),
        Attribute("division", description="Identifies the name of a division."),
        Attribute("department", description="Identifies the name of a department."),
        MANAGER,
    ),
)

# RFC 7643 §3.1: attributes common to every resource.
COMMON_ATTRIBUTES = (
    Attribute("id", case_exact=True, mutability="readOnly", returned="always", uniqueness="server",
              description="Unique identifier of the resource, assigned by the service provider."),
    Attribute("externalId", case_exact=True,
              description="Identifier of the resource as defined by the provisioning client."),
    Attribute("meta", "complex", mutability="readOnly", description="Resource metadata.",
              sub_attributes=(
                  Attribute("resourceType", case_exact=True, mutability="readOnly"),
                  Attribute("created", "dateTime", mutability="readOnly"),
                  Attribute("lastModified", "dateTime", mutability="readOnly"),
                  Attribute("location", "reference", case_exact=True, mutability="readOnly",
                            reference_types=("uri",)),
                  Attribute("version", case_exact=True, mutability="readOnly"),
              )),
)

SCHEMAS: dict[str, Schema] = {s.id.lower(): s for s in (CORE_USER, ENTERPRISE_USER)}
EXTENSIONS = (ENTERPRISE_USER,)


@dataclass(frozen=True)
class ResolvedPath:
    """An attribute path resolved against the User schemas."""

    schema: Schema | None  # None for the common attributes id/externalId/meta
    attribute: Attribute
    sub_attribute: Attribute | None = None

    @property
    def extension(self) -> str | None:
        """The extension URN the attribute lives under in the resource, if any."""
        if self.schema is not None and self.schema is not CORE_USER:
            return self.schema.id
        return None

    @property
    def leaf(self) -> Attribute:
        return self.sub_attribute or self.attribute

    @property
    def dotted(self) -> str:
        """The canonical ``attr`` or ``attr.sub`` name, without URN."""
        if self.sub_attribute is not None:
            return f"{self.attribute.name}.{self.sub_attribute.name}"
        return self.attribute.name


def resolve(uri: str | None, name: str, sub: str | None = None) -> ResolvedPath | None:
    """Resolve ``[uri:]name[.sub]`` against the User schemas (RFC 7643 §2.1, case-insensitive).

    Returns None when no such attribute exists.
    """
    schema: Schema | None
    if uri:
        schema = SCHEMAS.get(uri.rstrip(":").lower())
        if schema is None:
            return None
        attribute = schema.attribute(name)
    else:
        schema = None
        attribute = _index(COMMON_ATTRIBUTES).get(name.lower())
        if attribute is None:
            schema = CORE_USER
            attribute = CORE_USER.attribute(name)
    if attribute is None:
        return None
    sub_attribute = None
    if sub is not None:
        sub_attribute = attribute.sub(sub)
        if sub_attribute is None:
            return None
    return ResolvedPath(schema, attribute, sub_attribute)


def split_urn(path: str) -> tuple[str | None, str]:
    """Split ``urn:…:User:attr.sub`` into (schema URN, ``attr.sub``); plain paths have no URN."""
    lowered = path.lower()
    for schema in SCHEMAS.values():
        prefix = schema.id.lower() + ":"
        if lowered.startswith(prefix):
            return schema.id, path[len(prefix):]
        if lowered == schema.id.lower():
            return schema.id, ""
    return None, path
