"""Published caps (issue 15): values per multi-valued attribute and characters per indexed string."""
from __future__ import annotations

import pytest

from tests.conftest import make_user
from tests.scimdata import CORE_USER, ERROR, PATCH_OP


def invalid_value(response, names: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["schemas"] == [ERROR] and body["scimType"] == "invalidValue"
    assert names in body["detail"]


def emails(n: int) -> list[dict]:
    return [{"value": f"u{i}@example.com"} for i in range(n)]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_more_values_than_the_cap_is_400_naming_the_attribute(app, scim, method):
    app.config["SCIMSVC_MAX_MULTI_VALUES"] = 5
    user = make_user(scim, emails=emails(5))
    if method == "PATCH":
        response = scim.patch(f"Users/{user['id']}", json={"schemas": [PATCH_OP], "Operations": [
            {"op": "add", "path": "emails", "value": [{"value": "sixth@example.com"}]}]})
    else:
        body = {"schemas": [CORE_USER], "userName": "capped", "emails": emails(6)}
        response = scim.request(method, "Users" if method == "POST" else f"Users/{user['id']}",
                                json=body)
    invalid_value(response, "'emails' has 6 values; at most 5")


def test_the_default_cap_is_1000_values(scim):
    make_user(scim, emails=emails(1000))
    invalid_value(scim.post("Users", json={"schemas": [CORE_USER], "userName": "b",
                                           "emails": emails(1001)}), "'emails'")


@pytest.mark.parametrize("attrs,name", [
    ({"userName": "u" * 3000}, "userName"),
    ({"externalId": "e" * 3000}, "externalId"),
    ({"name": {"familyName": "f" * 3000}}, "name.familyName"),
    ({"emails": [{"value": "a" * 3000}]}, "emails.value"),
    ({"userName": "\U0001F600" * 1000}, "userName"),  # 1,000 characters, 4,000 bytes
], ids=["userName", "externalId", "familyName", "email", "wide-characters"])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_an_indexed_string_over_the_cap_is_400_on_both_databases(scim, attrs, name, method):
    if method == "POST":
        response = scim.post("Users", json={"schemas": [CORE_USER], "userName": "x", **attrs})
    else:
        user = make_user(scim)
        response = scim.patch(f"Users/{user['id']}", json={"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "value": attrs}]})
    invalid_value(response, f"'{name}' is longer than this service stores")


def test_strings_at_the_cap_are_stored_and_found(scim):
    name = "n" * 1024
    created = make_user(scim, name, externalId="e" * 1024, name={"familyName": "f" * 1024},
                        emails=[{"value": "v" * 1024}])
    found = scim.get(f'Users?filter=userName eq "{name}"').get_json()
    assert [r["id"] for r in found["Resources"]] == [created["id"]]


def test_the_caps_are_stated_in_the_user_schema(app, scim):
    app.config["SCIMSVC_MAX_MULTI_VALUES"] = 50
    body = scim.get(f"Schemas/{CORE_USER}").get_json()
    attributes = {a["name"]: a for a in body["attributes"]}
    assert attributes["emails"]["description"].endswith("At most 50 values.")
    assert "At most 1024 characters" in attributes["userName"]["description"]
    value = next(s for s in attributes["emails"]["subAttributes"] if s["name"] == "value")
    assert "At most 1024 characters" in value["description"]
    family = next(s for s in attributes["name"]["subAttributes"] if s["name"] == "familyName")
    assert "At most 1024 characters" in family["description"]
    listed = scim.get("Schemas").get_json()["Resources"]
    assert next(s for s in listed if s["id"] == CORE_USER) == body


def test_a_real_certificate_fits_only_the_byte_ceiling_bounds_x509_values(scim):
    # A DER certificate in base64 is ~1.6 KB: over the character cap, under every index's limit.
    certificate = "MII" + "A" * 1700
    user = make_user(scim, "cert@example.com", x509Certificates=[{"value": certificate}])
    assert user["x509Certificates"] == [{"value": certificate}]
    response = scim.post("Users", json={"schemas": [CORE_USER], "userName": "big@example.com",
                                        "x509Certificates": [{"value": "M" * 2700}]})
    invalid_value(response, "x509Certificates.value")
