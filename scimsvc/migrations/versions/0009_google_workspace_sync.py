"""Google Workspace sync: which source provisions each user, the connection, its runs.

``users.source`` names what provisions a user: ``scim`` (an IdP's SCIM calls, the
default every existing user gets) or ``google:<connection>`` (the Directory API
sync, services/sources/google.py); a sync changes only the users of its own source.
``google_connections`` holds one organization's Workspace connection (the path of
the service-account key file, never the key) and the lease that lets one server
at a time run its sync; ``google_sync_runs`` what each run did. The column is
added in place (ALTER TABLE ... ADD COLUMN on both databases), so SQLite keeps
the users table and its triggers; the statements are written out, as the
revisions' rule says (migrations/__init__.py).

Revision ID: 0009
Revises: 0003
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE users ADD COLUMN source TEXT DEFAULT 'scim' NOT NULL")
    op.execute("CREATE INDEX ix_users_source ON users (source, tenant_id, external_id)")
    op.create_table(
        "google_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("credentials_path", sa.Text(), nullable=False),
        sa.Column("admin_email", sa.Text(), nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.Text(), nullable=True),
        sa.Column("org_units", sa.JSON(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("lease_holder", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id"),
    )
    op.create_table(
        "google_sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_google_sync_runs_tenant", "google_sync_runs", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_google_sync_runs_tenant", table_name="google_sync_runs")
    op.drop_table("google_sync_runs")
    op.drop_table("google_connections")
    op.execute("DROP INDEX ix_users_source")
    op.execute("ALTER TABLE users DROP COLUMN source")
