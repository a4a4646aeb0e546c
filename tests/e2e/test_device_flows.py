"""Whole trusted-device stories over real HTTP, one per SDK's formats.

Each phone is a :class:`TrustedDevice` that builds its requests, keys and
signatures the way its SDK does; every event the mock answers is checked
against the mock's published Ed25519 key.
"""

from __future__ import annotations

import base64
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mock_cotter.signatures import event_signature_message
from mock_cotter.testing import TrustedDevice

SDKS = ["react-native", "flutter", "android", "ios"]
REJECTING_SDKS = [sdk for sdk in SDKS if sdk != "ios"]  # iOS can only approve
IDENTIFIER = "alice@example.com"


@pytest.fixture
def event_key(server) -> Ed25519PublicKey:
    import requests

    keys = requests.get(server.url + "/_mock/keys", timeout=10).json()
    return Ed25519PublicKey.from_public_bytes(
        base64.b64decode(keys["event_public_key"])
    )


@pytest.fixture
def check(server, api_key, event_key):
    """Checks that an event is signed and a token verifies, as a client would."""
    import requests

    jwks = requests.get(server.api_url + "/token/jwks", timeout=10).json()
    jwt_key = jwt.PyJWK(jwks["keys"][0])

    class Checks:
        @staticmethod
        def event(event: dict) -> dict:
            message = event_signature_message(
                event["client_user_id"],
                event["issuer"],
                event["event"],
                event["timestamp"],
                event["method"],
                event["new"],
                event["approved"],
            )
            # Raises InvalidSignature if the mock signed anything else.
            event_key.verify(base64.b64decode(event["signature"]), message.encode())
            assert isinstance(event["ID"], int)
            return event

        @staticmethod
        def token(oauth_token: dict, user: dict) -> dict:
            claims = jwt.decode(
                oauth_token["access_token"],
                jwt_key,
                algorithms=["ES256"],
                audience=api_key,
            )
            assert claims["sub"] == user["ID"]
            assert claims["authentication_method"] == "TRUSTED_DEVICE"
            return claims

    return Checks


def device(server, api_key, sdk: str, **options) -> TrustedDevice:
    return TrustedDevice(sdk, server.url, api_key, **options)


@pytest.mark.parametrize("sdk", SDKS)
def test_sign_up_enrolls_the_device_and_returns_tokens(server, api_key, check, sdk):
    phone = device(server, api_key, sdk)

    answer = phone.sign_up(IDENTIFIER)

    assert answer["enrolled"] == ["TRUSTED_DEVICE"]
    assert phone.is_enrolled(phone.user)
    check.token(answer["oauth_token"], answer)


@pytest.mark.parametrize("sdk", SDKS)
def test_trusted_login_is_approved_with_tokens(server, api_key, check, sdk):
    phone = device(server, api_key, sdk)
    phone.sign_up(IDENTIFIER)

    event = check.event(phone.login(IDENTIFIER))

    assert event["approved"] is True
    assert event["new"] is False
    check.token(event["oauth_token"], phone.user)


@pytest.mark.parametrize("sdk", SDKS)
def test_a_trusted_phone_approves_a_login_from_a_second_device(
    server, api_key, check, sdk
):
    phone = device(server, api_key, sdk)
    phone.sign_up(IDENTIFIER)
    laptop = device(server, api_key, sdk)

    pending = check.event(laptop.request_login(IDENTIFIER))
    before = check.event(laptop.poll_event(pending["ID"]))
    waiting = check.event(phone.pending_request())
    answered = check.event(phone.approve(waiting))
    after = check.event(laptop.poll_event(pending["ID"]))

    assert (pending["new"], pending["approved"]) == (True, False)
    assert "oauth_token" not in before
    assert waiting["ID"] == pending["ID"]
    assert (answered["new"], answered["approved"]) == (False, True)
    assert after["approved"] is True
    check.token(after["oauth_token"], phone.user)
    # Polling again returns the same tokens, not a new login.
    assert laptop.poll_event(pending["ID"])["oauth_token"] == after["oauth_token"]
    assert phone.pending_request() is None


@pytest.mark.parametrize("sdk", REJECTING_SDKS)
def test_a_trusted_phone_rejects_a_login_from_a_second_device(
    server, api_key, check, sdk
):
    phone = device(server, api_key, sdk)
    phone.sign_up(IDENTIFIER)
    laptop = device(server, api_key, sdk)
    pending = laptop.request_login(IDENTIFIER)

    answered = check.event(phone.reject(phone.pending_request()))
    after = check.event(laptop.poll_event(pending["ID"]))

    assert (answered["new"], answered["approved"]) == (False, False)
    assert after["approved"] is False
    assert "oauth_token" not in after
    assert phone.pending_request() is None


@pytest.mark.parametrize("sdk", SDKS)
def test_a_phone_that_is_not_enrolled_cannot_approve(server, api_key, sdk):
    phone = device(server, api_key, sdk)
    phone.sign_up(IDENTIFIER)
    stranger = device(server, api_key, sdk)
    stranger.user = phone.user
    pending = device(server, api_key, sdk).request_login(IDENTIFIER)

    answered = stranger.approve(phone.pending_request())

    # Not an error: the event stays pending for the real phone.
    assert (answered["new"], answered["approved"]) == (True, False)
    assert phone.pending_request()["ID"] == pending["ID"]


@pytest.mark.parametrize("sdk", SDKS)
def test_a_third_device_is_enrolled_through_the_qr_flow(server, api_key, check, sdk):
    phone = device(server, api_key, sdk)
    phone.sign_up(IDENTIFIER)
    tablet = device(server, api_key, sdk)
    qr_text = tablet.qr_code(phone.user)
    assert not tablet.is_enrolled(phone.user)

    enrolment = check.event(phone.scan_qr(qr_text))

    assert enrolment["event"] == "ENROLL_NEW_TRUSTED_DEVICE"
    assert enrolment["approved"] is True
    assert tablet.is_enrolled(phone.user)
    assert check.event(tablet.login(IDENTIFIER))["approved"] is True


@pytest.mark.parametrize("scanner", SDKS)
@pytest.mark.parametrize("shown_by", ["react-native", "android", "ios"])
def test_qr_enrollment_works_across_sdks(server, api_key, scanner, shown_by):
    phone = device(server, api_key, scanner)
    phone.sign_up(IDENTIFIER)
    newcomer = device(server, api_key, shown_by)

    phone.scan_qr(newcomer.qr_code(phone.user))

    assert newcomer.is_enrolled(phone.user)
    assert newcomer.login(IDENTIFIER)["approved"] is True


@pytest.mark.parametrize("sdk", SDKS)
def test_a_removed_device_is_no_longer_trusted(server, api_key, sdk):
    phone = device(server, api_key, sdk)
    phone.sign_up(IDENTIFIER)
    tablet = device(server, api_key, sdk)
    phone.scan_qr(tablet.qr_code(phone.user))

    tablet.remove()

    assert not tablet.is_enrolled(phone.user)
    assert phone.is_enrolled(phone.user)
    # Like the SDKs, an untrusted device falls back to asking for approval.
    assert tablet.login(IDENTIFIER)["new"] is True


@pytest.mark.parametrize("sdk", SDKS)
def test_a_login_signed_too_far_from_the_clock_is_not_approved(server, api_key, sdk):
    phone = device(server, api_key, sdk, clock=lambda: time.time() - 3600)
    phone.sign_up(IDENTIFIER)

    event = phone.login(IDENTIFIER)

    assert event["approved"] is False
    assert "oauth_token" not in event


@pytest.mark.parametrize("sdk", SDKS)
def test_a_signature_by_another_key_is_not_approved(server, api_key, sdk):
    phone = device(server, api_key, sdk)
    phone.sign_up(IDENTIFIER)
    impostor = device(server, api_key, sdk)
    # Claims the phone's public key but signs with its own private key.
    impostor.public_key = phone.public_key
    impostor.user = phone.user

    event = impostor.login(IDENTIFIER)

    assert event["approved"] is False
    assert "oauth_token" not in event


def test_devices_of_every_sdk_can_share_one_user(server, api_key):
    phone = device(server, api_key, "react-native")
    phone.sign_up(IDENTIFIER)
    others = [device(server, api_key, sdk) for sdk in ("android", "ios", "flutter")]
    for other in others:
        phone.scan_qr(other.qr_code(phone.user))

    approvals = [other.login(IDENTIFIER)["approved"] for other in others]

    assert approvals == [True, True, True]
