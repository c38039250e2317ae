"""The skeleton's SCIM slice: create a user, read it back."""
from tests.conftest import make_user
from tests.scimdata import CORE_USER


def test_create_user_returns_201_with_location_meta_and_etag(scim):
    response = scim.post("Users", json={
        "schemas": [CORE_USER],
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
        "externalId": "00u1",
        "password": "t1meMa$heen",
    })
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == body["meta"]["location"]
    assert body["meta"]["location"] == f"https://scim.example.test/scim/v2/Users/{body['id']}"
    assert body["meta"]["resourceType"] == "User"
    assert response.headers["ETag"] == body["meta"]["version"]
    assert response.headers["Content-Type"].startswith("application/scim+json")
    assert "password" not in body
    assert body["userName"] == "bjensen@example.com"
    assert body["active"] is True


def test_get_user_by_id_round_trips(scim):
    created = make_user(scim, name={"givenName": "Barbara", "familyName": "Jensen"})
    response = scim.get(f"Users/{created['id']}")
    assert response.status_code == 200
    assert response.get_json() == created


def test_duplicate_username_differing_in_case_is_409(scim):
    make_user(scim, "bjensen@example.com")
    response = scim.post("Users", json={"userName": "BJensen@Example.com"})
    assert response.status_code == 409
    assert response.get_json()["scimType"] == "uniqueness"
    assert response.get_json()["status"] == "409"
