"""The Cotter endpoints, served under ``/api/v0``: one module per group."""

from __future__ import annotations

from flask import Blueprint

from . import events, misc, tokens, users, verify

API_PREFIX = "/api/v0"


def blueprint() -> Blueprint:
    bp = Blueprint("cotter", __name__, url_prefix=API_PREFIX)
    for module in (users, events, tokens, verify, misc):
        module.register(bp)
    return bp
