"""A login approved on the user's phone, played from both ends.

The app under test runs on a device the user has not trusted: it asks
Cotter for approval, then polls. The user's phone, a trusted device, sees
the request and approves it, and the app's next poll returns tokens.
"""

from __future__ import annotations

ALICE = "alice@example.com"


def test_the_phone_approves_and_the_apps_poll_returns_tokens(cotter_device):
    phone = cotter_device(identifier=ALICE)  # a phone Alice trusts
    app = cotter_device(trusted=False)  # the app under test

    request = app.request_login(ALICE)
    assert app.poll_event(request["ID"])["approved"] is False

    waiting = phone.pending_request()
    assert waiting["ID"] == request["ID"]
    phone.approve(waiting)

    answer = app.poll_event(request["ID"])
    assert answer["approved"] is True
    assert answer["oauth_token"]["token_type"] == "Bearer"


def test_the_phone_can_be_an_ios_phone_and_the_app_a_flutter_app(cotter_device):
    phone = cotter_device("ios", identifier=ALICE)
    app = cotter_device("flutter", trusted=False)

    request = app.request_login(ALICE)
    phone.approve(phone.pending_request())

    assert "oauth_token" in app.poll_event(request["ID"])


def test_the_server_can_answer_for_the_phone(cotter_server, cotter_device):
    cotter_device(identifier=ALICE)
    app = cotter_device(trusted=False)
    request = app.request_login(ALICE)

    cotter_server.approve()  # the newest waiting request

    assert "oauth_token" in app.poll_event(request["ID"])
