"""The Google Workspace sync: read the Directory API, reconcile the organization's users.

Google's automated provisioning pushes SCIM only to apps in its own catalogue, so
scimsvc pulls, as every directory-sync product does: ``sync`` lists the users in the
connection's scope (pages of 500), maps each to a SCIM User document (MAPPING, below)
and applies the difference through the same services as a SCIM write
(``services.users``: create, restore, replace, disable, remove), journaled, with the
organization's team assignment and restore policy. Users carry the source that
provisions them (``users.source`` = ``google:<connection>``); a sync creates and
changes only its own, and reports a clash with a user another source provisioned.

A run has two phases. The read phase lists every page and compares each user with
what is stored, keeping a digest per stored user in the run's working set on disk
(``store.scratch``) and spooling the changes to a temporary file, so memory does not
grow with the directory; an API error or timeout there writes nothing.
Then the safety valve: more disables + removals than the limit stops the run before
it writes. The write phase applies the spooled changes in batches of BATCH_SIZE, each
one write transaction (removals first, so a re-created Google account can take its
removed account back). A sync in which nothing changed writes no user, journal row or
timestamp: only its run record. One sync at a time per connection, across servers:
a lease on the connection row (``store.sources.take_lease``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from sqlalchemy import func, select

from ...database.transactions import write_transaction
from ...errors import Conflict, InvalidValue, NotFound, ScimsvcError
from ...extensions import db
from ...models import GoogleConnection, GoogleSyncRun, Organization, User, utcnow
from ...scim.resource import Limits, check_limits, load_user
from ...scim.schema import ENTERPRISE_USER, fold
from ...store import sources as store
from ...store.scratch import Scratch, Stored
from .. import audit
from .. import users as user_service
from .google_directory import Directory, Scope, check_key_file

log = logging.getLogger(__name__)

BATCH_SIZE = 500
LEASE = timedelta(minutes=10)  # renewed with every batch; a crashed server's lapses
RENEW_EVERY = LEASE.total_seconds() / 4  # while pages are read
DEFAULT_NAME = "workspace"
ENTERPRISE = ENTERPRISE_USER.id
COUNTS = ("created", "restored", "updated", "disabled", "removed", "unchanged", "clashes")

# Google's phone types (Directory API "phones[].type") -> RFC 7643 §4.1.2 canonical types.
_PHONE_TYPES = {"work": "work", "home": "home", "mobile": "mobile", "work_mobile": "mobile",
                "fax": "fax", "home_fax": "fax", "work_fax": "fax", "pager": "pager",
                "work_pager": "pager"}
_EMAIL_TYPES = ("work", "home", "other")

# Documented in docs/idp/google-workspace.md ("What is synced").
MAPPING = (
    ("primaryEmail", "userName"),
    ("id", "externalId"),
    ("name.givenName / familyName / fullName", "name.givenName / familyName / formatted, displayName"),
    ("emails[].address (type, primary)", "emails[].value (type work/home/other, primary)"),
    ("phones[].value (type, primary)", "phoneNumbers[].value (type work/home/mobile/fax/pager/other)"),
    ("organizations[primary].title", "title"),
    ("organizations[primary].department / costCenter / name",
     f"{ENTERPRISE}: department / costCenter / organization"),
    ("externalIds[type organization].value", f"{ENTERPRISE}:employeeNumber"),
    ("relations[type manager].value (an e-mail)",
     f"{ENTERPRISE}:manager.value, the manager's id when that user is provisioned"),
    ("suspended, archived", "active false"),
)


@dataclass(frozen=True)
class Settings:
    """What a sync needs from the configuration (the CLI reads it from the app)."""

    api_url: str = "https://admin.googleapis.com/"
    timeout: float = 30
    max_removals: int | str | None = None  # None: 10 % of the source's users, at least 5
    limits: Limits = Limits()
    interval: float = 900


@dataclass
class SyncResult:
    """What a run did (or, dry, would do): its counts, clashes and errors."""

    source: str
    dry_run: bool = False
    status: str = "succeeded"
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    errors: list[str] = field(default_factory=list)
    run_id: int | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "dry_run": self.dry_run, "status": self.status,
                "counts": self.counts, "errors": self.errors, "run": self.run_id,
                "seconds": round(self.seconds, 3)}


class SafetyValve(Conflict):
    """A sync would disable or remove more users than SCIMSVC_GOOGLE_MAX_REMOVALS allows, or all."""


# --- the connection ---------------------------------------------------------------------

def get_connection(tenant_id: int) -> GoogleConnection:
    found = db.session.scalar(select(GoogleConnection).where(GoogleConnection.tenant_id == tenant_id))
    if found is None:
        raise NotFound("No Google Workspace connection: run 'scimsvc google connect --credentials "
                       "FILE --admin ADMIN_EMAIL' first.")
    return found


def connect(tenant_id: int, credentials_path: str, admin_email: str, *, customer: str | None = None,
            domain: str | None = None, org_units: tuple[str, ...] = (), groups: tuple[str, ...] = (),
            name: str = DEFAULT_NAME, settings: Settings = Settings()) -> tuple[GoogleConnection, int]:
    """Check the credentials with one real request, then record the organization's connection.

    The key file stays where it is: its absolute path is stored, never its content,
    and a file other users can read is refused. Reconnecting (same name) updates
    the settings. Returns (the connection, users on the first page: 0 or 1).
    Raises InvalidValue (key file, arguments) or SourceFailed (what Google said).
    """
    path = os.path.abspath(os.path.expanduser(credentials_path))
    check_key_file(path)
    admin_email = admin_email.strip()
    if "@" not in admin_email:
        raise InvalidValue("--admin must be a Workspace admin's e-mail address.")
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise InvalidValue("A connection name is 1-64 letters, digits, '-' or '_'.")
    units = tuple(_org_unit(u) for u in org_units)
    scope = Scope(customer or "my_customer", domain or None, units, tuple(groups))
    found = Directory(path, admin_email, api_url=settings.api_url, timeout=settings.timeout,
                      groups=bool(groups)).check(scope)
    with write_transaction():
        existing = db.session.scalar(
            select(GoogleConnection).where(GoogleConnection.tenant_id == tenant_id))
        if existing is not None and existing.name != name:
            raise Conflict(f"This organization is connected as '{existing.name}': run "
                           "'scimsvc google disconnect' first, or connect with that --name.")
        connection = existing or GoogleConnection(tenant_id=tenant_id, name=name)
        connection.credentials_path, connection.admin_email = path, admin_email
        connection.customer, connection.domain = scope.customer, scope.domain
        connection.org_units, connection.groups = list(units), list(groups)
        db.session.add(connection)
    return connection, found


def disconnect(tenant_id: int) -> GoogleConnection:
    """Forget the connection; the users it provisioned stay as they are (source kept)."""
    with write_transaction():
        connection = get_connection(tenant_id)
        db.session.delete(connection)
    return connection


def _org_unit(path: str) -> str:
    path = path.strip()
    if not path.startswith("/") or "'" in path:
        raise InvalidValue(f"An org unit is a path such as /Sales (got {path!r}).")
    return path


@dataclass
class Status:
    connection: GoogleConnection
    users: int  # live users of its source
    last_run: GoogleSyncRun | None


def status(tenant_id: int) -> Status:
    connection = get_connection(tenant_id)
    live = db.session.scalar(select(func.count()).select_from(User).where(
        User.tenant_id == tenant_id, User.source == connection.source, User.deleted_at.is_(None)))
    last = db.session.scalar(select(GoogleSyncRun).where(
        GoogleSyncRun.tenant_id == tenant_id, GoogleSyncRun.source == connection.source)
        .order_by(GoogleSyncRun.id.desc()).limit(1))
    return Status(connection, int(live or 0), last)


# --- mapping ----------------------------------------------------------------------------

def to_document(user: dict[str, Any], manager_id: str | None) -> dict[str, Any]:
    """The SCIM User body for a Directory API user (MAPPING), before it is read like a POST's."""
    name = user.get("name") or {}
    body: dict[str, Any] = {
        "userName": user["primaryEmail"], "externalId": str(user["id"]),
        "active": not (user.get("suspended") or user.get("archived")),
        "name": {"givenName": name.get("givenName"), "familyName": name.get("familyName"),
                 "formatted": name.get("fullName")},
        "displayName": name.get("fullName"),
    }
    emails = []
    for email in user.get("emails") or ():
        if isinstance(email, dict) and email.get("address"):
            kind = email.get("type")
            emails.append({"value": email["address"],
                           "type": kind if kind in _EMAIL_TYPES else "work",
                           "primary": True if email.get("primary") else None})
    body["emails"] = emails or [{"value": user["primaryEmail"], "type": "work", "primary": True}]
    phones = []
    for phone in user.get("phones") or ():
        if isinstance(phone, dict) and phone.get("value"):
            phones.append({"value": phone["value"], "type": _PHONE_TYPES.get(phone.get("type"), "other"),
                           "primary": True if phone.get("primary") else None})
    body["phoneNumbers"] = phones
    organizations = [o for o in user.get("organizations") or () if isinstance(o, dict)]
    primary = next((o for o in organizations if o.get("primary")), organizations[0] if organizations else {})
    body["title"] = primary.get("title")
    enterprise = {"department": primary.get("department"), "costCenter": primary.get("costCenter"),
                  "organization": primary.get("name")}
    number = next((e.get("value") for e in user.get("externalIds") or ()
                   if isinstance(e, dict) and e.get("type") == "organization"), None)
    enterprise["employeeNumber"] = number
    if manager_id is not None:
        enterprise["manager"] = {"value": manager_id}
    body[ENTERPRISE] = enterprise
    return body


def manager_of(user: dict[str, Any]) -> str | None:
    """The folded e-mail of the user's manager relation, if any (a user is not their own)."""
    for relation in user.get("relations") or ():
        if isinstance(relation, dict) and relation.get("type") == "manager" and relation.get("value"):
            manager = fold(str(relation["value"]))
            return None if manager == fold(str(user.get("primaryEmail", ""))) else manager
    return None


def _digest(document: dict[str, Any]) -> bytes:
    return hashlib.blake2b(json.dumps(document, sort_keys=True, separators=(",", ":"),
                                      ensure_ascii=False).encode(), digest_size=16).digest()


# --- the run ----------------------------------------------------------------------------

def sync(tenant_id: int, *, dry_run: bool = False, force: bool = False, trigger: str = "command",
         settings: Settings = Settings(), progress: Callable[[str, int, int], None] | None = None,
         holder: str | None = None) -> SyncResult:
    """Run one reconciliation of the organization's Google connection (see the module doc).

    ``progress(phase, done, total)`` is called as pages are read ("read", total 0)
    and users written ("write"). Returns the result; raises SafetyValve when the
    run would disable or remove more users than allowed (unless ``force``),
    SourceFailed when Google failed (nothing written), Conflict when another sync
    of the connection is running. A dry run writes nothing, not even its record.
    """
    started = time.monotonic()
    connection = get_connection(tenant_id)
    source, connection_id = connection.source, connection.id
    result = SyncResult(source, dry_run=dry_run)
    holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if not dry_run:
        _take_lease(connection_id, holder)
        result.run_id = _start_run(tenant_id, source, trigger)
    scratch = Scratch()
    renew = (lambda: None) if dry_run else (lambda: _take_lease(connection_id, holder))
    try:
        with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
            plan = _read(connection, settings, spool, scratch, progress, renew)
            result.counts["unchanged"] = plan.unchanged
            stop = None if force else valve_error(plan, settings)
            if dry_run:
                # What the run would do, and that a real one would stop (it still writes nothing).
                _dry_counts(tenant_id, plan, spool, result)
                if stop is not None:
                    result.status = "stopped"
                    result.errors.insert(0, stop.detail)
            elif stop is not None:
                raise stop
            else:
                _write(tenant_id, source, plan, spool, settings, result, progress, renew)
    except ScimsvcError as error:
        result.status = "stopped" if isinstance(error, SafetyValve) else "failed"
        result.errors.append(error.detail)
        result.seconds = time.monotonic() - started
        if not dry_run:
            _finish_run(result, connection_id, holder)
        raise
    except BaseException as error:
        result.status = "failed"
        result.errors.append(f"{type(error).__name__}: {str(error)[:300]}")
        result.seconds = time.monotonic() - started
        if not dry_run:
            db.session.rollback()
            _finish_run(result, connection_id, holder)
        raise
    finally:
        scratch.close()
    result.seconds = time.monotonic() - started
    if not dry_run:
        _finish_run(result, connection_id, holder)
    return result


@dataclass
class _Plan:
    # The working set: externalId -> the source's stored user; folded userName -> SCIM id
    # of its live users; the Google ids in scope; the folded userNames the spool creates.
    known: Scratch
    spooled: int = 0
    disables: int = 0
    removals: int = 0  # the live users not seen (known.not_seen())
    unchanged: int = 0
    live: int = 0


def _read(connection: GoogleConnection, settings: Settings, spool: Any, known: Scratch,
          progress: Callable[[str, int, int], None] | None, renew: Callable[[], None]) -> _Plan:
    """List the directory and spool what differs from the stored users; writes nothing but
    the lease, renewed while the listing lasts (a slow or very large directory can take
    longer than LEASE to list, and another server would start a second sync)."""
    tenant_id, source = connection.tenant_id, connection.source
    rows = (row for row in store.source_users(db.session.connection(), tenant_id, source)
            if row.external_id is not None)
    for batch in _batches(rows, 2000):
        known.keep((row.external_id, Stored(row.scim_id, _digest(row.data), row.active,
                                            row.deleted_at is not None, row.user_name_norm))
                   for row in batch)
        for row in batch:
            if row.deleted_at is None:
                known.name(row.user_name_norm, row.scim_id)
    db.session.commit()  # end the read transaction before the (long) listing
    plan = _Plan(known, live=known.live())
    scope = Scope(connection.customer, connection.domain, tuple(connection.org_units),
                  tuple(connection.groups))
    directory = Directory(connection.credentials_path, connection.admin_email,
                          api_url=settings.api_url, timeout=settings.timeout,
                          groups=bool(scope.groups))
    members: set[str] | None = None
    if scope.groups:
        members = set()
        for group in scope.groups:
            members |= directory.group_members(group)
    read = 0
    renewed = time.monotonic()
    for page in directory.users(scope):
        if time.monotonic() - renewed > RENEW_EVERY:
            renew()
            renewed = time.monotonic()
        for google_user in page:
            google_id = str(google_user.get("id") or "")
            if not google_id or not google_user.get("primaryEmail"):
                continue
            if members is not None and google_id not in members:
                continue
            if not known.see(google_id):
                continue  # listed twice (in two of the scope's org units)
            _compare(google_user, plan, settings, spool)
        read += len(page)
        if progress:
            progress("read", read, 0)
    plan.removals = known.unseen()
    return plan


def _compare(google_user: dict[str, Any], plan: _Plan, settings: Settings, spool: Any) -> None:
    manager = manager_of(google_user)
    manager_id = plan.known.holder(manager) if manager else None
    document = _load(google_user, manager_id, settings)
    current = plan.known.stored(document["externalId"])
    if current is not None and not current.removed:
        if _digest(document) == current.digest and (manager is None or manager_id is not None):
            plan.unchanged += 1
            return
        if current.active and not document.get("active", True):
            plan.disables += 1
    else:
        plan.known.will_create(fold(document["userName"]))
    spool.write(json.dumps({"user": google_user, "manager": manager}) + "\n")
    plan.spooled += 1


def _load(google_user: dict[str, Any], manager_id: str | None, settings: Settings) -> dict[str, Any]:
    """The canonical document, exactly as a SCIM POST of the mapped body would store it."""
    document, _ = load_user(to_document(google_user, manager_id))
    check_limits(document, settings.limits)
    return document


def removal_limit(live: int, setting: int | str | None) -> int:
    """How many disables + removals one run may make for a source with ``live`` users."""
    if setting is None:
        return max(5, math.ceil(live * 0.10))
    if isinstance(setting, str) and setting.endswith("%"):
        return math.ceil(live * float(setting[:-1]) / 100)
    return int(setting)


def valve_error(plan: _Plan, settings: Settings) -> SafetyValve | None:
    """Why the run must stop before writing, or None.

    More disables + removals than the limit; or every user the source provisioned
    (a small directory's limit of 5 would otherwise let an empty answer from Google
    deprovision everyone)."""
    limit = removal_limit(plan.live, settings.max_removals)
    losing = plan.disables + plan.removals
    if plan.live and losing >= plan.live:
        return SafetyValve(
            f"Stopped before writing anything: this sync would disable {plan.disables} and remove "
            f"{plan.removals} of the {plan.live} users Google provisioned, that is all of them. "
            "If Google's answer is right (check the --org-unit and --group scope), run "
            "'scimsvc google sync --force' once.")
    if losing > limit:
        return SafetyValve(
            f"Stopped before writing anything: this sync would disable {plan.disables} and remove "
            f"{plan.removals} of the {plan.live} users Google provisioned, more than the limit "
            f"of {limit} (SCIMSVC_GOOGLE_MAX_REMOVALS). If Google's answer is right (check the "
            "--org-unit and --group scope), run 'scimsvc google sync --force' once.")
    return None


def _entries(spool: Any) -> Iterator[dict[str, Any]]:
    spool.seek(0)
    for line in spool:
        yield json.loads(line)


def _batches(items: Iterator[Any], size: int = BATCH_SIZE) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _dry_counts(tenant_id: int, plan: _Plan, spool: Any, result: SyncResult) -> None:
    counts = result.counts
    counts["removed"] = plan.removals
    for batch in _batches(_entries(spool)):
        names = [fold(e["user"]["primaryEmail"]) for e in batch]
        holders = store.live_user_names(db.session.connection(), tenant_id, names)
        for entry, name in zip(batch, names):
            current = plan.known.stored(str(entry["user"]["id"]))
            if current is not None and not current.removed:
                active = not (entry["user"].get("suspended") or entry["user"].get("archived"))
                counts["disabled" if current.active and not active else "updated"] += 1
            elif name in holders and holders[name][0] != result.source:
                counts["clashes"] += 1
                result.errors.append(_clash(entry["user"]["primaryEmail"], holders[name][0]))
            elif current is not None:
                counts["restored"] += 1
            else:
                counts["created"] += 1
    db.session.commit()


def _clash(email: str, other: str) -> str:
    return (f"{email}: a user provisioned by {other} already has this userName; left alone "
            "(remove it there, or change its userName, and the next sync takes over).")


def _write(tenant_id: int, source: str, plan: _Plan, spool: Any, settings: Settings,
           result: SyncResult, progress: Callable[[str, int, int], None] | None,
           renew: Callable[[], None]) -> None:
    total = plan.removals + plan.spooled
    done = 0
    audit.bind(audit.RequestContext(request_id=f"google-sync-{result.run_id}", method="SYNC",
                                    path=f"/sources/{source}", operation="other",
                                    user_agent="scimsvc google sync", tenant_id=tenant_id,
                                    api_key_name=source))
    try:
        for batch in _batches(plan.known.not_seen()):
            with write_transaction():
                for scim_id in batch:
                    try:
                        user_service.delete_user(tenant_id, scim_id)
                    except NotFound:
                        continue  # removed meanwhile (over SCIM): nothing left to do
                    result.counts["removed"] += 1
            done += len(batch)
            renew()
            if progress:
                progress("write", done, total)
        pending = spool
        while True:
            # Users whose manager this run creates later wait in a file of their own, not
            # in memory (a directory listed before its managers defers most of itself).
            deferred = tempfile.TemporaryFile("w+", encoding="utf-8")
            held, progressed = 0, False

            def defer(entry: dict[str, Any]) -> None:
                nonlocal held
                deferred.write(json.dumps(entry) + "\n")
                held += 1

            for batch in _batches(_entries(pending)):
                with write_transaction():
                    for entry in batch:
                        if _apply(tenant_id, source, entry, plan, settings, result, defer=defer):
                            progressed = True
                renew()
                done += len(batch)
                if progress:
                    progress("write", min(done, total), total)
            if pending is not spool:
                pending.close()
            pending = deferred
            if not held:
                deferred.close()
                break
            # Again, now that more managers exist. A pass that settles nothing (a manager
            # cycle) applies the rest without them.
            if not progressed:
                plan.known.forget_creates()
            done -= held
    finally:
        audit.bind(None)


def _apply(tenant_id: int, source: str, entry: dict[str, Any], plan: _Plan, settings: Settings,
           result: SyncResult, defer: Callable[[dict[str, Any]], None]) -> bool:
    """Apply one spooled user inside the batch's transaction; False when it was deferred."""
    google_user, manager = entry["user"], entry["manager"]
    manager_id = plan.known.holder(manager) if manager else None
    if manager and manager_id is None and plan.known.creates(manager):
        defer(entry)
        return False
    document = _load(google_user, manager_id, settings)
    name = fold(document["userName"])
    current = plan.known.stored(document["externalId"])
    if current is not None and not current.removed:
        if current.name != name:  # renamed in Google: the new name may be another source's
            holders = store.live_user_names(db.session.connection(), tenant_id, [name])
            if name in holders and holders[name][0] != source:
                result.counts["clashes"] += 1
                result.errors.append(_clash(document["userName"], holders[name][0]))
                return True
        if _digest(document) == current.digest:
            result.counts["unchanged"] += 1
        else:
            try:
                user_service.replace_user(tenant_id, current.scim_id, document, None,
                                          limits=settings.limits)
            except NotFound:  # removed over SCIM since the read phase: the next run restores it
                return True
            result.counts["disabled" if current.active and not document.get("active", True)
                          else "updated"] += 1
        if current.name != name:
            plan.known.forget_name(current.name)
        plan.known.name(name, current.scim_id)
        plan.known.created(name)
        return True
    holders = store.live_user_names(db.session.connection(), tenant_id, [name])
    if name in holders:
        other, external_id = holders[name]
        result.counts["clashes"] += 1
        result.errors.append(_clash(document["userName"], other) if other != source else
                             f"{document['userName']}: another Google user (id {external_id}) of this "
                             "connection holds this userName; left alone.")
        plan.known.created(name)
        return True
    user = user_service.create_user(tenant_id, document, None, limits=settings.limits, source=source)
    result.counts["restored" if user.version > 1 else "created"] += 1
    plan.known.name(name, user.scim_id)
    plan.known.keep([(document["externalId"],
                      Stored(user.scim_id, _digest(document), user.active, False, name))])
    plan.known.created(name)
    return True


# --- runs and the lease -----------------------------------------------------------------

def _take_lease(connection_id: int, holder: str) -> None:
    with write_transaction() as connection:
        now = utcnow()
        if not store.take_lease(connection, connection_id, holder, now, now + LEASE):
            current = db.session.get(GoogleConnection, connection_id)
            raise Conflict(f"Another sync of this connection is running ({current.lease_holder}, "
                           f"until {current.lease_until:%Y-%m-%d %H:%M:%S} UTC at the latest).")


def _start_run(tenant_id: int, source: str, trigger: str) -> int:
    with write_transaction():
        run = GoogleSyncRun(tenant_id=tenant_id, source=source, status="running", trigger=trigger,
                            counts={}, errors=[])
        db.session.add(run)
        db.session.flush()
        return run.id


def _finish_run(result: SyncResult, connection_id: int, holder: str) -> None:
    with write_transaction() as connection:
        run = db.session.get(GoogleSyncRun, result.run_id)
        if run is not None:
            run.status, run.finished_at = result.status, utcnow()
            run.counts, run.errors = dict(result.counts), result.errors[:1000]
        store.release_lease(connection, connection_id, holder)


def due(tenant_id: int, interval: float) -> bool:
    """Whether the organization's connection should sync now: its last run started at least
    ``interval`` seconds ago (or it never ran)."""
    connection = db.session.scalar(
        select(GoogleConnection).where(GoogleConnection.tenant_id == tenant_id))
    if connection is None:
        return False
    last = db.session.scalar(select(func.max(GoogleSyncRun.started_at)).where(
        GoogleSyncRun.tenant_id == tenant_id, GoogleSyncRun.source == connection.source,
        GoogleSyncRun.trigger == "serve"))
    return last is None or (utcnow() - last).total_seconds() >= interval


def last_runs() -> list[tuple[str, str, str | None, datetime | None]]:
    """Every organization's connection with its last finished run, for the metrics listener
    (instance-level): (organization slug, connection name, status, finished_at in UTC, aware).
    A connection that never finished a run has status and finished_at None."""
    last = (select(GoogleSyncRun.tenant_id, GoogleSyncRun.source,
                   func.max(GoogleSyncRun.id).label("run_id"))
            .where(GoogleSyncRun.finished_at.is_not(None))
            .group_by(GoogleSyncRun.tenant_id, GoogleSyncRun.source).subquery())
    rows = db.session.execute(
        select(Organization.slug, GoogleConnection.name, GoogleSyncRun.status,
               GoogleSyncRun.finished_at)
        .join(Organization, Organization.id == GoogleConnection.tenant_id)
        .outerjoin(last, (last.c.tenant_id == GoogleConnection.tenant_id)
                   & (last.c.source == "google:" + GoogleConnection.name))
        .outerjoin(GoogleSyncRun, GoogleSyncRun.id == last.c.run_id)
        .order_by(Organization.slug)).all()
    return [(slug, name, run_status,
             finished.replace(tzinfo=timezone.utc) if finished is not None else None)
            for slug, name, run_status, finished in rows]


def connected_tenants() -> list[int]:
    return list(db.session.scalars(select(GoogleConnection.tenant_id).order_by(GoogleConnection.id)))


def run_due(settings: Settings, holder: str) -> list[SyncResult]:
    """What ``serve`` does on each tick: sync every connection that is due, one at a time,
    logging each run's outcome.

    A connection whose lease another server holds is skipped (that server syncs it).
    """
    results = []
    for tenant_id in connected_tenants():
        db.session.commit()
        if not due(tenant_id, settings.interval):
            continue
        try:
            result = sync(tenant_id, trigger="serve", settings=settings, holder=holder)
        except SafetyValve as error:
            log.warning("google sync of organization %s stopped: %s", tenant_id, error.detail)
            continue
        except Conflict as error:
            log.info("google sync of organization %s skipped: %s", tenant_id, error.detail)
            continue
        except ScimsvcError as error:
            log.warning("google sync of organization %s failed: %s", tenant_id, error.detail)
            continue
        log.info("google sync of organization %s: %s", tenant_id,
                 ", ".join(f"{v} {k}" for k, v in result.counts.items()))
        results.append(result)
    return results
