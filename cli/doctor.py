"""``scimsvc doctor URL --key KEY``: check a deployment from outside, as an identity provider sees it.

Each check prints a verdict (ok, warn, FAIL) and, when it is not ok, the fix.
Nothing is written: every request is a GET. Exits 1 when a check fails.
"""
from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import click

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
EXPIRY_WARNING_DAYS = 14
CLOCK_SKEW_SECONDS = 60
TIMEOUT = 15


@dataclass
class Answer:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Doctor:
    def __init__(self, url: str, key: str, insecure: bool = False):
        self.base = url.rstrip("/").removesuffix("/scim/v2")
        self.key = key
        self.insecure = insecure
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPSHandler(context=context))
        self.results: list[tuple[str, str, str, str | None]] = []

    def get(self, path: str, key: bool = True) -> Answer:
        headers = {"Accept": "application/scim+json", "X-Scimsvc-Key-Info": "1",
                   "User-Agent": "scimsvc-doctor"}
        if key:
            headers["Authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with self.opener.open(request, timeout=TIMEOUT) as response:
                return Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.headers, error.read())

    def report(self, verdict: str, check: str, detail: str, fix: str | None = None) -> None:
        self.results.append((verdict, check, detail, fix))

    def run(self) -> list[tuple[str, str, str, str | None]]:
        if not self._reachable():
            return self.results
        self._readyz()
        users = self.get("/scim/v2/Users?count=1")
        self._authorization(users)
        self._key(users)
        self._locations()
        self._unknown_path()
        self._clock(users)
        return self.results

    def _reachable(self) -> bool:
        scheme = urlsplit(self.base).scheme
        try:
            answer = self.get("/healthz", key=False)
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                self.report("FAIL", "https", f"the certificate is not valid: {reason.verify_message}",
                            "install a certificate for this host name from a public CA (IdPs "
                            "refuse self-signed ones)")
            else:
                self.report("FAIL", "reachable", f"{self.base} does not answer: {reason}",
                            "check the URL, DNS, the firewall and that the proxy forwards to scimsvc")
            return False
        problem = self._certificate_problem() if scheme == "https" and self.insecure else None
        if problem is not None:
            self.report("warn", "https", f"answers over HTTPS, but the certificate is not valid: "
                        f"{problem} (not verified for the checks: --insecure)",
                        "install a certificate for this host name from a public CA (IdPs "
                        "refuse self-signed ones)")
        elif scheme == "https":
            self.report("ok", "https", "answers over HTTPS with a valid certificate")
        else:
            self.report("FAIL", "https", f"{self.base} is not HTTPS",
                        "terminate TLS at a reverse proxy (docs/deploy.md) and give the IdP https://")
        if answer.status != 200:
            self.report("FAIL", "healthz", f"/healthz answered {answer.status}",
                        "the proxy must forward every path to scimsvc, not only /scim/v2")
        return True

    def _certificate_problem(self) -> str | None:
        """With --insecure, still check the certificate, apart: why it is not valid, or None."""
        parts = urlsplit(self.base)
        host, port = parts.hostname or "", parts.port or 443
        try:
            with socket.create_connection((host, port), timeout=TIMEOUT) as raw:
                with ssl.create_default_context().wrap_socket(raw, server_hostname=host):
                    return None
        except ssl.SSLCertVerificationError as error:
            return error.verify_message or str(error)
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            return f"it could not be checked ({error})"

    def _readyz(self) -> None:
        answer = self.get("/readyz", key=False)
        body = answer.json() or {}
        if answer.status == 200 and body.get("status") == "ready":
            self.report("ok", "readyz", "the database answers and its schema is at head")
        else:
            self.report("FAIL", "readyz", f"/readyz answered {answer.status}: "
                        f"{body.get('reason') or answer.body[:200]!r}",
                        "run 'scimsvc db upgrade' and check the database")

    def _authorization(self, users: Answer) -> None:
        detail = (users.json() or {}).get("detail", "")
        if users.status == 401 and "Missing 'Authorization" in detail:
            self.report("FAIL", "authorization", "the Authorization header does not reach scimsvc",
                        "make the proxy pass it on (nginx passes it by default; Apache needs "
                        "'CGIPassAuth On' or 'RequestHeader set Authorization'; check any auth layer)")
        else:
            self.report("ok", "authorization", "the Authorization header survives the proxy")

    def _key(self, users: Answer) -> None:
        if users.status == 200:
            self.report("ok", "key", "the key is valid and allowed to provision")
        elif users.status == 401:
            if "Missing 'Authorization" not in (users.json() or {}).get("detail", ""):
                self.report("FAIL", "key", "the key is unknown, revoked or expired",
                            "create one: scimsvc api-key create --team TEAM --name NAME")
            return
        elif users.status == 403:
            self.report("FAIL", "key", "the key's team has no role granting scim:provision",
                        "scimsvc team add-role TEAM ROLE (a role with --permission scim:provision)")
            return
        else:
            self.report("FAIL", "key", f"/scim/v2/Users answered {users.status}",
                        "see the server's log for the request id in X-Request-Id")
            return
        expires = users.headers.get("X-Scimsvc-Key-Expires")
        if not expires or expires == "never":
            self.report("ok", "expiry", "the key does not expire")
            return
        moment = datetime.fromisoformat(expires.replace("Z", "+00:00"))
        days = (moment - datetime.now(timezone.utc)).total_seconds() / 86400
        if days < EXPIRY_WARNING_DAYS:
            self.report("warn", "expiry", f"the key expires in {days:.1f} days ({expires})",
                        "scimsvc api-key rotate NAME, then paste the new key into the IdP")
        else:
            self.report("ok", "expiry", f"the key expires in {days:.0f} days")

    def _locations(self) -> None:
        expected = self.base + "/scim/v2/"
        answer = self.get("/scim/v2/ServiceProviderConfig")
        body = answer.json() or {}
        locations = [body.get("meta", {}).get("location")]
        users = (self.get("/scim/v2/Users?count=1").json() or {}).get("Resources") or []
        locations += [u.get("meta", {}).get("location") for u in users]
        wrong = [loc for loc in locations if loc and not loc.startswith(expected)]
        if answer.status != 200 or not locations[0]:
            self.report("FAIL", "locations", f"ServiceProviderConfig answered {answer.status}",
                        "check the key and the proxy")
        elif wrong:
            self.report("FAIL", "locations", f"meta.location is {wrong[0]}, not under {expected}",
                        "set SCIMSVC_BASE_URL to the public URL (or SCIMSVC_TRUSTED_PROXIES with "
                        "a proxy that sets X-Forwarded-Host/-Proto); the proxy rewrites the host")
        else:
            self.report("ok", "locations", f"meta.location uses {self.base}")

    def _unknown_path(self) -> None:
        answer = self.get("/scim/v2/DoctorNoSuchEndpoint")
        body = answer.json()
        kind = (answer.headers.get("Content-Type") or "").split(";")[0]
        if answer.status == 404 and isinstance(body, dict) and SCIM_ERROR in body.get("schemas", []):
            self.report("ok", "errors", "unknown paths answer a SCIM error in JSON")
        else:
            self.report("FAIL", "errors", f"an unknown path answered {answer.status} {kind or '?'}, "
                        "not a SCIM error", "let the proxy pass scimsvc's error responses through "
                        "(nginx: no proxy_intercept_errors, no error_page for /scim/)")

    def _clock(self, users: Answer) -> None:
        date = users.headers.get("Date")
        if not date:
            self.report("warn", "clock", "the server sent no Date header", None)
            return
        skew = (parsedate_to_datetime(date) - datetime.now(timezone.utc)).total_seconds()
        if abs(skew) > CLOCK_SKEW_SECONDS:
            self.report("FAIL", "clock", f"the server's clock is {skew:+.0f} s off this one",
                        "run NTP (chrony, systemd-timesyncd) on both: key expiry and the journal "
                        "depend on it")
        else:
            self.report("ok", "clock", f"the clocks agree within {abs(skew):.0f} s")


@click.command("doctor", short_help="Check a deployment from outside, as an IdP sees it.")
@click.argument("url")
@click.option("--key", required=True, envvar="SCIMSVC_DOCTOR_KEY",
              help="The API key the IdP uses (or SCIMSVC_DOCTOR_KEY).")
@click.option("--insecure", is_flag=True,
              help="Do not verify the TLS certificate for the checks; it is still checked apart, "
                   "and an invalid one is reported as a warning.")
def doctor(url: str, key: str, insecure: bool) -> None:
    """Check URL (the public base URL, with or without /scim/v2) the way an identity provider
    calls it: HTTPS and its certificate, /readyz, the Authorization header through the proxy,
    the key (valid, allowed, expiry), meta.location against the public URL, SCIM errors on
    unknown paths, and clock skew. Only GET requests: the Location header of a create is
    not checked, the meta.location of ServiceProviderConfig and of a listed user (the same
    URL scimsvc puts in Location) is. Exits 1 when a check fails."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise click.ClickException(f"'{url}' is not an http(s) URL.")
    results = Doctor(url, key, insecure).run()
    for verdict, check, detail, fix in results:
        click.echo(f"{verdict:<4} {check:<13} {detail}")
        if fix and verdict != "ok":
            click.echo(f"{'':<18} fix: {fix}")
    if any(verdict == "FAIL" for verdict, *_ in results):
        raise SystemExit(1)
