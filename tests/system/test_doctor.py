"""``scimsvc doctor`` against a live ``scimsvc serve`` and two misconfigured proxies the test starts."""
from __future__ import annotations

import http.server
import json
import ipaddress
import os
import signal
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import State, cli
from tests.live import console_script, free_port, wait_until_answering

pytestmark = pytest.mark.system

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-authorization"}


def _admin(env, folder: Path, *args: str) -> str:
    done = subprocess.run([console_script(), *args], env=env, cwd=folder, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("doctor")
    if os.environ.get("SCIMSVC_TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("speaks HTTP only; the SQLite run covers it")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
    env["SCIMSVC_INSTANCE_PATH"] = str(folder / "instance")  # no SCIMSVC_BASE_URL: from the Host
    _admin(env, folder, "init")
    _admin(env, folder, "role", "create", "p", "--permission", "scim:provision")
    _admin(env, folder, "team", "create", "idp", "--role", "p")
    _admin(env, folder, "team", "create", "outsiders")
    key = _admin(env, folder, "api-key", "create", "--team", "idp", "--name", "okta",
                 "--expires-in", "5").strip()
    weak = _admin(env, folder, "api-key", "create", "--team", "outsiders", "--name", "weak").strip()
    port = free_port()
    log = folder / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen([console_script(), "serve", "--port", str(port), "--workers", "1"],
                                   env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT)

    def healthy() -> bool:
        with _opener.open(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status == 200

    try:
        wait_until_answering(process, healthy, log, 60)
        yield f"http://127.0.0.1:{port}", key, weak
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _proxy(backend: str, *, strip_authorization: bool = False, rewrite_host: bool = False,
           tls: ssl.SSLContext | None = None):
    """A reverse proxy on 127.0.0.1 forwarding to ``backend``, misconfigured as asked
    (``tls``: it answers HTTPS with that context's certificate)."""
    backend_host = backend.split("://", 1)[1]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if strip_authorization:
                headers.pop("Authorization", None)
            if rewrite_host:
                headers["Host"] = backend_host  # what `proxy_set_header Host $proxy_host` does
            request = urllib.request.Request(backend + self.path, headers=headers)
            try:
                with _opener.open(request, timeout=30) as response:
                    status, reply, body = response.status, response.headers, response.read()
            except urllib.error.HTTPError as error:
                status, reply, body = error.code, error.headers, error.read()
            self.send_response(status)
            for name, value in reply.items():
                if name.lower() not in _HOP | {"content-length", "date", "server"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        proxy.socket = tls.wrap_socket(proxy.socket, server_side=True)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    return proxy, f"{'https' if tls else 'http'}://127.0.0.1:{proxy.server_address[1]}"


def _self_signed(folder: Path) -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30))
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                   .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def doctor(url: str, key: str, *options: str, lines: list | None = None
           ) -> tuple[int, dict[str, str]]:
    result = CliRunner().invoke(cli, ["doctor", url, "--key", key, *options], obj=State())
    if lines is not None:
        lines.extend(result.output.splitlines())
    verdicts = {}
    for line in result.output.splitlines():
        words = line.split(None, 2)
        if len(words) >= 2 and words[0] in ("ok", "warn", "FAIL"):
            verdicts[words[1]] = words[0]
    return result.exit_code, verdicts


def test_a_direct_server_passes_but_for_https_and_the_near_expiry(server):
    url, key, _weak = server
    code, verdicts = doctor(url + "/scim/v2", key)
    assert code == 1
    assert verdicts == {"https": "FAIL", "readyz": "ok", "authorization": "ok", "key": "ok",
                        "expiry": "warn", "locations": "ok", "errors": "ok", "clock": "ok"}


def test_a_key_without_the_permission_fails(server):
    url, _key, weak = server
    assert doctor(url, weak)[1]["key"] == "FAIL"


def test_a_proxy_that_strips_authorization(server):
    url, key, _weak = server
    proxy, proxied = _proxy(url, strip_authorization=True)
    try:
        code, verdicts = doctor(proxied, key)
    finally:
        proxy.shutdown()
    assert code == 1 and verdicts["authorization"] == "FAIL" and verdicts["readyz"] == "ok"
    assert "key" not in verdicts  # not blamed on the key


def test_a_proxy_that_rewrites_the_host(server):
    url, key, _weak = server
    proxy, proxied = _proxy(url, rewrite_host=True)
    try:
        code, verdicts = doctor(proxied, key)
    finally:
        proxy.shutdown()
    assert code == 1
    assert (verdicts["locations"], verdicts["authorization"], verdicts["key"]) == ("FAIL", "ok", "ok")


def test_an_unreachable_url_is_one_failure():
    code, verdicts = doctor(f"http://127.0.0.1:{free_port()}", "k")
    assert (code, verdicts) == (1, {"reachable": "FAIL"})


def test_insecure_still_reports_a_self_signed_certificate(server, tmp_path):
    url, key, _weak = server
    proxy, proxied = _proxy(url, tls=_self_signed(tmp_path))
    try:
        refused = doctor(proxied, key)
        lines: list[str] = []
        code, verdicts = doctor(proxied, key, "--insecure", lines=lines)
    finally:
        proxy.shutdown()
    assert refused == (1, {"https": "FAIL"})  # verified: nothing else can be checked
    # --insecure: the checks run, and the certificate is still reported, as a warning.
    assert verdicts["https"] == "warn" and verdicts["readyz"] == "ok" and verdicts["key"] == "ok"
    [https] = [line for line in lines if line.split()[1:2] == ["https"]]
    assert "the certificate is not valid: self-signed certificate" in https
    assert "with a valid certificate" not in https
