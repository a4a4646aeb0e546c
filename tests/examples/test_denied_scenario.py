"""Scenarios chosen per test with the ``cotter`` marker."""

from __future__ import annotations

import pytest

ALICE = "alice@example.com"


@pytest.mark.cotter(scenario="denied")
def test_a_denied_login_gives_the_app_no_tokens(cotter_device):
    cotter_device(identifier=ALICE)
    app = cotter_device(trusted=False)

    request = app.request_login(ALICE)
    answer = app.poll_event(request["ID"])

    assert (answer["approved"], answer["new"]) == (False, False)
    assert "oauth_token" not in answer


@pytest.mark.cotter(scenario="approved", pending={"after_polls": 3})
def test_the_phone_answers_on_the_third_poll(cotter_device):
    cotter_device(identifier=ALICE)
    app = cotter_device(trusted=False)
    request = app.request_login(ALICE)

    polls = [app.poll_event(request["ID"]) for _ in range(3)]

    assert [poll["approved"] for poll in polls] == [False, False, True]
    assert "oauth_token" in polls[-1]


@pytest.mark.cotter(users=[{"identifier": "bob@example.com", "pin": "1234"}])
def test_a_scenario_user_is_the_phones_default_user(cotter_server, cotter_device):
    phone = cotter_device()

    assert phone.user["identifier"] == "bob@example.com"
    assert cotter_server.user("bob@example.com")["ID"] == phone.user["ID"]
