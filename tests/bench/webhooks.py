"""``make bench-webhooks`` (and the end of ``make bench``): what webhooks cost and how fast they arrive.

    python -m tests.bench.webhooks --users 3000 [--db URL] [--repeat 2] [--out FILE]

For each repeat, two fresh instances (the README's set-up, ``scimsvc serve`` with
2 workers), one without a webhook and one with a webhook to a receiver on
127.0.0.1 (tests/receiver.py): the seed throughput of POST /Users with 16
concurrent writers, the time until the receiver has every event (the drain),
and then the idle latency: sequential creates 0.3 s apart, each measured from
the end of the SCIM response to the receiver getting its event. Issue 11 asks
for at most 10 % seed throughput lost and idle latency under 1 s.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.receiver import running_receiver

from . import bodies, load, servers
from .load import LoadGenerator


def _instance(folder: Path, database_url: str | None) -> tuple[dict[str, str], str]:
    url = database_url
    env = servers.scimsvc_env(folder / "instance", url)
    return env, servers.provision(env)


def _seed(server: servers.Server, gen: LoadGenerator, count: int,
          concurrency: int) -> dict[str, Any]:
    requests = [load.send_json("POST", "/scim/v2/Users", bodies.create_body(i), tag=i)
                for i in range(count)]
    result = gen.run("127.0.0.1", server.port, server.headers, requests, concurrency=concurrency,
                     max_seconds=600)
    created = result.statuses.get(201, 0)
    return {"created": created, "seconds": round(result.wall, 3),
            "rps": round(created / result.wall, 1) if result.wall else 0.0,
            "errors": result.ops - created}


def _idle_latency(server: servers.Server, receiver, samples: int, start: int) -> list[float]:
    latencies = []
    for k in range(samples):
        before = len(receiver.received)
        request = load.send_json("POST", "/scim/v2/Users", bodies.create_body(start + k))
        result = load.sequential("127.0.0.1", server.port, server.headers, [request])
        answered = time.monotonic()
        deadline = answered + 30
        while len(receiver.arrived) <= before and time.monotonic() < deadline:
            time.sleep(0.001)
        if result.statuses.get(201) and len(receiver.arrived) > before:
            latencies.append(max(0.0, receiver.arrived[before] - answered))
        time.sleep(0.3)  # idle again: the worker is back in its poll wait
    return latencies


def run_once(args, gen: LoadGenerator, with_webhook: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="scimsvc-bench-webhooks-") as tmp:
        folder = Path(tmp)
        database_url = args.db
        drop = None
        if database_url:
            from .run import fresh_postgres

            database_url, drop = fresh_postgres(database_url)
        try:
            env, key = _instance(folder, database_url)
            with running_receiver() as receiver:
                if with_webhook:
                    servers.admin(env, "webhook", "add", "product", receiver.url)
                server = servers.start_scimsvc(env, key, folder)
                try:
                    figures = _seed(server, gen, args.users, args.concurrency)
                    if with_webhook:
                        deadline = time.monotonic() + 600
                        while len(receiver.events()) < figures["created"] and \
                                time.monotonic() < deadline:
                            time.sleep(0.01)
                        drained = time.monotonic()
                        figures["delivered"] = len(receiver.events())
                        # From the seed's first request to the receiver having every event.
                        figures["drain_seconds"] = round(
                            drained - (receiver.arrived[0] if receiver.arrived else drained)
                            + 0.0, 3)
                        latencies = _idle_latency(server, receiver, args.samples, args.users)
                        figures["idle_latency_ms"] = {
                            "p50": round(statistics.median(latencies) * 1000, 1),
                            "max": round(max(latencies) * 1000, 1),
                            "samples": len(latencies)} if latencies else None
                finally:
                    server.stop()
        finally:
            if drop is not None:
                drop()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.webhooks")
    parser.add_argument("--users", type=int, default=3000, help="Users each seed creates.")
    parser.add_argument("--db", default=None, help="A PostgreSQL URL (default: SQLite files).")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--samples", type=int, default=20, help="Idle-latency creates.")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    gen = LoadGenerator(processes=2, threads=8)
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    try:
        for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits both
            for mode in ("without", "with"):
                figures = run_once(args, gen, mode == "with")
                runs[mode].append(figures)
                print(f"{mode:>7} webhook: {json.dumps(figures)}", flush=True)
    finally:
        gen.close()
    without = round(statistics.median(r["rps"] for r in runs["without"]), 1)
    with_ = round(statistics.median(r["rps"] for r in runs["with"]), 1)
    latencies = [r["idle_latency_ms"] for r in runs["with"] if r.get("idle_latency_ms")]
    summary = {
        "users": args.users, "database": "postgresql" if args.db else "sqlite",
        "seed_rps_without_webhook": without, "seed_rps_with_webhook": with_,
        "seed_cost_percent": round((1 - with_ / without) * 100, 1) if without else None,
        "idle_latency_p50_ms": statistics.median(l["p50"] for l in latencies) if latencies else None,
        "idle_latency_max_ms": max(l["max"] for l in latencies) if latencies else None,
        "runs": runs,
    }
    print(f"seed: {without} users/s without a webhook, {with_} with one "
          f"({summary['seed_cost_percent']} % cost); idle latency p50 "
          f"{summary['idle_latency_p50_ms']} ms, max {summary['idle_latency_max_ms']} ms")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
