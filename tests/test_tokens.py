"""Tokens: JWT shape and signature, refresh rotation, reuse detection."""

from __future__ import annotations

import base64
import json
import re

import jwt
import pytest

ACCESS_CLAIMS = {
    "aud",
    "authentication_method",
    "client_user_id",
    "exp",
    "iat",
    "identifier",
    "iss",
    "jti",
    "scope",
    "sub",
    "type",
}
ID_CLAIMS = {
    "aud",
    "auth_time",
    "client_user_id",
    "exp",
    "iat",
    "identifier",
    "iss",
    "jti",
    "sub",
    "type",
}
KID = "SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9"


def refresh(api, refresh_token: str, path: str | None = None):
    path = path or f"/token/{api.api_key}"
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return api.post(path, json=body)


def verify(api, token: str) -> dict:
    """Verify with PyJWT against the JWKS the mock serves."""
    jwks = api.get("/token/jwks").json()
    key = jwt.PyJWK(jwks["keys"][0])
    return jwt.decode(token, key, algorithms=["ES256"], audience=api.api_key)


def test_jwks_lists_the_signing_key_first_with_cotters_kid(api):
    response = api.session.get(api.url("/token/jwks"), headers={"API_KEY_ID": ""})

    assert response.status_code == 200
    key = response.json()["keys"][0]
    assert key["kid"] == KID
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == (
        "EC",
        "P-256",
        "ES256",
        "sig",
    )


def test_jwt_header_is_es256_with_cotters_kid(api):
    token = api.mint()

    header = jwt.get_unverified_header(token["access_token"])

    assert header == {"alg": "ES256", "kid": KID, "typ": "JWT"}


def test_access_token_has_cotters_claims_with_their_types(api):
    token = api.mint("claims@example.com")

    claims = verify(api, token["access_token"])

    assert set(claims) == ACCESS_CLAIMS
    assert claims["aud"] == api.api_key
    assert claims["iss"] == "https://www.cotter.app"
    assert claims["scope"] == "access"
    assert claims["type"] == "access_token"
    assert claims["authentication_method"] == "TRUSTED_DEVICE"
    assert claims["identifier"] == "claims@example.com"
    assert claims["client_user_id"] == claims["sub"]
    assert claims["exp"] - claims["iat"] == 3600
    assert token["expires_in"] == 3600


def test_id_token_has_auth_time_as_a_string(api):
    token = api.mint()

    claims = verify(api, token["id_token"])

    assert set(claims) == ID_CLAIMS
    assert claims["type"] == "id_token"
    assert isinstance(claims["auth_time"], str)
    assert int(claims["auth_time"]) == claims["iat"]


def test_claims_are_in_alphabetical_order_like_cotters(api):
    token = api.mint()
    payload = token["access_token"].split(".")[1]

    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))

    assert list(claims) == sorted(claims)


def test_oauth_token_object_has_the_six_keys_ios_requires(api):
    token = api.mint()

    assert set(token) == {
        "access_token",
        "auth_method",
        "expires_in",
        "id_token",
        "refresh_token",
        "token_type",
    }
    assert re.fullmatch(r"\d+:[A-Za-z0-9]+", token["refresh_token"])


def test_extra_claims_are_added_but_cannot_replace_cotters(api):
    token = api.mint(extra_claims={"role": "admin", "aud": "someone-else"})

    claims = verify(api, token["access_token"])

    assert claims["role"] == "admin"
    assert claims["aud"] == api.api_key


def test_mint_honours_a_custom_lifetime(api):
    token = api.mint(lifetime=60)

    claims = verify(api, token["access_token"])

    assert claims["exp"] - claims["iat"] == 60
    assert token["expires_in"] == 60


def test_refresh_returns_new_tokens_for_the_same_user(api):
    token = api.mint(extra_claims={"plan": "pro"})

    response = refresh(api, token["refresh_token"])

    assert response.status_code == 200
    fresh = response.json()
    assert fresh["refresh_token"] != token["refresh_token"]
    old_claims = verify(api, token["access_token"])
    claims = verify(api, fresh["access_token"])
    assert claims["sub"] == old_claims["sub"]
    assert claims["jti"] != old_claims["jti"]
    # Custom claims follow the refresh token's family.
    assert claims["plan"] == "pro"


def test_refresh_works_at_token_without_the_key_in_the_path(api):
    token = api.mint()

    response = refresh(api, token["refresh_token"], path="/token")

    assert response.status_code == 200


def test_a_refreshed_token_can_be_refreshed_again(api):
    first = api.mint()
    second = refresh(api, first["refresh_token"]).json()

    third = refresh(api, second["refresh_token"])

    assert third.status_code == 200


def test_reusing_a_refresh_token_revokes_its_whole_family(api):
    token = api.mint()
    rotated = refresh(api, token["refresh_token"]).json()

    reuse = refresh(api, token["refresh_token"])
    after = refresh(api, rotated["refresh_token"])

    assert reuse.status_code == 400
    assert "not valid" in reuse.json()["msg"]
    assert after.status_code == 400
    assert "revoked" in after.json()["msg"]


def test_reuse_revokes_only_that_family(api):
    victim = api.mint("same@example.com")
    other_login = api.mint("same@example.com")
    refresh(api, victim["refresh_token"])
    refresh(api, victim["refresh_token"])

    response = refresh(api, other_login["refresh_token"])

    assert response.status_code == 200


def test_allow_reuse_keeps_old_refresh_tokens_valid(make_server):
    from conftest import Api

    api = Api(make_server(refresh_reuse="allow"), "lenient-key")
    token = api.mint()

    first = refresh(api, token["refresh_token"])
    second = refresh(api, token["refresh_token"])

    assert first.status_code == 200
    assert second.status_code == 200
    assert refresh(api, first.json()["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    "value",
    ["", "garbage", "12", "1:wrong-secret", "999999:abc", "x:y", "1:ünïcode"],
)
def test_an_invalid_refresh_token_is_a_400_saying_not_valid(api, value):
    api.mint()

    response = refresh(api, value)

    assert response.status_code == 400
    body = response.json()
    # cotter-js stops retrying only on this phrase.
    assert "not valid" in body["msg"]
    assert set(body) == {"msg", "type"}


def test_refresh_tokens_do_not_cross_api_keys(api, server):
    from conftest import Api

    token = api.mint()
    other = Api(server, api.api_key + "-other")

    response = refresh(other, token["refresh_token"])

    assert response.status_code == 400


def test_a_key_in_the_path_must_match_the_header(api):
    token = api.mint()

    response = refresh(api, token["refresh_token"], path="/token/another-key")

    assert response.status_code == 400
    assert "does not match" in response.json()["msg"]


def test_an_unsupported_grant_type_is_refused(api):
    response = api.post(f"/token/{api.api_key}", json={"grant_type": "password"})

    assert response.status_code == 400
    assert "refresh_token" in response.json()["msg"]


def test_an_expired_refresh_token_is_refused(make_server):
    from conftest import Api

    server = make_server(refresh_token_lifetime=600)
    api = Api(server, "expiry-key")
    token = api.mint()
    server.runtime.clock.advance(601)

    response = refresh(api, token["refresh_token"])

    assert response.status_code == 400
    assert "expired" in response.json()["msg"]


def test_the_web_cookie_carries_the_refresh_token_and_logout_revokes_it(api):
    token = api.mint()
    cookie = "cotter_refresh_token"

    response = api.post(
        f"/token/{api.api_key}",
        json={"grant_type": "refresh_token"},
        cookies={cookie: token["refresh_token"]},
    )

    assert response.status_code == 200
    rotated = response.json()["refresh_token"]
    assert response.cookies[cookie] == rotated

    logout = api.delete(f"/token/{api.api_key}", cookies={cookie: rotated})

    assert logout.status_code == 200
    assert f"{cookie}=;" in logout.headers["Set-Cookie"]
    assert refresh(api, rotated).status_code == 400


def test_same_seed_and_frozen_clock_give_byte_identical_tokens(make_server):
    from conftest import Api

    answers = []
    for _ in range(2):
        server = make_server(seed=99)
        server.runtime.clock.set(1_700_000_000)
        server.runtime.clock.freeze()
        api = Api(server, "seeded-key")
        token = api.mint()
        answers.append((token, refresh(api, token["refresh_token"]).json()))

    assert answers[0] == answers[1]


def test_different_seeds_give_different_tokens(make_server):
    from conftest import Api

    tokens = []
    for seed in (1, 2):
        server = make_server(seed=seed)
        server.runtime.clock.set(1_700_000_000)
        server.runtime.clock.freeze()
        tokens.append(Api(server, "seeded-key").mint()["refresh_token"])

    assert tokens[0] != tokens[1]
