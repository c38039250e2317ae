"""The Google Workspace sync end to end: the real commands against a local fake Directory API."""
from __future__ import annotations

import json
import tempfile
import time

import pytest

from scimsvc.extensions import db
from scimsvc.models import AuditEvent, GoogleSyncRun, User
from tests.conftest import ScimClient, make_user, provision_key
from tests.fakes.google_directory import Directory, FakeGoogle, google_user, member
from tests.scimdata import ENTERPRISE

ADMIN = "admin@example.com"


@pytest.fixture
def fake():
    server = FakeGoogle(Directory()).start()
    yield server
    server.stop()


@pytest.fixture
def google(app, admin, fake, tmp_path):
    """The CLI with the app pointed at the fake and an organization connected to it."""
    app.config["SCIMSVC_GOOGLE_API_URL"] = fake.url
    app.config["SCIMSVC_GOOGLE_TIMEOUT"] = 0.5
    key = fake.key_file(tmp_path / "key.json")
    admin("google", "connect", "--credentials", str(key), "--admin", ADMIN)
    return admin


def sync(admin, *args, ok=True):
    result = admin("google", "sync", "--json", *args, ok=ok)
    return json.loads(result.stdout) if ok else result


def users_of(app):
    with app.app_context():
        return {u.user_name: u for u in db.session.scalars(db.select(User))}


def journal(app):
    with app.app_context():
        return [(e.operation, e.target_user_name) for e in
                db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id))]


def people(n, **extra):
    return [google_user(f"user{i:05d}@example.com", "Given", f"Family{i}", id=f"1{i:011d}", **extra)
            for i in range(n)]


# --- connect ------------------------------------------------------------------------------------

def test_connect_refuses_a_key_file_other_users_can_read(admin, app, fake, tmp_path):
    app.config["SCIMSVC_GOOGLE_API_URL"] = fake.url
    key = fake.key_file(tmp_path / "key.json")
    key.chmod(0o644)
    result = admin("google", "connect", "--credentials", str(key), "--admin", ADMIN, ok=False)
    assert result.exit_code == 1 and "chmod 600" in result.output
    assert fake.token_requests == 0
    assert "PRIVATE KEY" not in result.output


@pytest.mark.parametrize("change, admin_email, says", [
    ({"delegated_scopes": set()}, ADMIN, "domain-wide delegation is missing"),
    ({"api_enabled": False}, ADMIN, "Admin SDK API is not enabled"),
    ({}, "bob@example.com", "bob@example.com is not an administrator"),
    ({}, "admin@elsewhere.org", "is not a user of the Workspace"),
])
def test_connect_checks_with_one_request_and_says_what_is_wrong(admin, app, fake, tmp_path,
                                                                change, admin_email, says):
    app.config["SCIMSVC_GOOGLE_API_URL"] = fake.url
    for name, value in change.items():
        setattr(fake.directory, name, value)
    key = fake.key_file(tmp_path / "key.json")
    result = admin("google", "connect", "--credentials", str(key), "--admin", admin_email, ok=False)
    assert result.exit_code == 1 and says in result.output, result.output
    assert "Traceback" not in result.output
    assert admin("google", "status", ok=False).exit_code == 1  # nothing recorded


def test_connect_records_the_path_not_the_key_and_status_shows_it(google, tmp_path, app):
    status = json.loads(google("google", "status", "--json").stdout)
    assert status["credentials"] == str(tmp_path / "key.json")
    assert status["source"] == "google:workspace" and status["lastRun"] is None
    with app.app_context():
        dump = json.dumps([e.changes for e in db.session.scalars(db.select(AuditEvent))])
    assert "PRIVATE KEY" not in dump


# --- sync ---------------------------------------------------------------------------------------

def test_first_sync_creates_with_the_mapping_team_and_journal(google, app, fake):
    google("team", "create", "employees")
    google("provisioning", "assign-team", "employees")
    boss = google_user("boss@example.com", "Bea", "Boss", id="900")
    ann = google_user(
        "ann@example.com", "Ann", "Lee", id="901",
        emails=[{"address": "ann@example.com", "primary": True}, {"address": "ann@home.org", "type": "home"}],
        phones=[{"value": "+1 555 0100", "type": "work_mobile", "primary": True}],
        organizations=[{"title": "Old", "department": "X"},
                       {"title": "Engineer", "department": "R&D", "costCenter": "CC-7",
                        "name": "Example Inc", "primary": True}],
        externalIds=[{"value": "E-42", "type": "organization"}, {"value": "x", "type": "custom"}],
        relations=[{"value": "boss@example.com", "type": "manager"}])
    fake.directory.users = [ann, boss]  # Ann is listed first: her manager is created later
    result = sync(google)
    assert result["counts"]["created"] == 2 and result["status"] == "succeeded"
    scim = ScimClient(app.test_client(), provision_key(google))
    listed = scim.get('Users?filter=userName%20eq%20%22ann@example.com%22').get_json()["Resources"]
    got = listed[0]
    boss_id = scim.get('Users?filter=externalId%20eq%20%22900%22').get_json()["Resources"][0]["id"]
    assert got["externalId"] == "901" and got["active"] is True
    assert got["name"] == {"formatted": "Ann Lee", "familyName": "Lee", "givenName": "Ann"}
    assert got["displayName"] == "Ann Lee" and got["title"] == "Engineer"
    assert got["emails"] == [{"value": "ann@example.com", "type": "work", "primary": True},
                             {"value": "ann@home.org", "type": "home"}]
    assert got["phoneNumbers"] == [{"value": "+1 555 0100", "type": "mobile", "primary": True}]
    assert got[ENTERPRISE] == {"employeeNumber": "E-42", "costCenter": "CC-7",
                               "organization": "Example Inc", "department": "R&D",
                               "manager": {"value": boss_id}}
    assert "ann@example.com" in google("team", "show", "employees").output
    assert journal(app).count(("create", "ann@example.com")) == 1  # one write, manager included
    assert {u.source for u in users_of(app).values()} == {"google:workspace"}
    audit = google("audit", "list", "--json").stdout
    assert "google:workspace" in audit


def test_managers_of_each_other_are_both_created_and_linked_by_the_next_run(google, app, fake):
    # A cycle (Ann's manager is Bea, Bea's is Ann), both new: a pass settles neither, so the
    # run creates Ann without her manager, then Bea with hers; the next run completes Ann.
    fake.directory.users = [
        google_user("ann@example.com", id="901", relations=[{"value": "bea@example.com", "type": "manager"}]),
        google_user("bea@example.com", id="902", relations=[{"value": "ann@example.com", "type": "manager"}])]
    assert sync(google)["counts"]["created"] == 2

    def managers():
        found = users_of(app)
        ids = {u.scim_id: name for name, u in found.items()}
        return {name: ids.get((u.data.get(ENTERPRISE) or {}).get("manager", {}).get("value"))
                for name, u in found.items()}

    assert managers() == {"ann@example.com": None, "bea@example.com": "ann@example.com"}
    assert sync(google)["counts"]["updated"] == 1
    assert managers() == {"ann@example.com": "bea@example.com", "bea@example.com": "ann@example.com"}
    assert sync(google)["counts"]["unchanged"] == 2


def test_a_sync_in_which_nothing_changed_writes_nothing(google, app, fake):
    fake.directory.users = people(30, relations=[{"value": "user00000@example.com", "type": "manager"}])
    sync(google)
    before_users = {n: (u.updated_at, u.version) for n, u in users_of(app).items()}
    before_journal = journal(app)
    again = sync(google)
    assert again["counts"] == {"created": 0, "restored": 0, "updated": 0, "disabled": 0,
                               "removed": 0, "unchanged": 30, "clashes": 0}
    assert journal(app) == before_journal
    assert {n: (u.updated_at, u.version) for n, u in users_of(app).items()} == before_users


def test_updates_suspension_and_reactivation(google, app, fake):
    fake.directory.users = people(3)
    sync(google)
    fake.directory.users[0]["name"]["familyName"] = "Renamed"
    fake.directory.users[1]["suspended"] = True
    result = sync(google)
    assert (result["counts"]["updated"], result["counts"]["disabled"], result["counts"]["unchanged"]) \
        == (1, 1, 1)
    users = users_of(app)
    assert users["user00000@example.com"].family_name == "Renamed"
    assert users["user00001@example.com"].active is False
    fake.directory.users[1]["suspended"] = False
    fake.directory.users[1]["archived"] = True  # archived is disabled too
    assert sync(google)["counts"]["unchanged"] == 3
    fake.directory.users[1]["archived"] = False
    assert sync(google)["counts"]["updated"] == 1
    assert users_of(app)["user00001@example.com"].active is True
    assert [op for op, name in journal(app) if name == "user00001@example.com"] == \
        ["create", "disable", "enable"]


def test_deletion_leaving_and_reentering_scope(google, app, fake):
    google("provisioning", "set", "--on-recreate", "restore")
    everyone = people(20)
    fake.directory.users = list(everyone)
    sync(google)
    fake.directory.users = everyone[1:]  # deleted in Google, or out of scope
    result = sync(google)
    assert result["counts"]["removed"] == 1
    gone = users_of(app)["user00000@example.com"]
    assert gone.deleted_at is not None  # the account is kept, as with a SCIM DELETE
    fake.directory.users = list(everyone)
    back = sync(google)
    assert back["counts"]["restored"] == 1 and back["counts"]["unchanged"] == 19
    with app.app_context():
        again = db.session.scalar(db.select(User).where(User.user_name == "user00000@example.com"))
        assert again.id == gone.id and again.deleted_at is None and again.scim_id != gone.scim_id


def test_org_unit_and_group_scope(app, admin, fake, tmp_path):
    app.config["SCIMSVC_GOOGLE_API_URL"] = fake.url
    sales = google_user("s@example.com", id="1", orgUnitPath="/Sales/EMEA")
    eng = google_user("e@example.com", id="2", orgUnitPath="/Engineering")
    fake.directory.users = [sales, eng]
    fake.directory.groups = {"team@example.com": [member(eng)]}
    key = fake.key_file(tmp_path / "key.json")
    admin("google", "connect", "--credentials", str(key), "--admin", ADMIN, "--org-unit", "/Sales")
    assert sync(admin)["counts"]["created"] == 1
    assert set(users_of(app)) == {"s@example.com"}
    assert all(q.get("query") == ["orgUnitPath='/Sales'"] for q in fake.list_requests()[1:])
    admin("google", "connect", "--credentials", str(key), "--admin", ADMIN, "--group",
          "team@example.com")
    result = sync(admin, "--force")  # s@ leaves the scope: 1 removal of 1 user is over 10 %... at least 5
    assert (result["counts"]["created"], result["counts"]["removed"]) == (1, 1)
    assert {n for n, u in users_of(app).items() if u.deleted_at is None} == {"e@example.com"}


def test_paging_across_many_pages(google, app, fake):
    fake.directory.users = people(1234)
    result = sync(google)
    assert result["counts"]["created"] == 1234
    pages = fake.list_requests()[1:]  # the first was connect's check
    assert len(pages) == 3 and all(p["maxResults"] == ["500"] for p in pages)
    assert "pageToken" not in pages[0] and all("pageToken" in p for p in pages[1:])
    assert all(p["customer"] == ["my_customer"] for p in pages)


@pytest.mark.parametrize("failure", [{"status": 403}, {"status": 500, "times": 3},
                                     {"status": 0, "delay": 1.0, "times": 3}],
                         ids=["refused", "server-error", "timeout"])
def test_an_api_failure_mid_sync_writes_nothing_and_the_next_run_completes(google, app, fake,
                                                                           failure):
    fake.directory.users = people(1100)
    fake.fail(2, **failure)  # the second page
    result = sync(google, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert users_of(app) == {} and journal(app) == []
    status = json.loads(google("google", "status", "--json").stdout)
    assert status["lastRun"]["status"] == "failed" and status["lastRun"]["errors"]
    assert sync(google)["counts"]["created"] == 1100


def test_a_run_leaves_no_working_set_behind_whether_it_fails_or_not(google, app, fake, tmp_path,
                                                                   monkeypatch):
    # The run's index of the directory (store.scratch) is a file in the temporary folder.
    scratch_dir = tmp_path / "tmp"
    scratch_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_dir))
    fake.directory.users = people(1100)
    fake.fail(2, 500, times=3)
    assert sync(google, ok=False).exit_code == 1
    assert list(scratch_dir.iterdir()) == []
    assert sync(google)["counts"]["created"] == 1100
    assert list(scratch_dir.iterdir()) == []


def test_a_transient_error_is_retried(google, app, fake):
    fake.directory.users = people(600)
    fake.fail(1, 503)
    assert sync(google)["counts"]["created"] == 600


def test_the_safety_valve_stops_before_writing_and_force_overrides_it(google, app, fake):
    fake.directory.users = people(40)
    sync(google)
    fake.directory.users = []  # an empty answer must never deprovision everyone
    stopped = sync(google, ok=False)
    assert stopped.exit_code == 1 and "remove 40 of the 40 users" in stopped.output
    assert all(u.deleted_at is None for u in users_of(app).values())
    assert json.loads(google("google", "status", "--json").stdout)["lastRun"]["status"] == "stopped"
    fake.directory.users = people(40)[5:]
    for user in fake.directory.users[:5]:
        user["suspended"] = True
    stopped = sync(google, ok=False)  # 5 removals + 5 disables > 5
    assert stopped.exit_code == 1 and "more than the limit of 5" in stopped.output
    app.config["SCIMSVC_GOOGLE_MAX_REMOVALS"] = 10
    result = sync(google)
    assert (result["counts"]["removed"], result["counts"]["disabled"]) == (5, 5)
    fake.directory.users = []
    assert sync(google, "--force")["counts"]["removed"] == 35


def test_an_empty_answer_never_deprovisions_a_small_directory(google, app, fake):
    # Three users are within the limit's minimum of 5: only the all-of-them rule stops this.
    fake.directory.users = people(3)
    sync(google)
    fake.directory.users = []
    stopped = sync(google, ok=False)
    assert stopped.exit_code == 1 and "remove 3 of the 3 users" in stopped.output
    assert all(u.deleted_at is None and u.active for u in users_of(app).values())
    fake.directory.users = people(3)[1:]  # one of three leaves: within the limit
    assert sync(google)["counts"]["removed"] == 1
    fake.directory.users = []
    assert sync(google, "--force")["counts"]["removed"] == 2


def test_a_dry_run_shows_what_a_stopped_sync_would_do(google, app, fake):
    fake.directory.users = people(40)
    sync(google)
    fake.directory.users = people(40)[10:]
    dry = sync(google, "--dry-run")
    assert dry["status"] == "stopped" and dry["counts"]["removed"] == 10
    assert "more than the limit of 5" in dry["errors"][0]
    human = google("google", "sync", "--dry-run")
    assert "removed:" in human.output and "a real sync would stop before writing" in human.output
    assert all(u.deleted_at is None for u in users_of(app).values())


def test_a_clash_with_a_scim_user_is_reported_and_left_alone(google, app, fake):
    scim = ScimClient(app.test_client(), provision_key(google))
    theirs = make_user(scim, "taken@example.com", displayName="Provisioned by Okta")
    fake.directory.users = [google_user("taken@example.com", id="5"), google_user("free@example.com", id="6")]
    dry = sync(google, "--dry-run")
    assert (dry["counts"]["created"], dry["counts"]["clashes"]) == (1, 1)
    assert set(users_of(app)) == {"taken@example.com"}  # a dry run writes nothing
    result = sync(google)
    assert (result["counts"]["created"], result["counts"]["clashes"]) == (1, 1)
    assert "taken@example.com: a user provisioned by scim" in result["errors"][0]
    kept = scim.get(f"Users/{theirs['id']}").get_json()
    assert kept == theirs
    assert users_of(app)["taken@example.com"].source == "scim"
    human = google("google", "sync")
    assert "clash: taken@example.com" in human.output and "unchanged:" in human.output


def test_dry_run_reports_without_writing(google, app, fake):
    fake.directory.users = people(7)
    dry = sync(google, "--dry-run")
    assert dry["dry_run"] is True and dry["counts"]["created"] == 7
    assert users_of(app) == {}
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(GoogleSyncRun)) == 0


def test_disconnect_keeps_the_users(google, app, fake):
    fake.directory.users = people(2)
    sync(google)
    google("google", "disconnect", "--yes")
    assert len(users_of(app)) == 2
    assert "No Google Workspace connection" in google("google", "sync", ok=False).output


# --- settings -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, live, limit", [(None, 0, 5), (None, 40, 5), (None, 1000, 100),
                                              ("0", 1000, 0), ("25%", 1000, 250)])
def test_the_removal_limit(raw, live, limit):
    from scimsvc.config import from_environment
    from scimsvc.services.sources.google import removal_limit

    setting = from_environment({"SCIMSVC_GOOGLE_MAX_REMOVALS": raw}).get("SCIMSVC_GOOGLE_MAX_REMOVALS")
    assert removal_limit(live, setting) == limit


@pytest.mark.parametrize("name, value", [("SCIMSVC_GOOGLE_MAX_REMOVALS", "lots"),
                                         ("SCIMSVC_GOOGLE_MAX_REMOVALS", "150%"),
                                         ("SCIMSVC_GOOGLE_API_URL", "admin.googleapis.com"),
                                         ("SCIMSVC_GOOGLE_SYNC_INTERVAL", "0")])
def test_bad_google_settings_are_named(name, value):
    from scimsvc.config import ConfigError, from_environment

    with pytest.raises(ConfigError, match=name):
        from_environment({name: value})


def test_a_long_listing_keeps_its_lease_so_no_second_sync_starts(google, app, fake, monkeypatch):
    # A listing that outlasts the lease (shortened here to 1 s) renews it as pages arrive:
    # a second sync started after the first lease would have lapsed is still refused.
    import threading
    from datetime import timedelta

    from scimsvc.models import GoogleConnection
    from scimsvc.services.sources import google as sync_service
    monkeypatch.setattr(sync_service, "LEASE", timedelta(seconds=1))
    monkeypatch.setattr(sync_service, "RENEW_EVERY", 0.2)
    fake.directory.users = people(4000)  # 8 pages
    for page in range(1, 9):
        fake.fail(page, 0, delay=0.4)
    with app.app_context():
        tenant_id = db.session.scalar(db.select(GoogleConnection.tenant_id))
    outcome = {}

    def first() -> None:
        with app.app_context():
            settings = sync_service.Settings(api_url=fake.url, timeout=5.0)
            outcome["first"] = sync_service.sync(tenant_id, settings=settings)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not fake.list_requests() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.8)  # past the first lease, still listing
        second = sync(google, ok=False)
    finally:
        thread.join(timeout=60)
    assert second.exit_code == 1 and "Another sync of this connection is running" in second.output
    assert outcome["first"].counts["created"] == 4000
    # The second never listed: connect's one request and the first sync's 8 pages.
    assert len(fake.list_requests()) == 1 + 8
