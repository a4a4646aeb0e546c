"""Checking what the app under test sent, with the request journal."""

from __future__ import annotations

import pytest


def test_the_app_asked_for_approval_exactly_once(cotter_server, cotter_device):
    cotter_device(identifier="alice@example.com")
    app = cotter_device(trusted=False)

    app.request_login("alice@example.com")

    cotter_server.assert_called(
        "/event/create_pending",
        times=1,
        json_subset={"event": "LOGIN", "issuer": cotter_server.api_key},
    )
    cotter_server.assert_called("/user", method="GET")


def test_a_failed_assertion_lists_what_was_called(cotter_server, cotter_device):
    cotter_device(identifier="alice@example.com")

    with pytest.raises(AssertionError) as failed:
        cotter_server.assert_called("/event/create_pending")

    assert "it was called 0 times" in str(failed.value)
    assert "POST /api/v0/user/create -> 200" in str(failed.value)
