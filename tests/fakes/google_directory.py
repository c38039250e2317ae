"""A local fake of Google's Admin SDK Directory API and OAuth token endpoint, for the sync's tests.

Shapes follow Google's published reference (developers.google.com/workspace/admin/directory/
reference/rest/v1): ``users.list`` (``GET admin/directory/v1/users`` with ``customer`` or
``domain``, ``query``, ``showDeleted``, ``maxResults`` 1-500 (default 100), ``pageToken``;
answers ``{"kind": "admin#directory#users", "users": [...], "nextPageToken"}``), ``members.list``
(``GET admin/directory/v1/groups/{groupKey}/members``), and the error body
``{"error": {"code", "message", "errors": [{"domain", "reason", "message"}], "status"}}``.

The token endpoint is the one a service-account key file names in ``token_uri`` (RFC 7523's
JWT bearer grant, as Google's "Using OAuth 2.0 for Server to Server Applications" describes):
it checks that the assertion is an RS256 JWT signed by the key the fake issued, whose ``iss`` is
the service account, ``aud`` the token URI, ``sub`` an admin of the directory, and whose
``scope`` holds only scopes the domain-wide delegation grants; it answers as Google does when it
is not (``unauthorized_client``, ``invalid_grant``). The fake is a werkzeug app served on
127.0.0.1 in a thread; tests change its directory and inject failures between requests.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

USER_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
GROUP_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.readonly"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CUSTOMER_ID = "C03az79cb"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def google_user(email: str, given: str = "Ann", family: str = "Lee", **extra: Any) -> dict:
    """A Directory API User resource as users.list returns it (projection basic)."""
    user_id = extra.pop("id", None) or str(100000000000000000000 + int.from_bytes(
        email.encode()[:8].ljust(8, b"\0"), "big") % 10**20)
    return {
        "kind": "admin#directory#user", "id": user_id, "etag": f'"{secrets.token_hex(8)}"',
        "primaryEmail": email,
        "name": {"givenName": given, "familyName": family, "fullName": f"{given} {family}"},
        "isAdmin": False, "isDelegatedAdmin": False, "lastLoginTime": "2026-11-30T09:00:00.000Z",
        "creationTime": "2024-01-15T10:00:00.000Z", "agreedToTerms": True, "suspended": False,
        "archived": False, "changePasswordAtNextLogin": False, "ipWhitelisted": False,
        "emails": [{"address": email, "primary": True}], "customerId": CUSTOMER_ID,
        "orgUnitPath": "/", "isMailboxSetup": True, "includeInGlobalAddressList": True,
        **extra,
    }


@dataclass
class Failure:
    """Answer the ``nth`` users.list page request (1-based, counted from now) with ``status``
    (or hang ``delay`` seconds first); ``times`` requests in a row."""

    nth: int
    status: int = 500
    delay: float = 0.0
    times: int = 1


@dataclass
class Directory:
    """What the fake serves: its users, groups, admins and the service account's delegation."""

    domain: str = "example.com"
    users: list[dict] = field(default_factory=list)
    deleted: list[dict] = field(default_factory=list)  # listed only with showDeleted=true
    groups: dict[str, list[dict]] = field(default_factory=dict)  # group email -> members
    admins: set[str] = field(default_factory=lambda: {"admin@example.com"})
    delegated_scopes: set[str] = field(default_factory=lambda: {USER_SCOPE, GROUP_SCOPE})
    api_enabled: bool = True


class FakeGoogle:
    """The fake's server: ``url`` is the API root (SCIMSVC_GOOGLE_API_URL)."""

    def __init__(self, directory: Directory | None = None):
        self.directory = directory or Directory()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.client_email = "scimsvc-sync@example-project.iam.gserviceaccount.com"
        self.client_id = "118000000000000000001"
        self.tokens: dict[str, dict[str, Any]] = {}  # access token -> {"sub", "scopes"}
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.token_requests = 0
        self.failures: list[Failure] = []
        self._pages_seen = 0
        self._lock = threading.Lock()
        # A listing's order, taken at its first page and kept for its pageTokens (like
        # Google's, a listing's pages come from one view); re-sorting 100,000 users for each
        # of 200 pages made the fake, not scimsvc, the bench's bottleneck.
        self._listing: dict[tuple[bool, str | None], list[dict[str, Any]]] = {}
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "FakeGoogle":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what tests hand to scimsvc ----------------------------------------------------------
    def key_file(self, path, *, token_uri: str | None = None) -> Any:
        """Write a service-account key file (Google's JSON format) for this fake, mode 0600."""
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
        path.write_text(json.dumps({
            "type": "service_account", "project_id": "example-project",
            "private_key_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c", "private_key": pem,
            "client_email": self.client_email, "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri or f"{self.url}token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/scimsvc-sync",
            "universe_domain": "googleapis.com",
        }))
        path.chmod(0o600)
        return path

    def fail(self, nth: int = 1, status: int = 500, *, delay: float = 0.0, times: int = 1) -> None:
        """Make the ``nth`` users.list request from now fail (see Failure)."""
        with self._lock:
            self.failures.append(Failure(self._pages_seen + nth, status, delay, times))

    def list_requests(self) -> list[dict[str, list[str]]]:
        return [query for method, path, query in self.requests if path.endswith("/users")]

    # -- the HTTP side -----------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.requests.append((request.method, request.path, parse_qs(request.query_string.decode())))
        if request.path == "/token" and request.method == "POST":
            response = self._token(request)
        elif request.path.startswith("/admin/directory/v1/"):
            response = self._api(request)
        else:
            response = _error(404, "Not Found", "notFound")
        return response(environ, start_response)

    def _token(self, request: Request) -> Response:
        self.token_requests += 1
        form = request.form
        if form.get("grant_type") != JWT_GRANT or "assertion" not in form:
            return _oauth_error(400, "unsupported_grant_type", "Invalid grant_type.")
        try:
            header_b64, claims_b64, signature_b64 = form["assertion"].split(".")
            header = json.loads(_b64decode(header_b64))
            claims = json.loads(_b64decode(claims_b64))
            self._key.public_key().verify(_b64decode(signature_b64),
                                          f"{header_b64}.{claims_b64}".encode(),
                                          padding.PKCS1v15(), hashes.SHA256())
        except Exception:  # noqa: BLE001 - any malformed or forged assertion
            return _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if header.get("alg") != "RS256" or claims.get("iss") != self.client_email:
            return _oauth_error(400, "invalid_grant", "Invalid JWT: iss or alg.")
        # google-auth addresses the assertion to Google's token endpoint whatever the key
        # file's token_uri says; Google checks that audience.
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, f"{self.url}token"):
            return _oauth_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token "
                                                      "and in a reasonable timeframe.")
        now = time.time()
        if not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0) + 300):
            return _oauth_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token "
                                                      "and in a reasonable timeframe.")
        scopes = set(str(claims.get("scope", "")).split())
        subject = claims.get("sub")
        if not subject:  # no impersonation: the service account itself has no directory access
            token = secrets.token_urlsafe(24)
            self.tokens[token] = {"sub": None, "scopes": scopes}
            return _json({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
        if not scopes or not scopes <= self.directory.delegated_scopes:
            return _oauth_error(401, "unauthorized_client",
                                "Client is unauthorized to retrieve access tokens using this method, "
                                "or client not authorized for any of the scopes requested.")
        if not subject.endswith("@" + self.directory.domain):
            return _oauth_error(400, "invalid_grant", "Invalid email or User ID")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = {"sub": subject, "scopes": scopes}
        return _json({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _grant(self, request: Request, scope: str) -> Response | None:
        auth = request.headers.get("Authorization", "")
        grant = self.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if grant is None:
            return _error(401, "Request had invalid authentication credentials. Expected OAuth 2 "
                               "access token, login cookie or other valid authentication credential.",
                          "authError", status="UNAUTHENTICATED")
        if not self.directory.api_enabled:
            return _error(403, "Admin SDK API has not been used in project 118000000000 before or it "
                               "is disabled. Enable it by visiting https://console.developers.google."
                               "com/apis/api/admin.googleapis.com/overview?project=118000000000 then "
                               "retry.", "accessNotConfigured", status="PERMISSION_DENIED")
        if grant["sub"] not in self.directory.admins or scope not in grant["scopes"]:
            return _error(403, "Not Authorized to access this resource/api", "forbidden")
        return None

    def _api(self, request: Request) -> Response:
        parts = request.path.removeprefix("/admin/directory/v1/").split("/")
        if parts == ["users"] and request.method == "GET":
            return self._grant(request, USER_SCOPE) or self._users(request)
        if len(parts) == 3 and parts[0] == "groups" and parts[2] == "members":
            return self._grant(request, GROUP_SCOPE) or self._members(request, parts[1])
        return _error(404, "Not Found", "notFound")

    def _users(self, request: Request) -> Response:
        args = request.args
        with self._lock:
            self._pages_seen += 1
            failure = next((f for f in self.failures if f.nth <= self._pages_seen < f.nth + f.times),
                           None)
        if failure is not None:
            if failure.delay:
                time.sleep(failure.delay)
            if failure.status:
                message, reason = {403: ("Not Authorized to access this resource/api", "forbidden"),
                                   429: ("Rate Limit Exceeded", "rateLimitExceeded")}.get(
                    failure.status, ("Backend Error", "backendError"))
                return _error(failure.status, message, reason)
        customer, domain = args.get("customer"), args.get("domain")
        if not customer and not domain:
            return _error(400, "Bad Request", "badRequest")
        if customer and customer not in ("my_customer", CUSTOMER_ID):
            return _error(400, "Bad Request", "badRequest")
        if domain and domain != self.directory.domain:
            return _error(403, "Not Authorized to access this resource/api", "forbidden")
        try:
            size = int(args.get("maxResults", 100))
        except ValueError:
            return _error(400, "Invalid value '" + args["maxResults"] + "'. Values must match the "
                               "following regular expression: '[0-9]+'", "invalidParameter")
        if not 1 <= size <= 500:
            return _error(400, "Invalid Input: maxResults", "invalidInput")
        deleted = args.get("showDeleted") == "true"
        users = self.directory.deleted if deleted else self.directory.users
        view = (deleted, args.get("query"))
        if not args.get("pageToken") or view not in self._listing:
            self._listing[view] = sorted((u for u in users if _matches(u, args.get("query"))),
                                         key=lambda u: u["primaryEmail"].lower())
        users = self._listing[view]
        start = 0
        if args.get("pageToken"):
            try:
                start = int(_b64decode(args["pageToken"]).decode().removeprefix("offset:"))
            except ValueError:
                return _error(400, "Invalid Input: pageToken", "invalidInput")
        page = users[start:start + size]
        body: dict[str, Any] = {"kind": "admin#directory#users", "etag": '"fake-etag"'}
        if page:
            body["users"] = page
        if start + size < len(users):
            body["nextPageToken"] = base64.urlsafe_b64encode(
                f"offset:{start + size}".encode()).decode().rstrip("=")
        return _json(body)

    def _members(self, request: Request, group_key: str) -> Response:
        members = self.directory.groups.get(group_key)
        if members is None:
            return _error(404, "Resource Not Found: groupKey", "notFound")
        size = int(request.args.get("maxResults", 200))
        start = int(request.args.get("pageToken") or 0)
        body: dict[str, Any] = {"kind": "admin#directory#members", "etag": '"fake-etag"'}
        if members[start:start + size]:
            body["members"] = members[start:start + size]
        if start + size < len(members):
            body["nextPageToken"] = str(start + size)
        return _json(body)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # the tests read fake.requests instead
        pass


def member(user: dict) -> dict:
    """A Member resource for ``user`` (members.list, type USER)."""
    return {"kind": "admin#directory#member", "etag": '"m"', "id": user["id"],
            "email": user["primaryEmail"], "role": "MEMBER", "type": "USER", "status": "ACTIVE"}


def _matches(user: dict, query: str | None) -> bool:
    """The subset of users.list's ``query`` the sync sends: ``orgUnitPath='/A'`` (the unit and
    every unit under it)."""
    if not query:
        return True
    field_name, _, value = query.partition("=")
    value = value.strip().strip("'\"")
    if field_name.strip() == "orgUnitPath":
        path = user.get("orgUnitPath", "/")
        return value == "/" or path == value or path.startswith(value.rstrip("/") + "/")
    return False


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=UTF-8")


def _error(code: int, message: str, reason: str, *, status: str | None = None) -> Response:
    statuses = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
    return _json({"error": {"code": code, "message": message,
                            "errors": [{"message": message, "domain": "global", "reason": reason}],
                            "status": status or statuses.get(code, "UNKNOWN")}}, code)


def _oauth_error(code: int, error: str, description: str) -> Response:
    return _json({"error": error, "error_description": description}, code)
