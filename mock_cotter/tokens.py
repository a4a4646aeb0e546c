"""OAuth tokens: ES256 access and ID tokens, and rotating refresh tokens.

Claims follow Cotter's token specification (spec section 12); the refresh
token is ``<id>:<secret>``, and every token rotated from one login belongs to
the same family, so a reused token can revoke them all.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.api_jws import PyJWS
from jwt.utils import der_to_raw_signature

from .clock import Clock
from .config import Settings
from .errors import InvalidGrant
from .keys import KeySet
from .models import RefreshToken, User
from .store import Namespace

logger = logging.getLogger(__name__)

# Claims the mock sets itself; extra claims may not replace them.
RESERVED_CLAIMS = frozenset(
    {"aud", "exp", "iat", "iss", "jti", "sub", "type", "scope", "client_user_id"}
)
INVALID_REFRESH = "Refresh token is not valid"


class _DeterministicES256(ECAlgorithm):
    """ES256 with RFC 6979 nonces, so a seeded run signs byte-identical tokens."""

    def sign(self, msg: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
        der = key.sign(msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        return der_to_raw_signature(der, key.curve)


class TokenIssuer:
    """Mints and refreshes the ``oauth_token`` objects Cotter returned."""

    def __init__(self, settings: Settings, keys: KeySet, clock: Clock):
        self.settings = settings
        self.keys = keys
        self.clock = clock
        self._jws = PyJWS(algorithms=[])
        self._jws.register_algorithm("ES256", _DeterministicES256(ECAlgorithm.SHA256))

    def encode(
        self, claims: dict[str, Any], headers: dict[str, Any] | None = None
    ) -> str:
        """Sign ``claims`` as an ES256 JWT with the mock's key and kid."""
        # Claims in alphabetical order, as Cotter's own tokens have them.
        payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
        header = {"kid": self.keys.kid, **(headers or {})}
        return self._jws.encode(payload, self.keys.jwt_key, "ES256", header)

    def access_claims(
        self,
        ns: Namespace,
        user: User,
        auth_method: str,
        now: int,
        lifetime: int,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        claims = {
            "aud": ns.api_key,
            "authentication_method": auth_method,
            "client_user_id": user.client_user_id,
            "exp": now + lifetime,
            "iat": now,
            "identifier": user.identifier,
            "iss": self.settings.issuer,
            "jti": ns.ids.uuid(),
            "scope": "access",
            "sub": user.id,
            "type": "access_token",
        }
        claims.update(extra)
        return claims

    def id_claims(
        self, ns: Namespace, user: User, now: int, lifetime: int, auth_time: float
    ) -> dict[str, Any]:
        return {
            "aud": ns.api_key,
            # A string: Flutter assigns it to a String? field.
            "auth_time": str(int(auth_time)),
            "client_user_id": user.client_user_id,
            "exp": now + lifetime,
            "iat": now,
            "identifier": user.identifier,
            "iss": self.settings.issuer,
            "jti": ns.ids.uuid(),
            "sub": user.id,
            "type": "id_token",
        }

    def issue(
        self,
        ns: Namespace,
        user: User,
        auth_method: str,
        *,
        extra_claims: dict[str, Any] | None = None,
        lifetime: int | None = None,
        family: str | None = None,
        auth_time: float | None = None,
    ) -> dict[str, Any]:
        """A fresh ``oauth_token`` object for ``user``, with a new refresh token.

        Without ``family`` this is a new login and starts a new family.
        """
        now = self.clock.seconds()
        extra = {
            k: v for k, v in (extra_claims or {}).items() if k not in RESERVED_CLAIMS
        }
        access_lifetime = lifetime or self.settings.access_token_lifetime
        auth_time = now if auth_time is None else auth_time
        refresh = RefreshToken(
            id=ns.next_id("refresh"),
            secret=ns.ids.secret(),
            family=family or ns.ids.uuid(),
            user_id=user.id,
            auth_method=auth_method,
            created_at=now,
            expires_at=now + self.settings.refresh_token_lifetime,
            auth_time=auth_time,
            extra_claims=extra,
        )
        ns.save_refresh_token(refresh)
        access = self.access_claims(ns, user, auth_method, now, access_lifetime, extra)
        id_claims = self.id_claims(
            ns, user, now, self.settings.id_token_lifetime, auth_time
        )
        return {
            "access_token": self.encode(access),
            "auth_method": auth_method,
            "expires_in": access_lifetime,
            "id_token": self.encode(id_claims),
            "refresh_token": refresh.value,
            "token_type": "Bearer",
        }

    def refresh(self, ns: Namespace, value: str) -> dict[str, Any]:
        """Exchange a refresh token for a new ``oauth_token`` object.

        The presented token is used up. Presenting a used token again revokes
        its whole family, unless ``refresh_reuse`` is ``allow``.
        """
        token = self.find(ns, value)
        if token.used and self.settings.refresh_reuse == "revoke":
            revoked = self.revoke_family(ns, token.family)
            logger.info(
                "refresh token %s reused: revoked %d tokens of its family",
                token.id,
                revoked,
            )
            raise InvalidGrant(
                f"{INVALID_REFRESH}: it was already used, so every token "
                "descending from the same login is now revoked."
            )
        user = ns.get_user(token.user_id)
        if user is None:
            raise InvalidGrant(f"{INVALID_REFRESH}: its user no longer exists.")
        token.used = True
        ns.save_refresh_token(token)
        return self.issue(
            ns,
            user,
            token.auth_method,
            extra_claims=token.extra_claims,
            family=token.family,
            auth_time=token.auth_time,
        )

    def find(self, ns: Namespace, value: str) -> RefreshToken:
        """The live refresh token ``value`` names, or :class:`InvalidGrant`."""
        token_id, _, secret = value.partition(":")
        token = (
            ns.get_refresh_token(int(token_id))
            if token_id.isascii() and token_id.isdigit()
            else None
        )
        # cotter-js stops retrying only when the message contains "not valid".
        if token is None or not hmac.compare_digest(
            token.secret.encode(), secret.encode()
        ):
            raise InvalidGrant(INVALID_REFRESH)
        if token.revoked:
            raise InvalidGrant(f"{INVALID_REFRESH}: it was revoked.")
        if token.expires_at <= self.clock.now():
            raise InvalidGrant(f"{INVALID_REFRESH}: it expired.")
        return token

    def revoke_family(self, ns: Namespace, family: str) -> int:
        tokens = ns.refresh_family(family)
        for token in tokens:
            token.revoked = True
            ns.save_refresh_token(token)
        return len(tokens)
