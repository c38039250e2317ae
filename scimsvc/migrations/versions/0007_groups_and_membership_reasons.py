"""IdP groups (RFC 7643 §4.2), teams linked to them, and why each user is in a team.

``team_members`` gains ``reason``: 'assignment' (the team-assignment setting),
'admin' (scimsvc team add-member) or 'group:<group id>' (a linked group); the
primary key becomes (team_id, user_id, reason), so a user may hold several
reasons. Every membership that exists was made by the team-assignment setting
(the only way into a team before), so existing rows become 'assignment'.
Downgrading keeps one row per (team, user).

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _rebuild_sqlite_team_members(with_reason: bool) -> None:
    """SQLite cannot change a primary key: build the table anew and copy the rows."""
    reason = "reason VARCHAR(64) NOT NULL, " if with_reason else ""
    key = "team_id, user_id, reason" if with_reason else "team_id, user_id"
    op.execute(
        "CREATE TABLE team_members_new (team_id INTEGER NOT NULL, user_id INTEGER NOT NULL, "
        f"{reason}PRIMARY KEY ({key}), "
        "FOREIGN KEY(team_id) REFERENCES teams (id) ON DELETE CASCADE, "
        "FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE)")
    if with_reason:
        op.execute("INSERT INTO team_members_new (team_id, user_id, reason) "
                   "SELECT team_id, user_id, 'assignment' FROM team_members")
    else:
        op.execute("INSERT INTO team_members_new (team_id, user_id) "
                   "SELECT DISTINCT team_id, user_id FROM team_members")
    op.execute("DROP TABLE team_members")
    op.execute("ALTER TABLE team_members_new RENAME TO team_members")
    op.execute("CREATE INDEX ix_team_members_user ON team_members (user_id)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_team_members(with_reason=True)
    else:
        op.execute("ALTER TABLE team_members ADD COLUMN reason VARCHAR(64) NOT NULL "
                   "DEFAULT 'assignment'")
        op.execute("ALTER TABLE team_members ALTER COLUMN reason DROP DEFAULT")
        op.execute("ALTER TABLE team_members DROP CONSTRAINT team_members_pkey")
        op.execute("ALTER TABLE team_members ADD CONSTRAINT team_members_pkey "
                   "PRIMARY KEY (team_id, user_id, reason)")

    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("scim_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("display_name_norm", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scim_id"),
    )
    op.create_index("uq_groups_tenant_display_name", "groups", ["tenant_id", "display_name_norm"],
                    unique=True)
    op.create_index("ix_groups_tenant_external_id", "groups", ["tenant_id", "external_id"])
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "user_id"),
    )
    op.create_index("ix_group_members_user", "group_members", ["user_id"])
    op.create_table(
        "team_groups",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "group_id"),
    )
    op.create_index("ix_team_groups_group", "team_groups", ["group_id"])


def downgrade() -> None:
    op.drop_index("ix_team_groups_group", table_name="team_groups")
    op.drop_table("team_groups")
    op.drop_index("ix_group_members_user", table_name="group_members")
    op.drop_table("group_members")
    op.drop_index("ix_groups_tenant_external_id", table_name="groups")
    op.drop_index("uq_groups_tenant_display_name", table_name="groups")
    op.drop_table("groups")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_team_members(with_reason=False)
    else:
        # One row per (team, user) remains, whatever its reasons were.
        op.execute("DELETE FROM team_members m USING team_members o "
                   "WHERE m.team_id = o.team_id AND m.user_id = o.user_id AND m.reason > o.reason")
        op.execute("ALTER TABLE team_members DROP CONSTRAINT team_members_pkey")
        op.execute("ALTER TABLE team_members DROP COLUMN reason")
        op.execute("ALTER TABLE team_members ADD CONSTRAINT team_members_pkey "
                   "PRIMARY KEY (team_id, user_id)")
