"""Email and phone verification: ``/verify/get_identity`` (spec section 3.4)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import verify
from .common import Body, context
from .tokens import set_refresh_cookie


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/verify/get_identity", view_func=get_identity, methods=["POST"])


def get_identity():
    """V1. Always answers ``user`` and ``oauth_token``: iOS requires them even
    without ``?oauth_token=true``."""
    body = Body.parse()
    fields = {
        "code_verifier": body.text("code_verifier"),
        "authorization_code": body.text("authorization_code"),
        "challenge_id": body.number("challenge_id"),
        "redirect_url": body.text("redirect_url"),
    }
    with context() as ctx:
        answer = verify.get_identity(ctx, **fields)
    response = jsonify(answer)
    # The web SDK keeps its refresh token in a cookie set here.
    set_refresh_cookie(response, answer["oauth_token"]["refresh_token"])
    return response
