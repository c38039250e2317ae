"""Safe returns, protected users and purged tombstones.

A create used to restore a removed account matching its userName **or** its
externalId; e-mail addresses are reused, so a new hire could inherit a departed
colleague's account. Now only the externalId restores (store.users.returning_account).
What that means for the data already stored:

- ``uq_users_tenant_username`` is partial on ``deleted_at IS NULL`` since 0001, so a
  new live account may already share its userName with removed ones: no change.
- Both partial indexes of 0003 stay: ``ix_users_removed_external_id`` answers the
  restore probe, ``ix_users_removed_name`` the probe that journals "a removed account
  with this userName exists" when a create does not restore it.
- Removed accounts without an externalId can no longer come back by themselves; an
  admin reattaches them with ``scimsvc user restore``. No row changes.

New columns: ``users.protected`` (``scimsvc user protect``: SCIM may not disable,
remove or rename the user) and ``users.purged_at`` (``scimsvc user purge``: the
account is an anonymous tombstone, its personal attributes erased). The DDL is
spelled out (migrations/__init__.py): ALTER TABLE ... ADD/DROP COLUMN, the same on
SQLite (3.35+) and PostgreSQL, keeps the table and its triggers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    timestamp = "DATETIME" if op.get_bind().dialect.name == "sqlite" else "TIMESTAMP WITHOUT TIME ZONE"
    op.execute("ALTER TABLE users ADD COLUMN protected BOOLEAN DEFAULT false NOT NULL")
    op.execute(f"ALTER TABLE users ADD COLUMN purged_at {timestamp}")


def downgrade() -> None:
    op.execute("ALTER TABLE users DROP COLUMN purged_at")
    op.execute("ALTER TABLE users DROP COLUMN protected")
