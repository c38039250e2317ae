"""The externalId lookup index includes ``deleted_at``, so it answers the live-user lookup alone.

An IdP's ``externalId eq "…"`` is a search of the organization's live users
(``deleted_at IS NULL``) ordered by id. Over ix_users_tenant_external_id
(tenant_id, external_id) and ix_users_tenant_live (tenant_id, deleted_at, id),
both an equality on two columns, SQLite without statistics chose the second once
the users table had grown a few columns (migrations 0008 and 0009): a walk of
every live user of the organization for one lookup. With ``deleted_at`` in it,
the externalId index matches all three terms and is chosen on any table width.
The statements are written out here, as the revisions' rule says
(migrations/__init__.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""
from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_users_tenant_external_id")
    op.execute("CREATE INDEX ix_users_tenant_external_id ON users (tenant_id, external_id, deleted_at)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_users_tenant_external_id")
    op.execute("CREATE INDEX ix_users_tenant_external_id ON users (tenant_id, external_id)")
