"""``scimsvc org``: organizations (tenants)."""
from __future__ import annotations

import click

from scimsvc.services import organizations

from .context import writes
from .output import json_option, listing, when


@click.group(short_help="Create and list organizations (tenants).")
def org() -> None:
    """Organizations (tenants). One is the usual self-hosted case."""


@org.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
@writes
def org_create(slug: str, name: str | None) -> None:
    """Create an organization."""
    created = organizations.create_organization(slug, name)
    click.echo(f"Organization '{created.slug}' created.")


@org.command("list")
@json_option
def org_list(as_json: bool) -> None:
    """List organizations."""
    listing(as_json, organizations.list_organizations(),
            lambda o: {"slug": o.slug, "name": o.name, "created": when(o.created_at)},
            ["slug", "name", "created"], lambda o: (o.slug, o.name, when(o.created_at)))
