"""Broken tokens that ``POST /_mock/tokens`` mints by name: PyJWT, checking
with the key the mock publishes, refuses each one for its own reason, and
accepts it once that one check is left out; a normal token passes every
check, so each refusal comes from the variant and not from the setup."""

from __future__ import annotations

import time
import urllib.error

import jwt
import pytest
from conftest import Api

COTTER_ISSUER = "https://www.cotter.app"
TOKENS = ("access_token", "id_token")
VARIANTS = (
    "expired",
    "not-yet-valid",
    "wrong-audience",
    "wrong-issuer",
    "unknown-kid",
    "alg-none",
    "tampered-signature",
)


@pytest.fixture
def real_time_api(api: Api) -> Api:
    """``api`` with its key's clock on real time, the time PyJWT checks
    against, whatever other tests did to the server's clock."""
    response = api.put("/_mock/clock", json={"now": time.time(), "frozen": False})
    assert response.status_code == 200, response.text
    return api


def mint(api: Api, variant: str | None = None) -> dict:
    body = {"identifier": "user@example.com"}
    if variant is not None:
        body["variant"] = variant
    response = api.post("/_mock/tokens", json=body)
    assert response.status_code == 200, response.text
    return response.json()["oauth_token"]


def published_key(api: Api) -> jwt.PyJWK:
    response = api.get("/token/jwks")
    assert response.status_code == 200, response.text
    return jwt.PyJWK(response.json()["keys"][0])


def decode(api: Api, token: str, **overrides) -> dict:
    """PyJWT's full check, as a backend would run it."""
    arguments = {
        "key": published_key(api),
        "algorithms": ["ES256"],
        "audience": api.api_key,
        "issuer": COTTER_ISSUER,
        "options": {"require": ["exp", "iat", "iss", "aud", "sub"]},
    }
    arguments.update(overrides)
    key = arguments.pop("key")
    return jwt.decode(token, key, **arguments)


def jwk_client(api: Api) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(api.server.api_url + "/token/jwks", cache_keys=False)


@pytest.mark.parametrize("kind", TOKENS)
def test_a_normal_token_passes_every_check(real_time_api, kind):
    token = mint(real_time_api)[kind]

    claims = decode(real_time_api, token)
    signing_key = jwk_client(real_time_api).get_signing_key_from_jwt(token)

    assert claims["aud"] == real_time_api.api_key
    assert signing_key.key_id == jwt.get_unverified_header(token)["kid"]
    assert decode(real_time_api, token, key=signing_key)["sub"] == claims["sub"]


def test_every_variant_can_be_minted_by_name(real_time_api):
    normal = mint(real_time_api)["access_token"]

    minted = {variant: mint(real_time_api, variant) for variant in VARIANTS}

    for variant, oauth_token in minted.items():
        assert set(oauth_token) >= {"access_token", "id_token", "refresh_token"}
        assert oauth_token["access_token"] != normal, variant


def test_an_unknown_variant_is_a_400_naming_the_field(real_time_api):
    response = real_time_api.post(
        "/_mock/tokens",
        json={"identifier": "user@example.com", "variant": "rotten"},
    )

    assert response.status_code == 400
    assert "variant" in response.json()["msg"]


@pytest.mark.parametrize("kind", TOKENS)
def test_expired_token_is_refused_as_expired(real_time_api, kind):
    token = mint(real_time_api, "expired")[kind]

    with pytest.raises(jwt.ExpiredSignatureError):
        decode(real_time_api, token)
    claims = decode(real_time_api, token, options={"verify_exp": False})
    assert claims["exp"] < time.time()


@pytest.mark.parametrize("kind", TOKENS)
def test_not_yet_valid_token_is_refused_as_immature(real_time_api, kind):
    token = mint(real_time_api, "not-yet-valid")[kind]

    with pytest.raises(jwt.ImmatureSignatureError):
        decode(real_time_api, token)
    claims = decode(
        real_time_api, token, options={"verify_nbf": False, "verify_iat": False}
    )
    assert claims["nbf"] > time.time()


@pytest.mark.parametrize("kind", TOKENS)
def test_wrong_audience_token_is_refused_for_its_audience(real_time_api, kind):
    token = mint(real_time_api, "wrong-audience")[kind]

    with pytest.raises(jwt.InvalidAudienceError):
        decode(real_time_api, token)
    claims = decode(real_time_api, token, options={"verify_aud": False})
    assert claims["aud"] != real_time_api.api_key


@pytest.mark.parametrize("kind", TOKENS)
def test_wrong_issuer_token_is_refused_for_its_issuer(real_time_api, kind):
    token = mint(real_time_api, "wrong-issuer")[kind]

    with pytest.raises(jwt.InvalidIssuerError):
        decode(real_time_api, token)
    claims = decode(real_time_api, token, issuer=None)
    assert claims["iss"] != COTTER_ISSUER


@pytest.mark.parametrize("kind", TOKENS)
def test_unknown_kid_token_finds_no_key_in_the_jwks(real_time_api, kind):
    token = mint(real_time_api, "unknown-kid")[kind]

    with pytest.raises(jwt.PyJWKClientError, match="Unable to find a signing key"):
        jwk_client(real_time_api).get_signing_key_from_jwt(token)
    # Signed by the mock's own key all the same: only the kid is unknown.
    assert decode(real_time_api, token)["aud"] == real_time_api.api_key


def test_unknown_kid_is_not_in_the_published_jwks(real_time_api):
    token = mint(real_time_api, "unknown-kid")["access_token"]
    jwks = real_time_api.get("/token/jwks").json()

    kid = jwt.get_unverified_header(token)["kid"]

    assert kid not in {key["kid"] for key in jwks["keys"]}


@pytest.mark.parametrize("kind", TOKENS)
def test_alg_none_token_is_refused_for_its_algorithm(real_time_api, kind):
    token = mint(real_time_api, "alg-none")[kind]

    assert jwt.get_unverified_header(token)["alg"] == "none"
    with pytest.raises((jwt.InvalidAlgorithmError, jwt.DecodeError)):
        decode(real_time_api, token)
    claims = decode(real_time_api, token, options={"verify_signature": False})
    assert claims["aud"] == real_time_api.api_key
    assert claims["iss"] == COTTER_ISSUER


@pytest.mark.parametrize("kind", TOKENS)
def test_tampered_signature_token_is_refused_for_its_signature(real_time_api, kind):
    token = mint(real_time_api, "tampered-signature")[kind]

    with pytest.raises(jwt.InvalidSignatureError):
        decode(real_time_api, token)
    claims = decode(real_time_api, token, options={"verify_signature": False})
    assert claims["aud"] == real_time_api.api_key
    assert claims["exp"] > time.time()


def test_jwks_client_gets_nothing_when_jwks_is_unavailable(real_time_api):
    token = mint(real_time_api)["access_token"]
    response = real_time_api.put("/_mock/scenario", json={"name": "jwks-unavailable"})
    assert response.status_code == 200
    # PyJWKClient sends no API_KEY_ID: fetch the way a keyed client would.
    fetched = real_time_api.get("/token/jwks")

    assert fetched.status_code == 503
    with pytest.raises((jwt.PyJWKClientError, urllib.error.HTTPError)):
        client = jwt.PyJWKClient(
            real_time_api.server.api_url + "/token/jwks",
            headers={"API_KEY_ID": real_time_api.api_key},
        )
        client.get_signing_key_from_jwt(token)
