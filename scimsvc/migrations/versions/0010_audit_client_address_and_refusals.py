"""The client's address on every audit event, and refused requests journaled as summaries.

``client_address`` is the address the request came from (after
SCIMSVC_TRUSTED_PROXIES). A refused request (no key, an unknown, revoked or
expired key, a key without the permission, a rate limit) is no longer one row
per request: ``reason`` names why, ``repeats`` how many such requests the row
stands for, and ``at`` is the start of the minute they fell in (one row per
minute, organization, key, address and reason; services/refusals.py). The
partial index finds a minute's summary to add to, and lists them. Plain
statements, the same on SQLite (3.35+ drops columns natively) and PostgreSQL.

Revision ID: 0010
Revises: 0003
Create Date: 2026-12-04
"""
from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_UPGRADE = (
    "ALTER TABLE audit_events ADD COLUMN client_address VARCHAR(64)",
    "ALTER TABLE audit_events ADD COLUMN reason VARCHAR(32)",
    "ALTER TABLE audit_events ADD COLUMN repeats INTEGER",
    "CREATE INDEX ix_audit_refusals ON audit_events (reason, at, client_address) "
    "WHERE reason IS NOT NULL",
)

_DOWNGRADE = (
    "DROP INDEX ix_audit_refusals",
    "ALTER TABLE audit_events DROP COLUMN repeats",
    "ALTER TABLE audit_events DROP COLUMN reason",
    "ALTER TABLE audit_events DROP COLUMN client_address",
)


def upgrade() -> None:
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in _DOWNGRADE:
        op.execute(statement)
