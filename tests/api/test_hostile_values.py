"""Hostile values answer a SCIM 4xx (or a correct result), never a 500 (issue 15).

Each case reached a 500 before: integers too large for the databases or for Python's
str-to-int conversion, dates at the edges of the calendar, NUL in a URL id.
"""
from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from sqlalchemy import select

from scimsvc.extensions import db
from scimsvc.models import AuditEvent
from tests.conftest import make_user
from tests.scimdata import ERROR, SEARCH_REQUEST

HUGE = "9" * 25
ENORMOUS = "9" * 5000  # over Python's 4,300-digit int conversion limit


def scim_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    if scim_type is not None:
        assert body["scimType"] == scim_type
    return body


@pytest.fixture
def three(scim):
    return [make_user(scim, f"user{i}@example.com") for i in range(3)]


@pytest.mark.parametrize("extra", [{}, {"sortBy": "userName"}, {"filter": 'userName sw "user"'},
                                   {"filter": 'userName eq "user1@example.com"'}],
                         ids=["plain", "sorted", "filtered", "lookup"])
@pytest.mark.parametrize("start", [HUGE, "-" + HUGE, ENORMOUS, str(2**63), str(2**63 - 1)])
def test_huge_start_index_is_an_empty_page_with_the_total(scim, three, extra, start):
    response = scim.get("Users?" + urlencode({"startIndex": start, **extra}))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    expected_total = 1 if "eq" in extra.get("filter", "") else 3
    assert body["totalResults"] == expected_total
    if start.startswith("-"):
        assert body["startIndex"] == 1 and len(body["Resources"]) == expected_total
    else:
        assert body["Resources"] == [] and body["startIndex"] <= 2**63


@pytest.mark.parametrize("count", [HUGE, "-" + HUGE, ENORMOUS])
def test_huge_count_is_clamped(scim, three, count):
    body = scim.get("Users?" + urlencode({"count": count, "sortBy": "userName"})).get_json()
    assert body["totalResults"] == 3
    assert body["itemsPerPage"] == (0 if count.startswith("-") else 3)


@pytest.mark.parametrize("field", ["startIndex", "count"])
def test_huge_integers_in_a_search_request_are_clamped(scim, three, field):
    response = scim.post("Users/.search", data=json.dumps(
        {"schemas": [SEARCH_REQUEST], "sortBy": "userName", "filter": 'userName pr',
         field: 10**40}))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["totalResults"] == 3
    assert body["itemsPerPage"] == (0 if field == "startIndex" else 3)


@pytest.mark.parametrize("method,path", [("POST", "Users"), ("POST", "Users/.search"),
                                         ("PUT", "Users/{id}"), ("PATCH", "Users/{id}")])
def test_integer_over_the_conversion_limit_in_a_body_is_400(scim, method, path):
    user = make_user(scim)
    raw = '{"schemas": [], "userName": "x", "startIndex": %s, "nickName": %s}' % (ENORMOUS, ENORMOUS)
    response = scim.request(method, path.format(id=user["id"]), data=raw)
    body = scim_error(response, 400, "invalidSyntax")
    assert "4,300 digits" in body["detail"]


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le", "eq", "ne"])
def test_the_last_representable_millisecond_compares_without_overflow(scim, three, op):
    response = scim.get("Users?" + urlencode(
        {"filter": f'meta.created {op} "9999-12-31T23:59:59.999Z"'}))
    assert response.status_code == 200, response.get_data(as_text=True)
    expected = {"gt": 0, "ge": 0, "eq": 0, "lt": 3, "le": 3, "ne": 3}[op]
    assert response.get_json()["totalResults"] == expected


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_date_outside_the_calendar_in_utc_is_invalid_filter(scim, three, value):
    response = scim.get("Users?" + urlencode({"filter": f'meta.lastModified lt "{value}"'}))
    scim_error(response, 400, "invalidFilter")


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH"])
def test_nul_in_the_url_id_is_404_and_journaled(app, scim, method):
    make_user(scim)
    body = None
    if method == "PUT":
        body = {"schemas": [], "userName": "x"}
    elif method == "PATCH":
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "nickName", "value": "n"}]}
    response = scim.request(method, "/scim/v2/Users/" + quote("\x00abc"), json=body)
    scim_error(response, 404)
    with app.app_context():
        event = db.session.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
        assert event.status == 404 and event.method == method
        assert "\x00" not in event.path and event.path.endswith("/Users/\ufffdabc")
        assert event.target_user_id == "\ufffdabc"


def test_nul_in_the_path_of_a_refused_request_is_journaled(app, scim):
    response = scim.get("/scim/v2/Users/" + quote("\x00"), key="wrong")
    scim_error(response, 401)
    app.extensions["scimsvc.refusals"].flush()  # refusals are summarised in memory first
    with app.app_context():
        event = db.session.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
        assert event.status == 401 and event.path == "/scim/v2/Users/\ufffd"


@pytest.mark.parametrize("refused", [False, True], ids=["journaled", "refused"])
def test_a_200_kb_path_is_journaled_cut_to_2048_characters(app, scim, refused):
    # Each queued or refused row held its whole path (up to the 256 KiB request-line limit)
    # in memory, thousands of them while the database was busy, and then on disk.
    make_user(scim)
    path = "/scim/v2/Users/" + "a" * 200_000
    response = scim.get(path, key="wrong") if refused else scim.delete(path)
    scim_error(response, 401 if refused else 404)
    if refused:
        app.extensions["scimsvc.refusals"].flush()
    with app.app_context():
        event = db.session.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
        assert event.status == (401 if refused else 404)
        assert event.path == path[:2048] + f"...[{len(path) - 2048} more characters]"
