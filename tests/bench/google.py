"""``make bench BENCH_ARGS=--google``: a Google Workspace sync of N users against the local fake.

Starts the fake Directory API (tests/fakes/google_directory.py) on 127.0.0.1 with N users
(managers, phones, organizations, like a real directory), connects a fresh scimsvc database
to it through the console script, and times three syncs, each a ``scimsvc google sync
--json`` process: the first (N creates), one in which nothing changed (it must write no user,
journal row or timestamp: checked here), and one with 1 % of the users changed. Peak RSS is
each sync process's own high-water mark (VmHWM, polled every 50 ms). Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.fakes.google_directory import Directory, FakeGoogle, google_user

from . import servers


def directory_of(n: int) -> Directory:
    users = []
    for i in range(n):
        user = google_user(f"user{i:06d}@example.com", f"Given{i % 97}", f"Family{i}", id=f"1{i:012d}",
                           phones=[{"value": f"+1 555 {i:07d}", "type": "work", "primary": True}],
                           organizations=[{"title": "Engineer", "department": f"Dept {i % 40}",
                                           "costCenter": f"CC-{i % 13}", "primary": True}],
                           externalIds=[{"value": f"E{i}", "type": "organization"}])
        if i % 10:
            user["relations"] = [{"value": f"user{i - i % 10:06d}@example.com", "type": "manager"}]
        users.append(user)
    return Directory(users=users)


def _peak_rss_kb(pid: int) -> int | None:
    """The process's own high-water RSS (VmHWM). Not its rusage: on Linux the ru_maxrss of a
    child that exec'd carries the RSS of the process it was forked from (this bench, with the
    fake directory in memory), which is how an earlier run reported 361 MB at 100,000."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _sync(env: dict[str, str]) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([servers.scimsvc_bin(), "google", "sync", "--json", "--force"],
                                 env=env, stdout=out, stderr=err, text=True)
        peak = 0
        deadline = started + 3600
        while child.poll() is None and time.monotonic() < deadline:
            peak = max(peak, _peak_rss_kb(child.pid) or 0)
            time.sleep(0.05)
        if child.poll() is None:
            child.kill()
        returncode = child.wait()
        seconds = time.monotonic() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if returncode != 0:
        raise RuntimeError(f"scimsvc google sync failed:\n{stdout}{stderr}")
    result = json.loads(stdout)
    return {"seconds": round(seconds, 1), "counts": result["counts"],
            "peak_rss_mb": round(peak / 1024, 1)}


def _state(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return {"journal": connection.execute(sa.text("SELECT count(*) FROM audit_events")).scalar(),
                    "users": connection.execute(sa.text("SELECT count(*) FROM users")).scalar(),
                    "latest_update": str(connection.execute(
                        sa.text("SELECT max(updated_at) FROM users")).scalar()),
                    "versions": connection.execute(sa.text("SELECT sum(version) FROM users")).scalar()}
    finally:
        engine.dispose()


def run(users: int, work: Path, database_url: str | None) -> dict[str, Any]:
    fake = FakeGoogle(directory_of(users)).start()
    try:
        instance = work / "instance"
        instance.mkdir(exist_ok=True)
        env = servers.scimsvc_env(instance, database_url)
        env.update(SCIMSVC_GOOGLE_API_URL=fake.url, SCIMSVC_GOOGLE_TIMEOUT="60")
        servers.admin(env, "init")
        key = fake.key_file(work / "google-key.json")
        servers.admin(env, "google", "connect", "--credentials", str(key), "--admin", "admin@example.com")
        url = database_url or f"sqlite:///{instance / 'scimsvc.sqlite3'}"
        report: dict[str, Any] = {"users": users}
        print(f"google sync bench: {users} users", flush=True)
        report["first"] = _sync(env)
        print(f"  first sync       {report['first']}", flush=True)
        before = _state(url)
        report["no_change"] = _sync(env)
        after = _state(url)
        report["no_change"]["wrote_nothing"] = before == after
        print(f"  no-change sync   {report['no_change']}", flush=True)
        for user in fake.directory.users[::100]:
            user["name"]["familyName"] += "-x"
        report["one_percent"] = _sync(env)
        print(f"  1 % changed      {report['one_percent']}", flush=True)
        report["pages"] = len(fake.list_requests())
        return report
    finally:
        fake.stop()


def main(users: int, out: Path | None, database_url: str | None) -> int:
    work = Path(tempfile.mkdtemp(prefix="scimsvc-bench-google-"))
    try:
        report = run(users, work, database_url)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # its database and key file
    report["cpu"] = os.cpu_count()
    if out:
        out.write_text(json.dumps(report, indent=2))
    return 0 if report["no_change"]["wrote_nothing"] else 1
