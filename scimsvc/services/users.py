"""Provisioned users: create, read, replace and remove the SCIM User resources of a tenant.

The SCIM views call these with documents already read by the marshmallow layer
(``scimsvc.scim.resource``); the functions own their transactions and raise
``ScimError`` subclasses for the protocol's failure cases.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .. import dialect
from ..errors import PreconditionFailed, ResourceNotFound, Uniqueness
from ..extensions import db
from ..models import User, UserValue, utcnow
from .provisioning import get_settings

# Multi-valued attributes copied into user_values so filters can reach them in SQL.
MULTI_VALUED = ("emails", "phoneNumbers", "ims", "photos", "addresses",
                "entitlements", "roles", "x509Certificates")


def fold(value: str) -> str:
    """Normalise a case-insensitive string (RFC 7643 §2.3.1 caseExact=false) for storage and lookup."""
    return value.lower()


def hash_password(password: str) -> str:
    """Hash a SCIM password with scrypt (RFC 7643 §4.1.1: never stored in cleartext)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def get_user(tenant_id: int, scim_id: str) -> User:
    """Return the tenant's live user with SCIM id ``scim_id``; 404 otherwise (RFC 7644 §3.4.1)."""
    user = db.session.scalar(
        select(User).where(
            User.scim_id == scim_id, User.tenant_id == tenant_id, User.deleted_at.is_(None)
        )
    )
    if user is None:
        raise ResourceNotFound(f"User {scim_id} not found.")
    return user


def check_version(user: User, if_match: str | None) -> None:
    """Enforce ``If-Match`` (RFC 7644 §3.14): 412 unless it names the current version."""
    if if_match is None:
        return
    wanted = {tag.strip() for tag in if_match.split(",")}
    if "*" in wanted:
        return
    current = etag(user)
    strong = current[2:]  # W/"n" compared weakly, as RFC 7232 §2.3.2 allows for If-Match here
    if current not in wanted and strong not in wanted:
        raise PreconditionFailed(f"User {user.scim_id} is at version {current}.")


def etag(user: User) -> str:
    """The weak entity tag of the user's current version (RFC 7644 §3.14)."""
    return f'W/"{user.version}"'


def create_user(tenant_id: int, document: dict[str, Any], password: str | None) -> User:
    """Create a user from a canonical document (RFC 7644 §3.3).

    Raises Uniqueness (409) when a live user of the tenant has the same userName,
    ignoring case; the unique index decides, so concurrent creates cannot both win.
    """
    settings = get_settings(tenant_id)
    now = utcnow()
    user = User(tenant_id=tenant_id, scim_id=str(uuid.uuid4()), created_at=now, updated_at=now,
                version=1)
    _apply(user, document, password, fresh=True)
    db.session.add(user)
    if settings.assign_team is not None:
        user.teams.append(settings.assign_team)
    _commit_unique(document)
    return user


def replace_user(tenant_id: int, scim_id: str, document: dict[str, Any], password: str | None,
                 if_match: str | None = None) -> User:
    """Replace a user's attributes with ``document`` (RFC 7644 §3.5.1)."""
    user = get_user(tenant_id, scim_id)
    check_version(user, if_match)
    save_document(user, document, password)
    return user


def save_document(user: User, document: dict[str, Any], password: str | None) -> None:
    """Store a new document for an existing user and bump its version, if anything changed."""
    changed = document != user.data or password is not None
    if changed:
        _apply(user, document, password, fresh=False)
        user.version += 1
        user.updated_at = utcnow()
    _commit_unique(document)


def delete_user(tenant_id: int, scim_id: str, if_match: str | None = None) -> User:
    """Remove a user (RFC 7644 §3.6): the SCIM resource is gone, the account stays."""
    user = get_user(tenant_id, scim_id)
    check_version(user, if_match)
    user.deleted_at = utcnow()
    user.version += 1
    db.session.commit()
    return user


def _commit_unique(document: dict[str, Any]) -> None:
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        if dialect.is_unique_violation(error):
            raise Uniqueness(f"userName '{document.get('userName')}' is already taken.") from None
        raise


def _apply(user: User, document: dict[str, Any], password: str | None, *, fresh: bool) -> None:
    """Set the document and the SQL projections that filters, sorting and uniqueness use."""
    name = document.get("name") or {}
    user.data = document
    user.user_name = document["userName"]
    user.user_name_norm = fold(document["userName"])
    user.external_id = document.get("externalId")
    user.active = document.get("active", True)
    user.display_name = document.get("displayName")
    user.given_name = name.get("givenName")
    user.family_name = name.get("familyName")
    if password is not None:
        user.password_hash = hash_password(password)
    if not fresh:
        db.session.execute(delete(UserValue).where(UserValue.user_id == user.id))
    db.session.add_all(_values(user, document))


def _values(user: User, document: dict[str, Any]):
    for attr in MULTI_VALUED:
        for position, item in enumerate(document.get(attr) or ()):
            value = item.get("value")
            if value is None and attr == "addresses":
                value = item.get("formatted")
            yield UserValue(
                user=user, attr=attr, position=position, type=item.get("type"), primary=item.get("primary"),
                value=value, value_norm=fold(value) if isinstance(value, str) else None,
                display=item.get("display"), item=item,
            )
