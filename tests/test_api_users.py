"""Users over real HTTP: U1 create, U2 by identifier, U3 by id, U4 list
(cotter-api.md sections 3.1 and 4.1)."""

from __future__ import annotations

import re
import uuid

import jwt
import pytest
import requests

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
USER_KEYS = {
    "ID",
    "created_at",
    "updated_at",
    "update_at",
    "deleted_at",
    "issuer",
    "client_user_id",
    "enrolled",
    "default_method",
    "identifier",
    "identifiers",
}
OAUTH_KEYS = {
    "access_token",
    "auth_method",
    "expires_in",
    "id_token",
    "refresh_token",
    "token_type",
}


def create(api, body: dict, query: str = "") -> requests.Response:
    return api.post("/user/create" + query, json=body)


def assert_uuid(value: str) -> None:
    assert str(uuid.UUID(value)) == value


# -- U1: POST /user/create ----------------------------------------------------


def test_new_style_create_makes_an_identifier_only_user(api):
    response = create(api, {"identifier": "new@example.com"})

    assert response.status_code == 200, response.text
    user = response.json()
    assert_uuid(user["ID"])
    assert user["ID"] != ZERO_UUID
    assert user["identifier"] == "new@example.com"
    assert user["client_user_id"] == user["ID"]
    assert user["issuer"] == api.api_key
    assert user["enrolled"] == []
    assert "oauth_token" not in user


def test_legacy_rn_create_keeps_its_client_user_id_and_identifiers(api):
    response = create(
        api, {"client_user_id": "app-user-7", "identifiers": ["rn@example.com"]}
    )

    assert response.status_code == 200, response.text
    user = response.json()
    assert user["client_user_id"] == "app-user-7"
    assert user["ID"] != "app-user-7"
    assert_uuid(user["ID"])
    assert user["identifier"] == "rn@example.com"
    assert user["identifiers"] == ["rn@example.com"]


def test_ios_register_with_identifier_sends_an_empty_client_user_id(api):
    # registerWith(identifier:): both keys, client_user_id "".
    response = create(api, {"client_user_id": "", "identifier": "ios@example.com"})

    assert response.status_code == 200, response.text
    user = response.json()
    assert user["identifier"] == "ios@example.com"
    assert user["client_user_id"] == user["ID"]


def test_ios_legacy_register_puts_the_identifier_in_client_user_id(api):
    # register(identifier:): client_user_id holds the email, identifier "".
    response = create(api, {"client_user_id": "old@example.com", "identifier": ""})

    assert response.status_code == 200, response.text
    user = response.json()
    assert user["client_user_id"] == "old@example.com"
    assert user["identifier"] == "old@example.com"
    # The legacy flow then calls M1 on /user/<client_user_id>.
    assert api.get("/user/old@example.com").json()["ID"] == user["ID"]


def test_create_with_oauth_token_query_adds_a_token_for_the_new_user(api):
    response = create(api, {"identifier": "tok@example.com"}, "?oauth_token=true")

    assert response.status_code == 200, response.text
    user = response.json()
    token = user["oauth_token"]
    assert OAUTH_KEYS <= set(token)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user["ID"]
    assert claims["aud"] == api.api_key
    assert claims["identifier"] == "tok@example.com"


def test_create_without_oauth_token_true_has_no_token(api):
    response = create(api, {"identifier": "f@example.com"}, "?oauth_token=false")

    assert response.status_code == 200, response.text
    assert "oauth_token" not in response.json()


def test_duplicate_identifier_is_a_409_user_already_exists(api):
    first = create(api, {"identifier": "dup@example.com"})
    assert first.status_code == 200, first.text

    second = create(api, {"identifier": "dup@example.com"})

    assert second.status_code == 409
    body = second.json()
    assert body["msg"] == "User already exists"
    assert isinstance(body["type"], str)


def test_duplicate_legacy_client_user_id_is_a_409_user_already_exists(api):
    first = create(api, {"client_user_id": "cu-1", "identifiers": ["a@example.com"]})
    assert first.status_code == 200, first.text

    second = create(api, {"client_user_id": "cu-1", "identifiers": ["b@example.com"]})

    assert second.status_code == 409
    assert second.json()["msg"] == "User already exists"


def test_the_same_identifier_under_another_api_key_is_a_different_user(api, server):
    mine = create(api, {"identifier": "shared@example.com"}).json()
    other = requests.post(
        server.api_url + "/user/create",
        json={"identifier": "shared@example.com"},
        headers={"API_KEY_ID": f"other-{uuid.uuid4()}"},
        timeout=10,
    )

    assert other.status_code == 200, other.text
    assert other.json()["ID"] != mine["ID"]


# -- U2: GET /user?identifier= ------------------------------------------------


def test_get_by_identifier_finds_the_user(api):
    user = api.create_user("find@example.com")

    response = api.get("/user", params={"identifier": "find@example.com"})

    assert response.status_code == 200
    assert response.json() == user


def test_get_by_identifier_with_an_encoded_plus_finds_the_user(api):
    # RN, Flutter and Android encode the identifier: '+' arrives as %2B.
    user = api.create_user("a+b@x.com")

    response = api.get("/user?identifier=a%2Bb%40x.com")

    assert response.status_code == 200
    assert response.json()["ID"] == user["ID"]


def test_get_by_identifier_with_an_unencoded_plus_finds_the_user(api):
    # iOS puts the identifier into the query as is; requests must not
    # re-encode it, so the URL is built by hand.
    user = api.create_user("a+b@x.com")
    url = api.url("/user") + "?identifier=a+b@x.com"

    response = api.session.get(url, timeout=10)

    assert response.request.url.endswith("?identifier=a+b@x.com")
    assert response.status_code == 200
    assert response.json()["ID"] == user["ID"]


def test_get_by_identifier_with_form_encoded_space_finds_the_user(api):
    user = api.create_user("John Doe")

    response = api.session.get(api.url("/user") + "?identifier=John+Doe", timeout=10)

    assert response.status_code == 200
    assert response.json()["ID"] == user["ID"]


def test_unknown_identifier_answers_the_zero_uuid_user(api):
    api.create_user("someone@example.com")

    response = api.get("/user", params={"identifier": "nobody@example.com"})

    assert response.status_code == 200
    user = response.json()
    assert user["ID"] == ZERO_UUID
    assert user["enrolled"] == []
    assert isinstance(user["client_user_id"], str)
    assert isinstance(user["created_at"], str)
    assert user["issuer"] == api.api_key


def test_identifier_of_another_api_key_is_unknown_here(api, server):
    requests.post(
        server.api_url + "/user/create",
        json={"identifier": "elsewhere@example.com"},
        headers={"API_KEY_ID": f"other-{uuid.uuid4()}"},
        timeout=10,
    ).raise_for_status()

    response = api.get("/user", params={"identifier": "elsewhere@example.com"})

    assert response.json()["ID"] == ZERO_UUID


# -- U3: GET /user/<id> -------------------------------------------------------


def test_get_user_by_cotter_id(api):
    user = api.create_user("byid@example.com")

    response = api.get(f"/user/{user['ID']}")

    assert response.status_code == 200
    assert response.json() == user


def test_get_user_by_client_user_id(api):
    user = create(
        api, {"client_user_id": "app-42", "identifiers": ["cu@example.com"]}
    ).json()

    by_client_id = api.get("/user/app-42")
    by_cotter_id = api.get(f"/user/{user['ID']}")

    assert by_client_id.status_code == 200
    assert by_client_id.json()["ID"] == user["ID"]
    assert by_cotter_id.json()["client_user_id"] == "app-42"


def test_get_user_ignores_a_wrong_api_secret_key(api):
    # Android sends its API key as the secret; the mock must not reject it.
    user = api.create_user("secret@example.com")

    response = api.get(f"/user/{user['ID']}", headers={"API_SECRET_KEY": "nope"})

    assert response.status_code == 200


def test_get_unknown_user_is_a_404_with_cotter_error_body(api):
    response = api.get(f"/user/{uuid.uuid4()}")

    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"msg", "type"}
    assert body["msg"]


# -- U4: GET /user/list?page= -------------------------------------------------


def test_user_list_pages_hold_50_users_newest_first(api):
    identifiers = [f"user{n:02d}@example.com" for n in range(53)]
    for identifier in identifiers:
        api.create_user(identifier)
    newest_first = identifiers[::-1]

    page0 = api.get("/user/list", params={"page": 0})
    page1 = api.get("/user/list", params={"page": 1})
    page2 = api.get("/user/list", params={"page": 2})

    assert page0.status_code == page1.status_code == page2.status_code == 200
    assert [u["identifier"] for u in page0.json()] == newest_first[:50]
    assert [u["identifier"] for u in page1.json()] == newest_first[50:]
    assert page2.json() == []


def test_user_list_without_page_is_page_0(api):
    api.create_user("one@example.com")
    api.create_user("two@example.com")

    response = api.get("/user/list")

    assert response.status_code == 200
    assert [u["identifier"] for u in response.json()] == [
        "two@example.com",
        "one@example.com",
    ]


def test_user_list_of_a_new_api_key_is_empty(api):
    response = api.get("/user/list")

    assert response.status_code == 200
    assert response.json() == []


def test_user_list_is_newest_first_even_when_the_clock_is_frozen(make_server, api_key):
    # Tests freeze the clock; users made in one frozen instant still have
    # an order of creation.
    server = make_server(seed=3)
    server.runtime.clock.freeze()
    session = requests.Session()
    session.headers["API_KEY_ID"] = api_key
    for n in range(3):
        session.post(
            server.api_url + "/user/create",
            json={"identifier": f"frozen{n}@example.com"},
            timeout=10,
        ).raise_for_status()

    listed = session.get(server.api_url + "/user/list", timeout=10).json()
    session.close()

    assert [u["identifier"] for u in listed] == [
        "frozen2@example.com",
        "frozen1@example.com",
        "frozen0@example.com",
    ]


# -- The User object (section 4.1) --------------------------------------------


def test_user_json_has_every_documented_key(api):
    user = api.create_user("shape@example.com")

    assert USER_KEYS <= set(user)


def test_user_json_timestamps_are_rfc3339_and_update_at_mirrors_updated_at(
    api,
):
    user = api.create_user("time@example.com")

    assert RFC3339.match(user["created_at"])
    assert RFC3339.match(user["updated_at"])
    assert user["update_at"] == user["updated_at"]
    assert user["deleted_at"] is None


def test_user_json_enrolled_is_an_empty_list_never_null(api):
    user = api.create_user("empty@example.com")

    fetched = api.get(f"/user/{user['ID']}").json()

    assert user["enrolled"] == []
    assert fetched["enrolled"] == []
    assert user["default_method"] is None


def test_user_json_default_method_is_the_latest_enrolled_method(api):
    user = api.create_user("methods@example.com")

    api.put(
        f"/user/{user['ID']}",
        json={"method": "PIN", "enrolled": True, "code": "123456"},
    ).raise_for_status()
    after_pin = api.get(f"/user/{user['ID']}").json()

    assert after_pin["enrolled"] == ["PIN"]
    assert after_pin["default_method"] == "PIN"
    assert after_pin["updated_at"] >= user["updated_at"]
    assert after_pin["update_at"] == after_pin["updated_at"]
    assert after_pin["created_at"] == user["created_at"]


@pytest.mark.parametrize(
    "body",
    [
        {"identifier": "legacy@example.com", "client_user_id": ""},
        {"identifier": "plain@example.com"},
    ],
    ids=["ios-empty-client-user-id", "identifier-only"],
)
def test_identifier_only_users_have_client_user_id_equal_to_id(api, body):
    user = create(api, body).json()

    assert user["client_user_id"] == user["ID"]
    assert api.get(f"/user/{user['client_user_id']}").json()["ID"] == user["ID"]
