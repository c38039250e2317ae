"""Tests of the ``scimsvc`` admin commands, run through the real click group."""
from __future__ import annotations

from click.testing import Result


def assert_fails(result: Result, message: str, exit_code: int = 1) -> None:
    """Assert a command failed the way a person should see it: one line, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert result.output == f"Error: {message}\n"
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception
