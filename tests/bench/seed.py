"""Seed many users in-process through scimsvc's own layers, in batches, into the server's database.

Used for 100,000 and 1,000,000 users, where POSTing each one would take
most of the run. Every body goes through the marshmallow layer
(``resource.load_user``) and the users service's own projection code
(``store_users.new_user_row`` and ``store_users.value_rows``: the columns and the
user_values rows), and every user
joins the team the organization assigns, as ``create_user`` would store
them. What differs is the writing: two processes build the rows, one
writes them with executemany, one transaction per batch, and no audit
event is journaled (no SCIM request was made).

Run as ``python -m tests.bench.seed START COUNT`` with the server's
``SCIMSVC_*`` environment, so the app is configured like the server.
"""
from __future__ import annotations

import sys
import time
from multiprocessing import get_context

from tests.bench.bodies import create_body

BATCH = 5000
_app = None


def _context():
    global _app
    if _app is None:
        from scimsvc import create_app

        _app = create_app()
    return _app.app_context()


def build_rows(job: tuple[int, int, int, int]) -> tuple[list[dict], list[dict]]:
    """Build the users and user_values rows of users ``first``..``stop-1`` (in a worker process)."""
    first, stop, first_id, tenant_id = job
    from scimsvc.models import utcnow
    from scimsvc.scim.resource import load_user
    from scimsvc.services import users
    from scimsvc.store import users as store_users

    user_rows, value_rows = [], []
    with _context():
        now = utcnow()
        for i in range(first, stop):
            document, password = load_user(create_body(i))
            password_hash = users.hash_password(password) if password is not None else None
            row = {"id": first_id + i - first,
                   **store_users.new_user_row(tenant_id, document, password_hash, now)}
            user_rows.append(row)
            value_rows.extend(store_users.value_rows(row["id"], document))
    value_rows.sort(key=lambda r: (r["user_id"], r["attr"], r["position"]))
    return user_rows, value_rows


def seed(start: int, count: int, processes: int = 2) -> None:
    from sqlalchemy import func, insert, select, text

    from scimsvc.database import transactions
    from scimsvc.extensions import db
    from scimsvc.models import Organization, User, UserValue, team_members
    from scimsvc.store.settings import recreate_policy

    with _context():
        org = db.session.scalar(select(Organization).where(
            Organization.slug == _app.config["SCIMSVC_DEFAULT_ORG"]))
        tenant_id = org.id
        _, team_id = recreate_policy(db.session.connection(), tenant_id)
        next_id = (db.session.scalar(select(func.max(User.id))) or 0) + 1
        db.session.rollback()
        db.engine.dispose()  # no connection crosses the fork below
    jobs = []
    for first in range(start, start + count, BATCH):
        stop = min(first + BATCH, start + count)
        jobs.append((first, stop, next_id, tenant_id))
        next_id += stop - first
    began = time.perf_counter()
    done = 0
    with get_context("fork").Pool(processes) as pool, _context(), transactions.writing():
        for user_rows, value_rows in pool.imap(build_rows, jobs):
            db.session.execute(insert(User), user_rows)
            if value_rows:
                db.session.execute(insert(UserValue), value_rows)
            if team_id is not None:
                db.session.execute(insert(team_members), [
                    {"team_id": team_id, "user_id": row["id"], "reason": "assignment"}
                    for row in user_rows])
            db.session.commit()
            done += len(user_rows)
            if done == count and db.engine.dialect.name == "postgresql":
                # Explicit ids do not move PostgreSQL's sequence: the next POST would collide.
                db.session.execute(text(
                    "SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users"))
                db.session.commit()
            if done % 100_000 < BATCH or done == count:
                rate = done / (time.perf_counter() - began)
                print(f"  seeded {done}/{count} users in-process ({rate:.0f}/s)", file=sys.stderr,
                      flush=True)


if __name__ == "__main__":
    seed(int(sys.argv[1]), int(sys.argv[2]))
