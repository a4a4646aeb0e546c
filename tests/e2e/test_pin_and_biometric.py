"""PIN and biometric logins (Android and iOS), over real HTTP."""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mock_cotter.signatures import device_event_message


def enroll(api, user: dict, method: str, code: str) -> dict:
    body = {"method": method, "enrolled": True, "code": code}
    response = api.put(f"/user/{user['client_user_id']}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def login(api, user: dict, method: str, code: str, public_key: str = "") -> dict:
    timestamp = str(int(time.time()))
    body = {
        "client_user_id": user["client_user_id"],
        "issuer": api.api_key,
        "event": "LOGIN",
        "ip": "10.0.0.2",
        "location": "unknown",
        "timestamp": timestamp,
        "method": method,
        "code": code,
        "approved": True,
        "public_key": public_key,
    }
    response = api.post("/event/create?oauth_token=true", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_right_pin_is_approved_with_tokens(api):
    user = enroll(api, api.create_user(), "PIN", "123456")

    event = login(api, user, "PIN", "123456")

    assert user["enrolled"] == ["PIN"]
    assert event["approved"] is True
    assert event["oauth_token"]["auth_method"] == "PIN"


def test_a_wrong_pin_is_a_200_not_approved(api):
    user = enroll(api, api.create_user(), "PIN", "123456")

    event = login(api, user, "PIN", "654321")

    assert event["approved"] is False
    assert "oauth_token" not in event


def test_a_changed_pin_replaces_the_old_one(api):
    user = enroll(api, api.create_user(), "PIN", "1111")
    change = {
        "method": "PIN",
        "enrolled": True,
        "code": "2222",
        "change_code": True,
        "current_code": "1111",
    }
    assert api.put(f"/user/{user['ID']}", json=change).status_code == 200

    assert login(api, user, "PIN", "1111")["approved"] is False
    assert login(api, user, "PIN", "2222")["approved"] is True


def biometric_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(spki).decode()


def test_a_biometric_signature_is_approved(api):
    private, public = biometric_key()
    user = enroll(api, api.create_user(), "BIOMETRIC", public)
    timestamp = str(int(time.time()))
    message = device_event_message(
        user["client_user_id"], api.api_key, "LOGIN", timestamp, "BIOMETRIC", True
    )
    signature = private.sign(message.encode(), ec.ECDSA(hashes.SHA256()))
    body = {
        "client_user_id": user["client_user_id"],
        "issuer": api.api_key,
        "event": "LOGIN",
        "ip": "unknown",
        "location": "unknown",
        "timestamp": timestamp,
        "method": "BIOMETRIC",
        "code": base64.b64encode(signature).decode(),
        "approved": True,
        "public_key": public,
    }

    event = api.post("/event/create?oauth_token=true", json=body).json()

    assert event["approved"] is True
    assert event["oauth_token"]["auth_method"] == "BIOMETRIC"


def test_a_biometric_signature_over_another_message_is_not_approved(api):
    private, public = biometric_key()
    user = enroll(api, api.create_user(), "BIOMETRIC", public)
    forged = private.sign(b"something else", ec.ECDSA(hashes.SHA256()))

    event = login(
        api, user, "BIOMETRIC", base64.b64encode(forged).decode(), public_key=public
    )

    assert event["approved"] is False


def test_a_pending_event_with_a_bad_response_signature_stays_pending(api):
    from mock_cotter.testing import TrustedDevice

    phone = TrustedDevice.react_native(api.server.url, api.api_key)
    phone.sign_up("pending@example.com")
    pending = TrustedDevice.react_native(api.server.url, api.api_key).request_login(
        "pending@example.com"
    )
    body = {
        "client_user_id": phone.user["client_user_id"],
        "issuer": api.api_key,
        "event": pending["event"],
        "ip": "unknown",
        "location": "unknown",
        "timestamp": pending["timestamp"],
        "method": "TRUSTED_DEVICE",
        "code": base64.b64encode(b"\0" * 64).decode(),
        "approved": True,
        "public_key": phone.public_key,
        "algorithm": "ED25519",
    }

    answer = api.post(f"/event/respond/{pending['ID']}", json=body).json()

    assert (answer["new"], answer["approved"]) == (True, False)
    assert phone.approve(phone.pending_request())["approved"] is True
