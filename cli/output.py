"""How the CLI prints: aligned tables for people, JSON for scripts, chatter to stderr."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

import click


def when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    rows = [["-" if v is None or v == "" else str(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip())
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        click.echo(f"{(key + ':').ljust(width + 1)} {'-' if value in (None, '') else value}")


def note(message: str) -> None:
    click.echo(message, err=True)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def listing(as_json: bool, items: Iterable[Any], as_dict: Callable[[Any], Any],
            headers: Sequence[str], as_row: Callable[[Any], Sequence[Any]]) -> None:
    """Print ``items`` as JSON (each through ``as_dict``) for scripts, else as a table for people."""
    if as_json:
        emit_json([as_dict(item) for item in items])
    else:
        table(headers, [as_row(item) for item in items])
