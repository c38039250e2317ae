"""Seed many users in-process through scimsvc's own layers, in batches, into the server's database.

Used for 100,000 and 1,000,000 users, where POSTing each one would take
most of the run. Every body goes through the marshmallow layer
(``resource.load_user``) and the users service's own projection code
(``users._apply``: the columns, the user_values rows), with the tenant's
team assignment, exactly as ``create_user`` stores it; only the commit is
per batch instead of per user.

Run as ``python -m tests.bench.seed START COUNT`` with the server's
``SCIMSVC_*`` environment, so the app is configured like the server.
"""
from __future__ import annotations

import sys
import time
import uuid

from tests.bench.bodies import create_body


def seed(start: int, count: int, batch: int = 2000) -> None:
    from scimsvc import create_app, dialect
    from scimsvc.extensions import db
    from scimsvc.models import Organization, User, utcnow
    from scimsvc.scim.resource import load_user
    from scimsvc.services import users
    from scimsvc.services.provisioning import get_settings

    app = create_app()
    with app.app_context(), dialect.writing():
        tenant_id = db.session.query(Organization.id).filter_by(
            slug=app.config["SCIMSVC_DEFAULT_ORG"]).scalar()
        team = get_settings(tenant_id).assign_team
        began = time.perf_counter()
        for first in range(start, start + count, batch):
            now = utcnow()
            for i in range(first, min(first + batch, start + count)):
                document, password = load_user(create_body(i))
                user = User(tenant_id=tenant_id, scim_id=str(uuid.uuid4()), created_at=now,
                            updated_at=now, version=1)
                users._apply(user, document, password, fresh=True)
                if team is not None:
                    user.teams.append(team)
                db.session.add(user)
            db.session.commit()
            db.session.expunge_all()
            if team is not None:
                team = db.session.merge(team, load=False)
            done = min(first + batch, start + count) - start
            if done % 50000 < batch:
                rate = done / (time.perf_counter() - began)
                print(f"  seeded {done}/{count} users in-process ({rate:.0f}/s)", file=sys.stderr,
                      flush=True)


if __name__ == "__main__":
    seed(int(sys.argv[1]), int(sys.argv[2]))
