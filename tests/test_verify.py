"""Email and phone verification: the hosted-page stand-in and get_identity."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
REDIRECT = "http://localhost:1234/callback"


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def open_page(api, **params) -> dict[str, str]:
    """Load the hosted page; the query it redirects back with."""
    query = {
        "api_key": api.api_key,
        "redirect_url": REDIRECT,
        "type": "EMAIL",
        "code_challenge": challenge_of(VERIFIER),
        "state": "abc",
        **params,
    }
    response = api.get("/app", params=query, allow_redirects=False)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def get_identity(api, redirect: dict[str, str], **overrides):
    body = {
        "code_verifier": VERIFIER,
        "authorization_code": redirect["code"],
        "challenge_id": int(redirect["challenge_id"]),
        "redirect_url": REDIRECT,
        **overrides,
    }
    return api.post("/verify/get_identity?oauth_token=true", json=body)


def test_hosted_page_redirects_back_with_code_state_and_challenge_id(api):
    redirect = open_page(api)

    assert redirect["state"] == "abc"
    assert redirect["code"]
    assert redirect["challenge_id"].isdigit()


def test_get_identity_returns_identifier_token_user_and_oauth_token(api):
    redirect = open_page(api, input="+15550001111", type="PHONE")

    response = get_identity(api, redirect)

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["identifier"] == "+15550001111"
    assert body["identifier"]["identifier_type"] == "PHONE"
    assert body["token"]["receiver"] == api.api_key
    assert body["oauth_token"]["auth_method"] == "OTP"
    # iOS requires every one of these strings.
    for field in ("ID", "created_at", "public_key", "device_type", "device_name"):
        assert isinstance(body["identifier"][field], str)


def test_get_identity_logs_in_an_existing_user(api):
    user = api.create_user("known@example.com")
    redirect = open_page(api, input="known@example.com")

    body = get_identity(api, redirect).json()

    assert body["user"]["ID"] == user["ID"]


def test_same_seed_makes_up_the_same_identifier(make_server):
    from conftest import Api

    emails = []
    for _ in range(2):
        api = Api(make_server(seed=5), "seeded")
        body = get_identity(api, open_page(api)).json()
        emails.append(body["user"]["identifier"])

    assert emails[0] == emails[1]
    assert "@" in emails[0]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"code_verifier": "not-the-verifier"}, "code_verifier"),
        ({"authorization_code": "made-up"}, "not valid"),
        ({"challenge_id": 999}, "not valid"),
        ({"redirect_url": "http://evil.example/"}, "redirect_url"),
    ],
    ids=["wrong-verifier", "unknown-code", "wrong-challenge-id", "other-redirect"],
)
def test_get_identity_refuses_a_bad_exchange(api, overrides, reason):
    redirect = open_page(api)

    response = get_identity(api, redirect, **overrides)

    assert response.status_code == 400
    assert reason in response.json()["msg"]


def test_an_authorization_code_works_once(api):
    redirect = open_page(api)
    get_identity(api, redirect)

    again = get_identity(api, redirect)

    assert again.status_code == 400
    assert "already used" in again.json()["msg"]


def test_an_authorization_code_expires(make_server):
    from conftest import Api

    server = make_server()
    api = Api(server, "slow")
    redirect = open_page(api)
    server.runtime.clock.advance(601)

    response = get_identity(api, redirect)

    assert response.status_code == 400
    assert "expired" in response.json()["msg"]


def test_hosted_page_without_its_parameters_is_a_clear_400(api):
    response = api.get("/app", params={"api_key": api.api_key})

    assert response.status_code == 400
    assert "redirect_url" in response.json()["msg"]


def test_hosted_page_without_an_api_key_is_a_clear_400(api):
    response = api.get("/app", params={"redirect_url": REDIRECT})

    assert response.status_code == 400
    assert "api_key" in response.json()["msg"]


def test_hosted_page_keeps_the_redirect_urls_own_query(api):
    response = api.get(
        "/app",
        params={
            "api_key": api.api_key,
            "redirect_url": "http://localhost:1234/cb?app=1",
            "code_challenge": challenge_of(VERIFIER),
        },
        allow_redirects=False,
    )

    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["app"] == ["1"]
    assert "code" in query
