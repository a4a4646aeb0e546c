"""A stand-in for Cotter's hosted login page (``js.cotter.app/app``).

The real page asked for an email or phone number and sent a code or link;
this one trusts whoever opens it and redirects straight back to the app with
``code``, ``state`` and ``challenge_id``, so an SDK's PKCE flow completes with
no browser. Point the SDK's JS URL at the mock's root to use it.
"""

from __future__ import annotations

from flask import Blueprint, redirect, request

from . import verify
from .api.common import context
from .errors import InvalidRequest

bp = Blueprint("hosted_page", __name__)


@bp.get("/app")
def login_page():
    params = request.args.to_dict()
    api_key = params.get("api_key", "")
    if not api_key:
        raise InvalidRequest("Query parameter 'api_key' is required.")
    with context(api_key) as ctx:
        return redirect(verify.start_login(ctx, params), code=302)
