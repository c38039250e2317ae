"""Unfiltered lists take totalResults and their first user from user_buckets: same answers as a scan.

``services.users.search_users`` pages an unfiltered, unsorted list from the
per-bucket live counts that triggers keep (migration 0002).
These tests spread users over several buckets of ids, remove and restore some,
and compare every page with the general path (a filter that matches everyone:
COUNT and OFFSET over the users themselves) and the counts with a recount.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, literal_column, select, text

from scimsvc.store import search
from scimsvc.extensions import db
from scimsvc.models import Organization, User, UserBucket

from tests.conftest import make_user, provision_key


def _jump_ids(app, tenant_slug: str, to: int) -> None:
    """Insert a live user with id ``to``, so the next users get ids after it (a new bucket)."""
    with app.app_context():
        tenant = db.session.scalar(select(Organization.id).where(Organization.slug == tenant_slug))
        now = datetime(2026, 1, 1)
        db.session.add(User(id=to, tenant_id=tenant, scim_id=f"jump-{to}", user_name=f"jump{to}",
                            user_name_norm=f"jump{to}", data={"userName": f"jump{to}"},
                            created_at=now, updated_at=now, version=1))
        if db.engine.dialect.name == "postgresql":  # an explicit id does not move the sequence
            db.session.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), :to)"),
                               {"to": to})
        db.session.commit()


def _ids(scim, query: str) -> tuple[int, list[str]]:
    body = scim.get(f"Users?{query}").get_json()
    return body["totalResults"], [r["id"] for r in body["Resources"]]


def _recount(app) -> dict[tuple[int, int], int]:
    with app.app_context():
        # A literal, not a bind parameter: PostgreSQL must see the same GROUP BY expression.
        bucket = User.id // literal_column(str(search.BUCKET_SIZE))
        counted = dict(((t, b), n) for t, b, n in db.session.execute(
            select(User.tenant_id, bucket, func.count())
            .where(User.deleted_at.is_(None)).group_by(User.tenant_id, bucket)))
        kept = {(t, b): n for t, b, n in db.session.execute(
            select(UserBucket.tenant_id, UserBucket.bucket, UserBucket.live)) if n}
    return counted, kept


def test_pages_across_buckets_match_the_scan_after_removals_and_restores(app, admin, scim):
    admin("org", "create", "b")
    key_b = provision_key(admin, org="b", name="okta-b")
    names = []
    for step, jump in enumerate([None, 1500, 2 * search.BUCKET_SIZE + 7, 5000]):
        if jump:
            _jump_ids(app, "default", jump)
            names.append(f"jump{jump}")
        for n in range(3):
            user_name = f"user{step}-{n}@example.com"
            make_user(scim, user_name, externalId=user_name)
            names.append(user_name)
        # Org b's users take ids in the same buckets, and must never be counted in org a's.
        scim.post("Users", json={"userName": f"b{step}@example.com"}, key=key_b)
    everyone = {r["userName"]: r["id"] for r in scim.get("Users?count=1000").get_json()["Resources"]}
    assert set(everyone) == set(names)
    # Remove users in the first and a later bucket, then bring one back (policy: restore).
    for name in ("user0-1@example.com", "user2-0@example.com", "jump1500"):
        assert scim.delete(f"Users/{everyone[name]}").status_code == 204
    make_user(scim, "user2-0@example.com", externalId="user2-0@example.com")

    counted, kept = _recount(app)
    assert kept == counted
    total, _ = _ids(scim, "count=0")
    assert total == len(names) - 2
    for count in (1, 2, 3, 5, 100):
        for start in range(0, total + 3):
            fast = _ids(scim, f"startIndex={start}&count={count}")
            scan = _ids(scim, f"startIndex={start}&count={count}&filter=id pr")
            assert fast == scan, (start, count)


def test_a_walk_by_pages_visits_every_live_user_once(app, scim):
    made = [make_user(scim, f"walker{n}@example.com")["id"] for n in range(7)]
    _jump_ids(app, "default", 3 * search.BUCKET_SIZE)
    made.append("jump-%d" % (3 * search.BUCKET_SIZE))
    made += [make_user(scim, f"walker{n}@example.com")["id"] for n in range(7, 12)]
    seen, start = [], 1
    while True:
        total, page = _ids(scim, f"startIndex={start}&count=4")
        if not page:
            break
        seen += page
        start += len(page)
    assert total == len(made)
    assert seen == made
