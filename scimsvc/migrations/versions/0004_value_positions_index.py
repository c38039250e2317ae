"""The value rows' index includes ``position``, for the set-based value-row sync.

``store.users.sync_values`` deletes, moves and inserts ranges of one attribute's
positions. Over ix_user_values_user (user_id, attr) each of those statements, and
each per-row statement before them, walked every value of the attribute: a PATCH
of a user with 20,000 emails held the write lock for 37 s (issue 15). The new
index (user_id, attr, position) reaches a range directly and still serves every
lookup of one user's values, so it replaces the old one. The statements are
written out here, as the revisions' rule says (migrations/__init__.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""
from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_user_values_position ON user_values (user_id, attr, position)")
    op.execute("DROP INDEX ix_user_values_user")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_user_values_user ON user_values (user_id, attr)")
    op.execute("DROP INDEX ix_user_values_position")
