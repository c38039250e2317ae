"""A directory sync's working set, on disk: what it knows of each user while it runs.

A sync of 100,000 users compares each with the stored one, resolves managers by
userName, remembers which Google ids it saw (what it did not see is removed) and
which userNames it is about to create. Held in Python dicts, that index cost ~2.5 KB
of resident memory per user (361 MB at 100,000); here it is a private SQLite file in
the temporary folder with a small page cache, so a sync's memory does not grow with
the directory. The file is deleted when the sync ends (``close``).

This is not the service's database: nothing here is shared, journaled or kept.
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from typing import Iterable, Iterator

_SCHEMA = """
CREATE TABLE stored (external_id TEXT PRIMARY KEY, scim_id TEXT NOT NULL, digest BLOB NOT NULL,
                     active INTEGER NOT NULL, removed INTEGER NOT NULL, name TEXT NOT NULL)
                     WITHOUT ROWID;
CREATE TABLE names (name TEXT PRIMARY KEY, scim_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE seen (google_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE creates (name TEXT PRIMARY KEY) WITHOUT ROWID;
"""
CACHE_KB = 8192  # SQLite's page cache for the file; the rest stays on disk


@dataclass(frozen=True, slots=True)
class Stored:
    """What a sync knows of one of its source's users."""

    scim_id: str
    digest: bytes
    active: bool
    removed: bool
    name: str  # folded userName


class Scratch:
    """The working set of one sync run (see the module doc)."""

    def __init__(self) -> None:
        handle, self.path = tempfile.mkstemp(prefix="scimsvc-sync-", suffix=".sqlite3")
        os.close(handle)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KB}")
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")  # one transaction for the run: nothing here must survive it

    def close(self) -> None:
        self._db.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    # -- the source's stored users ----------------------------------------------------------
    def keep(self, rows: Iterable[tuple[str, Stored]]) -> None:
        """Record stored users (externalId, what is known), oldest first: a later row for an id
        replaces an earlier one, except that a live account wins over a removed one."""
        self._db.executemany(
            "INSERT INTO stored VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (external_id) DO UPDATE SET "
            "scim_id = excluded.scim_id, digest = excluded.digest, active = excluded.active, "
            "removed = excluded.removed, name = excluded.name "
            "WHERE NOT (stored.removed = 0 AND excluded.removed = 1)",
            ((gid, s.scim_id, s.digest, s.active, s.removed, s.name) for gid, s in rows))

    def stored(self, external_id: str) -> Stored | None:
        row = self._db.execute("SELECT scim_id, digest, active, removed, name FROM stored "
                               "WHERE external_id = ?", (external_id,)).fetchone()
        return None if row is None else Stored(row[0], row[1], bool(row[2]), bool(row[3]), row[4])

    def unseen(self) -> int:
        """How many live stored users' Google ids were not seen (what a run would remove)."""
        return self._db.execute("SELECT count(*) FROM stored WHERE removed = 0 AND external_id "
                                "NOT IN (SELECT google_id FROM seen)").fetchone()[0]

    def not_seen(self) -> Iterator[str]:
        """The SCIM ids of the live stored users whose Google id was not seen, in id order."""
        rows = self._db.execute("SELECT scim_id FROM stored WHERE removed = 0 AND external_id "
                                "NOT IN (SELECT google_id FROM seen) ORDER BY external_id")
        for (scim_id,) in rows:
            yield scim_id

    # -- live userNames -> SCIM ids (managers are named by e-mail) ---------------------------
    def name(self, name: str, scim_id: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO names VALUES (?, ?)", (name, scim_id))

    def forget_name(self, name: str) -> None:
        self._db.execute("DELETE FROM names WHERE name = ?", (name,))

    def holder(self, name: str) -> str | None:
        row = self._db.execute("SELECT scim_id FROM names WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def live(self) -> int:
        return self._db.execute("SELECT count(*) FROM names").fetchone()[0]

    # -- Google ids seen in this run ----------------------------------------------------------
    def see(self, google_id: str) -> bool:
        """Note ``google_id`` as seen; False when it already was (a user listed twice)."""
        return self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (google_id,)).rowcount == 1

    # -- userNames this run is about to create --------------------------------------------------
    def will_create(self, name: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO creates VALUES (?)", (name,))

    def creates(self, name: str) -> bool:
        return self._db.execute("SELECT 1 FROM creates WHERE name = ?", (name,)).fetchone() is not None

    def created(self, name: str) -> None:
        self._db.execute("DELETE FROM creates WHERE name = ?", (name,))

    def forget_creates(self) -> None:
        self._db.execute("DELETE FROM creates")
