"""What every command shares: the app and organization (State), writers, errors as one-line messages."""
from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

import click
from flask import Flask
from sqlalchemy.exc import DBAPIError

from scimsvc import __version__, create_app
from scimsvc.config import ConfigError
from scimsvc.database.transactions import writing
from scimsvc.errors import NotFound, ScimsvcError
from scimsvc.services import audit
from scimsvc.services.organizations import get_organization


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
    """Begin a command's transactions as writers (on SQLite: BEGIN IMMEDIATE), journaled as ``cli``.

    A transaction that reads and then writes cannot wait for a busy server: once
    another writer commits, SQLite refuses the upgrade at once ("database is
    locked"). Taking the write lock first makes the command wait its turn.
    While it runs, the audit context is the command's (``journaled``).
    """
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        with writing(), journaled():
            return command(*args, **kwargs)

    return run  # type: ignore[return-value]


@contextlib.contextmanager
def journaled() -> Iterator[None]:
    """Bind the audit context of the running command: actor ``cli``, path its name (no arguments).

    A service that journals (``audit.record``) then writes the command's events
    as it writes a request's; the previous context comes back afterwards.
    """
    previous = audit.current()
    names = []
    ctx = click.get_current_context(silent=True)
    while ctx is not None and ctx.parent is not None:  # the root's name is however it was run
        names.append(ctx.info_name)
        ctx = ctx.parent
    command = " ".join(["scimsvc", *reversed(names)])
    audit.bind(audit.cli_context(command, f"scimsvc/{__version__} (cli)"))
    try:
        yield
    finally:
        audit.bind(previous)


@contextlib.contextmanager
def cli_actor(state: State, operation: str) -> Iterator[audit.RequestContext]:
    """``journaled()`` for a command that acts on one user as the SCIM operation ``operation``.

    The same audit records the SCIM operations write (services.audit.record), with
    method ``CLI``, path the command (never its arguments, which may be personal
    values) and apiKey name ``cli``, in the command's organization.
    """
    with journaled():
        context = audit.current()
        context.tenant_id, context.operation = state.tenant_id, operation
        yield context
