"""What the users service stores when it writes: the searchable values, restores, and their lookups.

The write path changes only the user_values rows that differ; these tests hold it
to the rows a fresh create of the same document gets, whatever the change.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import delete, select

from scimsvc.extensions import db
from scimsvc.models import User, UserValue
from tests.conftest import make_user
from tests.sqltrace import is_select, query_plan, sqlite_statements
from tests.scimdata import PATCH_OP

VALUE_COLUMNS = ("attr", "position", "type", "primary", "value", "value_norm", "display", "item")

EMAILS = [{"value": "Ann@Example.com", "type": "work", "primary": True},
          {"value": "ann@home.example", "type": "home"}]
PHONES = [{"value": "+1 555 0100", "type": "work"}, {"value": "+1 555 0101", "type": "mobile"}]


def stored_values(app, scim_id: str) -> list[tuple]:
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.scim_id == scim_id))
        rows = db.session.execute(select(*(getattr(UserValue, c) for c in VALUE_COLUMNS))
                                  .where(UserValue.user_id == user_id)).all()
    return sorted((tuple(row) for row in rows), key=repr)


def as_created(app, scim, resource: dict) -> list[tuple]:
    """The user_values rows a POST of ``resource``'s attributes (under another userName) stores."""
    body = {k: v for k, v in resource.items() if k not in ("id", "meta", "userName", "externalId")}
    fresh = make_user(scim, "reference." + resource["userName"], **body)
    rows = stored_values(app, fresh["id"])
    assert scim.delete(f"Users/{fresh['id']}").status_code == 204
    return rows


def patch(scim, scim_id: str, *operations: dict):
    response = scim.patch(f"Users/{scim_id}", json={"schemas": [PATCH_OP], "Operations": list(operations)})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def found(scim, expression: str) -> set[str]:
    response = scim.get(f"Users?filter={quote(expression)}")
    assert response.status_code == 200
    return {r["userName"] for r in response.get_json()["Resources"]}


@pytest.mark.parametrize("operation", [
    {"op": "replace", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 555 0199"},
    {"op": "add", "path": "emails", "value": [{"value": "ann@third.example", "type": "other"}]},
    {"op": "remove", "path": 'emails[type eq "home"]'},
    {"op": "remove", "path": "phoneNumbers"},
    {"op": "replace", "path": "emails", "value": [{"value": "only@example.com", "primary": True}]},
    {"op": "replace", "path": "title", "value": "Engineer"},
])
def test_patch_leaves_the_values_a_create_of_the_result_would_store(app, scim, operation):
    user = make_user(scim, "ann@example.com", emails=EMAILS, phoneNumbers=PHONES)
    result = patch(scim, user["id"], operation)
    assert stored_values(app, user["id"]) == as_created(app, scim, result)


def test_put_leaves_the_values_a_create_of_the_body_would_store(app, scim):
    user = make_user(scim, "ann@example.com", emails=EMAILS, phoneNumbers=PHONES)
    body = {"userName": "ann@example.com", "phoneNumbers": [{"value": "+1 555 0142", "type": "home"}],
            "emails": [EMAILS[1], {"value": "new@example.com", "type": "work"}, EMAILS[0]],
            "addresses": [{"formatted": "1 Main St", "type": "work"}]}
    result = scim.put(f"Users/{user['id']}", json=body).get_json()
    assert stored_values(app, user["id"]) == as_created(app, scim, result)


def test_a_changed_value_is_found_by_its_new_value_only(app, scim):
    user = make_user(scim, "ann@example.com", emails=EMAILS, phoneNumbers=PHONES)
    patch(scim, user["id"], {"op": "replace", "path": 'emails[type eq "home"].value',
                             "value": "ann@elsewhere.example"})
    assert found(scim, 'emails.value eq "ann@elsewhere.example"') == {"ann@example.com"}
    assert found(scim, 'emails.value co "home.example"') == set()
    assert found(scim, 'emails.value eq "ann@example.com"') == {"ann@example.com"}
    assert found(scim, 'phoneNumbers.value eq "+1 555 0101"') == {"ann@example.com"}


def test_a_restored_account_holds_the_values_of_the_new_document(app, scim):
    removed = make_user(scim, "ann@example.com", externalId="00u1", emails=EMAILS, phoneNumbers=PHONES)
    assert scim.delete(f"Users/{removed['id']}").status_code == 204
    back = make_user(scim, "ann@example.com", externalId="00u1",
                     emails=[{"value": "ann@new.example", "type": "work"}])
    assert stored_values(app, back["id"]) == as_created(app, scim, back)
    assert found(scim, 'phoneNumbers.value eq "+1 555 0100"') == set()


@pytest.mark.parametrize("later", ["by userName", "by externalId"])
def test_a_create_matching_two_removed_accounts_restores_the_external_id_match(app, scim, later):
    """Whichever was removed later, the userName-only match is never the one taken back."""
    by_name = make_user(scim, "ann@example.com", externalId="name-match")
    by_external_id = make_user(scim, "ann.old@example.com", externalId="00u1")
    order = [by_name, by_external_id] if later == "by externalId" else [by_external_id, by_name]
    for user in order:
        assert scim.delete(f"Users/{user['id']}").status_code == 204
    with app.app_context():
        account = {u.scim_id: u.id for u in db.session.scalars(select(User))}
    back = make_user(scim, "ANN@example.com", externalId="00u1")
    with app.app_context():
        restored = db.session.scalar(select(User.id).where(User.scim_id == back["id"]))
        name_match = db.session.scalar(select(User).where(User.scim_id == by_name["id"]))
    assert restored == account[by_external_id["id"]]
    assert name_match.deleted_at is not None


def test_removing_the_password_and_changing_an_attribute_is_one_new_version(app, scim):
    user = make_user(scim, "ann@example.com", password="correct horse battery staple")
    result = patch(scim, user["id"], {"op": "remove", "path": "password"},
                   {"op": "replace", "path": "title", "value": "Engineer"})
    before, after = (int(r["meta"]["version"][3:-1]) for r in (user, result))
    assert after == before + 1
    with app.app_context():
        assert db.session.scalar(select(User.password_hash)) is None


def test_the_restore_check_probes_the_removed_users_indexes(app, scim):
    """SQLite plans: without them, the check walked every removed user of the tenant."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    for n in range(3):
        gone = make_user(scim, f"gone{n}@example.com", externalId=f"gone-{n}")
        scim.delete(f"Users/{gone['id']}")
    with sqlite_statements(app) as seen:
        make_user(scim, "new@example.com", externalId="00u9")
    # The restore probe (by externalId), then the note's probe (by userName).
    by_external_id, by_name = [s for s in seen if is_select(s) and "deleted_at IS NOT NULL" in s]
    for statement, index in ((by_external_id, "ix_users_removed_external_id (tenant_id=? AND external_id=?"),
                             (by_name, "ix_users_removed_name (tenant_id=? AND user_name_norm=?")):
        plan = " | ".join(query_plan(app, statement))
        assert index in plan, plan
        assert "ix_users_tenant_live" not in plan and "SCAN users " not in plan + " ", plan


def test_concurrent_creates_of_a_returning_user_restore_it_once(app, scim):
    """The second create waits for the first's restore, then finds the userName taken: 409."""
    import threading

    from tests.conftest import ScimClient

    removed = make_user(scim, "ann@example.com", externalId="00u1")
    assert scim.delete(f"Users/{removed['id']}").status_code == 204
    statuses: list[int] = []

    def create():
        client = ScimClient(app.test_client(), scim.key)
        response = client.post("Users", json={"userName": "ann@example.com", "externalId": "00u1"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409, 409]
    with app.app_context():
        assert db.session.scalar(select(db.func.count(User.id))) == 1
        assert db.session.scalar(select(User.deleted_at)) is None


# --- The value-row sync: set-based statements over (user_id, attr, position) -------------------

def _emails(*names: str) -> list[dict]:
    return [{"value": f"{name}@example.com", "type": "work" if name == "a" else "other"}
            for name in names]


LIST_EDITS = {
    "remove the first": ("abcdefgh", "bcdefgh"),
    "remove one in the middle": ("abcdefgh", "abcefgh"),
    "remove the last": ("abcdefgh", "abcdefg"),
    "insert at the front": ("abcdefgh", "zabcdefgh"),
    "insert in the middle": ("abcdefgh", "abcdzefgh"),
    "append": ("abcdefgh", "abcdefghz"),
    "replace one in the middle": ("abcdefgh", "abczefgh"),
    "replace a run by a longer one": ("abcdefgh", "abxyzwgh"),
    "replace a run by a shorter one": ("abcdefgh", "abzh"),
    "reverse": ("abcdefgh", "hgfedcba"),
    "duplicates around the change": ("aabaa", "aaa"),
    "empty to full": ("", "abc"),
    "full to empty": ("abc", ""),
}


@pytest.mark.parametrize("before, after", LIST_EDITS.values(), ids=LIST_EDITS.keys())
def test_any_list_edit_leaves_the_values_a_create_would_store(app, scim, before, after):
    user = make_user(scim, "ann@example.com", emails=_emails(*before), phoneNumbers=PHONES)
    body = {"userName": "ann@example.com", "emails": _emails(*after), "phoneNumbers": PHONES}
    response = scim.put(f"Users/{user['id']}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert stored_values(app, user["id"]) == as_created(app, scim, response.get_json())


def test_rows_not_where_the_document_says_are_rewritten(app, scim):
    user = make_user(scim, "ann@example.com", emails=_emails(*"abcdef"))
    with app.app_context():  # as if an older writer had left a gap in the positions
        db.session.execute(delete(UserValue).where(UserValue.attr == "emails",
                                                   UserValue.position == 4))
        db.session.commit()
    result = patch(scim, user["id"], {"op": "remove", "path": 'emails[value eq "b@example.com"]'})
    assert stored_values(app, user["id"]) == as_created(app, scim, result)


def test_removing_one_of_a_thousand_values_is_two_range_statements(app, scim):
    """SQLite plans: each statement reaches its range through ix_user_values_position."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    emails = [{"value": f"u{n:04}@example.com"} for n in range(1000)]
    user = make_user(scim, "ann@example.com", emails=emails)
    with sqlite_statements(app) as seen:
        result = patch(scim, user["id"], {"op": "remove", "path": 'emails[value eq "u0500@example.com"]'})
    assert len(result["emails"]) == 999
    # (SQLite's trace may report a statement more than once: distinct statements are counted.)
    writes = sorted({s for s in seen if re.match(r"(DELETE FROM|UPDATE|INSERT INTO) user_values ", s)})
    assert [s.split()[0] for s in writes] == ["DELETE", "UPDATE"], "\n".join(writes)
    for statement in writes:
        plan = " | ".join(query_plan(app, statement))
        assert "ix_user_values_position (user_id=? AND attr=? AND position>?" in plan, plan
    assert stored_values(app, user["id"]) == as_created(app, scim, result)
