"""scimsvc provisioning assign-team / show / set, and team assignment on SCIM create."""
from __future__ import annotations

import json

from tests.cli import assert_fails
from tests.conftest import make_user


def _members(admin, team: str) -> list[str]:
    return [m["userName"] for m in json.loads(admin("team", "show", team, "--json").stdout)["members"]]


def test_show_defaults(admin):
    assert admin("provisioning", "show").stdout == (
        "Team assignment: off\n"
        "On re-create:    restore\n"
        "Journal reads:   off\n"
    )
    assert json.loads(admin("provisioning", "show", "--json").stdout) == {
        "assignTeam": None, "onRecreate": "restore", "journalReads": False,
    }


def test_assign_team_then_off(admin):
    admin("team", "create", "employees")
    assert admin("provisioning", "assign-team", "employees").stdout == (
        "Users created over SCIM will join team 'employees'.\n")
    assert admin("provisioning", "show").stdout.splitlines()[0] == "Team assignment: employees"
    assert json.loads(admin("provisioning", "show", "--json").stdout)["assignTeam"] == "employees"
    assert admin("provisioning", "assign-team", "--off").stdout == "Team assignment is off.\n"
    assert json.loads(admin("provisioning", "show", "--json").stdout)["assignTeam"] is None


def test_assign_team_mistakes(admin):
    assert_fails(admin("provisioning", "assign-team", "nope", ok=False), "No team 'nope'.")
    for args in ((), ("employees", "--off")):
        result = admin("provisioning", "assign-team", *args, ok=False)
        assert result.exit_code == 2
        assert result.output.endswith("Error: Give a TEAM, or --off.\n")


def test_set(admin):
    result = admin("provisioning", "set", "--on-recreate", "new", "--journal-reads")
    assert result.stdout == "onRecreate=new journalReads=true\n"
    assert json.loads(admin("provisioning", "show", "--json").stdout) == {
        "assignTeam": None, "onRecreate": "new", "journalReads": True,
    }
    assert admin("provisioning", "set", ok=False).exit_code == 2


def test_user_created_over_scim_joins_the_assigned_team(admin, scim):
    admin("team", "create", "employees")
    admin("provisioning", "assign-team", "employees")
    alice = make_user(scim, "alice@example.com")
    assert _members(admin, "employees") == ["alice@example.com"]
    # The key's own team is not where users land.
    assert _members(admin, "idp") == []
    assert json.loads(admin("team", "show", "employees", "--json").stdout)["members"][0]["id"] == alice["id"]


def test_with_assignment_off_users_join_no_team(admin, scim):
    admin("team", "create", "employees")
    admin("provisioning", "assign-team", "employees")
    make_user(scim, "alice@example.com")
    admin("provisioning", "assign-team", "--off")
    make_user(scim, "bob@example.com")
    assert _members(admin, "employees") == ["alice@example.com"]  # alice stays, bob never joined
    assert _members(admin, "idp") == []


def test_failed_create_adds_nobody_to_the_team(admin, scim):
    admin("team", "create", "employees")
    admin("provisioning", "assign-team", "employees")
    make_user(scim, "alice@example.com")
    assert scim.post("Users", json={"userName": "ALICE@example.com"}).status_code == 409
    assert _members(admin, "employees") == ["alice@example.com"]
