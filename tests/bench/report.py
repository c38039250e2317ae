"""Render ``make bench`` JSON summaries as the Markdown tables of docs/performance.md.

    python -m tests.bench.report bench-results/bench-10000.json [more.json ...]

Every figure is copied from the summary as measured (medians of the repeats);
nothing is rounded beyond the shown precision.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

PHASES = ("seed", "lookup", "get", "decision", "patch", "put", "list", "search-co", "search-sw")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "–"


def paired_ratios(summary: dict[str, Any], phase: str) -> tuple[float, float] | None:
    """(req/s, CPU per request) of ``phase`` over the ceiling, repeat by repeat.

    The ceiling's repeats run right after each repeat of lookup, then of get
    (``run.py``); each of those repeats is divided by the ceiling's repeat beside it,
    and the median of the quotients returned. None when the run did not interleave.
    """
    from tests.bench.run import CEILING_BESIDE

    ceiling = summary["ceiling"]
    if not ceiling.get("interleaved") or phase not in CEILING_BESIDE:
        return None
    ran = [name for name in CEILING_BESIDE if name in summary["scimsvc"]]
    theirs = ceiling["get"]["all"]
    if phase not in ran or len(theirs) != sum(len(summary["scimsvc"][n]["all"]) for n in ran):
        return None
    start = sum(len(summary["scimsvc"][n]["all"]) for n in ran[:ran.index(phase)])
    ours = summary["scimsvc"][phase]["all"]
    beside = theirs[start:start + len(ours)]
    rate = statistics.median(o["rps"] / c["rps"] for o, c in zip(ours, beside))
    cpu = statistics.median(o["server_cpu_ms_per_req"] / c["server_cpu_ms_per_req"]
                            for o, c in zip(ours, beside))
    return rate, cpu


def render(summary: dict[str, Any]) -> str:
    ours, ceiling, peer = summary["scimsvc"], summary["ceiling"]["get"], summary.get("peer") or {}
    env = summary["environment_before"]
    lines = [
        f"### {'PostgreSQL, ' if summary['args'].get('db') else ''}{summary['users']:,} users",
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
        paired = paired_ratios(summary, phase)
        rate, cpu = ((f"{paired[0]:.2f}", f"{paired[1]:.2f}") if paired else
                     (_ratio(f['rps'], ceiling['rps']),
                      _ratio(f['server_cpu_ms_per_req'], ceiling['server_cpu_ms_per_req'])))
        lines.append(
            f"| {phase} | {f['ops']:.0f} | {f['rps']:.1f} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} "
            f"| {f['errors']} | {f['server_cpu_ms_per_req']:.3f} | {f['server_peak_rss_mb']:.1f} "
            f"| {rate} | {cpu} "
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
                f"distinct users seen (medians of {walk['repeats']} walks)."
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


def _yes(ok: bool) -> str:
    return "met" if ok else "**missed**"


def targets(runs: dict[int, dict[str, Any]]) -> str:
    """The issue's targets, each with the measured figures and whether they meet it."""
    rows = []
    for n, run in sorted(runs.items()):
        ours, ceiling = run["scimsvc"], run["ceiling"]["get"]
        for phase in ("get", "lookup"):
            f = ours[phase]
            rate, cpu = paired_ratios(run, phase) or (
                f["rps"] / ceiling["rps"], f["server_cpu_ms_per_req"] / ceiling["server_cpu_ms_per_req"])
            # Two halves: the rate (what the issue states first) and the CPU per request.
            verdict = f"req/s {_yes(rate >= 0.5)}, CPU {_yes(cpu <= 2.0)}"
            rows.append((f"{phase} ≥ 0.5× ceiling req/s (≤ ~2× its CPU), {n:,} users",
                         f"{rate:.2f}× req/s, {cpu:.2f}× CPU", verdict))
    if 10_000 in runs and 1_000_000 in runs:
        small, large = runs[10_000]["scimsvc"]["lookup"], runs[1_000_000]["scimsvc"]["lookup"]
        ratio = large["p50_ms"] / small["p50_ms"]
        rows.append(("lookup latency at 1M ≤ 1.3× at 10k",
                     f"p50 {large['p50_ms']:.2f} vs {small['p50_ms']:.2f} ms = {ratio:.2f}×; CPU "
                     f"{large['server_cpu_ms_per_req']:.3f} vs {small['server_cpu_ms_per_req']:.3f} ms",
                     _yes(ratio <= 1.3)))
    for n, run in sorted(runs.items()):
        walk = run["scimsvc"]["list"]
        if "server_page_ms_max" in walk:
            # Outliers over every walk, not the median walk: "every page" is the target.
            over = sum(r.get("server_pages_over_20ms", 0) for r in walk["all"])
            slowest = max(r.get("server_page_ms_max", 0) for r in walk["all"])
            pages = sum(r["pages"] for r in walk["all"])
            rows.append((f"every list page ≤ 20 ms server time, {n:,} users",
                         f"median {walk['server_page_ms_p50']:.1f} ms, last pages "
                         f"{walk['server_last_pages_ms']:.1f} ms; over {len(walk['all'])} walks "
                         f"slowest {slowest:.1f} ms, {over} of {pages} pages over 20 ms",
                         _yes(over == 0)))
    if 100_000 in runs:
        walk = runs[100_000]["scimsvc"]["list"]
        rows.append(("complete walk of 100,000 users < 60 s", f"{walk['walk_seconds']:.1f} s "
                     f"({walk['pages']:.0f} pages, {walk['distinct_users']:.0f} users)",
                     _yes(walk["walk_seconds"] < 60 and walk.get("full_walk", False))))
        for phase in ("search-co", "search-sw"):
            f = runs[100_000]["scimsvc"][phase]
            rows.append((f"{phase[7:]} search ≤ 50 ms at 100,000 users",
                         f"p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms (4 clients), "
                         f"{f['server_cpu_ms_per_req']:.1f} ms server CPU", _yes(f["p99_ms"] <= 50)))
    for n, run in sorted(runs.items()):
        peer = run.get("peer")
        for phase in ("seed", "patch"):
            f = run["scimsvc"][phase]
            line = f"{f['rps']:.1f} req/s, {f['errors']} errors"
            ok = f["errors"] == 0
            if peer and phase in peer:
                ratio = f["rps"] / peer[phase]["rps"]
                line += f"; scim2-server {peer[phase]['rps']:.1f} req/s = {ratio:.2f}×"
                ok = ok and ratio >= 2.5
            rows.append((f"{phase} ≥ 2.5× scim2-server, 0 errors from 16 writers, {n:,} users",
                         line, _yes(ok) if peer else ("0 errors" if f["errors"] == 0 else "**errors**")))
        locked = run["scimsvc"].get("database_is_locked_in_log")
        if locked is not None:
            rows.append((f"no \"database is locked\" reaches a client, {n:,} users",
                         f"{locked} in the server log, {run['scimsvc'].get('tracebacks_in_log', 0)} "
                         f"tracebacks", _yes(locked == 0)))
    if 10_000 in runs and 1_000_000 in runs:
        small = max(f["server_peak_rss_mb"] for f in runs[10_000]["scimsvc"].values()
                    if isinstance(f, dict) and "server_peak_rss_mb" in f)
        large = max(f["server_peak_rss_mb"] for f in runs[1_000_000]["scimsvc"].values()
                    if isinstance(f, dict) and "server_peak_rss_mb" in f)
        rows.append(("worker RSS at 1M ≤ 1.2× at 10k", f"peak {large:.1f} vs {small:.1f} MB = "
                     f"{large / small:.2f}×", _yes(large / small <= 1.2)))
    out = ["| target | measured | |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out) + "\n"


def main(paths: list[str]) -> None:
    runs = {}
    for path in paths:
        summary = json.loads(Path(path).read_text())
        print(render(summary))
        # The targets are set on the default database (SQLite); a PostgreSQL run of the same
        # size is shown above but must not replace it.
        if not summary["args"].get("db"):
            runs[summary["users"]] = summary
    print(targets(runs))


if __name__ == "__main__":
    main(sys.argv[1:])
