"""Revision 0007: team memberships gain a reason (existing rows: 'assignment'); groups tables."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from scimsvc.database import migrate
from scimsvc.extensions import db


def _downgrade(revision: str) -> None:
    config = migrate.alembic_config()
    with migrate.migration_connection(db.engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _seed_0003(connection) -> None:
    connection.execute(sa.text("INSERT INTO organizations (id, slug, name, created_at) "
                               "VALUES (1, 'default', 'default', '2026-01-01 00:00:00')"))
    connection.execute(sa.text("INSERT INTO teams (id, tenant_id, name, created_at) "
                               "VALUES (7, 1, 'employees', '2026-01-01 00:00:00')"))
    for user_id in (1, 2):
        connection.execute(sa.text(
            "INSERT INTO users (id, tenant_id, scim_id, user_name, user_name_norm, active, data, "
            "version, created_at, updated_at) VALUES (:id, 1, :sid, :n, :n, :t, '{}', 1, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"),
            {"id": user_id, "sid": f"id-{user_id}", "n": f"u{user_id}", "t": True})
        connection.execute(sa.text("INSERT INTO team_members (team_id, user_id) VALUES (7, :u)"),
                           {"u": user_id})


def test_upgrade_marks_existing_memberships_assignment_and_downgrade_keeps_one_row(app):
    with app.app_context():
        migrate.upgrade("0003")
        with db.engine.begin() as connection:
            _seed_0003(connection)
        assert migrate.upgrade().after == migrate.head_revision()
        with db.engine.begin() as connection:
            rows = connection.execute(sa.text(
                "SELECT team_id, user_id, reason FROM team_members ORDER BY user_id")).all()
            assert [tuple(r) for r in rows] == [(7, 1, "assignment"), (7, 2, "assignment")]
            # a second reason for the same (team, user) is a row of its own
            connection.execute(sa.text(
                "INSERT INTO team_members (team_id, user_id, reason) VALUES (7, 1, 'admin')"))
            tables = set(sa.inspect(connection).get_table_names())
            assert {"groups", "group_members", "team_groups"} <= tables
        assert migrate.schema_drift() == []
        _downgrade("0003")
        with db.engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT team_id, user_id FROM team_members ORDER BY user_id")).all()
            assert [tuple(r) for r in rows] == [(7, 1), (7, 2)]
            assert "groups" not in set(sa.inspect(connection).get_table_names())
        assert migrate.upgrade().after == migrate.head_revision()
