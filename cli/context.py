"""What every command shares: the app and organization (State), writers, errors as one-line messages."""
from __future__ import annotations

import contextlib
import functools
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

import click
from flask import Flask
from sqlalchemy.exc import DBAPIError

from scimsvc import create_app
from scimsvc.config import ConfigError
from scimsvc.database.transactions import writing
from scimsvc.errors import NotFound, ScimsvcError
from scimsvc.services import audit
from scimsvc.services.organizations import get_organization

# How the journal names a change made from the command line (its apiKey name and method).
CLI_ACTOR = "cli"


@dataclass
class State:
    """What every command needs: the app (built once) and the organization to act on."""

    app: Flask | None = None
    org: str | None = None
    _tenant_id: int | None = field(default=None, repr=False)

    def ensure_app(self) -> Flask:
        if self.app is None:
            self.app = create_app()
        return self.app

    @property
    def tenant_id(self) -> int:
        if self._tenant_id is None:
            try:
                self._tenant_id = get_organization(self.org_slug).id
            except NotFound as error:
                raise click.ClickException(
                    f"{error.detail} Run 'scimsvc init' or 'scimsvc org create {self.org_slug}'."
                ) from None
        return self._tenant_id

    @property
    def org_slug(self) -> str:
        return self.org or self.ensure_app().config["SCIMSVC_DEFAULT_ORG"]


pass_state = click.make_pass_decorator(State, ensure=True)


class AdminGroup(click.Group):
    """A group whose commands report mistakes in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScimsvcError as error:
            raise click.ClickException(error.detail) from None
        except ConfigError as error:
            raise click.ClickException(f"Configuration: {error}") from None
        except DBAPIError as error:
            text = str(error.orig).strip().splitlines()[0]
            # SQLite, then PostgreSQL: the tables are missing (not the database itself).
            if "no such table" in text or re.match(r'relation ".*" does not exist', text):
                raise click.ClickException(
                    "The database is not initialised: run 'scimsvc init' first."
                ) from None
            raise click.ClickException(f"Database error: {text}") from None


F = TypeVar("F", bound=Callable[..., Any])


def writes(command: F) -> F:
    """Begin a command's transactions as writers (on SQLite: BEGIN IMMEDIATE).

    A transaction that reads and then writes cannot wait for a busy server: once
    another writer commits, SQLite refuses the upgrade at once ("database is
    locked"). Taking the write lock first makes the command wait its turn.
    """
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        with writing():
            return command(*args, **kwargs)

    return run  # type: ignore[return-value]


@contextlib.contextmanager
def cli_actor(state: State, operation: str) -> Iterator[audit.RequestContext]:
    """Journal the block's writes as the CLI's: actor ``cli``, the command as the path.

    The same audit records the SCIM operations write (services.audit.record), with
    method ``CLI``, path the command (``scimsvc user disable``; never its arguments,
    which may be personal values) and apiKey name ``cli``. A minimal binding for the
    ``user`` commands; the generic CLI audit context of the team commands replaces it
    at merge.
    """
    context = audit.RequestContext(
        request_id=uuid.uuid4().hex, method="CLI",
        path=click.get_current_context().command_path, operation=operation,
        user_agent=f"scimsvc {CLI_ACTOR}", tenant_id=state.tenant_id, api_key_name=CLI_ACTOR)
    audit.bind(context)
    try:
        yield context
    finally:
        audit.bind(None)
