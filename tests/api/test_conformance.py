"""Third-party conformance: python-scim's scim2-tester, run in-process against the app.

The checker discovers the server (ServiceProviderConfig, ResourceTypes, Schemas,
including the enterprise extension), then creates, reads, lists, filters,
replaces, patches and deletes Users and Groups through scim2-client's werkzeug engine. It
is counted the way ``/work/shared/tools/run-scim2-tester`` counts a live run:
SUCCESS/COMPLIANT/ACCEPTABLE pass, ERROR/CRITICAL/DEVIATION fail, and SKIPPED is
not allowed either (a skipped check proves nothing).
"""
from __future__ import annotations

import warnings

import pytest

scim2_tester = pytest.importorskip("scim2_tester")

from scim2_tester import Status, check_server  # noqa: E402
from werkzeug.test import Client  # noqa: E402

PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}


@pytest.fixture
def results(app, api_key):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TestSCIMClient is deprecated upstream
        from scim2_client.engines.werkzeug import TestSCIMClient

        client = TestSCIMClient(
            Client(app),
            environ={"headers": {"Authorization": f"Bearer {api_key}"}},
            scim_prefix="/scim/v2",
        )
    return check_server(client, raise_exceptions=False)


def _describe(result) -> str:
    reason = " | ".join(line.strip() for line in str(result.reason or "").splitlines() if line.strip())
    return f"[{result.status.name}] {result.resource_type or '-'} {result.title}: {reason[:300]}"


def test_scim2_tester_reports_no_failure_and_no_skip(results):
    assert any(r.resource_type == "User" for r in results), "discovery did not describe the User resource"
    not_passed = [_describe(r) for r in results if r.status not in PASSED]
    assert not not_passed, f"{len(not_passed)} of {len(results)} checks did not pass:\n" + "\n".join(not_passed)


def test_scim2_tester_checked_groups_and_they_passed(results):
    groups = [r for r in results if r.resource_type == "Group"]
    assert groups, "no check ran on the Group resource"
    not_passed = [_describe(r) for r in groups if r.status not in PASSED]
    assert not not_passed, "\n".join(not_passed)
    assert {r.status for r in groups} & {Status.SUCCESS, Status.COMPLIANT}


def test_scim2_tester_exercised_patch_and_the_enterprise_extension(results):
    titles = " ".join(str(r.reason or "") for r in results if r.status in PASSED)
    assert "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" in titles
    assert any("patch" in tag for r in results for tag in (r.tags or ()))
