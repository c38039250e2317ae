"""Render ``make bench`` JSON summaries as the Markdown tables of docs/performance.md.

    python -m tests.bench.report bench-results/bench-10000.json [more.json ...]

Every figure is copied from the summary as measured (medians of the repeats);
nothing is rounded beyond the shown precision.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PHASES = ("seed", "lookup", "get", "patch", "put", "list", "search-co", "search-sw")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "–"


def render(summary: dict[str, Any]) -> str:
    ours, ceiling, peer = summary["scimsvc"], summary["ceiling"]["get"], summary.get("peer") or {}
    env = summary["environment_before"]
    lines = [
        f"### {summary['users']:,} users",
        "",
        f"Run at {env['utc']} (git {env['git_head']}), load average before "
        f"{', '.join(f'{x:.2f}' for x in env['loadavg'])}, after "
        f"{', '.join(f'{x:.2f}' for x in summary['environment_after']['loadavg'])}. "
        f"Ceiling (constant {summary['ceiling']['body_bytes']}-byte user, same gunicorn): "
        f"**{ceiling['rps']:.0f} req/s**, {ceiling['server_cpu_ms_per_req']:.3f} ms server CPU "
        f"per request, p50 {ceiling['p50_ms']:.2f} ms.",
        "",
        "| phase | ops | req/s | p50 ms | p99 ms | errors | server CPU ms/req | peak RSS MB "
        "| req/s ÷ ceiling | CPU ÷ ceiling | scim2-server req/s | its CPU ms/req | req/s ÷ peer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in PHASES:
        f = ours.get(phase)
        if not f:
            continue
        p = peer.get(phase) or {}
        lines.append(
            f"| {phase} | {f['ops']:.0f} | {f['rps']:.1f} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} "
            f"| {f['errors']} | {f['server_cpu_ms_per_req']:.3f} | {f['server_peak_rss_mb']:.1f} "
            f"| {_ratio(f['rps'], ceiling['rps'])} "
            f"| {_ratio(f['server_cpu_ms_per_req'], ceiling['server_cpu_ms_per_req'])} "
            + (f"| {p['rps']:.1f} | {p['server_cpu_ms_per_req']:.3f} | {_ratio(f['rps'], p['rps'])} |"
               if p else "| – | – | – |"))
    lines.append("")
    for name, figures in (("scimsvc", ours), ("scim2-server", peer)):
        walk = figures.get("list") if figures else None
        if walk:
            kind = "every page" if walk.get("full_walk") else "pages sampled at 5 depths"
            lines.append(
                f"- {name} list ({kind}, count=100, one client): {walk['pages']:.0f} pages in "
                f"{walk['walk_seconds']:.1f} s, first pages {walk['first_pages_ms']:.1f} ms, last "
                f"pages {walk['last_pages_ms']:.1f} ms, slowest {walk['slowest_page_ms']:.1f} ms, "
                f"{walk['pages_over_20ms']:.0f} pages over 20 ms, {walk['distinct_users']:.0f} "
                f"distinct users seen."
                + (f" Inside the server (request log): median {walk['server_page_ms_p50']:.1f} ms, "
                   f"first pages {walk['server_first_pages_ms']:.1f} ms, last pages "
                   f"{walk['server_last_pages_ms']:.1f} ms, slowest {walk['server_page_ms_max']:.1f} ms, "
                   f"{walk['server_pages_over_20ms']:.0f} over 20 ms."
                   if "server_page_ms_p50" in walk else ""))
    if "database_is_locked_in_log" in ours:
        lines.append(f"- scimsvc's server log: {ours['database_is_locked_in_log']} \"database is "
                     f"locked\", {ours['tracebacks_in_log']} tracebacks.")
    lines.append(f"- Worker RSS after the run: scimsvc {ours.get('rss_after_mb', 0):.1f} MB"
                 + (f", scim2-server {peer.get('rss_after_mb', 0):.1f} MB." if peer else "."))
    busy = [p for p in env.get("top_processes", [])[1:4]]
    if busy:
        lines.append("- Busiest processes when the run started: " + "; ".join(
            f"`{p[:90]}`" for p in busy) + ".")
    return "\n".join(lines) + "\n"


def main(paths: list[str]) -> None:
    for path in paths:
        print(render(json.loads(Path(path).read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
