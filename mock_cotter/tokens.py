"""OAuth tokens: ES256 access and ID tokens, and rotating refresh tokens.

Claims follow Cotter's token specification (spec section 12); the refresh
token is ``<id>:<secret>``, and every token rotated from one login belongs to
the same family, so a reused token can revoke them all.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.api_jws import PyJWS
from jwt.utils import der_to_raw_signature

from .config import Settings
from .errors import InvalidGrant
from .keys import KeySet
from .models import RefreshToken, User
from .store import Namespace

if TYPE_CHECKING:
    from .runtime import Context

logger = logging.getLogger(__name__)

# Claims the mock sets itself; extra claims may not replace them.
RESERVED_CLAIMS = frozenset(
    {"aud", "exp", "iat", "iss", "jti", "sub", "type", "scope", "client_user_id"}
)
INVALID_REFRESH = "Refresh token is not valid"
# Broken tokens that POST /_mock/tokens mints by name, for testing verifiers.
NEGATIVE_VARIANTS = (
    "expired",
    "not-yet-valid",
    "wrong-audience",
    "wrong-issuer",
    "unknown-kid",
    "alg-none",
    "tampered-signature",
)


class _DeterministicES256(ECAlgorithm):
    """ES256 with RFC 6979 nonces, so a seeded run signs byte-identical tokens."""

    def sign(self, msg: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
        der = key.sign(msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        return der_to_raw_signature(der, key.curve)


class TokenIssuer:
    """Mints and refreshes the ``oauth_token`` objects Cotter returned."""

    def __init__(self, settings: Settings, keys: KeySet):
        self.settings = settings
        self.keys = keys
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
        ctx: Context,
        user: User,
        auth_method: str,
        now: int,
        lifetime: int,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        claims = {
            "aud": ctx.api_key,
            "authentication_method": auth_method,
            "client_user_id": user.client_user_id,
            "exp": now + lifetime,
            "iat": now,
            "identifier": user.identifier,
            "iss": self.settings.issuer,
            "jti": ctx.ns.ids.uuid(),
            "scope": "access",
            "sub": user.id,
            "type": "access_token",
        }
        claims.update(extra)
        return claims

    def id_claims(
        self, ctx: Context, user: User, now: int, lifetime: int, auth_time: float
    ) -> dict[str, Any]:
        return {
            "aud": ctx.api_key,
            # A string: Flutter assigns it to a String? field.
            "auth_time": str(int(auth_time)),
            "client_user_id": user.client_user_id,
            "exp": now + lifetime,
            "iat": now,
            "identifier": user.identifier,
            "iss": self.settings.issuer,
            "jti": ctx.ns.ids.uuid(),
            "sub": user.id,
            "type": "id_token",
        }

    def lifetimes(self, ctx: Context) -> tuple[int, int, int]:
        """Access, ID and refresh lifetimes: the scenario's, else the settings'."""
        spec = ctx.scenario.tokens
        return (
            spec.access_token_lifetime or self.settings.access_token_lifetime,
            spec.id_token_lifetime or self.settings.id_token_lifetime,
            spec.refresh_token_lifetime or self.settings.refresh_token_lifetime,
        )

    def issue(
        self,
        ctx: Context,
        user: User,
        auth_method: str,
        *,
        extra_claims: dict[str, Any] | None = None,
        lifetime: int | None = None,
        family: str | None = None,
        auth_time: float | None = None,
        variant: str | None = None,
    ) -> dict[str, Any]:
        """A fresh ``oauth_token`` object for ``user``, with a new refresh token.

        Without ``family`` this is a new login and starts a new family.
        ``variant`` names a broken token from :data:`NEGATIVE_VARIANTS`.
        """
        ns = ctx.ns
        now = ctx.clock.seconds()
        access_lifetime, id_lifetime, refresh_lifetime = self.lifetimes(ctx)
        access_lifetime = lifetime or access_lifetime
        extra = {**ctx.scenario.tokens.extra_claims, **(extra_claims or {})}
        extra = {k: v for k, v in extra.items() if k not in RESERVED_CLAIMS}
        auth_time = now if auth_time is None else auth_time
        refresh = RefreshToken(
            id=ns.next_id("refresh"),
            secret=ns.ids.secret(),
            family=family or ns.ids.uuid(),
            user_id=user.id,
            auth_method=auth_method,
            created_at=now,
            expires_at=now + refresh_lifetime,
            auth_time=auth_time,
            extra_claims=extra,
        )
        ns.save_refresh_token(refresh)

        issued_at = now
        if variant == "expired" or (
            refresh.id == 1 and ctx.scenario.tokens.first_access_token_expired
        ):
            # Issued long enough ago to have expired a minute before now.
            issued_at = now - access_lifetime - 60
        elif variant == "not-yet-valid":
            issued_at = now + 3600
        access = self.access_claims(
            ctx, user, auth_method, issued_at, access_lifetime, extra
        )
        id_claims = self.id_claims(ctx, user, issued_at, id_lifetime, auth_time)
        if variant == "not-yet-valid":
            access["nbf"] = id_claims["nbf"] = issued_at
        return {
            "access_token": self._sign(access, variant),
            "auth_method": auth_method,
            "expires_in": access_lifetime,
            "id_token": self._sign(id_claims, variant),
            "refresh_token": refresh.value,
            "token_type": "Bearer",
        }

    def _sign(self, claims: dict[str, Any], variant: str | None) -> str:
        if variant == "wrong-audience":
            claims["aud"] = f"not-{claims['aud']}"
        elif variant == "wrong-issuer":
            claims["iss"] = "https://issuer.invalid"
        if variant == "unknown-kid":
            return self.encode(claims, {"kid": "SPACE_JWT_PUBLIC:UNKNOWN"})
        if variant == "alg-none":
            header = _b64url(b'{"alg":"none","typ":"JWT"}')
            body = _b64url(json.dumps(claims, separators=(",", ":"), sort_keys=True))
            return f"{header}.{body}."
        token = self.encode(claims)
        if variant == "tampered-signature":
            head, body, signature = token.split(".")
            # Flip bits in the middle of r: still well-formed, never valid.
            middle = len(signature) // 4
            flipped = "A" if signature[middle] != "A" else "B"
            signature = signature[:middle] + flipped + signature[middle + 1 :]
            token = f"{head}.{body}.{signature}"
        return token

    def refresh(self, ctx: Context, value: str) -> dict[str, Any]:
        """Exchange a refresh token for a new ``oauth_token`` object.

        The presented token is used up. Presenting a used token again revokes
        its whole family, unless reuse is allowed (setting or scenario).
        """
        token = self.find(ctx, value)
        reuse = ctx.scenario.refresh.reuse or self.settings.refresh_reuse
        if token.used and reuse == "revoke":
            revoked = self.revoke_family(ctx.ns, token.family)
            logger.info(
                "refresh token %s reused: revoked %d tokens of its family",
                token.id,
                revoked,
            )
            raise InvalidGrant(
                f"{INVALID_REFRESH}: it was already used, so every token "
                "descending from the same login is now revoked."
            )
        user = ctx.ns.get_user(token.user_id)
        if user is None:
            raise InvalidGrant(f"{INVALID_REFRESH}: its user no longer exists.")
        token.used = True
        ctx.ns.save_refresh_token(token)
        return self.issue(
            ctx,
            user,
            token.auth_method,
            extra_claims=token.extra_claims,
            family=token.family,
            auth_time=token.auth_time,
        )

    def find(self, ctx: Context, value: str) -> RefreshToken:
        """The live refresh token ``value`` names, or :class:`InvalidGrant`."""
        token_id, _, secret = value.partition(":")
        is_number = token_id.isascii() and token_id.isdigit()
        token = ctx.ns.get_refresh_token(int(token_id)) if is_number else None
        # cotter-js stops retrying only when the message contains "not valid".
        if token is None or not hmac.compare_digest(
            token.secret.encode(), secret.encode()
        ):
            raise InvalidGrant(INVALID_REFRESH)
        if token.revoked or ctx.scenario.refresh.revoked:
            raise InvalidGrant(f"{INVALID_REFRESH}: it was revoked.")
        if token.expires_at <= ctx.now():
            raise InvalidGrant(f"{INVALID_REFRESH}: it expired.")
        return token

    def revoke_family(self, ns: Namespace, family: str) -> int:
        tokens = ns.refresh_family(family)
        for token in tokens:
            token.revoked = True
            ns.save_refresh_token(token)
        return len(tokens)


def _b64url(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
