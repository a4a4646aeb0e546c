from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from mock_cotter import signatures
from mock_cotter.signatures import (
    DEVICE_ALGORITHMS,
    InvalidPublicKey,
    check_public_key,
    decode_url_public_key,
    device_event_message,
    enroll_device_message,
    event_signature_message,
    identity_signature_message,
    normalize_key,
    verify_device_signature,
)

MESSAGE = "uid-1234api-key-5678LOGIN1591935918TRUSTED_DEVICEtrue"

# The fixed X9.62 SubjectPublicKeyInfo prefix iOS puts before its raw point.
IOS_HEADER = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def android_b64(data: bytes) -> str:
    return "".join(line + "\n" for line in wrap(b64(data), 76))


def spki_der(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def p256_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def ed25519_raw(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def ecdsa_sign(key: ec.EllipticCurvePrivateKey, message: str) -> bytes:
    return key.sign(message.encode(), ec.ECDSA(hashes.SHA256()))


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


# --- verification per algorithm ----------------------------------------------


def test_ed25519_signature_over_raw_32_byte_key_verifies(ed_key):
    public_key = b64(ed25519_raw(ed_key))
    signature = b64(ed_key.sign(MESSAGE.encode()))

    assert verify_device_signature(public_key, "ED25519", MESSAGE, signature)


@pytest.mark.parametrize("algorithm", ["EC", "ECDSA"])
def test_p256_der_signature_over_spki_key_verifies(p256_key, algorithm):
    public_key = b64(spki_der(p256_key))
    signature = b64(ecdsa_sign(p256_key, MESSAGE))

    assert verify_device_signature(public_key, algorithm, MESSAGE, signature)


def test_rsa_pkcs1v15_sha256_signature_verifies(rsa_key):
    public_key = b64(spki_der(rsa_key))
    raw = rsa_key.sign(MESSAGE.encode(), padding.PKCS1v15(), hashes.SHA256())

    assert verify_device_signature(public_key, "RSA", MESSAGE, b64(raw))


def test_android_wrapped_key_and_wrapped_signature_verify(p256_key):
    public_key = android_b64(spki_der(p256_key))
    signature = android_b64(ecdsa_sign(p256_key, MESSAGE))

    assert "\n" in public_key.rstrip("\n")
    assert signature.endswith("\n")
    assert verify_device_signature(public_key, "EC", MESSAGE, signature)


def test_android_rsa_wrapped_key_verifies(rsa_key):
    public_key = android_b64(spki_der(rsa_key))
    raw = rsa_key.sign(MESSAGE.encode(), padding.PKCS1v15(), hashes.SHA256())

    assert verify_device_signature(public_key, "RSA", MESSAGE, android_b64(raw))


def test_ios_header_plus_point_key_in_64_column_lines_verifies(p256_key):
    lines = wrap(b64(IOS_HEADER + p256_point(p256_key)), 64)
    public_key = "\n".join(lines) + "\n"
    signature = b64(ecdsa_sign(p256_key, MESSAGE))

    assert verify_device_signature(public_key, "EC", MESSAGE, signature)
    assert verify_device_signature(public_key, "ECDSA", MESSAGE, signature)


def test_bare_65_byte_p256_point_is_accepted_as_key(p256_key):
    public_key = b64(p256_point(p256_key))
    signature = b64(ecdsa_sign(p256_key, MESSAGE))

    assert verify_device_signature(public_key, "EC", MESSAGE, signature)


def test_raw_r_s_p256_signature_is_accepted(p256_key):
    r, s = decode_dss_signature(ecdsa_sign(p256_key, MESSAGE))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")

    assert verify_device_signature(b64(spki_der(p256_key)), "EC", MESSAGE, b64(raw))


def test_key_with_carriage_returns_spaces_and_tabs_verifies(ed_key):
    text = b64(ed25519_raw(ed_key))
    messy = f" {text[:10]}\r\n{text[10:20]}\t{text[20:]} \n"
    signature = b64(ed_key.sign(MESSAGE.encode()))

    assert verify_device_signature(messy, "ED25519", MESSAGE, signature)


def test_algorithm_label_is_case_insensitive(ed_key):
    signature = b64(ed_key.sign(MESSAGE.encode()))

    assert verify_device_signature(
        b64(ed25519_raw(ed_key)), "ed25519", MESSAGE, signature
    )


def test_non_ascii_message_is_signed_as_utf8(ed_key):
    message = "üser-idISSLOGIN1TRUSTED_DEVICEtrue"
    signature = b64(ed_key.sign(message.encode("utf-8")))

    assert verify_device_signature(
        b64(ed25519_raw(ed_key)), "ED25519", message, signature
    )


# --- failures are False, never exceptions ------------------------------------


def _valid_cases(ed_key, p256_key, rsa_key):
    raw = rsa_key.sign(MESSAGE.encode(), padding.PKCS1v15(), hashes.SHA256())
    return [
        ("ED25519", b64(ed25519_raw(ed_key)), b64(ed_key.sign(MESSAGE.encode()))),
        ("EC", b64(spki_der(p256_key)), b64(ecdsa_sign(p256_key, MESSAGE))),
        ("RSA", b64(spki_der(rsa_key)), b64(raw)),
    ]


def test_tampered_message_is_false_for_every_algorithm(ed_key, p256_key, rsa_key):
    for algorithm, key, signature in _valid_cases(ed_key, p256_key, rsa_key):
        assert verify_device_signature(key, algorithm, MESSAGE, signature)
        assert not verify_device_signature(key, algorithm, MESSAGE + "x", signature)


@pytest.mark.parametrize(
    "garbled",
    ["", "not base64!", "AAAA", "====", "QUJD", "\n\n"],
)
def test_garbled_signature_is_false_for_every_algorithm(
    ed_key, p256_key, rsa_key, garbled
):
    for algorithm, key, _ in _valid_cases(ed_key, p256_key, rsa_key):
        assert verify_device_signature(key, algorithm, MESSAGE, garbled) is False


def test_missing_signature_is_false(ed_key):
    key = b64(ed25519_raw(ed_key))

    assert verify_device_signature(key, "ED25519", MESSAGE, None) is False


def test_signature_with_one_flipped_byte_is_false(p256_key):
    raw = bytearray(ecdsa_sign(p256_key, MESSAGE))
    raw[-1] ^= 0x01

    key = b64(spki_der(p256_key))
    assert verify_device_signature(key, "EC", MESSAGE, b64(bytes(raw))) is False


def test_signature_from_another_key_is_false(ed_key, p256_key):
    other_ed = ed25519.Ed25519PrivateKey.generate()
    other_p256 = ec.generate_private_key(ec.SECP256R1())

    assert not verify_device_signature(
        b64(ed25519_raw(ed_key)),
        "ED25519",
        MESSAGE,
        b64(other_ed.sign(MESSAGE.encode())),
    )
    assert not verify_device_signature(
        b64(spki_der(p256_key)), "EC", MESSAGE, b64(ecdsa_sign(other_p256, MESSAGE))
    )


def test_raw_64_byte_signature_from_another_key_is_false(p256_key):
    other = ec.generate_private_key(ec.SECP256R1())
    r, s = decode_dss_signature(ecdsa_sign(other, MESSAGE))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")

    key = b64(spki_der(p256_key))
    assert verify_device_signature(key, "EC", MESSAGE, b64(raw)) is False


# --- unusable keys and algorithms raise --------------------------------------


@pytest.mark.parametrize("algorithm", ["ES256", "", None, "P-256"])
def test_unknown_algorithm_raises_and_lists_allowed_values(ed_key, algorithm):
    key = b64(ed25519_raw(ed_key))

    with pytest.raises(InvalidPublicKey, match="ED25519, EC, ECDSA, RSA"):
        check_public_key(key, algorithm)

    with pytest.raises(InvalidPublicKey, match="ED25519, EC, ECDSA, RSA"):
        verify_device_signature(key, algorithm, MESSAGE, "AAAA")


def test_device_algorithms_are_the_sdk_labels():
    assert DEVICE_ALGORITHMS == ("ED25519", "EC", "ECDSA", "RSA")


def test_invalid_public_key_is_a_value_error():
    assert issubclass(InvalidPublicKey, ValueError)


@pytest.mark.parametrize(
    ("algorithm", "key", "fragment"),
    [
        ("ED25519", "not base64!", "ED25519 public key is not valid base64"),
        ("ED25519", b64(b"\x01" * 31), "32 raw bytes, got 31"),
        ("EC", b64(b"\x30\x03\x02\x01\x01"), "EC (P-256) public key is neither"),
        ("ECDSA", b64(b"\x04" + b"\x00" * 64), "EC (P-256) public key is neither"),
        ("RSA", b64(b"\x00" * 40), "RSA public key is not SubjectPublicKeyInfo"),
        ("EC", "", "public key is missing"),
        ("EC", None, "public key is missing"),
    ],
)
def test_undecodable_key_raises_with_algorithm_in_message(algorithm, key, fragment):
    with pytest.raises(InvalidPublicKey) as excinfo:
        check_public_key(key, algorithm)

    assert fragment in str(excinfo.value)


def test_ed25519_key_under_ec_label_raises(ed_key):
    with pytest.raises(InvalidPublicKey, match="EC"):
        check_public_key(b64(ed25519_raw(ed_key)), "EC")


def test_p256_key_under_rsa_label_raises(p256_key):
    with pytest.raises(InvalidPublicKey, match="RSA public key DER does not hold"):
        check_public_key(b64(spki_der(p256_key)), "RSA")


def test_rsa_key_under_ec_label_raises(rsa_key):
    with pytest.raises(InvalidPublicKey, match="does not hold an EC key"):
        check_public_key(b64(spki_der(rsa_key)), "EC")


def test_ec_key_on_another_curve_raises_naming_p256():
    p384 = ec.generate_private_key(ec.SECP384R1())

    with pytest.raises(InvalidPublicKey, match="secp384r1, expected P-256"):
        check_public_key(b64(spki_der(p384)), "EC")


def test_bad_key_raises_even_when_signature_is_also_bad():
    with pytest.raises(InvalidPublicKey):
        verify_device_signature("AAAA", "ED25519", MESSAGE, "garbage")


def test_check_public_key_accepts_each_sdk_key_form(ed_key, p256_key, rsa_key):
    ios = "\n".join(wrap(b64(IOS_HEADER + p256_point(p256_key)), 64)) + "\n"

    check_public_key(b64(ed25519_raw(ed_key)), "ED25519")
    check_public_key(android_b64(spki_der(p256_key)), "EC")
    check_public_key(ios, "ECDSA")
    check_public_key(android_b64(spki_der(rsa_key)), "RSA")


def test_differently_wrapped_copies_of_a_key_share_one_cache_entry(p256_key):
    der = spki_der(p256_key)
    signatures._load_key.cache_clear()

    check_public_key(b64(der), "EC")
    check_public_key(android_b64(der), "ECDSA")

    info = signatures._load_key.cache_info()
    assert (info.misses, info.hits) == (1, 1)


# --- normalize_key ------------------------------------------------------------


def test_normalize_key_removes_every_kind_of_whitespace():
    assert normalize_key(" ab\ncd\r\nef\tgh  \n") == "abcdefgh"


# --- enrolled-check URL encodings (section 9) ---------------------------------


def test_decode_react_native_path_encoding(ed_key):
    key = b64(ed25519_raw(ed_key))
    encoded = base64.urlsafe_b64encode(key.encode()).decode()

    assert encoded.endswith("=")
    assert decode_url_public_key(encoded) == key


def test_decode_android_path_encoding_of_wrapped_key(p256_key):
    key = android_b64(spki_der(p256_key))
    encoded = base64.urlsafe_b64encode(key.encode()).decode()

    assert decode_url_public_key(encoded) == normalize_key(key)


def test_decode_ios_unpadded_url_encoding_of_wrapped_key(p256_key):
    key = "\n".join(wrap(b64(IOS_HEADER + p256_point(p256_key)), 64)) + "\n"
    encoded = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")

    assert decode_url_public_key(encoded) == normalize_key(key)


def test_decode_restores_padding_that_ios_strips(ed_key):
    key = b64(ed25519_raw(ed_key))  # 44 characters: encoding needs "="
    encoded = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")

    assert len(encoded) % 4 != 0
    assert decode_url_public_key(encoded) == key


def test_decode_flutter_standard_base64_encoding(p256_key):
    key = android_b64(spki_der(p256_key))
    encoded = b64(key.encode())

    assert decode_url_public_key(encoded) == normalize_key(key)


def test_decode_flutter_query_value_where_plus_became_space():
    # Base64 of a base64 key string never holds "+" or "/" (every input byte
    # is below 0x7B), so use a text whose encoding does, "fn5+", to check
    # that a query parser's space is read back as "+".
    as_parsed = b64(b"~~~").replace("+", " ")

    assert as_parsed == "fn5 "
    assert decode_url_public_key(as_parsed) == "~~~"


@pytest.mark.parametrize(
    "encoded",
    ["", "A", "!!!!", "abc$", b64(b"\xff\xfe\xfd"), b64(b" \n\t ")],
)
def test_decode_url_public_key_rejects_garbage(encoded):
    with pytest.raises(InvalidPublicKey, match="encoded public key"):
        decode_url_public_key(encoded)


# --- signed messages (sections 7 and 8.2) -------------------------------------


def test_event_signature_message_matches_docs_example():
    message = event_signature_message(
        "1521",
        "63b39fb6eb-a1ff-4f7b-a205-d80f3c664cfd",
        "EVENTNAME",
        "1584659078",
        "TRUSTED_DEVICE",
        False,
        True,
    )

    assert message == (
        "152163b39fb6eb-a1ff-4f7b-a205-d80f3c664cfd"
        "EVENTNAME1584659078TRUSTED_DEVICEfalsetrue"
    )


def test_identity_signature_message_matches_docs_example():
    message = identity_signature_message(
        "+1234567890", "PHONE", "aaf7319d-8f91-4752-a23f-c43ba862d548", "1582679175"
    )

    assert message == ("+1234567890PHONEaaf7319d-8f91-4752-a23f-c43ba862d5481582679175")


@pytest.mark.parametrize(("approved", "suffix"), [(True, "true"), (False, "false")])
def test_device_event_message_concatenates_without_separators(approved, suffix):
    message = device_event_message(
        "uid", "iss", "LOGIN", "1591935918", "TRUSTED_DEVICE", approved
    )

    assert message == "uidissLOGIN1591935918TRUSTED_DEVICE" + suffix


def test_biometric_message_uses_its_method():
    message = device_event_message("u", "i", "LOGIN", "1", "BIOMETRIC", True)

    assert message == "uiLOGIN1BIOMETRICtrue"


def test_missing_user_id_renders_empty_like_rn_array_join():
    message = device_event_message(None, "iss", "LOGIN", "1", "TRUSTED_DEVICE", True)

    assert message == "issLOGIN1TRUSTED_DEVICEtrue"


def test_enroll_device_message_appends_new_key_with_its_newlines():
    new_key = "MFkw\nEwYH\n"

    message = enroll_device_message("uid", "iss", "1591935918", new_key)

    assert message == (
        "uidissENROLL_NEW_TRUSTED_DEVICE1591935918TRUSTED_DEVICEtrueMFkw\nEwYH\n"
    )


@pytest.mark.parametrize("not_a_bool", ["false", "true", 0, 1, None])
def test_message_builders_refuse_non_bool_flags(not_a_bool):
    with pytest.raises(TypeError, match="expected a bool"):
        device_event_message("u", "i", "E", "1", "TRUSTED_DEVICE", not_a_bool)

    with pytest.raises(TypeError, match="expected a bool"):
        event_signature_message("u", "i", "E", "1", "TRUSTED_DEVICE", not_a_bool, True)
