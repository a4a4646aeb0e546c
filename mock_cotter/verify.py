"""Email and phone verification: a stand-in for Cotter's hosted login page
and the PKCE exchange that follows it (spec section 3.4)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .errors import InvalidGrant, InvalidRequest
from .models import Challenge, iso
from .runtime import Context
from .seeding import made_up
from .signatures import identity_signature_message
from .users import get_or_create_user

logger = logging.getLogger(__name__)

IDENTIFIER_TYPES = ("EMAIL", "PHONE")
LOGIN_METHODS = ("OTP", "MAGIC_LINK")
# How long an identity token and its identifier record stay valid.
IDENTITY_LIFETIME = 30 * 24 * 3600
# How long the code from the hosted page may wait for get_identity.
CODE_LIFETIME = 600


def start_login(ctx: Context, params: dict[str, str]) -> str:
    """What the hosted page does once the user has proved who they are:
    the URL it redirects back to, with ``code``, ``state`` and ``challenge_id``.

    The user is ``input`` when the app passed one, else a made-up address or
    number for the page's ``type``.
    """
    redirect_url = params.get("redirect_url", "")
    code_challenge = params.get("code_challenge", "")
    if not redirect_url or not code_challenge:
        raise InvalidRequest(
            "The login page needs the query parameters redirect_url and code_challenge."
        )
    identifier_type = params.get("type", "EMAIL").upper()
    if identifier_type not in IDENTIFIER_TYPES:
        allowed = ", ".join(IDENTIFIER_TYPES)
        raise InvalidRequest(f"Parameter 'type' must be one of {allowed}.")
    auth_method = params.get("auth_method", "OTP").upper()
    if auth_method not in LOGIN_METHODS:
        auth_method = "OTP"

    ns = ctx.ns
    kind = "phone" if identifier_type == "PHONE" else "email"
    identifier = params.get("input") or made_up(ctx, kind)
    challenge = Challenge(
        id=ns.next_id("challenge"),
        code=ns.ids.secret(32),
        code_challenge=code_challenge,
        redirect_url=redirect_url,
        identifier=identifier,
        identifier_type=identifier_type,
        auth_method=auth_method,
        created_at=ctx.now(),
    )
    ns.save_challenge(challenge)
    logger.info("hosted login for %s, challenge %s", identifier, challenge.id)
    query = {
        "code": challenge.code,
        "state": params.get("state", ""),
        "challenge_id": str(challenge.id),
    }
    return _add_query(redirect_url, query)


def _add_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit(parts._replace(query=query))


def pkce_challenge(verifier: str) -> str:
    """base64url, unpadded, of SHA-256 of the verifier: what every SDK sends."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def get_identity(
    ctx: Context,
    *,
    code_verifier: str,
    authorization_code: str,
    challenge_id: int,
    redirect_url: str,
) -> dict[str, Any]:
    """``POST /verify/get_identity``: trade the page's code for the user,
    a signed identity token and an ``oauth_token``."""
    ns = ctx.ns
    challenge = ns.get_challenge(authorization_code)
    now = ctx.now()
    if challenge is None or challenge.id != challenge_id:
        raise InvalidGrant("The authorization code is not valid.")
    if challenge.used:
        raise InvalidGrant("The authorization code is not valid: it was already used.")
    if now - challenge.created_at > CODE_LIFETIME:
        raise InvalidGrant("The authorization code is not valid: it expired.")
    if challenge.redirect_url != redirect_url:
        raise InvalidGrant(
            "redirect_url does not match the one the login started with."
        )
    if not hmac.compare_digest(pkce_challenge(code_verifier), challenge.code_challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge.")
    challenge.used = True
    ns.save_challenge(challenge)

    user = get_or_create_user(ctx, challenge.identifier)
    expire_at = str(int(now + IDENTITY_LIFETIME))
    message = identity_signature_message(
        challenge.identifier, challenge.identifier_type, ns.api_key, expire_at
    )
    return {
        "identifier": {
            "ID": ns.ids.uuid(),
            "created_at": iso(now),
            "update_at": iso(now),
            "deleted_at": None,
            "identifier": challenge.identifier,
            "identifier_type": challenge.identifier_type,
            # The browser's key on the real page; any base64 key will do.
            "public_key": base64.b64encode(ns.ids.secret(32).encode()).decode(),
            "device_type": "BROWSER",
            "device_name": "mock-cotter hosted page",
            "expiry": iso(now + IDENTITY_LIFETIME),
            "timestamp": iso(now),
        },
        "token": {
            "identifier_id": user.id,
            "expire_at": expire_at,
            "identifier": challenge.identifier,
            "identifier_type": challenge.identifier_type,
            "receiver": ns.api_key,
            "signature": ctx.runtime.keys.sign_event_message(message),
            "timestamp": str(int(now)),
        },
        "user": user.to_json(ns.api_key),
        "oauth_token": ctx.tokens.issue(ctx, user, challenge.auth_method),
    }
