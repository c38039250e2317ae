"""Alembic owns the schema: head matches the models, and upgrades lose nothing.

Runs on the database the suite runs on (SQLite for ``make test``, PostgreSQL
for ``make test-postgres``). The upgrade test writes rows the way revision 0001
stored them, through SQL, so it keeps testing a real upgrade as revisions are
added after it.
"""
from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory

from scimsvc.database import engine as dialect, migrate
from scimsvc.extensions import db
from scimsvc.database import migrate as database
from tests.conftest import Admin, ScimClient, create_empty_database
from tests.databases import is_postgres
from tests.scimdata import CORE_USER, ENTERPRISE

FIRST = database.FIRST_REVISION
# A key as 0.1.0 issued it: scimsvc_<12 hex>_<43 url-safe characters>, stored as its SHA-256.
OLD_KEY = "scimsvc_0123456789ab_" + "k" * 43
T0 = datetime(2026, 1, 2, 3, 4, 5)
T1 = datetime(2026, 1, 3, 3, 4, 5)

# The tables as revision 0001 created them (only what the rows below set).
R1 = {
    "organizations": sa.table("organizations", sa.column("id", sa.Integer), sa.column("slug", sa.String),
                              sa.column("name", sa.String), sa.column("created_at", sa.DateTime)),
    "roles": sa.table("roles", sa.column("id", sa.Integer), sa.column("tenant_id", sa.Integer),
                      sa.column("name", sa.String), sa.column("created_at", sa.DateTime)),
    "role_permissions": sa.table("role_permissions", sa.column("role_id", sa.Integer),
                                 sa.column("action", sa.String), sa.column("scope", sa.String)),
    "teams": sa.table("teams", sa.column("id", sa.Integer), sa.column("tenant_id", sa.Integer),
                      sa.column("name", sa.String), sa.column("created_at", sa.DateTime)),
    "team_roles": sa.table("team_roles", sa.column("team_id", sa.Integer),
                           sa.column("role_id", sa.Integer)),
    "api_keys": sa.table("api_keys", sa.column("id", sa.Integer), sa.column("tenant_id", sa.Integer),
                         sa.column("team_id", sa.Integer), sa.column("name", sa.String),
                         sa.column("prefix", sa.String), sa.column("secret_hash", sa.String),
                         sa.column("created_at", sa.DateTime), sa.column("last_used_at", sa.DateTime),
                         sa.column("expires_at", sa.DateTime), sa.column("revoked_at", sa.DateTime)),
    "provisioning_settings": sa.table("provisioning_settings", sa.column("tenant_id", sa.Integer),
                                      sa.column("assign_team_id", sa.Integer),
                                      sa.column("on_recreate", sa.String),
                                      sa.column("journal_reads", sa.Boolean)),
    "users": sa.table("users", *(sa.column(name, type_) for name, type_ in (
        ("id", sa.Integer), ("tenant_id", sa.Integer), ("scim_id", sa.String),
        ("user_name", sa.Text), ("user_name_norm", sa.Text), ("external_id", sa.Text),
        ("active", sa.Boolean), ("display_name", sa.Text), ("given_name", sa.Text),
        ("family_name", sa.Text), ("data", sa.JSON), ("password_hash", sa.String),
        ("version", sa.Integer), ("created_at", sa.DateTime), ("updated_at", sa.DateTime),
        ("deleted_at", sa.DateTime)))),
    "user_values": sa.table("user_values", *(sa.column(name, type_) for name, type_ in (
        ("id", sa.Integer), ("user_id", sa.Integer), ("attr", sa.String), ("position", sa.Integer),
        ("type", sa.Text), ("primary", sa.Boolean), ("value", sa.Text), ("value_norm", sa.Text),
        ("display", sa.Text), ("item", sa.JSON)))),
    "team_members": sa.table("team_members", sa.column("team_id", sa.Integer),
                             sa.column("user_id", sa.Integer)),
    "audit_events": sa.table("audit_events", *(sa.column(name, type_) for name, type_ in (
        ("id", sa.Integer), ("tenant_id", sa.Integer), ("at", sa.DateTime),
        ("request_id", sa.String), ("api_key_id", sa.Integer), ("api_key_name", sa.String),
        ("user_agent", sa.Text), ("method", sa.String), ("path", sa.Text),
        ("operation", sa.String), ("target_user_id", sa.String), ("target_user_name", sa.Text),
        ("status", sa.Integer), ("scim_type", sa.String), ("changes", sa.JSON)))),
}

BJENSEN = {
    "schemas": [CORE_USER, ENTERPRISE],
    "userName": "bjensen@example.com",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
    "externalId": "00u1",
    ENTERPRISE: {"employeeNumber": "701984"},
}
JSMITH = {"schemas": [CORE_USER],
          "userName": "JSmith@Example.com", "active": False}
GONE = {"schemas": [CORE_USER], "userName": "gone@example.com"}


def _user(id_, scim_id, doc, *, active=True, deleted_at=None, version=1):
    name = doc.get("name", {})
    return {"id": id_, "tenant_id": 1, "scim_id": scim_id, "user_name": doc["userName"],
            "user_name_norm": doc["userName"].lower(), "external_id": doc.get("externalId"),
            "active": active, "display_name": None, "given_name": name.get("givenName"),
            "family_name": name.get("familyName"), "data": doc, "password_hash": None,
            "version": version, "created_at": T0, "updated_at": T1, "deleted_at": deleted_at}


ROWS = {
    "organizations": [{"id": 1, "slug": "default", "name": "Default", "created_at": T0}],
    "roles": [{"id": 1, "tenant_id": 1, "name": "scim-provisioner", "created_at": T0}],
    "role_permissions": [{"role_id": 1, "action": "scim:provision", "scope": "tenant"}],
    "teams": [{"id": 1, "tenant_id": 1, "name": "idp", "created_at": T0},
              {"id": 2, "tenant_id": 1, "name": "employees", "created_at": T0}],
    "team_roles": [{"team_id": 1, "role_id": 1}],
    "api_keys": [
        {"id": 1, "tenant_id": 1, "team_id": 1, "name": "okta", "prefix": "0123456789ab",
         "secret_hash": hashlib.sha256(OLD_KEY.encode()).hexdigest(), "created_at": T0,
         "last_used_at": T1, "expires_at": None, "revoked_at": None},
        {"id": 2, "tenant_id": 1, "team_id": 1, "name": "old", "prefix": "ba9876543210",
         "secret_hash": "0" * 64, "created_at": T0, "last_used_at": None, "expires_at": None,
         "revoked_at": T1},
    ],
    "provisioning_settings": [{"tenant_id": 1, "assign_team_id": 2, "on_recreate": "restore",
                               "journal_reads": False}],
    "users": [
        _user(1, "2819c223-7f76-453a-919d-413861904646", BJENSEN, version=3),
        _user(2, "c3a1c7c0-5d43-4e5e-9b8f-1f0b8d1e2a01", JSMITH, active=False),
        _user(3, "9f1d2c3b-0000-4000-8000-00000000dead", GONE, deleted_at=T1, version=2),
    ],
    "user_values": [{"id": 1, "user_id": 1, "attr": "emails", "position": 0, "type": "work",
                     "primary": True, "value": "bjensen@example.com",
                     "value_norm": "bjensen@example.com", "display": None,
                     "item": BJENSEN["emails"][0]}],
    "team_members": [{"team_id": 2, "user_id": 1}, {"team_id": 2, "user_id": 2},
                     {"team_id": 2, "user_id": 3}],
    "audit_events": [
        {"id": 1, "tenant_id": 1, "at": T0, "request_id": "req-1", "api_key_id": 1,
         "api_key_name": "okta", "user_agent": "Okta SCIM Client 1.0.0", "method": "POST",
         "path": "/scim/v2/Users", "operation": "create",
         "target_user_id": "2819c223-7f76-453a-919d-413861904646",
         "target_user_name": "bjensen@example.com", "status": 201, "scim_type": None,
         "changes": {"userName": [None, "bjensen@example.com"]}},
        {"id": 2, "tenant_id": 1, "at": T1, "request_id": "req-2", "api_key_id": 1,
         "api_key_name": "okta", "user_agent": None, "method": "POST", "path": "/scim/v2/Users",
         "operation": "create", "target_user_id": None, "target_user_name": "BJENSEN@example.com",
         "status": 409, "scim_type": "uniqueness", "changes": None},
    ],
}


def _snapshot(connection) -> dict[str, list[tuple]]:
    """Every row of every 0001 table, over the columns 0001 had, in a stable order."""
    found = {}
    for name, table in R1.items():
        rows = connection.execute(sa.select(*table.c)).all()
        found[name] = sorted(tuple(row) for row in rows) if rows else []
    return found


def _expected() -> dict[str, list[tuple]]:
    return {name: sorted(tuple(row[c.name] for c in R1[name].c) for row in rows)
            for name, rows in ROWS.items()}


def _fill_first_revision(app) -> None:
    with app.app_context():
        assert database.upgrade(FIRST).after == FIRST
        with db.engine.begin() as connection:
            for name, rows in ROWS.items():
                connection.execute(sa.insert(R1[name]), rows)
            # Rows written with explicit ids: move the id sequences past them, as 0.1.0's were.
            for name in ("organizations", "roles", "teams", "api_keys", "users", "user_values",
                         "audit_events"):
                dialect.sync_id_sequence(connection, name)


def test_there_is_one_head_and_it_starts_at_the_first_revision():
    script = ScriptDirectory.from_config(database.alembic_config())
    assert len(script.get_heads()) == 1, f"several heads, merge them: {script.get_heads()}"
    assert script.get_bases() == [FIRST]


def test_models_and_head_agree(app):
    """A model changed without a revision makes this fail: write one with 'scimsvc db revision'."""
    with app.app_context():
        database.upgrade()
        assert database.current_revision() == database.head_revision()
        assert database.schema_drift() == []


def test_db_check_reports_a_schema_that_differs_from_the_models(app, admin):
    assert admin("db", "check").output == "The models and the database schema agree.\n"
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_users_tenant_external_id"))
    result = admin("db", "check", ok=False)
    assert result.exit_code == 1
    assert "ix_users_tenant_external_id" in result.output
    assert "write a revision" in result.output


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_username_index_is_unique_among_live_users_only(app, admin):
    with app.app_context():
        index = next(i for i in sa.inspect(db.engine).get_indexes("users")
                     if i["name"] == "uq_users_tenant_username")
    assert index["unique"] and index["column_names"] == ["tenant_id", "user_name_norm"]
    where = index["dialect_options"].get(f"{backend_name(app)}_where")
    assert "deleted_at is null" in str(where).lower().replace("(", "").replace(")", "")


def backend_name(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def test_upgrade_from_the_first_revision_keeps_users_keys_teams_and_audit(app):
    _fill_first_revision(app)
    with app.app_context():
        done = database.upgrade()
        assert (done.before, done.after) == (FIRST, database.head_revision())
        with db.engine.connect() as connection:
            assert _snapshot(connection) == _expected()
        assert database.schema_drift() == []

    # The upgraded service works on the old rows: the old key, the users, the unique index.
    scim = ScimClient(app.test_client(), OLD_KEY)
    bjensen = scim.get("Users/2819c223-7f76-453a-919d-413861904646")
    assert bjensen.status_code == 200, bjensen.get_data(as_text=True)
    body = bjensen.get_json()
    assert body["userName"] == "bjensen@example.com"
    assert body["emails"] == BJENSEN["emails"]
    assert body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == {
        "employeeNumber": "701984"}
    assert bjensen.headers["ETag"] == 'W/"3"'
    assert scim.get("Users/c3a1c7c0-5d43-4e5e-9b8f-1f0b8d1e2a01").get_json()["active"] is False
    assert scim.get("Users/9f1d2c3b-0000-4000-8000-00000000dead").status_code == 404
    duplicate = scim.post("Users", json={"userName": "BJensen@example.COM"})
    assert duplicate.status_code == 409
    assert scim.get("Users/2819c223-7f76-453a-919d-413861904646",
                    key="scimsvc_ba9876543210_" + "r" * 43).status_code == 401
    created = scim.post("Users", json={"userName": "new@example.com",
                                       "emails": [{"value": "newbie@example.org"}]})
    assert created.status_code == 201, created.get_data(as_text=True)
    # Whatever a revision derives from the old rows (indexes, counts) answers like the rows do.
    listed = scim.get("Users?count=10").get_json()
    assert listed["totalResults"] == 3
    assert sorted(u["userName"] for u in listed["Resources"]) == [
        "JSmith@Example.com", "bjensen@example.com", "new@example.com"]
    found = scim.get('Users?filter=emails.value%20co%20%22jensen%40example%22').get_json()
    assert [u["id"] for u in found["Resources"]] == ["2819c223-7f76-453a-919d-413861904646"]
    by_family = scim.get('Users?filter=name.familyName%20sw%20%22jen%22').get_json()
    assert by_family["totalResults"] == 1
    # ... and keeps following writes (a table rebuild on SQLite drops the table's triggers).
    found = scim.get('Users?filter=emails.value%20co%20%22newbie%40exa%22').get_json()
    assert [u["userName"] for u in found["Resources"]] == ["new@example.com"]
    assert scim.delete("Users/c3a1c7c0-5d43-4e5e-9b8f-1f0b8d1e2a01").status_code == 204
    assert scim.get("Users?count=0").get_json()["totalResults"] == 2


def test_a_database_made_before_alembic_is_adopted_and_upgraded(app):
    """0.1.0 built its tables with create_all and kept no version: init records 0001 and upgrades."""
    _fill_first_revision(app)
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE {database.VERSION_TABLE}"))
    with app.app_context():
        assert database.current_revision() is None
    result = Admin(app)("init")
    assert "Organization 'default' already exists." in result.output
    with app.app_context():
        assert database.current_revision() == database.head_revision()
        with db.engine.connect() as connection:
            assert _snapshot(connection) == _expected()


def test_downgrade_to_nothing_and_upgrade_again(app):
    with app.app_context():
        database.upgrade()
        config = database.alembic_config()
        from alembic import command

        with migrate.migration_connection(db.engine) as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        with db.engine.connect() as connection:
            assert set(sa.inspect(connection).get_table_names()) <= {database.VERSION_TABLE}
        assert database.current_revision() is None
        assert database.upgrade().after == database.head_revision()
        assert database.schema_drift() == []


def test_init_and_db_commands_are_idempotent(admin):
    # The admin fixture ran init once already.
    again = admin("init")
    assert "Organization 'default' already exists." in again.output
    head = admin("db", "current").output.strip()
    assert head.endswith("(head)")
    assert admin("db", "upgrade").output == f"Database already at {head.split()[0]}.\n"


def test_db_current_on_an_empty_database_says_how_to_initialise_and_fails(app, database_url):
    create_empty_database(database_url)
    result = Admin(app)("db", "current", ok=False)
    assert result.exit_code == 1
    assert result.output.startswith("Database not initialised")
    assert "scimsvc db upgrade" in result.output
    assert json.loads(Admin(app)("db", "current", "--json", ok=False).output)["current"] is None


def test_db_current_behind_the_code_keeps_its_text_and_fails(app):
    with app.app_context():
        database.upgrade("0001")
    head = database.head_revision()
    if head == "0001":
        pytest.skip("only one revision exists")
    result = Admin(app)("db", "current", ok=False)
    assert (result.exit_code, result.output) == (1, f"0001 (head is {head}: run 'scimsvc db upgrade')\n")
    assert json.loads(Admin(app)("db", "current", "--json", ok=False).output)["up_to_date"] is False


def test_db_current_at_head_exits_0(admin):
    result = admin("db", "current")
    assert (result.exit_code, result.output) == (0, f"{database.head_revision()} (head)\n")


def test_concurrent_upgrades_apply_each_revision_once(app):
    """Several hosts may run 'scimsvc init' at once: the migration lock queues them."""
    results, errors = [], []
    barrier = threading.Barrier(3)

    def upgrade():
        try:
            with app.app_context():
                barrier.wait()
                results.append(database.upgrade())
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.changed for r in results) == [False, False, True]
    with app.app_context():
        assert database.current_revision() == database.head_revision()


@pytest.mark.skipif(is_postgres(), reason="SQLite only: table rebuilds are how SQLite alters")
def test_sqlite_table_rebuild_keeps_rows_that_reference_the_table(app):
    """Dropping the old copy of a table with foreign keys on would cascade into its references."""
    _fill_first_revision(app)
    with app.app_context():
        with migrate.migration_connection(db.engine) as connection:
            operations = Operations(MigrationContext.configure(connection))
            with operations.batch_alter_table("users", recreate="always"):
                pass
        with db.engine.connect() as connection:
            assert _snapshot(connection) == _expected()
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_database_upgraded_by_a_newer_scimsvc_is_refused_in_one_line(app, admin):
    """Going back to an older scimsvc after an upgrade: say so, change nothing."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {database.VERSION_TABLE} SET version_num = '0999'"))
    for command_line in (("db", "upgrade"), ("init",)):
        result = admin(*command_line, ok=False)
        assert result.exit_code == 1
        assert result.output.startswith("Error: The database is at revision 0999, which this "
                                        "scimsvc does not know")
        assert "newer scimsvc upgraded it" in result.output
    ahead = admin("db", "current", ok=False)
    assert ahead.exit_code == 1 and "(unknown here)" in ahead.output
    assert json.loads(admin("db", "current", "--json", ok=False).output)["known"] is False
    with app.app_context():
        assert database.current_revision() == "0999"


def test_an_unknown_target_revision_is_refused_in_one_line(admin):
    result = admin("db", "upgrade", "--revision", "nonsense", ok=False)
    assert result.exit_code == 1
    assert result.output == (f"Error: Unknown revision 'nonsense': this scimsvc ships "
                             f"{', '.join(database.known_revisions())}.\n")


def test_db_revision_writes_the_missing_change_and_upgrading_applies_it(app, admin, tmp_path,
                                                                       monkeypatch):
    """The developer tool, on a copy of the migrations: the database lacks an index the models have."""
    import shutil

    copy = tmp_path / "migrations"
    shutil.copytree(database.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    real = database.alembic_config

    def config_for_the_copy():
        config = real()
        config.set_main_option("script_location", str(copy))
        return config

    monkeypatch.setattr(database, "alembic_config", config_for_the_copy)
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_users_tenant_external_id"))
    head = database.head_revision()
    written = admin("db", "revision", "-m", "Restore the externalId index").output.strip().splitlines()[-1]
    expected_id = f"{int(head) + 1:04d}"
    assert written.startswith(str(copy / "versions" / expected_id))
    source = open(written).read()
    assert "ix_users_tenant_external_id" in source and f"down_revision = '{head}'" in source
    assert admin("db", "upgrade").output == f"Database upgraded from {head} to {expected_id}.\n"
    assert admin("db", "check").output == "The models and the database schema agree.\n"
    refused = admin("db", "revision", "-m", "again", ok=False)
    assert refused.output == "Error: The models and the schema agree: there is nothing to write.\n"


def test_0009_gives_existing_users_the_scim_source_and_downgrades_without_losing_them(app):
    """Revision 0009 adds users.source in place ('scim' for every user there is) and the Google
    tables; its downgrade drops them and keeps the users."""
    _fill_first_revision(app)
    with app.app_context():
        database.upgrade()
        with db.engine.connect() as connection:
            sources = connection.exec_driver_sql("SELECT source, count(*) FROM users GROUP BY source")
            assert [tuple(row) for row in sources] == [("scim", 3)]
        from alembic import command

        config = database.alembic_config()
        with migrate.migration_connection(db.engine) as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
        with db.engine.connect() as connection:
            inspector = sa.inspect(connection)
            assert "source" not in {c["name"] for c in inspector.get_columns("users")}
            assert not {"google_connections", "google_sync_runs"} & set(inspector.get_table_names())
            assert _snapshot(connection) == _expected()
        assert database.upgrade().after == database.head_revision()
        assert database.schema_drift() == []
