"""Code that uses the Python ``cotter`` SDK, unchanged, against the mock."""

from __future__ import annotations

import pytest
from cotter import tokenhandler, validate
from jose.exceptions import ExpiredSignatureError


def current_token(token: dict, api_key: str) -> dict:
    """The app under test: refresh the user's token if it has expired."""
    return tokenhandler.refresh_token(token, api_key)


@pytest.mark.cotter(scenario="token-expired")
def test_the_sdk_refreshes_an_expired_token(cotter_sdk, cotter_server):
    api_key = cotter_server.api_key
    expired = cotter_server.mint_tokens("alice@example.com")
    with pytest.raises(ExpiredSignatureError):
        validate.validate_access_token(expired["access_token"], api_key)

    fresh = current_token(expired, api_key)

    claims = validate.validate_access_token(fresh["access_token"], api_key)
    assert claims["identifier"] == "alice@example.com"
    cotter_server.assert_called(f"/token/{api_key}", times=1)
