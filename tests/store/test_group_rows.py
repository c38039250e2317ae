"""Large groups: a PATCH of a few members touches only their rows; excludedAttributes=members
never reads member rows. Each request's SQL is recorded (SQLite's trace) and planned."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from scimsvc.extensions import db
from tests.sqltrace import is_select, query_plan, sqlite_statements

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SIZE = 2000


@pytest.fixture(autouse=True)
def _sqlite_only(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the statement trace and EXPLAIN QUERY PLAN are SQLite's")


@pytest.fixture
def big_group(app, scim):
    """A group of SIZE members: users written in bulk, then one POST naming them all."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO users (tenant_id, scim_id, user_name, user_name_norm, active, data, version, "
            "created_at, updated_at) VALUES (1, :sid, :n, :n, 1, :data, 1, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"),
            [{"sid": f"u-{i:05d}", "n": f"user{i}@example.com",
              "data": f'{{"userName": "user{i}@example.com", "active": true}}'} for i in range(SIZE)])
    response = scim.post("Groups", json={"schemas": [GROUP], "displayName": "Everyone",
                                         "members": [{"value": f"u-{i:05d}"} for i in range(SIZE - 2)]})
    assert response.status_code == 201
    return response.get_json()["id"]


def _member_statements(app, send):
    with sqlite_statements(app) as seen:
        response = send()
    assert response.status_code == 200, response.get_data(as_text=True)
    return [s for s in seen if "group_members" in s]


def test_patch_of_a_few_members_reads_and_writes_only_their_rows(app, scim, big_group):
    body = {"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": f"u-{SIZE - 1:05d}"}]},
        {"op": "remove", "path": 'members[value eq "u-00003"]'}]}
    statements = _member_statements(
        app, lambda: scim.patch(f"Groups/{big_group}?excludedAttributes=members", json=body))
    assert statements, "the PATCH wrote no member row"
    for statement in statements:
        if is_select(statement):
            plan = " | ".join(query_plan(app, statement))
            assert "SCAN group_members" not in plan, (statement, plan)
            assert "group_members.user_id IN" in statement or "user_id IN" in statement, statement
    with app.app_context(), db.engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM group_members")).scalar()
    assert count == SIZE - 2  # one joined, one left


def test_excluded_members_never_reads_member_rows(app, scim, big_group):
    for path in ("Groups?excludedAttributes=members",
                 f"Groups/{big_group}?excludedAttributes=members",
                 'Groups?filter=displayName%20eq%20%22everyone%22&excludedAttributes=members'):
        statements = _member_statements(app, lambda: scim.get(path))
        assert statements == [], (path, statements)
    body = scim.get(f"Groups/{big_group}").get_json()
    assert len(body["members"]) == SIZE - 2
