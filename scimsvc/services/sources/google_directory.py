"""Read a Google Workspace directory through the Admin SDK Directory API (the ``google`` extra).

The conventional client: ``google-api-python-client`` (``users.list``, ``members.list``) with
``google-auth`` service-account credentials that impersonate a Workspace admin (domain-wide
delegation); the key file names its ``token_uri``. ``SCIMSVC_GOOGLE_API_URL`` is the root the
API paths (``admin/directory/v1/users``, …) are joined to. Every failure becomes one
``SourceFailed`` whose detail says what to fix; nothing secret is in it.
"""
from __future__ import annotations

import json
import os
import socket
import stat
from dataclasses import dataclass
from typing import Any, Iterator

from ...errors import InvalidValue, SourceFailed

USER_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
GROUP_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.readonly"
PAGE_SIZE = 500  # users.list's largest page (maxResults 1-500)
RETRIES = 2  # 5xx, 429 and timeouts are retried with backoff by the client


def check_key_file(path: str) -> dict[str, Any]:
    """Read a service-account key file: it must be a private file (no group or other access).

    Returns its JSON. Raises InvalidValue naming what is wrong, never echoing the key.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise InvalidValue(f"Cannot read the key file {path}: {error.strerror}.") from None
    if not stat.S_ISREG(mode):
        raise InvalidValue(f"The key file {path} is not a regular file.")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidValue(f"The key file {path} can be read by other users (mode "
                           f"{stat.S_IMODE(mode):04o}): run 'chmod 600 {path}' first.")
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        raise InvalidValue(f"The key file {path} is not a JSON service-account key "
                           "(IAM → Service accounts → Keys → Add key → JSON).") from None
    missing = [k for k in ("type", "client_email", "private_key", "token_uri") if not info.get(k)] \
        if isinstance(info, dict) else ["type"]
    if missing or info.get("type") != "service_account":
        raise InvalidValue(f"The key file {path} is not a service-account key (missing "
                           f"{', '.join(missing) or 'type service_account'}).")
    return info


@dataclass(frozen=True)
class Scope:
    """What one connection reads: its customer or domain, org units and groups."""

    customer: str = "my_customer"
    domain: str | None = None
    org_units: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


class Directory:
    """One authorised Directory API client for a connection."""

    def __init__(self, key_path: str, admin: str, *, api_url: str, timeout: float,
                 groups: bool = False):
        try:
            import google_auth_httplib2
            import httplib2
            from google.oauth2 import service_account
            from googleapiclient.discovery import build
        except ImportError:
            raise SourceFailed("The Google client is not installed: pip install 'scimsvc[google]' "
                               "(or '.[google]' in scimsvc's folder).") from None
        info = check_key_file(key_path)
        scopes = [USER_SCOPE] + ([GROUP_SCOPE] if groups else [])
        try:
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=scopes, subject=admin)
        except ValueError:
            raise InvalidValue(f"The key file {key_path} holds no usable private key.") from None
        self.client_email = info["client_email"]
        self.client_id = info.get("client_id", "")
        self.admin = admin
        self.scopes = scopes
        http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout))
        self._service = build("admin", "directory_v1", http=http, cache_discovery=False,
                              static_discovery=True, client_options={"api_endpoint": api_url})

    def users(self, scope: Scope) -> Iterator[list[dict[str, Any]]]:
        """Yield the users in scope, a page (at most PAGE_SIZE) at a time; org units one after
        another (a user in two listed units comes twice: the caller dedupes by id)."""
        queries = [f"orgUnitPath='{unit}'" for unit in scope.org_units] or [None]
        for query in queries:
            params: dict[str, Any] = {"maxResults": PAGE_SIZE, "orderBy": "email",
                                      "projection": "full", "viewType": "admin_view"}
            if scope.domain:
                params["domain"] = scope.domain
            else:
                params["customer"] = scope.customer
            if query:
                params["query"] = query
            token = None
            while True:
                page = self._call(self._service.users().list(**params, pageToken=token)
                                  if token else self._service.users().list(**params))
                yield page.get("users", [])
                token = page.get("nextPageToken")
                if not token:
                    break

    def group_members(self, group: str) -> set[str]:
        """The ids of the users in ``group``, nested groups included."""
        found: set[str] = set()
        token = None
        while True:
            request = self._service.members().list(groupKey=group, maxResults=200,
                                                   includeDerivedMembership=True,
                                                   **({"pageToken": token} if token else {}))
            page = self._call(request, group=group)
            found.update(m["id"] for m in page.get("members", [])
                         if m.get("type") == "USER" and m.get("id"))
            token = page.get("nextPageToken")
            if not token:
                return found

    def check(self, scope: Scope) -> int:
        """One real request (the first page of one user), as ``connect`` checks the credentials.

        Returns how many users that page held (0 or 1). Raises SourceFailed explaining the problem.
        """
        params: dict[str, Any] = {"maxResults": 1}
        if scope.domain:
            params["domain"] = scope.domain
        else:
            params["customer"] = scope.customer
        page = self._call(self._service.users().list(**params))
        for group in scope.groups:
            self._call(self._service.members().list(groupKey=group, maxResults=1), group=group)
        return len(page.get("users", []))

    # -- errors -------------------------------------------------------------------------------
    def _call(self, request: Any, *, group: str | None = None) -> dict[str, Any]:
        from google.auth import exceptions as auth_errors
        from googleapiclient import errors as api_errors

        try:
            return request.execute(num_retries=RETRIES)
        except auth_errors.RefreshError as error:
            raise SourceFailed(self._token_problem(error)) from None
        except auth_errors.TransportError as error:
            raise SourceFailed(f"Could not reach Google's token endpoint: {error}.") from None
        except api_errors.HttpError as error:
            raise SourceFailed(self._api_problem(error, group)) from None
        except (socket.timeout, TimeoutError):
            raise SourceFailed("The Directory API did not answer in time "
                               "(SCIMSVC_GOOGLE_TIMEOUT); the next sync tries again.") from None
        except OSError as error:
            raise SourceFailed(f"Could not reach the Directory API: {error}.") from None

    def _token_problem(self, error: Exception) -> str:
        text = str(error)
        scopes = ",".join(self.scopes)
        if "unauthorized_client" in text:
            return ("Google refused the token: domain-wide delegation is missing. In the Admin "
                    "console, Security → Access and data control → API controls → Manage Domain Wide "
                    f"Delegation, add client ID {self.client_id} with the scopes {scopes}.")
        if "invalid_grant" in text and ("email" in text.lower() or "user id" in text.lower()):
            return (f"Google refused the token: {self.admin} is not a user of the Workspace "
                    "(--admin must be a Workspace admin's e-mail address).")
        if "invalid_grant" in text:
            return ("Google refused the token: the key was not accepted (deleted or disabled key, "
                    "or this machine's clock is off).")
        return f"Google refused the token: {text[:300]}"

    def _api_problem(self, error: Any, group: str | None) -> str:
        status = getattr(error.resp, "status", 0)
        try:
            body = json.loads(error.content.decode("utf-8"))["error"]
            reason = (body.get("errors") or [{}])[0].get("reason", "")
            message = str(body.get("message", ""))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            reason, message = "", ""
        if reason == "accessNotConfigured" or "has not been used" in message:
            return ("The Admin SDK API is not enabled in the service account's Google Cloud project: "
                    "APIs & Services → Library → Admin SDK API → Enable, then try again.")
        if status == 403:
            return (f"Google answered 403 Not Authorized: {self.admin} is not an administrator "
                    "allowed to read users (use a super admin or a role with Users → Read), or "
                    "--domain is not one of the Workspace's domains.")
        if status == 404 and group:
            return f"No Google group {group}."
        if status == 400:
            return f"Google refused the request (400): {message[:200]} (check --customer and --domain)."
        if status == 401:
            return "Google did not accept the access token (401)."
        return f"The Directory API answered {status}: {message[:200] or 'no detail'}."
