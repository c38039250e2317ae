"""Base URLs pasted with a trailing slash still reach the SCIM endpoints."""
from tests.conftest import make_user


def test_double_slash_after_base_url_reaches_users(scim):
    created = make_user(scim)
    response = scim.get(f"/scim/v2//Users/{created['id']}")
    assert response.status_code == 200
    assert response.get_json()["id"] == created["id"]


def test_trailing_slash_on_collection_lists_users(scim):
    make_user(scim)
    response = scim.get("/scim/v2/Users/?filter=userName%20eq%20%22bjensen@example.com%22")
    assert response.status_code == 200
    assert response.get_json()["totalResults"] == 1


def test_post_to_double_slash_creates_user(scim):
    response = scim.post("/scim/v2//Users", json={"userName": "slash@example.com"})
    assert response.status_code == 201
    assert response.headers["Location"].startswith("https://scim.example.test/scim/v2/Users/")


def test_unknown_path_with_slashes_is_still_a_scim_404(scim):
    response = scim.get("/scim/v2//Nope/")
    assert response.status_code == 404
    assert response.get_json()["status"] == "404"


def test_without_a_base_url_each_host_gets_its_own_locations(scim, app):
    """With no SCIMSVC_BASE_URL, meta.location follows the Host the client called."""
    app.config["SCIMSVC_BASE_URL"] = None
    created = make_user(scim)
    for host, scheme in (("scim.internal:8000", "http"), ("idp-facing.example.com", "https"),
                         ("scim.internal:8000", "http")):
        response = scim.client.get(f"/scim/v2/Users/{created['id']}", headers=scim.headers(),
                                   base_url=f"{scheme}://{host}")
        assert response.status_code == 200
        assert response.get_json()["meta"]["location"] == \
            f"{scheme}://{host}/scim/v2/Users/{created['id']}"
