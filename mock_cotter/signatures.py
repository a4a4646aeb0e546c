"""Device public keys, device signatures and the exact strings Cotter signs.

Pure functions: key parsing and verification for the trusted-device
algorithms the SDKs use, the URL encodings of keys in enrolled checks, and
the concatenated messages of cotter-api.md sections 7 and 8.2.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

logger = logging.getLogger(__name__)

__all__ = [
    "DEVICE_ALGORITHMS",
    "InvalidPublicKey",
    "check_public_key",
    "decode_url_public_key",
    "device_event_message",
    "enroll_device_message",
    "event_signature_message",
    "identity_signature_message",
    "normalize_key",
    "verify_device_signature",
]

# Labels as the SDKs send them: RN/Flutter "ED25519", Android `getAlgorithm()`
# "EC" (or "RSA" below API 23), iOS "EC" on enrollment but "ECDSA" in its QR.
DEVICE_ALGORITHMS = ("ED25519", "EC", "ECDSA", "RSA")

_CANONICAL = {"ED25519": "ED25519", "EC": "P256", "ECDSA": "P256", "RSA": "RSA"}

_WHITESPACE = re.compile(r"\s+")

_P256_POINT_LEN = 65  # 0x04 || X || Y
_P256_RAW_SIG_LEN = 64  # r || s, 32 bytes each

_PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class InvalidPublicKey(ValueError):
    """A device public key (or its algorithm label) cannot be used."""


def normalize_key(text: str) -> str:
    """Return ``text`` with every whitespace character removed.

    Android's ``Base64.DEFAULT`` wraps at 76 columns and iOS at 64, both with
    a trailing newline, while the same key arrives unwrapped elsewhere.
    """
    return _WHITESPACE.sub("", text)


def _canonical_algorithm(algorithm: str) -> str:
    label = algorithm.strip().upper() if isinstance(algorithm, str) else ""
    try:
        return _CANONICAL[label]
    except KeyError:
        raise InvalidPublicKey(
            f"unknown device key algorithm {algorithm!r}; "
            f"expected one of {', '.join(DEVICE_ALGORITHMS)}"
        ) from None


def _b64decode(text: str) -> bytes:
    # Strict: every SDK emits padded standard base64, so anything else is
    # corruption rather than a dialect to tolerate.
    return base64.b64decode(text, validate=True)


@functools.lru_cache(maxsize=1024)
def _load_key(key: str, canonical: str) -> _PublicKey:
    """Decode a whitespace-free base64 key; cached, every E1/E5 lands here."""
    label = "EC (P-256)" if canonical == "P256" else canonical
    try:
        raw = _b64decode(key)
    except (binascii.Error, ValueError):
        raise InvalidPublicKey(f"{label} public key is not valid base64") from None

    if canonical == "ED25519":
        if len(raw) != 32:
            raise InvalidPublicKey(
                f"ED25519 public key must be 32 raw bytes, got {len(raw)}"
            )

        return ed25519.Ed25519PublicKey.from_public_bytes(raw)

    if canonical == "P256":
        return _load_p256(raw)

    return _load_rsa(raw)


def _load_p256(raw: bytes) -> ec.EllipticCurvePublicKey:
    try:
        if len(raw) == _P256_POINT_LEN and raw[0] == 0x04:
            # A bare X9.62 point, i.e. an iOS key without its fixed header.
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        key = serialization.load_der_public_key(raw)
    except ValueError:
        raise InvalidPublicKey(
            "EC (P-256) public key is neither SubjectPublicKeyInfo DER "
            "nor a 65-byte uncompressed point"
        ) from None

    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InvalidPublicKey("EC public key DER does not hold an EC key")

    if not isinstance(key.curve, ec.SECP256R1):
        raise InvalidPublicKey(
            f"EC public key is on curve {key.curve.name}, expected P-256"
        )

    return key


def _load_rsa(raw: bytes) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_der_public_key(raw)
    except ValueError:
        raise InvalidPublicKey(
            "RSA public key is not SubjectPublicKeyInfo DER"
        ) from None

    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidPublicKey("RSA public key DER does not hold an RSA key")

    return key


def _public_key(public_key: str, algorithm: str) -> _PublicKey:
    canonical = _canonical_algorithm(algorithm)
    if not isinstance(public_key, str) or not public_key.strip():
        raise InvalidPublicKey(f"{algorithm} public key is missing")

    return _load_key(normalize_key(public_key), canonical)


def check_public_key(public_key: str, algorithm: str) -> None:
    """Raise :class:`InvalidPublicKey` unless the key decodes for ``algorithm``."""
    _public_key(public_key, algorithm)


def verify_device_signature(
    public_key: str, algorithm: str, message: str, signature: str
) -> bool:
    """Check a device's base64 ``signature`` over the UTF-8 of ``message``.

    A bad, garbled or missing signature gives ``False``; only an unusable key
    or algorithm raises :class:`InvalidPublicKey`.
    """
    key = _public_key(public_key, algorithm)
    if not isinstance(signature, str):
        logger.debug("signature rejected algorithm=%s reason=missing", algorithm)
        return False

    try:
        # Android's Base64.DEFAULT wraps signatures too.
        sig = _b64decode(normalize_key(signature))
    except (binascii.Error, ValueError):
        logger.debug("signature rejected algorithm=%s reason=base64", algorithm)
        return False

    data = message.encode("utf-8")
    if isinstance(key, ed25519.Ed25519PublicKey):
        valid = _verified(lambda: key.verify(sig, data))
    elif isinstance(key, ec.EllipticCurvePublicKey):
        valid = _verify_p256(key, sig, data)
    else:
        valid = _verified(
            lambda: key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        )

    if not valid:
        logger.debug("signature rejected algorithm=%s reason=mismatch", algorithm)

    return valid


def _verify_p256(key: ec.EllipticCurvePublicKey, sig: bytes, data: bytes) -> bool:
    algorithm = ec.ECDSA(hashes.SHA256())
    if _verified(lambda: key.verify(sig, data, algorithm)):
        return True

    if len(sig) != _P256_RAW_SIG_LEN:
        return False

    # Raw r||s (WebCrypto/CryptoKit style) is accepted as a harmless extra;
    # it is tried second because a short DER signature can also be 64 bytes.
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    der = encode_dss_signature(r, s)
    return _verified(lambda: key.verify(der, data, algorithm))


def _verified(check: Callable[[], object]) -> bool:
    try:
        check()
    except (InvalidSignature, ValueError):
        return False

    return True


def decode_url_public_key(encoded: str) -> str:
    """Recover a key string from its enrolled-check URL form (section 9).

    RN and Android send base64url with padding, iOS base64url without it,
    Flutter standard base64 unencoded in a query, where ``+`` arrives as a
    space.  All four wrap the key *string* (newlines included), so the
    result is normalized.
    """
    if not isinstance(encoded, str):
        raise InvalidPublicKey("encoded public key must be a string")

    # No strip(): a trailing space is a "+" that a query parser decoded.
    text = encoded.replace(" ", "+").replace("-", "+").replace("_", "/")
    text = text.rstrip("=")
    if not text or len(text) % 4 == 1:
        raise InvalidPublicKey(
            f"encoded public key {encoded!r} has an impossible base64 length"
        )

    text += "=" * (-len(text) % 4)
    try:
        decoded = _b64decode(text).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidPublicKey(
            f"encoded public key {encoded!r} is not base64 of a UTF-8 key string"
        ) from None

    key = normalize_key(decoded)
    if not key:
        raise InvalidPublicKey(f"encoded public key {encoded!r} decodes to nothing")

    return key


def _bool(value: bool) -> str:
    # Messages spell booleans as JavaScript does; refuse anything that is not
    # a real bool so that the string "false" can never become "true".
    if not isinstance(value, bool):
        raise TypeError(f"expected a bool, got {type(value).__name__}")

    return "true" if value else "false"


def _join(*parts: str | None) -> str:
    # RN builds messages with Array.join(""), which renders null as "".
    return "".join("" if part is None else str(part) for part in parts)


def device_event_message(
    user_id: str,
    issuer: str,
    event: str,
    timestamp: str,
    method: str,
    approved: bool,
) -> str:
    """Message a device signs to approve (a), respond (b) or use biometrics (d)."""
    return _join(user_id, issuer, event, timestamp, method, _bool(approved))


def enroll_device_message(
    user_id: str, issuer: str, timestamp: str, new_public_key: str
) -> str:
    """Message (c) for enrolling another device from its QR code.

    The new key is appended exactly as read from the QR: Android and iOS keys
    keep their embedded newlines in what was signed.
    """
    return _join(
        user_id,
        issuer,
        "ENROLL_NEW_TRUSTED_DEVICE",
        timestamp,
        "TRUSTED_DEVICE",
        "true",
        new_public_key,
    )


def event_signature_message(
    client_user_id: str,
    issuer: str,
    event: str,
    timestamp: str,
    method: str,
    new: bool,
    approved: bool,
) -> str:
    """What Cotter's server signs into ``Event.signature`` (section 7.1)."""
    return _join(
        client_user_id, issuer, event, timestamp, method, _bool(new), _bool(approved)
    )


def identity_signature_message(
    identifier: str, identifier_type: str, receiver: str, expire_at: str
) -> str:
    """What Cotter's server signs into an identity token (section 7.2)."""
    return _join(identifier, identifier_type, receiver, expire_at)
