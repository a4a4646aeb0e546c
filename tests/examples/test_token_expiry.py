"""Token lifetimes on a frozen virtual clock: no waiting, no flakiness."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import jwt
import pytest


def refresh(server, refresh_token: str) -> dict:
    """What an app does when its access token runs out (Cotter's T1)."""
    request = urllib.request.Request(
        f"{server.api_url}/token/{server.api_key}",
        data=json.dumps(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        ).encode(),
        headers={"API_KEY_ID": server.api_key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_an_access_token_expires_an_hour_after_it_is_issued(
    cotter_server, cotter_clock
):
    issued_at = cotter_clock.freeze(1_700_000_000)

    token = cotter_server.mint_tokens("alice@example.com")

    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["iat"] == issued_at
    assert claims["exp"] == issued_at + 3600


@pytest.mark.cotter(tokens={"refresh_token_lifetime": 600})
def test_a_refresh_token_is_refused_once_it_has_expired(cotter_server, cotter_clock):
    cotter_clock.freeze()
    token = cotter_server.mint_tokens("alice@example.com")

    cotter_clock.advance(599)
    fresh = refresh(cotter_server, token["refresh_token"])  # still valid
    cotter_clock.advance(601)  # the new one also lasts 600 seconds

    with pytest.raises(urllib.error.HTTPError) as refused:
        refresh(cotter_server, fresh["refresh_token"])
    assert refused.value.code == 400
    assert "not valid" in json.load(refused.value)["msg"]
