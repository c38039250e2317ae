"""Teams: the roles they hold, and the users (members) who inherit them."""
from __future__ import annotations

from sqlalchemy import select

from ..database.transactions import write_transaction
from ..errors import Conflict, NotFound
from ..extensions import db
from ..models import Team
from .names import clean_name
from . import events
from .roles import get_role


def create_team(tenant_id: int, name: str, role_names: list[str]) -> Team:
    """Create a team holding the roles ``role_names``.

    Raises InvalidValue for an empty name, NotFound for an unknown role, Conflict for a duplicate.
    """
    name = clean_name(name, "A team")
    with write_transaction():
        # In name order, as the relationship loads them, so output is the same before and after.
        roles = sorted((get_role(tenant_id, r) for r in dict.fromkeys(role_names)),
                       key=lambda r: r.name)
        if _find(tenant_id, name) is not None:
            raise Conflict(f"Team '{name}' already exists.")
        team = Team(tenant_id=tenant_id, name=name, roles=roles)
        db.session.add(team)
    return team


def _find(tenant_id: int, name: str) -> Team | None:
    return db.session.scalar(select(Team).where(Team.tenant_id == tenant_id, Team.name == name))


def get_team(tenant_id: int, name: str) -> Team:
    """Return the tenant's team called ``name``; raise NotFound if there is none."""
    team = _find(tenant_id, name)
    if team is None:
        raise NotFound(f"No team '{name}'.")
    return team


def list_teams(tenant_id: int) -> list[Team]:
    """Return the tenant's teams in name order."""
    return list(db.session.scalars(select(Team).where(Team.tenant_id == tenant_id).order_by(Team.name)))


def add_role(tenant_id: int, team_name: str, role_name: str) -> Team:
    """Grant a role to a team; raise NotFound for either name, Conflict if it already holds it."""
    with write_transaction() as connection:
        team = get_team(tenant_id, team_name)
        role = get_role(tenant_id, role_name)
        if role in team.roles:
            raise Conflict(f"Team '{team.name}' already has role '{role.name}'.")
        members = events.members_of_teams(connection, [team.id])
        before = events.standing_before(connection, members)
        team.roles.append(role)
        team.roles.sort(key=lambda r: r.name)
        events.access_changed(connection, tenant_id, members, before=before)
    return team


def remove_role(tenant_id: int, team_name: str, role_name: str) -> Team:
    """Take a role from a team; its keys and members lose the role's permissions at once."""
    with write_transaction() as connection:
        team = get_team(tenant_id, team_name)
        role = get_role(tenant_id, role_name)
        if role not in team.roles:
            raise NotFound(f"Team '{team.name}' does not have role '{role.name}'.")
        members = events.members_of_teams(connection, [team.id])
        before = events.standing_before(connection, members)
        team.roles.remove(role)
        events.access_changed(connection, tenant_id, members, before=before)
    return team


def delete_team(tenant_id: int, name: str) -> None:
    """Delete a team; its API keys go with it and its members leave it (they stay users)."""
    with write_transaction() as connection:
        team = get_team(tenant_id, name)
        members = events.members_of_teams(connection, [team.id])
        before = events.standing_before(connection, members)
        db.session.delete(team)
        events.access_changed(connection, tenant_id, members, before=before)
