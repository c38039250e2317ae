"""``make bench``: drive a real ``scimsvc serve`` over loopback and report each phase.

    python -m tests.bench.run --users 10000 [--db URL] [--peer] [--repeat 3] [--out FILE]

Starts ``scimsvc serve`` (gunicorn, 2 workers) on a fresh database in a
temporary folder, set up with the README's admin steps through the console
script; seeds it; then runs the phases (lookup, get, patch, put, list,
search) with concurrent loopback clients, each repeated and reported as the
median of its repeats. The same get phase against the ceiling app
(``tests/bench/ceiling.py``) gives the ratio column; ``--peer`` runs the
phases against python-scim's scim2-server (installed into its own venv, never
a scimsvc dependency) for a side-by-side line. Every loop is bounded in count
and time; nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from . import bodies, load, servers
from .load import LoadGenerator, Request, Result
from .servers import ROOT, Server

PHASES = ("seed", "lookup", "get", "decision", "patch", "put", "list", "search-co", "search-sw")
WARM_UP = 40  # requests sent before a phase's measured repeats, not counted


# --- measuring ------------------------------------------------------------------------

def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(server: Server, send: Callable[[], Result], ok: set[int]) -> dict[str, Any]:
    """Run one repeat of a phase and return its figures (server CPU from /proc, peak RSS reset first)."""
    server.reset_peak_rss()
    cpu = server.cpu_seconds()
    result = send()
    cpu = server.cpu_seconds() - cpu
    ops = result.ops
    errors = sum(n for status, n in result.statuses.items() if status not in ok)
    return {
        "ops": ops,
        "seconds": round(result.wall, 3),
        "rps": round(ops / result.wall, 1) if result.wall else 0.0,
        "p50_ms": _ms(_percentile(result.latencies, 0.50)),
        "p99_ms": _ms(_percentile(result.latencies, 0.99)),
        "max_ms": _ms(max(result.latencies, default=0.0)),
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "error_samples": result.errors[:5],
        "server_cpu_ms_per_req": _ms(cpu / ops) if ops else 0.0,
        "client_cpu_ms_per_req": _ms(result.client_cpu / ops) if ops else 0.0,
        "server_peak_rss_mb": round(server.peak_rss_mb(), 1),
        "_result": result,
    }


def median_of(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over a phase's repeats (errors are summed: any error counts)."""
    out: dict[str, Any] = {"repeats": len(repeats)}
    for key in ("ops", "seconds", "rps", "p50_ms", "p99_ms", "max_ms", "server_cpu_ms_per_req",
                "client_cpu_ms_per_req", "server_peak_rss_mb"):
        out[key] = round(statistics.median(r[key] for r in repeats), 3)
    out["errors"] = sum(r["errors"] for r in repeats)
    out["error_samples"] = [s for r in repeats for s in r["error_samples"]][:5]
    for extra in ("first_pages_ms", "last_pages_ms", "slowest_page_ms", "walk_seconds",
                  "pages", "distinct_users", "pages_over_20ms", "server_page_ms_p50",
                  "server_page_ms_max", "server_first_pages_ms", "server_last_pages_ms",
                  "server_pages_over_20ms"):
        if extra in repeats[0]:
            out[extra] = round(statistics.median(r[extra] for r in repeats), 3)
    out["all"] = [{k: v for k, v in r.items() if not k.startswith("_")} for r in repeats]
    return out


# --- the directory under test -----------------------------------------------------------

class Target:
    """One server under test and what the harness knows about its users (index -> SCIM id)."""

    def __init__(self, server: Server, ids: dict[int, str]):
        self.server = server
        self.ids = ids

    @property
    def prefix(self) -> str:
        return self.server.prefix

    def run(self, gen: LoadGenerator, requests: list[Request], **kw) -> Result:
        return gen.run(servers.HOST, self.server.port, self.server.headers, requests, **kw)


def _index_of(user_name: str) -> int:
    return int(re.search(r"(\d+)@", user_name).group(1))


def http_seed(target: Target, gen: LoadGenerator, start: int, count: int,
              concurrency: int) -> dict[str, Any]:
    """POST users ``start``..``start+count-1`` with ``concurrency`` writers; remember their ids."""
    requests = [load.send_json("POST", f"{target.prefix}/Users", bodies.create_body(i), tag=i)
                for i in range(start, start + count)]
    figures = measure(target.server,
                      lambda: target.run(gen, requests, concurrency=concurrency, keep_bodies=True,
                                         max_seconds=3600),
                      ok={201})
    for tag, status, body in figures["_result"].bodies:
        if status == 201:
            target.ids[tag] = json.loads(body)["id"]
    figures["_result"] = None
    return figures


# --- the phases ---------------------------------------------------------------------------

def _sample(target: Target, rng: random.Random, count: int, parity: int | None = None) -> list[int]:
    pool = [i for i in target.ids if parity is None or i % 2 == parity]
    return [rng.choice(pool) for _ in range(count)]


def lookup_requests(t: Target, rng: random.Random, n: int) -> list[Request]:
    return [load.get(f"{t.prefix}/Users" + load.filter_query(
                f'userName eq "{bodies.person(i)["email"]}"'), expect=b'"totalResults":1')
            for i in _sample(t, rng, n)]


def get_requests(t: Target, rng: random.Random, n: int) -> list[Request]:
    return [load.get(f"{t.prefix}/Users/{t.ids[i]}") for i in _sample(t, rng, n)]


def decision_requests(t: Target, rng: random.Random, n: int) -> list[Request]:
    """AuthZEN decisions about the same kind of users as get's: may user i provision? (Every
    seeded user is in team employees, whose role grants scim:provision: the answer is yes.)"""
    return [Request("POST", "/access/v1/evaluation", json.dumps({
        "subject": {"type": "user", "id": bodies.person(i)["email"]},
        "action": {"name": "scim:provision"},
        "resource": {"type": "organization", "id": "default"}}).encode(),
        expect=b'"decision":true') for i in _sample(t, rng, n)]


def patch_requests(t: Target, rng: random.Random, n: int, round_: int,
                   strict: bool = False) -> list[Request]:
    # Entra ID patches the users Entra created: the odd ones.
    out = []
    for k, i in enumerate(_sample(t, rng, n, parity=1)):
        body = bodies.patch_body(i, round_ * 100000 + k)
        if strict:  # the peer refuses Entra's capitalised ops and string booleans
            for op in body["Operations"]:
                op["op"] = op["op"].lower()
                if op["value"] == "True":
                    op["value"] = True
        out.append(load.send_json("PATCH", f"{t.prefix}/Users/{t.ids[i]}", body))
    return out


def put_requests(t: Target, rng: random.Random, n: int, round_: int) -> list[Request]:
    # Okta pushes profile updates of the users Okta created: the even ones.
    return [load.send_json("PUT", f"{t.prefix}/Users/{t.ids[i]}",
                           bodies.put_body(i, t.ids[i], round_ * 100000 + k))
            for k, i in enumerate(_sample(t, rng, n, parity=0))]


def search_requests(t: Target, rng: random.Random, n: int, kind: str) -> list[Request]:
    out = []
    for i in _sample(t, rng, n):
        if kind == "co":
            expression = f'emails.value co "{bodies.email_fragment(i, rng)}"'
        else:
            expression = f'name.familyName sw "{bodies.family_prefix(i, rng)}"'
        out.append(load.get(f"{t.prefix}/Users" + load.filter_query(expression, count=10)))
    return out


def list_pages(total: int, full: bool, window: int = 30) -> list[int]:
    """The startIndex of every page of 100, or of a window of pages at five depths."""
    starts = list(range(1, total + 1, 100))
    if full or len(starts) <= 5 * window:
        return starts
    picked: list[int] = []
    for depth in (0.0, 0.25, 0.5, 0.75, 1.0):
        at = min(int(depth * len(starts)), len(starts) - window)
        picked += starts[at:at + window]
    return picked


def list_walk(t: Target, total: int, full: bool, max_seconds: float,
              window: int = 30) -> Callable[[], Result]:
    starts = list_pages(total, full, window)
    requests = [load.get(f"{t.prefix}/Users?startIndex={s}&count=100", tag=s) for s in starts]

    def send() -> Result:
        log = t.server.log
        start = log.stat().st_size if log else 0
        result = load.sequential(servers.HOST, t.server.port, t.server.headers, requests,
                                 max_seconds=max_seconds)
        # scimsvc's request log has each request's duration inside the server.
        result.server_ms = server_durations(log, start) if log else []
        return result
    return send


def server_durations(log: Path, start: int) -> list[float]:
    """The duration_ms of each GET /scim/v2/Users line the request log got after ``start``."""
    time.sleep(0.2)  # let the workers' last lines reach the file
    with log.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode(errors="replace")
    found = []
    for line in text.splitlines():
        if '"path":"/scim/v2/Users"' in line and '"method":"GET"' in line:
            match = re.search(r'"duration_ms":([0-9.]+)', line)
            if match:
                found.append(float(match.group(1)))
    return found


def list_figures(figures: dict[str, Any], total: int) -> dict[str, Any]:
    result: Result = figures.pop("_result")
    pages = [(tag, lat) for (tag, _, _), lat in zip(result.bodies, result.latencies)]
    ids = {i for _, _, found in result.bodies for i in found}
    window = [lat for _, lat in pages]
    figures["pages"] = len(pages)
    figures["walk_seconds"] = round(result.wall, 3)
    figures["first_pages_ms"] = _ms(statistics.median(window[:10])) if window else 0.0
    figures["last_pages_ms"] = _ms(statistics.median(window[-10:])) if window else 0.0
    figures["slowest_page_ms"] = _ms(max(window, default=0.0))
    figures["pages_over_20ms"] = sum(1 for lat in window if lat > 0.020)
    figures["distinct_users"] = len(ids)
    inside = getattr(result, "server_ms", [])
    if inside:
        figures["server_page_ms_p50"] = round(statistics.median(inside), 2)
        figures["server_page_ms_max"] = round(max(inside), 2)
        figures["server_first_pages_ms"] = round(statistics.median(inside[:10]), 2)
        figures["server_last_pages_ms"] = round(statistics.median(inside[-10:]), 2)
        figures["server_pages_over_20ms"] = sum(1 for ms in inside if ms > 20)
    return figures


# The phases whose repeats are each followed by one of the ceiling's, in plan order
# (tests/bench/report.py pairs them back up).
CEILING_BESIDE = ("lookup", "get")


def run_phases(t: Target, gen: LoadGenerator, args, label: str, total: int,
               strict: bool = False, max_seconds: float | None = None,
               list_window: int = 30,
               alongside: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run every read/write phase ``args.repeat`` times against ``t``; return the medians.

    ``max_seconds`` caps each repeat (and each list walk, which then samples
    ``list_window`` pages at five depths instead of walking every page).
    ``alongside(r)`` runs after each repeat of lookup and get: the ceiling's repeats,
    measured next to the ones they are the denominator of.
    """
    report: dict[str, Any] = {}
    capped = max_seconds is not None
    max_seconds = max_seconds or args.max_seconds
    rng = random.Random(args.random_seed)
    reads, writes = args.read_concurrency, args.write_concurrency
    plan: list[tuple[str, Callable[[int], list[Request] | None], int, set[int]]] = [
        ("lookup", lambda r: lookup_requests(t, rng, args.ops), reads, {200}),
        ("get", lambda r: get_requests(t, rng, args.ops), reads, {200}),
        # scimsvc only: the peer and the ceiling have no decision endpoint.
        ("decision", lambda r: decision_requests(t, rng, args.ops) if label == "scimsvc" else None,
         reads, {200}),
        ("patch", lambda r: patch_requests(t, rng, args.write_ops, r, strict), writes, {200, 204}),
        ("put", lambda r: put_requests(t, rng, args.write_ops, r), writes, {200}),
        ("search-co", lambda r: search_requests(t, rng, args.search_ops, "co"), reads, {200}),
        ("search-sw", lambda r: search_requests(t, rng, args.search_ops, "sw"), reads, {200}),
    ]
    for name, build, concurrency, ok in plan:
        if name not in args.phases:
            continue
        if build(0) is None:
            continue
        repeats = []
        # Not measured: each worker's first requests of a kind compile their statements.
        t.run(gen, build(99)[:WARM_UP], concurrency=concurrency, max_seconds=max_seconds)
        for r in range(args.repeat):
            requests = build(r)
            figures = measure(t.server, lambda: t.run(gen, requests, concurrency=concurrency,
                                                      max_seconds=max_seconds), ok)
            figures.pop("_result")
            repeats.append(figures)
            if alongside is not None and name in CEILING_BESIDE:
                alongside(r)
        report[name] = median_of(repeats)
        print_line(label, name, report[name])
    if "list" in args.phases:
        repeats = []
        full = total <= args.full_list_limit and not capped
        warm = [load.get(f"{t.prefix}/Users?startIndex={s}&count=100")
                for s in (1, 101, max(1, total - 199), max(1, total - 99))]
        t.run(gen, warm, concurrency=2, max_seconds=max_seconds)
        for r in range(args.list_repeat):
            walk = list_walk(t, total, full, max_seconds if capped else args.max_list_seconds,
                             list_window)
            figures = measure(t.server, walk, {200})
            repeats.append(list_figures(figures, total))
        report["list"] = median_of(repeats)
        report["list"]["full_walk"] = full
        print_line(label, "list", report["list"])
    return report


# --- output ----------------------------------------------------------------------------------

HEADER = (f"{'server':<12} {'phase':<10} {'ops':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'srv CPU ms/req':>14} {'srv peak RSS MB':>15} {'cli CPU ms/req':>14}  extra")


def print_line(label: str, phase: str, f: dict[str, Any], extra: str = "") -> None:
    if phase == "list":
        extra = (f"pages={f['pages']:.0f} walk={f['walk_seconds']:.1f}s first={f['first_pages_ms']:.1f}ms "
                 f"last={f['last_pages_ms']:.1f}ms slowest={f['slowest_page_ms']:.1f}ms "
                 f">20ms={f['pages_over_20ms']:.0f} users={f['distinct_users']:.0f} {extra}")
        if "server_page_ms_p50" in f:
            extra += (f" | inside server: p50={f['server_page_ms_p50']:.1f}ms "
                      f"first={f['server_first_pages_ms']:.1f}ms last={f['server_last_pages_ms']:.1f}ms "
                      f"max={f['server_page_ms_max']:.1f}ms >20ms={f['server_pages_over_20ms']:.0f}")
    print(f"{label:<12} {phase:<10} {f['ops']:>7.0f} {f['rps']:>8.1f} {f['p50_ms']:>8.2f} "
          f"{f['p99_ms']:>8.2f} {f['errors']:>6} {f['server_cpu_ms_per_req']:>14.3f} "
          f"{f['server_peak_rss_mb']:>15.1f} {f['client_cpu_ms_per_req']:>14.3f}  {extra}",
          flush=True)
    for sample in f.get("error_samples", [])[:2]:
        print(f"{'':<12} {'':<10} error: {sample[:200]}", flush=True)


def print_ratios(report: dict[str, Any], ceiling: dict[str, Any], peer: dict[str, Any] | None) -> None:
    print("\nratios (scimsvc / ceiling get; scimsvc / scim2-server same phase):")
    base = ceiling["get"]
    for phase, f in report.items():
        if not isinstance(f, dict) or "rps" not in f:
            continue
        line = (f"  {phase:<10} req/s {f['rps'] / base['rps']:.2f}x ceiling, "
                f"CPU/req {f['server_cpu_ms_per_req'] / base['server_cpu_ms_per_req']:.2f}x ceiling")
        if peer and phase in peer and peer[phase].get("rps"):
            p = peer[phase]
            line += (f"; req/s {f['rps'] / p['rps']:.2f}x scim2-server, CPU/req "
                     f"{f['server_cpu_ms_per_req'] / max(p['server_cpu_ms_per_req'], 1e-9):.2f}x")
        print(line)
    if "decision" in report and "get" in report:
        decision, get = report["decision"], report["get"]
        print(f"  decision / SCIM get: req/s {decision['rps'] / get['rps']:.2f}x, CPU/req "
              f"{decision['server_cpu_ms_per_req'] / get['server_cpu_ms_per_req']:.2f}x, p50 "
              f"{decision['p50_ms'] / get['p50_ms']:.2f}x (issue 11: a decision costs no more)")


# --- set-up -------------------------------------------------------------------------------------

def fingerprint() -> str:
    """A hash of everything that decides what a seeded database holds (for --seed-cache)."""
    digest = hashlib.sha256()
    # The models and the bodies; not every edit of the services (they change daily). A
    # cached database is migrated to the current head when it is used.
    paths = [ROOT / "scimsvc" / "models.py", ROOT / "tests" / "bench" / "bodies.py"]
    paths += sorted((ROOT / "scimsvc" / "migrations").rglob("*.py"))
    for path in paths:
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def checkpoint(instance: Path) -> None:
    import sqlite3

    with sqlite3.connect(instance / "scimsvc.sqlite3") as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def prepare_database(args, instance: Path, env: dict[str, str], bulk: int) -> str:
    """Set up the instance (admin steps), and seed ``bulk`` users in-process; return the API key."""
    cache = Path(args.seed_cache) / f"{bulk}-{fingerprint()}" if args.seed_cache and not args.db else None
    if cache and (cache / "scimsvc.sqlite3").exists():
        print(f"  using the seeded database cached in {cache}", flush=True)
        shutil.copy(cache / "scimsvc.sqlite3", instance / "scimsvc.sqlite3")
        servers.admin(env, "init")  # brings the copy to the current schema head
        return (cache / "key").read_text().strip()
    key = servers.provision(env)
    if bulk:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tests.bench.seed", "0", str(bulk)], env=env,
                       cwd=ROOT, check=True)
        print(f"  seeded {bulk} users in-process in {time.perf_counter() - started:.1f}s", flush=True)
    if cache:
        checkpoint(instance)
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copy(instance / "scimsvc.sqlite3", cache / "scimsvc.sqlite3")
        (cache / "key").write_text(key)
    return key


def known_ids(args, instance: Path) -> dict[int, str]:
    """Read every live user's SCIM id from the database (after an in-process seed)."""
    if args.db:
        from sqlalchemy import create_engine, text

        engine = create_engine(args.db_fresh)
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT user_name, scim_id FROM users WHERE deleted_at IS NULL")).all()
        engine.dispose()
    else:
        import sqlite3

        with sqlite3.connect(instance / "scimsvc.sqlite3") as connection:
            rows = connection.execute(
                "SELECT user_name, scim_id FROM users WHERE deleted_at IS NULL").fetchall()
    return {_index_of(name): scim_id for name, scim_id in rows}


def fresh_postgres(url: str) -> tuple[str, Callable[[], None]]:
    """Create an empty database beside the one ``url`` names; return its URL and a dropper."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"scimsvc_bench_{os.getpid()}_{int(time.time())}"
    plain = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return base.set(database=name).render_as_string(hide_password=False), drop


def analyze_postgres(url: str) -> dict[str, Any]:
    """ANALYZE the fresh database after seeding, as PostgreSQL's autovacuum would have by now.

    A table never analyzed has no statistics, and the planner then guessed wrong:
    GET /Users/{id} read the tenant's users through the userName index and filtered
    every one of them by scim_id (EXPLAIN ANALYZE at 10,000 users: 7-16 ms, 9,999
    rows removed by the filter; after ANALYZE the scim_id index, 0.05 ms), and list
    pages waited on PostgreSQL as long as they computed (23 vs 11 ms inside the
    server). A production server's autovacuum analyzes a table once 50 rows + 10 %
    changed, within its naptime (a minute); the local test server runs with
    autovacuum off, so without this every figure measured plans without statistics.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as connection:
        autovacuum = connection.execute("SHOW autovacuum").fetchone()[0]
        started = time.perf_counter()
        connection.execute("ANALYZE")
        seconds = time.perf_counter() - started
    print(f"  ANALYZE after seeding ({seconds:.1f}s; this server's autovacuum is {autovacuum})",
          flush=True)
    return {"autovacuum": autovacuum, "seconds": round(seconds, 2)}


def environment_snapshot() -> dict[str, Any]:
    """What else the machine was doing: load average and the busiest other processes."""
    top = subprocess.run(["ps", "-eo", "pcpu,etime,comm,args", "--sort=-pcpu"], capture_output=True,
                         text=True).stdout.splitlines()[:8]
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=ROOT).stdout.strip()
    return {"utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": os.getloadavg(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "git_head": git,
            "top_processes": [line.strip()[:160] for line in top]}


# --- main ---------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", "-n", type=int, default=10_000, help="Users in the directory.")
    parser.add_argument("--db", default=os.environ.get("BENCH_DATABASE_URL") or None,
                        help="A PostgreSQL URL: the run uses a fresh database created beside it "
                             "(default: SQLite in a temporary folder).")
    parser.add_argument("--peer", action="store_true",
                        help="Also run the phases against python-scim's scim2-server.")
    parser.add_argument("--peer-max-seconds", type=float, default=25,
                        help="Time cap of each repeat against the peer (its searches and pages "
                             "scan every user); its list walk samples 4 pages at 5 depths.")
    parser.add_argument("--peer-python", default="/tmp/peer-venv/bin/python",
                        help="Python of the venv holding scim2-server (created if missing).")
    parser.add_argument("--repeat", type=int, default=3, help="Repeats of each phase (medians reported).")
    parser.add_argument("--list-repeat", type=int, default=2, help="Repeats of the list walk.")
    parser.add_argument("--ops", type=int, default=3000, help="Requests per repeat of lookup/get.")
    parser.add_argument("--write-ops", type=int, default=1500, help="Requests per repeat of patch/put.")
    parser.add_argument("--search-ops", type=int, default=600, help="Requests per repeat of a search.")
    parser.add_argument("--http-seed", type=int, default=10_000,
                        help="Users created over HTTP (the seed phase); the rest in-process.")
    parser.add_argument("--read-concurrency", type=int, default=4, help="Concurrent readers.")
    parser.add_argument("--write-concurrency", type=int, default=16, help="Concurrent writers.")
    parser.add_argument("--client-processes", type=int, default=2, help="Load-generator processes.")
    parser.add_argument("--full-list-limit", type=int, default=200_000,
                        help="Walk every page up to this many users; above, walk windows at 5 depths.")
    parser.add_argument("--max-seconds", type=float, default=120, help="Time cap of one repeat.")
    parser.add_argument("--max-list-seconds", type=float, default=600, help="Time cap of one list walk.")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"Comma-separated subset of {','.join(PHASES)}.")
    parser.add_argument("--seed-cache", default=os.environ.get("BENCH_SEED_CACHE") or None,
                        help="Folder to keep in-process-seeded SQLite databases in, keyed by the code "
                             "that shaped them; a later run copies the file instead of seeding again.")
    parser.add_argument("--seed-only", action="store_true",
                        help="Only build the seeded database (into --seed-cache), then stop.")
    parser.add_argument("--random-seed", type=int, default=5)
    parser.add_argument("--google", action="store_true",
                        help="Instead: time Google Workspace syncs of --users users (tests/bench/google.py).")
    parser.add_argument("--out", default=None, help="Where to write the JSON summary.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    args = parser.parse_args(argv)
    args.phases = set(args.phases.split(","))
    return args


def ensure_peer(python: str) -> str:
    if not Path(python).exists():
        venv = Path(python).parent.parent
        print(f"  installing scim2-server into {venv} (not a scimsvc dependency)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "scim2-server", "gunicorn"],
                       check=True)
    return python


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.google:
        from . import google

        fresh, drop = fresh_postgres(args.db) if args.db else (None, None)
        try:
            return google.main(args.users, Path(args.out) if args.out else None, fresh)
        finally:
            if drop is not None:
                drop()
    work = Path(tempfile.mkdtemp(prefix="scimsvc-bench-"))
    out = Path(args.out) if args.out else work / "summary.json"
    summary: dict[str, Any] = {"users": args.users, "args": {k: (sorted(v) if isinstance(v, set) else v)
                                                             for k, v in vars(args).items()},
                               "environment_before": environment_snapshot()}
    gen = LoadGenerator(args.client_processes, max(1, args.write_concurrency // args.client_processes))
    started_servers: list[Server] = []
    drop = None
    print(f"scimsvc bench: {args.users} users, work folder {work}", flush=True)
    try:
        http_seed_count = min(args.users, args.http_seed)
        bulk = args.users - http_seed_count
        instance = work / "instance"
        instance.mkdir()
        args.db_fresh = None
        if args.db:
            args.db_fresh, drop = fresh_postgres(args.db)
        env = servers.scimsvc_env(instance, args.db_fresh)
        key = prepare_database(args, instance, env, bulk)
        if args.seed_only:
            return 0
        server = servers.start_scimsvc(env, key, work)
        started_servers.append(server)
        target = Target(server, known_ids(args, instance) if bulk else {})
        print(HEADER, flush=True)
        report: dict[str, Any] = {}
        if "seed" in args.phases or not bulk:
            report["seed"] = median_of([http_seed(target, gen, bulk, http_seed_count,
                                                  args.write_concurrency)])
            print_line("scimsvc", "seed", report["seed"])
        if args.db:
            summary["postgresql_analyzed"] = analyze_postgres(args.db_fresh)
        # The ceiling serves a user of the size scimsvc returns. It runs beside scimsvc, and
        # its repeats alternate with scimsvc's lookup and get repeats: this machine's speed
        # drifts within minutes (measured after every scimsvc phase, the ceiling took 0.65 ms
        # of CPU per request in one run and 0.38 ms fifteen minutes later), and a ratio is only
        # meaningful between figures taken side by side.
        sample = target.ids[next(iter(target.ids))]
        size = len(_get_body(server, sample))
        ceiling_server = servers.start_ceiling(work, size)
        started_servers.append(ceiling_server)
        ceiling_target = Target(ceiling_server, dict(target.ids))
        ceiling_target.run(gen, get_requests(ceiling_target, random.Random(2), WARM_UP),
                           concurrency=args.read_concurrency)
        ceiling_repeats: list[dict[str, Any]] = []

        def ceiling_repeat(r: int) -> None:
            requests = get_requests(ceiling_target, random.Random(100 + r), args.ops)
            figures = measure(ceiling_server, lambda: ceiling_target.run(
                gen, requests, concurrency=args.read_concurrency, max_seconds=args.max_seconds), {200})
            figures.pop("_result")
            ceiling_repeats.append(figures)

        # Without the seed phase (--phases), the directory holds the in-process users only.
        report.update(run_phases(target, gen, args, "scimsvc", len(target.ids) or args.users,
                                 alongside=ceiling_repeat))
        report["rss_after_mb"] = round(server.rss_mb(), 1)
        log_text = server.log.read_text(errors="replace") if server.log else ""
        report["database_is_locked_in_log"] = log_text.count("database is locked")
        report["tracebacks_in_log"] = log_text.count("Traceback (most recent call last)")
        print(f"server log: {report['database_is_locked_in_log']} 'database is locked', "
              f"{report['tracebacks_in_log']} tracebacks", flush=True)
        server.stop()
        summary["scimsvc"] = report

        interleaved = bool(ceiling_repeats)
        if not interleaved:  # --phases without lookup and get: measure it on its own
            for r in range(args.repeat):
                ceiling_repeat(r)
        ceiling: dict[str, Any] = {"get": median_of(ceiling_repeats), "body_bytes": size,
                                   "interleaved": interleaved}
        print_line("ceiling", "get", ceiling["get"], f"body={size}B, {len(ceiling_repeats)} repeats"
                   + (" alternating with scimsvc's lookup and get" if interleaved else ""))
        ceiling_server.stop()
        summary["ceiling"] = ceiling

        peer = None
        if args.peer:
            python = ensure_peer(args.peer_python)
            peer_server = servers.start_peer(work, python, bulk)
            started_servers.append(peer_server)
            peer_target = Target(peer_server, {})
            peer = {}
            if bulk:  # the preloaded users' ids, read back through the peer's API
                peer_target.ids = peer_ids(peer_server, gen, bulk)
            peer["seed"] = median_of([http_seed(peer_target, gen, bulk, http_seed_count,
                                                args.write_concurrency)])
            print_line("scim2-server", "seed", peer["seed"])
            peer.update(run_phases(peer_target, gen, args, "scim2-server", args.users, strict=True,
                                   max_seconds=args.peer_max_seconds, list_window=4))
            peer["rss_after_mb"] = round(peer_server.rss_mb(), 1)
            peer_server.stop()
            summary["peer"] = peer
        print_ratios(report, ceiling, peer)
    finally:
        for s in started_servers:
            s.stop()
        gen.close()
        if drop:
            drop()
        summary["environment_after"] = environment_snapshot()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2, default=str))
        print(f"\nsummary: {out}", flush=True)
        if not args.keep:
            shutil.rmtree(work / "instance", ignore_errors=True)
    return 0


def _get_body(server: Server, scim_id: str) -> bytes:
    import urllib.request

    request = urllib.request.Request(f"http://{servers.HOST}:{server.port}{server.prefix}/Users/{scim_id}",
                                     headers=server.headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def peer_ids(server: Server, gen: LoadGenerator, count: int) -> dict[int, str]:
    """Find the ids of the peer's preloaded users by looking each sampled one up by userName."""
    ids: dict[int, str] = {}
    wanted = random.Random(9).sample(range(count), min(count, 5000))
    requests = [load.get(f"{server.prefix}/Users" + load.filter_query(
        f'userName eq "{bodies.person(i)["email"]}"'), tag=i) for i in wanted]
    result = gen.run(servers.HOST, server.port, server.headers, requests, concurrency=4,
                     keep_bodies=True, max_seconds=600)
    for tag, status, body in result.bodies:
        if status == 200:
            resources = json.loads(body).get("Resources") or []
            if resources:
                ids[tag] = resources[0]["id"]
    return ids


if __name__ == "__main__":
    sys.exit(main())
