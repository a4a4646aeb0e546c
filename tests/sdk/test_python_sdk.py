"""The real ``cotter`` package from PyPI, pointed at the mock."""

from __future__ import annotations

import base64
import socket
import sys
import threading
import time
import warnings

import cotter
import pytest
import requests
from cotter import constants, tokenhandler, validate
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jose.exceptions import ExpiredSignatureError

from mock_cotter.signatures import identity_signature_message


@pytest.fixture
def sdk_server(make_server, monkeypatch):
    """A server of its own (these tests move its clock), with the SDK's
    module constants pointed at it."""
    server = make_server(seed=7)
    monkeypatch.setattr(constants, "CotterBackendURL", server.api_url)
    monkeypatch.setattr(constants, "CotterJSURL", server.url)
    monkeypatch.setattr(constants, "CotterJWKSURL", server.api_url + "/token/jwks")
    return server


def mint(server, api_key: str, **fields) -> dict:
    response = requests.post(
        server.url + "/_mock/tokens",
        json={"identifier": "sdk@example.com", **fields},
        headers={"API_KEY_ID": api_key},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["oauth_token"]


def test_sdk_validates_a_token_the_mock_minted(sdk_server, api_key):
    token = mint(sdk_server, api_key)

    claims = validate.validate_access_token(token["access_token"], api_key)
    id_claims = validate.validate_id_token(token["id_token"], api_key)

    assert claims["aud"] == api_key
    assert claims["identifier"] == "sdk@example.com"
    assert id_claims["sub"] == claims["sub"]


def test_sdk_keeps_a_token_that_is_still_valid(sdk_server, api_key):
    token = mint(sdk_server, api_key)

    assert tokenhandler.refresh_token(token, api_key) is token


def test_sdk_refreshes_an_expired_token_and_the_new_one_validates(sdk_server, api_key):
    # Minted two hours ago by the mock's clock: expired for python-jose,
    # which reads the real time.
    sdk_server.runtime.clock.set(time.time() - 7200)
    expired = mint(sdk_server, api_key)
    sdk_server.runtime.clock.reset()
    with pytest.raises(ExpiredSignatureError):
        validate.validate_access_token(expired["access_token"], api_key)

    fresh = tokenhandler.refresh_token(expired, api_key)

    assert fresh["refresh_token"] != expired["refresh_token"]
    assert fresh["token_type"] == "Bearer"
    claims = validate.validate_access_token(fresh["access_token"], api_key)
    assert claims["identifier"] == "sdk@example.com"


def test_sdk_reports_a_refresh_that_the_mock_rejects(sdk_server, api_key):
    sdk_server.runtime.clock.set(time.time() - 7200)
    expired = mint(sdk_server, api_key)
    sdk_server.runtime.clock.reset()
    tokenhandler.refresh_token(expired, api_key)

    # The old refresh token was rotated away: reusing it fails.
    with pytest.raises(cotter.errors.RefreshTokenFailedError):
        tokenhandler.refresh_token(expired, api_key)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def test_login_with_email_link_runs_end_to_end(
    sdk_server, api_key, monkeypatch, tmp_path
):
    # The SDK serves this page from its script's folder after the redirect.
    (tmp_path / "cotter_login_success.html").write_text("<p>Logged in</p>")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    port = free_port()
    browser_errors: list[BaseException] = []

    def open_in_browser(url: str) -> bool:
        # Stand in for a browser: load the hosted page and follow its
        # redirect back to the SDK's one-shot local server.
        def visit() -> None:
            deadline = time.monotonic() + 10
            while True:
                try:
                    requests.get(url, timeout=5)
                    return
                except requests.ConnectionError as exc:
                    if time.monotonic() > deadline:
                        browser_errors.append(exc)
                        return
                    time.sleep(0.02)

        threading.Thread(target=visit, daemon=True).start()
        return True

    monkeypatch.setattr(cotter.webbrowser, "open", open_in_browser)

    with warnings.catch_warnings():
        # The SDK never closes its one-shot redirect server.
        warnings.simplefilter("ignore", ResourceWarning)
        result = cotter.login_with_email_link(api_key, port)

    assert not browser_errors
    assert set(result) >= {"identifier", "token", "user", "oauth_token"}
    identity = result["token"]
    assert identity["identifier_type"] == "EMAIL"
    assert "@" in identity["identifier"]
    assert result["user"]["identifier"] == identity["identifier"]
    assert result["oauth_token"]["auth_method"] == "MAGIC_LINK"
    claims = validate.validate_access_token(
        result["oauth_token"]["access_token"], api_key
    )
    assert claims["authentication_method"] == "MAGIC_LINK"
    assert claims["sub"] == result["user"]["ID"]

    # The identity token is signed with the key the mock publishes.
    keys = requests.get(sdk_server.url + "/_mock/keys", timeout=10).json()
    public_key = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(keys["event_public_key"])
    )
    message = identity_signature_message(
        identity["identifier"], "EMAIL", api_key, identity["expire_at"]
    )
    public_key.verify(base64.b64decode(identity["signature"]), message.encode())
