"""Starting and watching the servers under test: scimsvc, the ceiling app, and the peer.

Each server is a gunicorn master with its workers. Their CPU time and peak
RSS are read from /proc (Linux only): CPU as utime+stime of the master and
live workers plus what the master reaped (cutime+cstime), peak RSS as the
largest VmHWM of a worker, reset at the start of each phase through
/proc/<pid>/clear_refs (value 5, "reset the peak RSS").
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its ')' is space separated.
    return raw[raw.rindex(")") + 2:].split()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Server:
    """A running gunicorn server: its process, address and the environment it was given."""

    name: str
    process: subprocess.Popen
    port: int
    prefix: str  # path of the SCIM root, e.g. /scim/v2
    headers: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def workers(self) -> list[int]:
        return children(self.pid)

    def cpu_seconds(self) -> float:
        """CPU used so far by the master, its live workers, and the workers it reaped."""
        ticks = 0
        master = _stat(self.pid)
        if master:
            ticks += sum(int(v) for v in master[11:15])  # utime stime cutime cstime
        for pid in self.workers():
            stat = _stat(pid)
            if stat:
                ticks += int(stat[11]) + int(stat[12])
        return ticks / CLK_TCK

    def reset_peak_rss(self) -> None:
        for pid in self.workers():
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                pass

    def peak_rss_mb(self) -> float:
        """The largest peak resident set of a worker since the last reset, in MiB."""
        return max((_status_kb(pid, "VmHWM") for pid in self.workers()), default=0) / 1024

    def rss_mb(self) -> float:
        return max((_status_kb(pid, "VmRSS") for pid in self.workers()), default=0) / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_until_up(server: Server, path: str, timeout: float = 60.0) -> None:
    """Poll ``path`` until the server answers with any HTTP status (bounded by ``timeout``)."""
    deadline = time.time() + timeout
    url = f"http://{HOST}:{server.port}{path}"
    while time.time() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text()[-3000:] if server.log else ""
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{tail}")
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=server.headers), timeout=2)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.1)
    else:
        raise RuntimeError(f"{server.name} did not answer on {url} within {timeout:.0f}s")
    # gunicorn forks its workers after binding: wait until they are all there.
    while len(server.workers()) < 1 and time.time() < deadline:
        time.sleep(0.05)


# --- scimsvc ------------------------------------------------------------------------

def scimsvc_bin() -> str:
    return str(Path(sys.executable).with_name("scimsvc"))


def scimsvc_env(instance: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
    env["SCIMSVC_INSTANCE_PATH"] = str(instance)
    if database_url:
        env["SCIMSVC_DATABASE_URL"] = database_url
    return env


def admin(env: dict[str, str], *args: str) -> str:
    """Run one ``scimsvc`` admin command through the console script; return its stdout."""
    done = subprocess.run([scimsvc_bin(), *args], env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"scimsvc {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def provision(env: dict[str, str]) -> str:
    """Run the README's set-up steps (init, role, team, key, team assignment); return the key."""
    admin(env, "init")
    admin(env, "role", "create", "scim-provisioner", "--permission", "scim:provision")
    admin(env, "role", "create", "directory-reader", "--permission", "directory:read")
    admin(env, "team", "create", "identity-provider", "--role", "scim-provisioner",
          "--role", "directory-reader")  # the decision phase asks AuthZEN with the same key
    key = json.loads(admin(env, "api-key", "create", "--team", "identity-provider",
                           "--name", "bench", "--json"))["key"]
    admin(env, "team", "create", "employees", "--role", "scim-provisioner")
    admin(env, "provisioning", "assign-team", "employees")
    return key


def start_scimsvc(env: dict[str, str], key: str, workdir: Path, workers: int = 2) -> Server:
    port = free_port()
    log = workdir / "scimsvc-serve.log"
    process = subprocess.Popen(
        [scimsvc_bin(), "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=workdir,
    )
    server = Server("scimsvc", process, port, "/scim/v2", _headers(key), log)
    wait_until_up(server, "/scim/v2/ServiceProviderConfig")
    return server


def _headers(key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/scim+json", "Content-Type": "application/scim+json",
               "User-Agent": "scimsvc-bench"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


# --- the ceiling and the peer ---------------------------------------------------------

def start_ceiling(workdir: Path, size: int, workers: int = 2) -> Server:
    """The minimal Flask app under the same gunicorn settings as ``scimsvc serve``."""
    port = free_port()
    log = workdir / "ceiling.log"
    env = dict(os.environ, BENCH_CEILING_SIZE=str(size), PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.ceiling", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT,
    )
    server = Server("ceiling", process, port, "/scim/v2", _headers("ceiling-key"), log)
    wait_until_up(server, "/scim/v2/Users/x")
    return server


PEER_TOKEN = "peer-bench-token"


def start_peer(workdir: Path, python: str, preload: int) -> Server:
    """python-scim's scim2-server in its own virtualenv, served by gunicorn like scimsvc.

    Its storage lives in the memory of one process, so it gets one worker:
    two would hold two different directories.
    """
    port = free_port()
    log = workdir / "peer.log"
    gunicorn = str(Path(python).with_name("gunicorn"))
    env = dict(os.environ, BENCH_PEER_TOKEN=PEER_TOKEN, BENCH_PEER_PRELOAD=str(preload),
               PYTHONPATH=str(HERE))
    process = subprocess.Popen(
        [gunicorn, "--bind", f"{HOST}:{port}", "--workers", "1", "--worker-class", "sync",
         "--timeout", "600", "--keep-alive", "5", "--preload", "peer_app:app"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=workdir,
    )
    server = Server("scim2-server", process, port, "/v2", _headers(PEER_TOKEN), log)
    wait_until_up(server, "/v2/ServiceProviderConfig", timeout=3600)
    return server
