"""Key material: the ES256 key that signs JWTs and the Ed25519 key that signs
events and identity tokens.

By default both come from ``data/test-keys.json``, a pair of keys shipped in
the package so that tokens stay valid across restarts. They are public: never
trust anything they sign outside tests.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm

from .config import COTTER_KID
from .errors import ConfigError

logger = logging.getLogger(__name__)

BUNDLED_KEYS = "bundled test keys"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _derive(seed: int, purpose: str) -> bytes:
    return hashlib.sha256(f"mock-cotter:{seed}:{purpose}".encode()).digest()


@dataclass(frozen=True)
class KeySet:
    """The mock's signing keys and the public forms clients verify with."""

    kid: str
    jwt_key: ec.EllipticCurvePrivateKey
    event_key: ed25519.Ed25519PrivateKey
    source: str

    @classmethod
    def load(cls, path: str | None = None) -> KeySet:
        """Load a key file, or the bundled test keys when ``path`` is None."""
        if path is None:
            text = resources.files(__package__).joinpath("data/test-keys.json")
            return cls.from_json(text.read_text(), BUNDLED_KEYS)
        try:
            return cls.from_json(Path(path).read_text(), path)
        except OSError as exc:
            raise ConfigError(
                f"Cannot read key file {path!r}: {exc.strerror}."
            ) from None

    @classmethod
    def from_json(cls, text: str, source: str) -> KeySet:
        try:
            doc = json.loads(text)
            kid = doc.get("kid", COTTER_KID)
            jwt_key = serialization.load_pem_private_key(
                doc["jwt_private_key"].encode(), password=None
            )
            event_key = serialization.load_pem_private_key(
                doc["event_private_key"].encode(), password=None
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"Key file {source!r} is not valid: it needs `jwt_private_key` "
                f"(P-256, PEM) and `event_private_key` (Ed25519, PEM) ({exc})."
            ) from None
        if not isinstance(jwt_key, ec.EllipticCurvePrivateKey) or not isinstance(
            jwt_key.curve, ec.SECP256R1
        ):
            raise ConfigError(f"Key file {source!r}: jwt_private_key must be P-256.")
        if not isinstance(event_key, ed25519.Ed25519PrivateKey):
            raise ConfigError(
                f"Key file {source!r}: event_private_key must be Ed25519."
            )
        return cls(kid=kid, jwt_key=jwt_key, event_key=event_key, source=source)

    @classmethod
    def generate(cls, seed: int | None = None, kid: str = COTTER_KID) -> KeySet:
        """New keys: derived from ``seed`` when given, so a seeded run signs
        with the same keys every time; random otherwise."""
        if seed is None:
            return cls(
                kid=kid,
                jwt_key=ec.generate_private_key(ec.SECP256R1()),
                event_key=ed25519.Ed25519PrivateKey.generate(),
                source="generated",
            )
        jwt_secret = int.from_bytes(_derive(seed, "jwt"), "big") % (_P256_ORDER - 1)
        return cls(
            kid=kid,
            jwt_key=ec.derive_private_key(jwt_secret + 1, ec.SECP256R1()),
            event_key=ed25519.Ed25519PrivateKey.from_private_bytes(
                _derive(seed, "event")
            ),
            source=f"generated from seed {seed}",
        )

    def to_json(self) -> str:
        """The key file format that :meth:`load` reads."""

        def pem(key) -> str:
            return key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()

        doc = {
            "kid": self.kid,
            "jwt_private_key": pem(self.jwt_key),
            "event_private_key": pem(self.event_key),
        }
        return json.dumps(doc, indent=2) + "\n"

    # -- public forms ------------------------------------------------------

    @functools.cached_property
    def _public_jwk(self) -> dict[str, str]:
        jwk = ECAlgorithm.to_jwk(self.jwt_key.public_key(), as_dict=True)
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": jwk["x"],
            "y": jwk["y"],
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        }

    def jwk(self) -> dict[str, str]:
        """The JWT public key as a JWK with Cotter's kid."""
        return dict(self._public_jwk)

    @functools.cached_property
    def jwks_json(self) -> bytes:
        """:meth:`jwks` as the compact JSON the endpoint serves."""
        return json.dumps(self.jwks(), separators=(",", ":")).encode() + b"\n"

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        # The Python SDK and several integrations read keys[0] only, so the
        # signing key must come first.
        return {"keys": [self.jwk()]}

    def jwt_public_pem(self) -> str:
        return (
            self.jwt_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode()
        )

    def event_public_key(self) -> str:
        """Standard base64 of the raw 32-byte Ed25519 key, as Cotter published
        its own ``CotterPublicKey``."""
        raw = self.event_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def sign_event_message(self, message: str) -> str:
        """Ed25519 signature of ``message``, standard base64 with padding."""
        return base64.b64encode(self.event_key.sign(message.encode())).decode()
