"""Partial indexes on removed users, for the restore check of every SCIM create.

A POST asks whether a removed account of the tenant has its userName or
externalId (services.lifecycle.returning_account); with only the live-user
indexes, SQLite answered by walking every removed user of the tenant in
deleted_at order (EXPLAIN QUERY PLAN). Each index holds removed users only,
so live writes never maintain it, and ends with deleted_at so the most recently
removed match is its first entry. The statements are written out here, as the
revisions' rule says (migrations/__init__.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""
from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The same statement on SQLite and PostgreSQL.
_CREATE = (
    "CREATE INDEX ix_users_removed_name ON users (tenant_id, user_name_norm, deleted_at) "
    "WHERE deleted_at IS NOT NULL",
    "CREATE INDEX ix_users_removed_external_id ON users (tenant_id, external_id, deleted_at) "
    "WHERE deleted_at IS NOT NULL",
)


def upgrade() -> None:
    for statement in _CREATE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX ix_users_removed_external_id")
    op.execute("DROP INDEX ix_users_removed_name")
