"""Database tables. Every row belongs to an organization (tenant)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


# Multi-valued User attributes copied into user_values rows, so filters can reach them in SQL.
MULTI_VALUED = ("emails", "phoneNumbers", "ims", "photos", "addresses",
                "entitlements", "roles", "x509Certificates")


# The source of the users an IdP provisions over SCIM (users.source).
SCIM_SOURCE = "scim"


def utcnow() -> datetime:
    """Return the current time as a naive UTC datetime (how every timestamp is stored)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Organization(db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RolePermission(db.Model):
    __tablename__ = "role_permissions"

    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    action: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)


team_roles = Table(
    "team_roles",
    db.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)

team_members = Table(
    "team_members",
    db.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_team_members_user", "user_id"),
)


class Role(db.Model):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    permissions: Mapped[list[RolePermission]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by=RolePermission.action
    )


class Team(db.Model):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    roles: Mapped[list[Role]] = relationship(secondary=team_roles, order_by=Role.name)
    members: Mapped[list[User]] = relationship(
        secondary=team_members, back_populates="teams", order_by="User.user_name"
    )


class ApiKey(db.Model):
    """A bearer key. It holds no roles: it acts with its team's permissions."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The visible part of the key, used to find it; the rest is only hashed.
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    team: Mapped[Team] = relationship()


class ProvisioningSettings(db.Model):
    __tablename__ = "provisioning_settings"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    assign_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL")
    )
    # What POST does when its userName/externalId matches a removed user: 'restore' or 'new'.
    on_recreate: Mapped[str] = mapped_column(String(16), default="restore")
    # Journal successful reads too (they normally go to the request log only).
    journal_reads: Mapped[bool] = mapped_column(Boolean, default=False)

    assign_team: Mapped[Team | None] = relationship()


class User(db.Model):
    """A provisioned user: the account (``id``) and its SCIM resource (``scim_id``).

    ``data`` holds the SCIM resource as the client sent it, with attribute names
    canonicalised; the columns beside it are projections used to filter, sort and
    enforce uniqueness in SQL. Removing a user sets ``deleted_at``; the row and
    everything that references it stay.
    """

    __tablename__ = "users"
    __table_args__ = (
        # RFC 7643 §4.1.1: userName is unique in the service provider, ignoring case.
        # Removed users (RFC 7644 §3.6) no longer hold their name.
        Index(
            "uq_users_tenant_username",
            "tenant_id",
            "user_name_norm",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_users_tenant_external_id", "tenant_id", "external_id"),
        Index("ix_users_tenant_live", "tenant_id", "deleted_at", "id"),
        # Removed users only: the restore check of a create (store.users.returning_account, migration 0003).
        Index("ix_users_removed_name", "tenant_id", "user_name_norm", "deleted_at",
              sqlite_where=text("deleted_at IS NOT NULL"),
              postgresql_where=text("deleted_at IS NOT NULL")),
        Index("ix_users_removed_external_id", "tenant_id", "external_id", "deleted_at",
              sqlite_where=text("deleted_at IS NOT NULL"),
              postgresql_where=text("deleted_at IS NOT NULL")),
        # A source's users, by the id the source gives them (the Google sync, migration 0009).
        # source first: an index led by tenant_id changes SQLite's plan for externalId lookups.
        Index("ix_users_source", "source", "tenant_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    scim_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_name: Mapped[str] = mapped_column(Text)
    user_name_norm: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    given_name: Mapped[str | None] = mapped_column(Text)
    family_name: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    # What provisions the user: "scim" (an IdP's SCIM calls) or "google:<connection name>".
    # TEXT, not VARCHAR: with a VARCHAR column here SQLite's planner left ix_users_tenant_external_id.
    source: Mapped[str] = mapped_column(Text, default=SCIM_SOURCE, server_default=text("'scim'"))

    teams: Mapped[list[Team]] = relationship(
        secondary=team_members, back_populates="members", order_by=Team.name
    )

    @property
    def status(self) -> str:
        if self.deleted_at is not None:
            return "removed"
        return "active" if self.active else "disabled"


class UserValue(db.Model):
    """One value of a multi-valued attribute (emails, phoneNumbers, …), for filtering in SQL."""

    __tablename__ = "user_values"
    __table_args__ = (
        Index("ix_user_values_user", "user_id", "attr"),
        Index("ix_user_values_lookup", "attr", "value_norm"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    attr: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str | None] = mapped_column(Text)
    primary: Mapped[bool | None] = mapped_column(Boolean)
    value: Mapped[str | None] = mapped_column(Text)
    value_norm: Mapped[str | None] = mapped_column(Text)
    display: Mapped[str | None] = mapped_column(Text)
    item: Mapped[dict[str, Any]] = mapped_column(JSON)

    user: Mapped[User] = relationship()


class AuditEvent(db.Model):
    """One journaled SCIM request: who, what, on whom, the outcome and the diff."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_tenant_at", "tenant_id", "at"),
        Index("ix_audit_target", "tenant_id", "target_user_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    api_key_name: Mapped[str | None] = mapped_column(String(200))
    user_agent: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    operation: Mapped[str] = mapped_column(String(32))
    target_user_id: Mapped[str | None] = mapped_column(String(36))
    target_user_name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    scim_type: Mapped[str | None] = mapped_column(String(32))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class UserBucket(db.Model):
    """How many live users a tenant has among the ids ``bucket * BUCKET_SIZE`` and up.

    Kept exact by database triggers in the transaction that changes ``users``
    (migration 0002): a list's totalResults and the user at its
    startIndex are found by summing these rows, not by reading every user.
    """

    __tablename__ = "user_buckets"

    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    live: Mapped[int] = mapped_column(Integer, default=0)


class GoogleConnection(db.Model):
    """An organization's Google Workspace connection: a service account with domain-wide
    delegation impersonating ``admin_email``. Only the key file's path is stored."""

    __tablename__ = "google_connections"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    # The users it provisions have source "google:<name>".
    name: Mapped[str] = mapped_column(String(64))
    credentials_path: Mapped[str] = mapped_column(Text)
    admin_email: Mapped[str] = mapped_column(Text)
    customer: Mapped[str] = mapped_column(String(64), default="my_customer")
    domain: Mapped[str | None] = mapped_column(Text)
    org_units: Mapped[list[str]] = mapped_column(JSON, default=list)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Who runs its sync now, and until when (one sync at a time across servers).
    lease_holder: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def source(self) -> str:
        return f"google:{self.name}"


class GoogleSyncRun(db.Model):
    """One run of a Google sync: when, how it ended, its counts and its errors (clashes too)."""

    __tablename__ = "google_sync_runs"
    __table_args__ = (Index("ix_google_sync_runs_tenant", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    source: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    # running, succeeded, failed, stopped (the safety valve)
    status: Mapped[str] = mapped_column(String(16), default="running")
    trigger: Mapped[str] = mapped_column(String(16), default="command")  # command or serve
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)
