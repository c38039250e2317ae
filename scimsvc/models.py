"""Database tables. Every row belongs to an organization (tenant)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
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
    select,
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

# One row per reason a user is in a team: 'assignment' (the team-assignment setting),
# 'admin' (scimsvc team add-member) or 'group:<group scim id>' (a linked IdP group).
# A user is a member while at least one reason holds; services.memberships writes them.
team_members = Table(
    "team_members",
    db.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("reason", String(64), primary_key=True),
    Index("ix_team_members_user", "user_id"),
)

# Who is in a team, whatever the reasons (what the ORM relationships load).
_memberships = (select(team_members.c.team_id, team_members.c.user_id)
                .distinct().subquery("memberships"))


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
        secondary=_memberships, back_populates="teams", order_by="User.user_name",
        primaryjoin=lambda: Team.id == _memberships.c.team_id,
        secondaryjoin=lambda: User.id == _memberships.c.user_id, viewonly=True,
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
    # What POST does when its externalId is a removed user's: 'restore' or 'new' (migration 0008).
    on_recreate: Mapped[str] = mapped_column(String(16), default="restore")
    # Journal successful reads too (they normally go to the request log only).
    journal_reads: Mapped[bool] = mapped_column(Boolean, default=False)

    assign_team: Mapped[Team | None] = relationship()


class User(db.Model):
    """A provisioned user: the account (``id``) and its SCIM resource (``scim_id``).

    ``data`` holds the SCIM resource as the client sent it, with attribute names
    canonicalised; the columns beside it are projections used to filter, sort and
    enforce uniqueness in SQL. Removing a user sets ``deleted_at``; the row and
    everything that references it stay. ``protected`` (a break-glass admin) refuses
    SCIM requests that would lock the user out; ``purged_at`` marks an account whose
    personal attributes were erased (``scimsvc user purge``): an anonymous tombstone.
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
        Index("ix_users_tenant_external_id", "tenant_id", "external_id", "deleted_at"),
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
    # Migration 0008. Read positionally by store.users.UserRecord: keep them last, in this order.
    protected: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime)
    # What provisions the user: "scim" (an IdP's SCIM calls) or "google:<connection name>".
    # TEXT, not VARCHAR: with a VARCHAR column here SQLite's planner left ix_users_tenant_external_id.
    source: Mapped[str] = mapped_column(Text, default=SCIM_SOURCE, server_default=text("'scim'"))

    teams: Mapped[list[Team]] = relationship(
        secondary=_memberships, back_populates="members", order_by=Team.name,
        primaryjoin=lambda: User.id == _memberships.c.user_id,
        secondaryjoin=lambda: Team.id == _memberships.c.team_id, viewonly=True,
    )

    @property
    def status(self) -> str:
        if self.purged_at is not None:
            return "purged"
        if self.deleted_at is not None:
            return "removed"
        return "active" if self.active else "disabled"


class UserValue(db.Model):
    """One value of a multi-valued attribute (emails, phoneNumbers, …), for filtering in SQL."""

    __tablename__ = "user_values"
    __table_args__ = (
        # The value-row sync reaches ranges of positions (store.users.sync_values; migration 0004).
        Index("ix_user_values_position", "user_id", "attr", "position"),
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
        # Refusal summaries: the minute's row to add to, and `audit list --refusals` (0010).
        Index("ix_audit_refusals", "reason", "at", "client_address",
              sqlite_where=text("reason IS NOT NULL"), postgresql_where=text("reason IS NOT NULL")),
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
    # The address the request came from (after SCIMSVC_TRUSTED_PROXIES).
    client_address: Mapped[str | None] = mapped_column(String(64))
    # A refusal summary: why the requests were refused (no_key, malformed, unknown, revoked,
    # expired, forbidden, rate_limited) and how many fell in the minute starting at ``at``.
    reason: Mapped[str | None] = mapped_column(String(32))
    repeats: Mapped[int | None] = mapped_column(Integer)


class Group(db.Model):
    """An IdP group (RFC 7643 §4.2). It grants nothing: teams linked to it take its members."""

    __tablename__ = "groups"
    __table_args__ = (
        # displayName is unique in the organization, ignoring case (issue 13).
        Index("uq_groups_tenant_display_name", "tenant_id", "display_name_norm", unique=True),
        Index("ix_groups_tenant_external_id", "tenant_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    scim_id: Mapped[str] = mapped_column(String(36), unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    display_name_norm: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# A group's members: users only (one row each, so a PATCH touches only the rows it names).
group_members = Table(
    "group_members",
    db.metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_group_members_user", "user_id"),
)

# Teams whose members include a group's (scimsvc team link-group).
team_groups = Table(
    "team_groups",
    db.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_team_groups_group", "group_id"),
)


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


class ProductPermission(db.Model):
    """An action of the organization's product (``chat:use``…) that roles can grant."""

    __tablename__ = "product_permissions"
    __table_args__ = (UniqueConstraint("tenant_id", "action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    action: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EventCounter(db.Model):
    """An organization's last event sequence, and the highest sequence retention purged.

    The row is updated by every transaction that writes an event, so on PostgreSQL
    its lock makes the organization's events commit in sequence order (migration 0005).
    """

    __tablename__ = "event_counters"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    purged_through: Mapped[int] = mapped_column(BigInteger, default=0)


class Event(db.Model):
    """A change to a user or to what they may do, written in the change's transaction.

    ``user`` is the access-API object of the user as it stood after the change.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sequence", name="uq_events_tenant_sequence"),
        Index("ix_events_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(Integer)
    user_scim_id: Mapped[str] = mapped_column(String(36))
    changes: Mapped[list[str]] = mapped_column(JSON)
    user: Mapped[dict[str, Any]] = mapped_column(JSON)
class Webhook(db.Model):
    """A receiver the organization's change events are POSTed to, signed (Standard Webhooks).

    ``secret`` holds the signing secret encrypted with the instance's webhook key
    (services/webhooks.py): the database alone cannot sign a delivery.
    ``event_types`` is the list of event types delivered; empty means all.
    """

    __tablename__ = "webhooks"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)


class WebhookDelivery(db.Model):
    """One event to deliver to one webhook: the exact body sent, and how its attempts went.

    ``status`` is ``pending`` (to be sent at ``next_attempt_at``), ``delivered`` or
    ``failed`` (given up: too old, or the receiver answered 410). A worker that
    takes a delivery sets ``claimed_until``; if it dies, the claim lapses and
    another worker sends it again (at least once).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # What the workers look for: pending deliveries that are due.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # A webhook's deliveries in event order (claims, `webhook deliveries`).
        Index("ix_webhook_deliveries_webhook", "webhook_id", "status", "sequence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    # When to give up; None: created_at + the max age (SCIMSVC_WEBHOOK_MAX_AGE_HOURS).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32))
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
