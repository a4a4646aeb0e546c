"""Tokens: refresh, JWKS and web logout (spec sections 3.3 and 11)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..errors import InvalidGrant, InvalidRequest
from ..tokens import INVALID_REFRESH
from .common import Body, context, runtime

# Cotter's web SDK keeps the refresh token in an httpOnly cookie; the real
# cookie's name was never published, so this one is the mock's own.
REFRESH_COOKIE = "cotter_refresh_token"


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/token/jwks", view_func=jwks, methods=["GET"])
    # RN and iOS still call /token; the web SDK, Flutter and Python add the key.
    bp.add_url_rule("/token", view_func=refresh, methods=["POST"])
    bp.add_url_rule("/token/<path_key>", view_func=refresh, methods=["POST"])
    bp.add_url_rule("/token/<path_key>", view_func=logout, methods=["DELETE"])


def jwks():
    """T3: no API key needed; Flutter and Python send no headers."""
    # The busiest endpoint under load, and its answer never changes.
    return Response(runtime().keys.jwks_json, mimetype="application/json")


def set_refresh_cookie(response: Response, value: str) -> None:
    response.set_cookie(
        REFRESH_COOKIE,
        value,
        max_age=runtime().settings.refresh_token_lifetime,
        httponly=True,
        samesite="Lax",
    )


def refresh(path_key: str | None = None):
    """T1/T1b: ``{"grant_type": "refresh_token", "refresh_token": ...}``.

    The web SDK leaves ``refresh_token`` out and relies on the cookie.
    """
    body = Body.parse(optional=True)
    grant_type = body.text("grant_type")
    if grant_type != "refresh_token":
        raise InvalidRequest(
            f"grant_type {grant_type!r} is not supported; use 'refresh_token'.",
            type="unsupported_grant_type",
        )
    value = body.text("refresh_token", required=False) or request.cookies.get(
        REFRESH_COOKIE, ""
    )
    if not value:
        raise InvalidRequest(
            f"{INVALID_REFRESH}: no refresh_token in the body or cookie.",
            type="invalid_grant",
        )
    with context(path_key) as ctx:
        token = ctx.tokens.refresh(ctx, value)
    response = jsonify(token)
    if REFRESH_COOKIE in request.cookies:
        set_refresh_cookie(response, token["refresh_token"])
    return response


def logout(path_key: str):
    """T4: the web SDK's logout; clears the cookie and revokes its token."""
    value = request.cookies.get(REFRESH_COOKIE, "")
    revoked = 0
    with context(path_key) as ctx:
        if value:
            tokens = ctx.tokens
            try:
                revoked = tokens.revoke_family(ctx.ns, tokens.find(ctx, value).family)
            except InvalidGrant:
                revoked = 0
    response = jsonify({"success": True, "revoked": revoked})
    response.delete_cookie(REFRESH_COOKIE)
    return response
