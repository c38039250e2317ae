"""Starting real ``scimsvc serve`` processes for the end-to-end tests."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest


def console_script() -> str:
    """Return the installed ``scimsvc`` console script (beside this Python, else on PATH)."""
    beside = Path(sys.executable).with_name("scimsvc")
    found = str(beside) if beside.exists() else shutil.which("scimsvc")
    if not found:
        pytest.fail("the scimsvc console script is not installed (run 'make install')")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answering(process: subprocess.Popen, answers: Callable[[], bool], log: Path,
                         seconds: float) -> None:
    """Poll ``answers()`` until the server answers; fail with its log if it exits or never does.

    ``seconds`` bounds a readiness wait on a loaded machine; it is not a timing assertion.
    """
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"scimsvc serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if answers():
                return
        except OSError:  # refused or reset while gunicorn starts (URLError is an OSError)
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"scimsvc serve did not answer in {seconds}s:\n{log.read_text()}")
        time.sleep(0.1)


REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str | None:
    """The local Redis (127.0.0.1:6379) if it answers a PING, else None (tests then skip;
    .ci/run starts it)."""
    try:
        import redis
    except ImportError:
        return None
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError):
        return None
    return REDIS_URL
