"""How ``scimsvc serve`` sets up its gunicorn workers (cli/server.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.system  # starts real processes

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_keeps_the_app_it_loaded_out_of_the_garbage_collectors_scans(tmp_path):
    # A full collection used to walk every object of the loaded app (~80,000), pausing
    # one request for tens of milliseconds; frozen, they are skipped. Run in a child
    # process: freezing changes the whole interpreter, and the test run must not keep it.
    code = (
        "import gc\n"
        "from cli.server import _Server\n"
        "app = _Server({'bind': '127.0.0.1:0'}).load()\n"
        "print(type(app).__name__, gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
    env["SCIMSVC_INSTANCE_PATH"] = str(tmp_path / "instance")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    kind, frozen, scanned = done.stdout.split()
    assert kind == "Flask"
    assert int(frozen) > 10_000
    assert int(scanned) < int(frozen) // 10
