"""Enrolled methods over real HTTP: M1/M2 enroll, change and remove; M3/M4/M5
enrolled checks with every SDK's key encoding (cotter-api.md sections 3.1,
4.6, 8.1 and 9)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

# iOS CryptoUtil's fixed X9.62 SubjectPublicKeyInfo prefix for P-256.
IOS_SPKI_HEADER = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
METHODS = ("TRUSTED_DEVICE", "PIN", "BIOMETRIC")


# -- device keys, as each SDK writes them (section 8.1) ------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def ed25519_key() -> str:
    """RN/Flutter: the raw 32-byte public key, standard base64."""
    private = ed25519.Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return b64(raw)


def android_key() -> str:
    """Android: P-256 SPKI DER, Base64.DEFAULT (76 columns, each line + \\n)."""
    der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    text = b64(der)
    return "".join(text[i : i + 76] + "\n" for i in range(0, len(text), 76))


def ios_key() -> str:
    """iOS: fixed header + point, 64-column lines joined by \\n, plus \\n."""
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(
            serialization.Encoding.X962,
            serialization.PublicFormat.UncompressedPoint,
        )
    )
    text = b64(IOS_SPKI_HEADER + point)
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + "\n"


# -- URL encodings of a key (section 9) ---------------------------------------


def rn_encoding(key: str) -> str:
    """RN and Android: base64url of the key string, padding kept."""
    return base64.urlsafe_b64encode(key.encode()).decode()


def ios_encoding(key: str) -> str:
    """iOS keyToBase64URL: base64url of the key string, '=' removed."""
    return rn_encoding(key).rstrip("=")


def flutter_encoding(key: str) -> str:
    """Flutter: standard base64 of the key string, not URL-encoded."""
    return b64(key.encode())


# -- helpers -------------------------------------------------------------------


def device_body(key: str, algorithm: str | None = "ED25519", **extra) -> dict:
    body = {
        "method": "TRUSTED_DEVICE",
        "enrolled": True,
        "code": key,
        "algorithm": algorithm,
        "device_name": "Pixel 5 11",
        "device_type": "Google",
    }
    body.update(extra)
    return body


def enroll(api, user_ref: str, body: dict):
    response = api.put(f"/user/{user_ref}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def check_m3(api, user_ref: str, method: str, encoded: str = "") -> dict:
    path = f"/user/enrolled/{user_ref}/{method}"
    response = api.get(path + (f"/{encoded}" if encoded else ""))
    assert response.status_code == 200, response.text
    return response.json()


def check_m4_raw(api, query: str) -> dict:
    # Built by hand so that requests does not percent-encode '+' or '='.
    response = api.session.get(api.url("/user/methods") + "?" + query, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def user(api) -> dict:
    return api.create_user("device@example.com")


@pytest.fixture
def legacy_user(api) -> dict:
    response = api.post(
        "/user/create",
        json={"client_user_id": "rn-legacy-1", "identifiers": ["rn@example.com"]},
    )
    assert response.status_code == 200, response.text
    return response.json()


# -- M1: PUT /user/<client_user_id> --------------------------------------------


def test_m1_enrolls_an_ed25519_trusted_device_and_answers_the_user(api, legacy_user):
    key = ed25519_key()

    response = api.put("/user/rn-legacy-1", json=device_body(key))

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["ID"] == legacy_user["ID"]
    assert answer["enrolled"] == ["TRUSTED_DEVICE"]
    assert answer["default_method"] == "TRUSTED_DEVICE"
    assert "oauth_token" not in answer
    assert check_m3(api, "rn-legacy-1", "TRUSTED_DEVICE", rn_encoding(key)) == {
        "enrolled": True,
        "method": "TRUSTED_DEVICE",
    }


def test_m1_with_oauth_token_true_adds_a_trusted_device_token(api, legacy_user):
    response = api.put(
        "/user/rn-legacy-1?oauth_token=true", json=device_body(ed25519_key())
    )

    assert response.status_code == 200, response.text
    token = response.json()["oauth_token"]
    assert token["auth_method"] == "TRUSTED_DEVICE"
    assert token["token_type"] == "Bearer"
    assert token["access_token"] and token["refresh_token"]


def test_m1_enrolls_an_android_p256_key_wrapped_at_76_columns(api, user):
    key = android_key()
    assert "\n" in key.rstrip("\n")  # really wrapped

    enroll(api, user["ID"], device_body(key, "EC"))

    assert check_m3(api, user["ID"], "TRUSTED_DEVICE", rn_encoding(key))["enrolled"]


# -- M2: PUT /user/methods?cotter_user_id= --------------------------------------


def test_m2_enrolls_by_cotter_user_id_and_answers_an_oauth_token(api, user):
    key = android_key()

    response = api.put(
        f"/user/methods?cotter_user_id={user['ID']}&oauth_token=true",
        json=device_body(key, "EC"),
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["ID"] == user["ID"]
    assert answer["enrolled"] == ["TRUSTED_DEVICE"]
    assert answer["oauth_token"]["auth_method"] == "TRUSTED_DEVICE"
    assert check_m3(api, user["ID"], "TRUSTED_DEVICE", rn_encoding(key))["enrolled"]


def test_m2_answers_an_oauth_token_even_without_the_query_like_ios(api, user):
    response = api.put(
        f"/user/methods?cotter_user_id={user['ID']}",
        json=device_body(ios_key(), "EC"),
    )

    assert response.status_code == 200, response.text
    assert "access_token" in response.json()["oauth_token"]


def test_m2_with_flutter_change_code_false_and_null_current_code(api, user):
    body = device_body(ed25519_key(), change_code=False, current_code=None)
    body["device_type"] = "MOBILE"

    response = api.put(
        f"/user/methods?cotter_user_id={user['ID']}&oauth_token=true", json=body
    )

    assert response.status_code == 200, response.text
    assert response.json()["enrolled"] == ["TRUSTED_DEVICE"]


# -- removing a device ---------------------------------------------------------


def test_removing_a_device_needs_no_signature_and_keeps_the_others(api, user):
    kept, removed = ed25519_key(), android_key()
    enroll(api, user["ID"], device_body(kept))
    enroll(api, user["ID"], device_body(removed, "EC"))

    # RN sends algorithm: null; nothing is signed.
    answer = enroll(
        api,
        user["ID"],
        {
            "method": "TRUSTED_DEVICE",
            "enrolled": False,
            "code": removed,
            "algorithm": None,
        },
    )

    assert answer["enrolled"] == ["TRUSTED_DEVICE"]
    assert not check_m3(api, user["ID"], "TRUSTED_DEVICE", rn_encoding(removed))[
        "enrolled"
    ]
    assert check_m3(api, user["ID"], "TRUSTED_DEVICE", rn_encoding(kept))["enrolled"]


def test_removing_the_last_device_empties_enrolled(api, user):
    key = android_key()
    enroll(api, user["ID"], device_body(key, "EC"))

    # Android leaves algorithm out altogether.
    answer = enroll(
        api,
        user["ID"],
        {"method": "TRUSTED_DEVICE", "enrolled": False, "code": key},
    )

    assert answer["enrolled"] == []
    assert answer["default_method"] is None
    assert check_m3(api, user["ID"], "TRUSTED_DEVICE") == {
        "enrolled": False,
        "method": "TRUSTED_DEVICE",
    }


def test_removing_a_key_sent_unwrapped_matches_the_wrapped_enrollment(api, user):
    key = android_key()
    enroll(api, user["ID"], device_body(key, "EC"))

    answer = enroll(
        api,
        user["ID"],
        {"method": "TRUSTED_DEVICE", "enrolled": False, "code": key.replace("\n", "")},
    )

    assert answer["enrolled"] == []


# -- PIN -----------------------------------------------------------------------


def pin_body(code: str, **extra) -> dict:
    return {"method": "PIN", "enrolled": True, "code": code, **extra}


def test_pin_enroll_is_reported_by_the_pin_check_without_a_key(api, user):
    before = check_m3(api, user["ID"], "PIN")

    answer = enroll(api, user["ID"], pin_body("123456"))

    assert before == {"enrolled": False, "method": "PIN"}
    assert answer["enrolled"] == ["PIN"]
    assert check_m3(api, user["ID"], "PIN") == {"enrolled": True, "method": "PIN"}


def test_pin_change_with_the_current_code_replaces_the_pin(api, user):
    enroll(api, user["ID"], pin_body("123456"))

    changed = api.put(
        f"/user/{user['ID']}",
        json=pin_body("654321", change_code=True, current_code="123456"),
    )
    # The old PIN no longer counts as the current one; the new one does.
    with_old = api.put(
        f"/user/{user['ID']}",
        json=pin_body("111111", change_code=True, current_code="123456"),
    )
    with_new = api.put(
        f"/user/{user['ID']}",
        json=pin_body("111111", change_code=True, current_code="654321"),
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["enrolled"] == ["PIN"]
    assert with_old.status_code == 400
    assert with_new.status_code == 200, with_new.text


def test_pin_change_with_a_wrong_current_code_is_a_400(api, user):
    enroll(api, user["ID"], pin_body("123456"))

    response = api.put(
        f"/user/{user['ID']}",
        json=pin_body("654321", change_code=True, current_code="000000"),
    )

    assert response.status_code == 400
    assert "current_code" in response.json()["msg"]


def test_second_pin_enroll_without_change_code_is_a_400(api, user):
    enroll(api, user["ID"], pin_body("123456"))

    response = api.put(f"/user/{user['ID']}", json=pin_body("999999"))

    assert response.status_code == 400
    body = response.json()
    assert "change_code" in body["msg"]
    assert isinstance(body["type"], str)


# -- BIOMETRIC -----------------------------------------------------------------


def test_biometric_enroll_then_duplicate_is_an_already_enrolled_error(api, user):
    key = android_key()
    body = {"method": "BIOMETRIC", "enrolled": True, "code": key}

    first = api.put(f"/user/{user['ID']}", json=body)
    second = api.put(f"/user/{user['ID']}", json=body)

    assert first.status_code == 200, first.text
    assert first.json()["enrolled"] == ["BIOMETRIC"]
    # Android treats an error containing "already enrolled" as success.
    assert second.status_code >= 400
    assert "already enrolled" in second.json()["msg"]


def test_biometric_key_is_found_by_the_m3_check(api, user):
    key = ios_key()
    enroll(
        api,
        user["ID"],
        {"method": "BIOMETRIC", "enrolled": True, "code": key, "algorithm": "EC"},
    )

    assert check_m3(api, user["ID"], "BIOMETRIC", ios_encoding(key)) == {
        "enrolled": True,
        "method": "BIOMETRIC",
    }


# -- invalid input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "algorithm"),
    [
        ("not base64 at all!", "ED25519"),
        (b64(b"\x01" * 31), "ED25519"),
        (b64(b"\x01" * 65), "EC"),
        (b64(b"\x30\x03\x02\x01\x01"), "RSA"),
    ],
    ids=[
        "garbage-text-as-ed25519",
        "31-byte-ed25519-key",
        "65-random-bytes-as-ec",
        "non-spki-der-as-rsa",
    ],
)
def test_an_unusable_trusted_device_key_is_a_400_naming_code(
    api, user, code, algorithm
):
    response = api.put(f"/user/{user['ID']}", json=device_body(code, algorithm))

    assert response.status_code == 400
    assert "'code'" in response.json()["msg"]
    assert api.get(f"/user/{user['ID']}").json()["enrolled"] == []


def test_an_unknown_algorithm_is_a_400_listing_the_known_ones(api, user):
    response = api.put(f"/user/{user['ID']}", json=device_body(ed25519_key(), "DSA"))

    assert response.status_code == 400
    msg = response.json()["msg"]
    assert "DSA" in msg
    for known in ("ED25519", "EC", "RSA"):
        assert known in msg


@pytest.mark.parametrize("method", ["WEBAUTHN", "trusted_device", "EMAIL"])
def test_an_unknown_method_is_a_400_listing_the_allowed_methods(api, user, method):
    body = device_body(ed25519_key())
    body["method"] = method

    response = api.put(f"/user/{user['ID']}", json=body)

    assert response.status_code == 400
    msg = response.json()["msg"]
    assert "'method'" in msg
    for allowed in METHODS:
        assert allowed in msg


def test_an_unknown_method_in_the_m3_path_is_a_400_listing_the_methods(api, user):
    response = api.get(f"/user/enrolled/{user['ID']}/WEBAUTHN")

    assert response.status_code == 400
    for allowed in METHODS:
        assert allowed in response.json()["msg"]


# -- M3: GET /user/enrolled/<client_user_id>/<method>/<key> ---------------------


def test_m3_finds_an_rn_key_encoded_as_padded_base64url(api, legacy_user):
    key = ed25519_key()
    enroll(api, "rn-legacy-1", device_body(key))
    encoded = rn_encoding(key)
    assert encoded.endswith("=")

    assert check_m3(api, "rn-legacy-1", "TRUSTED_DEVICE", encoded) == {
        "enrolled": True,
        "method": "TRUSTED_DEVICE",
    }


def test_m3_finds_an_android_key_encoded_with_its_newlines(api, user):
    key = android_key()
    enroll(api, user["ID"], device_body(key, "EC"))
    encoded = rn_encoding(key)
    # The newlines were part of what Android encoded.
    assert rn_encoding(key.replace("\n", "")) != encoded

    assert check_m3(api, user["ID"], "TRUSTED_DEVICE", encoded)["enrolled"]


def test_m3_finds_a_flutter_key_in_standard_padded_base64(api, user):
    # Flutter's unused M3 variant puts base64Encode(key) into the path as
    # is. That is the base64 of a base64 string, whose characters are all
    # below 0x7B, so it never holds '+' or '/'; '=' padding it always has.
    key = ed25519_key()
    enroll(api, user["ID"], device_body(key))
    encoded = flutter_encoding(key)
    assert encoded.endswith("=")

    answer = check_m3(api, user["ID"], "TRUSTED_DEVICE", encoded)

    assert answer == {"enrolled": True, "method": "TRUSTED_DEVICE"}


def test_m3_by_cotter_id_and_client_user_id_agree(api, legacy_user):
    key = ed25519_key()
    enroll(api, "rn-legacy-1", device_body(key))

    by_client = check_m3(api, "rn-legacy-1", "TRUSTED_DEVICE", rn_encoding(key))
    by_id = check_m3(api, legacy_user["ID"], "TRUSTED_DEVICE", rn_encoding(key))

    assert by_client == by_id == {"enrolled": True, "method": "TRUSTED_DEVICE"}


def test_m3_unknown_key_is_200_enrolled_false(api, user):
    enroll(api, user["ID"], device_body(ed25519_key()))

    answer = check_m3(api, user["ID"], "TRUSTED_DEVICE", rn_encoding(ed25519_key()))

    assert answer == {"enrolled": False, "method": "TRUSTED_DEVICE"}


def test_m3_without_a_key_reports_whether_any_device_is_enrolled(api, user):
    before = check_m3(api, user["ID"], "TRUSTED_DEVICE")
    enroll(api, user["ID"], device_body(ed25519_key()))
    after = check_m3(api, user["ID"], "TRUSTED_DEVICE")

    assert before == {"enrolled": False, "method": "TRUSTED_DEVICE"}
    assert after == {"enrolled": True, "method": "TRUSTED_DEVICE"}


def test_m3_a_trusted_device_key_is_not_a_biometric_key(api, user):
    key = android_key()
    enroll(api, user["ID"], device_body(key, "EC"))

    answer = check_m3(api, user["ID"], "BIOMETRIC", rn_encoding(key))

    assert answer == {"enrolled": False, "method": "BIOMETRIC"}


# -- M4: GET /user/methods?cotter_user_id=&method=&public_key= -------------------


def test_m4_finds_a_flutter_key_sent_unencoded_with_its_padding(api, user):
    # The raw '=' of the value follows the '=' of public_key.
    key = ed25519_key()
    enroll(api, user["ID"], device_body(key))
    encoded = flutter_encoding(key)
    assert encoded.endswith("=")

    answer = check_m4_raw(
        api,
        f"cotter_user_id={user['ID']}&method=TRUSTED_DEVICE&public_key={encoded}",
    )

    assert answer == {"enrolled": True, "method": "TRUSTED_DEVICE"}


def test_m4_finds_an_ios_key_in_ios_parameter_order(api, user):
    key = ios_key()
    enroll(api, user["ID"], device_body(key, "EC"))

    answer = check_m4_raw(
        api,
        f"cotter_user_id={user['ID']}&public_key={ios_encoding(key)}"
        "&method=TRUSTED_DEVICE",
    )

    assert answer == {"enrolled": True, "method": "TRUSTED_DEVICE"}


def test_m4_accepts_a_key_encoding_whose_padding_was_stripped(api, user):
    key = ed25519_key()
    enroll(api, user["ID"], device_body(key))
    encoded = ios_encoding(key)
    assert rn_encoding(key).endswith("=") and not encoded.endswith("=")

    answer = check_m4_raw(
        api,
        f"cotter_user_id={user['ID']}&public_key={encoded}&method=TRUSTED_DEVICE",
    )

    assert answer["enrolled"] is True


def test_m4_finds_a_percent_encoded_key(api, user):
    key = ed25519_key()
    enroll(api, user["ID"], device_body(key))

    response = api.get(
        "/user/methods",
        params={
            "cotter_user_id": user["ID"],
            "method": "TRUSTED_DEVICE",
            "public_key": flutter_encoding(key),
        },
    )

    assert "%3D" in response.request.url
    assert response.status_code == 200
    assert response.json()["enrolled"] is True


def test_m4_unknown_key_is_200_enrolled_false(api, user):
    enroll(api, user["ID"], device_body(ed25519_key()))

    answer = check_m4_raw(
        api,
        f"cotter_user_id={user['ID']}&method=TRUSTED_DEVICE"
        f"&public_key={flutter_encoding(ed25519_key())}",
    )

    assert answer == {"enrolled": False, "method": "TRUSTED_DEVICE"}


def test_m4_pin_without_a_key(api, user):
    enroll(api, user["ID"], pin_body("123456"))

    answer = check_m4_raw(api, f"cotter_user_id={user['ID']}&method=PIN")

    assert answer == {"enrolled": True, "method": "PIN"}


# -- M5: GET /user/enrolled/any/<id>/TRUSTED_DEVICE -----------------------------


def test_m5_any_device_is_not_routed_as_an_m3_check(api, user):
    before = api.get(f"/user/enrolled/any/{user['ID']}/TRUSTED_DEVICE")
    enroll(api, user["ID"], device_body(android_key(), "EC"))
    after = api.get(f"/user/enrolled/any/{user['ID']}/TRUSTED_DEVICE")

    # As an M3 check, "any" would be an unknown user: a 404.
    assert before.status_code == after.status_code == 200
    assert before.json() == {"enrolled": False, "method": "TRUSTED_DEVICE"}
    assert after.json() == {"enrolled": True, "method": "TRUSTED_DEVICE"}


def test_m5_ignores_keys_of_other_methods(api, user):
    enroll(api, user["ID"], pin_body("123456"))

    response = api.get(f"/user/enrolled/any/{user['ID']}/TRUSTED_DEVICE")

    assert response.json() == {"enrolled": False, "method": "TRUSTED_DEVICE"}
