"""``scimsvc user purge``: an erasure request leaves an anonymous tombstone and no personal value
in the database (the SQLite file and its -wal, every row on PostgreSQL) or the journal."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, text

from scimsvc.extensions import db
from scimsvc.models import AuditEvent, User, UserValue, team_members
from tests.conftest import make_user
from tests.scimdata import CORE_USER, ENTERPRISE, PATCH_OP

# Every personal value of the person, each spelled so it occurs nowhere else.
PERSONAL = {
    "userName": "Zelda.Quux@example.com",
    "externalId": "ext-zq-31337",
    "displayName": "Zelda Quuxington",
    "nickName": "Zeeqx",
    "title": "Quartermaster-Zq",
    "givenName": "Zeldagivenq",
    "familyName": "Quuxfamilyq",
    "email": "zelda.private@quux.example",
    "oldEmail": "zelda.old@quux.example",
    "phone": "+1 555 0199 314",
    "street": "42 Xyzzy Plugh Lane",
    "photo": "https://photos.example/zqphoto.jpg",
    "im": "zq-im-handle-77",
    "x509": "MIIBzqQuuxCertificateBase64Value",
    "employeeNumber": "EMP-zq-90210",
    "department": "Dept-Quuxery",
    "password": "Pa55-zq-secret",
}


def zelda_body() -> dict:
    p = PERSONAL
    return {
        "schemas": [CORE_USER, ENTERPRISE], "userName": p["userName"], "externalId": p["externalId"],
        "displayName": p["displayName"], "nickName": p["nickName"], "title": p["title"],
        "name": {"givenName": p["givenName"], "familyName": p["familyName"]},
        "emails": [{"value": p["oldEmail"], "type": "work", "primary": True}],
        "phoneNumbers": [{"value": p["phone"], "type": "mobile"}],
        "addresses": [{"streetAddress": p["street"], "type": "home"}],
        "photos": [{"value": p["photo"], "type": "photo"}],
        "ims": [{"value": p["im"], "type": "xmpp"}],
        "x509Certificates": [{"value": p["x509"]}],
        "password": p["password"],
        ENTERPRISE: {"employeeNumber": p["employeeNumber"], "department": p["department"]},
    }


@pytest.fixture
def zelda(app, admin, scim):
    """A user with every kind of personal value, changed once (so diffs and old row versions
    hold an earlier e-mail), refused once as a duplicate (journaled under the userName); a
    webhook is configured, so change events and their queued deliveries hold the user too."""
    assert admin("webhook", "add", "product", "http://127.0.0.1:9/hook").exit_code == 0
    admin("team", "create", "staff")
    admin("provisioning", "assign-team", "staff")
    user = make_user(scim, **{k: v for k, v in zelda_body().items() if k != "schemas"})
    response = scim.patch(f"Users/{user['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "emails", "value": [{"value": PERSONAL["email"], "primary": True}]},
    ]})
    assert response.status_code == 200
    assert scim.post("Users", json={"userName": PERSONAL["userName"].upper()}).status_code == 409
    make_user(scim, "bystander@example.com", title="Bystander")  # must keep everything
    return user


def personal_values() -> list[str]:
    values = list(PERSONAL.values())
    return values + [v.lower() for v in values]


def database_bytes(app) -> bytes:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    path = Path(url.removeprefix("sqlite:///"))
    found = path.read_bytes()
    for extra in (Path(f"{path}-wal"), Path(f"{path}-journal")):
        if extra.exists():
            found += extra.read_bytes()
    return found


def all_rows_text(app) -> str:
    """Every row of every table, as text (both databases)."""
    with app.app_context():
        return "\n".join(repr(tuple(row)) for table in db.metadata.sorted_tables
                         for row in db.session.execute(select(table)))


def is_sqlite(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def test_personal_values_are_in_the_database_before_the_purge(app, zelda):
    """The check below can fail: before the purge, every value is there to find."""
    rows = all_rows_text(app)
    missing = [v for v in PERSONAL.values() if v not in rows and v != PERSONAL["password"]]
    assert missing == []
    if is_sqlite(app):
        stored = database_bytes(app)
        assert PERSONAL["oldEmail"].encode() in stored and PERSONAL["street"].encode() in stored


def test_purge_leaves_no_personal_value_in_the_database_or_the_journal(app, admin, scim, zelda):
    result = admin("user", "purge", PERSONAL["userName"], "--yes")
    tombstone = f"purged-{zelda['id']}"
    assert result.stdout.startswith(f"Purged: the account is now '{tombstone}'; ")

    rows = all_rows_text(app)
    left = [v for v in personal_values() if v in rows]
    assert left == []
    if is_sqlite(app):
        stored = database_bytes(app)
        left = [v for v in personal_values() if v.encode() in stored]
        assert left == []
    else:
        with app.app_context():  # dead row versions are not rows: none is visible
            assert db.session.scalar(text(
                "SELECT count(*) FROM users WHERE data::text LIKE '%Quux%'")) == 0
    # The bystander keeps everything.
    assert "Bystander" in rows and "bystander@example.com" in rows


def test_purge_keeps_an_anonymous_tombstone_that_still_resolves(app, admin, scim, zelda):
    with app.app_context():
        before = db.session.scalar(select(User).where(User.scim_id == zelda["id"]))
        account_id, teams = before.id, list(db.session.scalars(
            select(team_members.c.team_id).where(team_members.c.user_id == before.id)))
    admin("user", "purge", zelda["id"], "--yes")
    with app.app_context():
        tomb = db.session.get(User, account_id)
        assert (tomb.scim_id, tomb.user_name, tomb.status) == (zelda["id"], f"purged-{zelda['id']}",
                                                              "purged")
        assert tomb.data == {} and tomb.external_id is None and tomb.password_hash is None
        assert tomb.purged_at is not None and tomb.deleted_at is not None
        assert db.session.scalar(select(db.func.count()).select_from(UserValue)
                                 .where(UserValue.user_id == account_id)) == 0
        assert list(db.session.scalars(select(team_members.c.team_id)
                                       .where(team_members.c.user_id == account_id))) == teams
    assert scim.get(f"Users/{zelda['id']}").status_code == 404
    listed = json.loads(admin("user", "list", "--status", "purged", "--json").stdout)
    assert [u["userName"] for u in listed] == [f"purged-{zelda['id']}"]
    assert [u["userName"] for u in json.loads(
        admin("user", "list", "--status", "removed", "--json").stdout)] == []
    # The userName is free, and a returning create cannot find the tombstone.
    back = make_user(scim, PERSONAL["userName"], externalId=PERSONAL["externalId"])
    assert back["id"] != zelda["id"]


def test_purge_journals_a_remove_then_a_purge_and_redacts_the_earlier_events(app, admin, zelda):
    admin("user", "purge", PERSONAL["userName"], "--yes")
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    mine = [e for e in events if e.target_user_id == zelda["id"]]
    assert [e.operation for e in mine] == ["create", "patch", "remove", "purge"]
    tombstone = f"purged-{zelda['id']}"
    assert {e.target_user_name for e in mine} == {tombstone}
    create, patch, remove, purge = mine
    assert create.changes["emails"] == {"old": None, "new": "erased"}
    assert create.changes["name.familyName"] == {"old": None, "new": "erased"}
    assert create.changes["password"] == "changed"
    assert patch.changes == {"emails": {"old": "erased", "new": "erased"}}
    assert (remove.api_key_name, purge.api_key_name, purge.method) == ("cli", "cli", "CLI")
    assert purge.changes["eventsRedacted"] == 4 and "emails" in purge.changes["erased"]
    # The refused duplicate create, journaled under the userName alone, is redacted too.
    [refused] = [e for e in events if e.status == 409]
    assert (refused.target_user_id, refused.target_user_name) == (None, tombstone)
    assert "purged" in admin("audit", "list", "--user", zelda["id"]).stdout


def test_purge_asks_first(app, admin, zelda):
    result = admin("user", "purge", PERSONAL["userName"], input="n\n", ok=False)
    assert result.exit_code == 1 and "cannot be undone" in result.output
    assert json.loads(admin("user", "show", zelda["id"], "--json").stdout)["status"] == "active"


def test_purge_of_a_protected_user_and_of_a_removed_user(app, admin, scim, zelda):
    admin("user", "protect", zelda["id"])
    admin("user", "purge", zelda["id"], "--yes")
    shown = json.loads(admin("user", "show", zelda["id"], "--json").stdout)
    assert (shown["status"], shown["protected"]) == ("purged", False)
    other = make_user(scim, "gone@example.com", title="Gone-Title-Zq")
    assert scim.delete(f"Users/{other['id']}").status_code == 204
    admin("user", "purge", "gone@example.com", "--yes")
    assert "Gone-Title-Zq" not in all_rows_text(app)


def test_purge_twice_only_reclaims_space(admin, zelda):
    admin("user", "purge", zelda["id"], "--yes")
    again = admin("user", "purge", zelda["id"], "--yes")
    assert again.stdout == (f"User 'purged-{zelda['id']}' was already purged; "
                            "space reclaimed again.\n")
    assert admin("user", "restore", zelda["id"], ok=False).output == \
        f"Error: No removed user '{zelda['id']}'.\n"


def test_purge_follows_every_scim_id_the_account_had(app, admin, scim):
    """A restored account had another SCIM id before: its events are redacted as well."""
    first = make_user(scim, "yann@example.com", externalId="00u-y", title="Yanntitle")
    scim.delete(f"Users/{first['id']}")
    back = make_user(scim, "yann@example.com", externalId="00u-y", title="Yanntitle2")
    admin("user", "purge", back["id"], "--yes")
    rows = all_rows_text(app)
    assert "Yanntitle" not in rows and "yann@example.com" not in rows


def test_purge_by_a_username_two_accounts_share_asks_for_the_scim_id(app, admin, scim):
    """A departed person's removed account and the new hire's live one share the address."""
    departed = make_user(scim, "alex@example.com", externalId="00u-old", title="Departed-Title")
    scim.delete(f"Users/{departed['id']}")
    hire = make_user(scim, "alex@example.com", externalId="00u-new", title="Hire-Title")
    result = admin("user", "purge", "alex@example.com", "--yes", ok=False)
    assert result.output == ("Error: Several accounts have userName 'alex@example.com': pass the "
                             "SCIM id of the one to purge ('scimsvc user list' shows them).\n")
    admin("user", "purge", departed["id"], "--yes")
    rows = all_rows_text(app)
    assert "Departed-Title" not in rows and "Hire-Title" in rows
    assert scim.get(f"Users/{hire['id']}").get_json()["userName"] == "alex@example.com"
