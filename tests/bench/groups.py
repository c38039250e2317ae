"""``make bench`` Groups phase: member changes on a 50,000-member group, and listing groups.

In-process (Flask's test client on the real app and database file, no HTTP
server), so the figures are the service's own cost per request: the same
code path a server worker runs, without the network and gunicorn. Steps:

- seed N users in one transaction (rows only: the Users phases measure creation);
- POST a group, then PATCH in its N members, 10,000 per request;
- PATCH adding 5 and removing 5 members, repeated (``--repeat``): p50 / p99 ms;
- a team linked to the big group, then the same PATCH (memberships follow);
- GET /Groups?excludedAttributes=members over 100 groups, GET of the big group
  with and without members.

``python -m tests.bench.groups --members 50000 [--db URL] [--out FILE]``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--db", help="SQLAlchemy URL (default: an SQLite file in a temp folder)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    import sqlalchemy as sa
    from click.testing import CliRunner

    from cli.main import State, cli
    from scimsvc import create_app
    from scimsvc.extensions import db

    folder = Path(tempfile.mkdtemp(prefix="scimsvc-bench-groups-"))
    url = args.db or f"sqlite:///{folder / 'scimsvc.sqlite3'}"
    app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": url,
                      "SCIMSVC_BASE_URL": "https://scim.example.test"})
    runner = CliRunner()

    def admin(*command: str) -> str:
        result = runner.invoke(cli, list(command), obj=State(app=app))
        if result.exit_code:
            raise SystemExit(f"scimsvc {' '.join(command)}: {result.output}")
        return result.stdout

    admin("init")
    admin("role", "create", "scim-provisioner", "--permission", "scim:provision")
    admin("team", "create", "idp", "--role", "scim-provisioner")
    key = json.loads(admin("api-key", "create", "--team", "idp", "--name", "bench", "--json"))["key"]
    admin("team", "create", "engineering")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/scim+json"}
    client = app.test_client()
    n = args.members
    figures: dict = {"members": n, "database": "postgresql" if url.startswith("postgresql") else "sqlite"}

    began = time.perf_counter()
    with app.app_context(), db.engine.begin() as connection:
        tenant = connection.execute(sa.text("SELECT id FROM organizations")).scalar()
        connection.execute(sa.text(
            "INSERT INTO users (tenant_id, scim_id, user_name, user_name_norm, active, data, version, "
            "created_at, updated_at) VALUES (:t, :sid, :n, :n, :a, :data, 1, :now, :now)"),
            [{"t": tenant, "sid": f"bench-{i:07d}", "n": f"user{i}@example.com", "a": True,
              "now": "2026-01-01 00:00:00",
              "data": json.dumps({"userName": f"user{i}@example.com", "active": True})}
             for i in range(n + 1000)])
    figures["seed_users_s"] = round(time.perf_counter() - began, 2)

    def timed(method: str, path: str, body=None, status: int = 200) -> float:
        start = time.perf_counter()
        response = client.open(path, method=method, headers=headers,
                               data=None if body is None else json.dumps(body))
        elapsed = time.perf_counter() - start
        if response.status_code != status:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        timed.last = response  # type: ignore[attr-defined]
        return elapsed

    timed("POST", "/scim/v2/Groups", {"schemas": [GROUP], "displayName": "Everyone"}, 201)
    big = timed.last.get_json()["id"]  # type: ignore[attr-defined]
    path = f"/scim/v2/Groups/{big}?excludedAttributes=members"
    # Filled 10,000 members per PATCH: a body naming 50,000 is over SCIMSVC_MAX_BODY_BYTES.
    fill = [timed("PATCH", path, {"schemas": [PATCH_OP], "Operations": [{
        "op": "add", "path": "members",
        "value": [{"value": f"bench-{i:07d}"} for i in range(start, min(n, start + 10_000))]}]})
        for start in range(0, n, 10_000)]
    figures["fill_10000_per_patch_s"] = [round(s, 2) for s in fill]

    def patch_samples(offset: int) -> list[float]:
        samples = []
        for r in range(args.repeat):
            joining = [n + offset + r * 5 + k for k in range(5)]
            leaving = [offset + r * 5 + k for k in range(5)]
            samples.append(timed("PATCH", path, {"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": f"bench-{i:07d}"} for i in joining]},
                *({"op": "remove", "path": f'members[value eq "bench-{i:07d}"]'} for i in leaving)]}))
        return samples

    figures["patch_5_add_5_remove"] = _ms(patch_samples(0))
    began = time.perf_counter()
    admin("team", "link-group", "engineering", "Everyone")
    figures["link_group_s"] = round(time.perf_counter() - began, 2)
    figures["patch_5_add_5_remove_linked_team"] = _ms(patch_samples(500))

    for i in range(99):
        timed("POST", "/scim/v2/Groups", {"schemas": [GROUP], "displayName": f"team-{i:03d}",
                                          "members": [{"value": f"bench-{i:07d}"}]}, 201)
    figures["list_100_groups_excluding_members"] = _ms(
        [timed("GET", "/scim/v2/Groups?excludedAttributes=members") for _ in range(args.repeat)])
    figures["get_big_group_excluding_members"] = _ms([timed("GET", path) for _ in range(args.repeat)])
    figures["get_big_group_with_members"] = _ms(
        [timed("GET", f"/scim/v2/Groups/{big}") for _ in range(5)])
    figures["lookup_by_display_name"] = _ms([timed(
        "GET", '/scim/v2/Groups?excludedAttributes=members&filter=displayName%20eq%20%22everyone%22')
        for _ in range(args.repeat)])
    with app.app_context():
        db.session.remove()
        db.engine.dispose()

    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
