"""Search and paging structures: trigram index on values, family-name index, user_buckets.

``emails.value co "…"`` is answered from a trigram index (an FTS5 table kept by
triggers on SQLite, pg_trgm's GIN index on PostgreSQL); ``name.familyName sw "…"``
from an index on (tenant_id, lower(family_name)); a list's totalResults and the
first user of a deep page from ``user_buckets``, live users counted per block of
ids by triggers. The database-specific statements live in ``scimsvc.dialect``.
Measured with ``make bench`` (docs/performance.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scimsvc import dialect

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_buckets",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("live", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "bucket"),
    )
    for statement in dialect.search_structures_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in dialect.drop_search_structures_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("user_buckets")
