"""The mock's own endpoints, under ``/_mock``, for tests in any language."""

from __future__ import annotations

from flask import Blueprint

from . import __version__, users
from .api.common import Body, namespace, runtime
from .errors import InvalidRequest

bp = Blueprint("admin", __name__, url_prefix="/_mock")


@bp.get("/health")
def health():
    return {"status": "ok", "version": __version__}


@bp.get("/keys")
def keys():
    """Everything needed to verify what the mock signs."""
    key_set = runtime().keys
    return {
        "jwks": key_set.jwks(),
        "jwt_public_key_pem": key_set.jwt_public_pem(),
        "event_public_key": key_set.event_public_key(),
        "kid": key_set.kid,
        "source": key_set.source,
    }


@bp.post("/tokens")
def mint_tokens():
    """Mint an ``oauth_token`` for a user, creating the user if needed, so a
    test can start already logged in.

    Body: ``identifier`` or ``user_id``; optional ``auth_method``,
    ``extra_claims`` and ``lifetime`` (access-token seconds). The API key is
    the ``API_KEY_ID`` header or the body's ``api_key``.
    """
    body = Body.parse()
    identifier = body.text("identifier", required=False)
    user_id = body.text("user_id", required=False)
    if not identifier and not user_id:
        raise InvalidRequest(
            "Field 'identifier' or 'user_id' is required.", type="missing_field"
        )
    auth_method = body.text("auth_method", required=False, default="TRUSTED_DEVICE")
    extra_claims = body.mapping("extra_claims")
    lifetime = body.number("lifetime", required=False) or None
    if lifetime is not None and lifetime <= 0:
        raise InvalidRequest("Field 'lifetime' must be a positive number of seconds.")

    rt = runtime()
    with namespace(body.text("api_key", required=False) or None) as ns:
        if user_id:
            user = users.find_user(ns, user_id)
        else:
            user = users.get_or_create_user(rt, ns, identifier)
        token = rt.tokens.issue(
            ns, user, auth_method, extra_claims=extra_claims, lifetime=lifetime
        )
        return {"oauth_token": token, "user": user.to_json(ns.api_key)}
