"""Users and enrolled methods: ``/user/...`` (spec section 3.1)."""

from __future__ import annotations

from flask import Blueprint, request

from .. import users
from ..errors import InvalidRequest
from ..models import METHODS, unknown_user_json
from ..runtime import Context
from ..signatures import InvalidPublicKey, decode_url_public_key
from .common import (
    Body,
    context,
    is_whole_number,
    raw_query_param,
    wants_token,
)

PAGE_SIZE = 50


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/user/create", view_func=create_user, methods=["POST"])
    bp.add_url_rule("/user", view_func=get_user_by_identifier, methods=["GET"])
    bp.add_url_rule("/user/list", view_func=list_users, methods=["GET"])
    bp.add_url_rule("/user/<user_ref>", view_func=get_user, methods=["GET"])
    bp.add_url_rule("/user/<user_ref>", view_func=update_method, methods=["PUT"])
    bp.add_url_rule(
        "/user/methods", view_func=update_method_by_cotter_id, methods=["PUT"]
    )
    bp.add_url_rule("/user/methods", view_func=check_enrolled_by_query, methods=["GET"])
    bp.add_url_rule(
        "/user/enrolled/any/<user_ref>/<method>",
        view_func=check_enrolled_any,
        methods=["GET"],
    )
    bp.add_url_rule(
        "/user/enrolled/<user_ref>/<method>",
        view_func=check_enrolled,
        methods=["GET"],
    )
    # Flutter's standard base64 may contain '/', which splits the segment.
    bp.add_url_rule(
        "/user/enrolled/<user_ref>/<method>/<path:encoded_key>",
        view_func=check_enrolled,
        methods=["GET"],
    )


def _user_answer(ctx: Context, user: users.User, *, with_token: bool, auth_method: str):
    body = user.to_json(ctx.api_key)
    if with_token:
        body["oauth_token"] = ctx.tokens.issue(ctx, user, auth_method)
    return body


def create_user():
    """U1. New style ``{"identifier"}``; legacy RN ``{"client_user_id",
    "identifiers"}``; iOS sends both keys, one of them empty."""
    body = Body.parse()
    identifier = body.text("identifier", required=False)
    client_user_id = body.text("client_user_id", required=False)
    identifiers = body.data.get("identifiers")
    if identifiers is not None and not (
        isinstance(identifiers, list) and all(isinstance(i, str) for i in identifiers)
    ):
        raise InvalidRequest("Field 'identifiers' must be a list of strings.")
    # Legacy callers: the first of `identifiers`, else the client user id
    # (iOS's legacy register puts the email there).
    identifier = identifier or (identifiers[0] if identifiers else "") or client_user_id
    if not identifier:
        raise InvalidRequest(
            "Field 'identifier' is required (or, for legacy clients, "
            "'client_user_id' with 'identifiers').",
            type="missing_field",
        )
    with context() as ctx:
        user = users.create_user(ctx, identifier, client_user_id)
        if identifiers:
            user.identifiers = list(identifiers)
            ctx.ns.save_user(user)
        # Which method a token minted at sign-up reports is not documented;
        # the device sign-up flow is the one that asks for it.
        return _user_answer(
            ctx, user, with_token=wants_token(), auth_method="TRUSTED_DEVICE"
        )


def get_user_by_identifier():
    """U2. An unknown identifier answers the zero-UUID user (RN and Flutter
    test for it)."""
    candidates = raw_query_param("identifier")
    if not candidates or not candidates[0]:
        raise InvalidRequest(
            "Query parameter 'identifier' is required.", type="missing_field"
        )
    with context() as ctx:
        ns = ctx.ns
        for identifier in candidates:
            user = ns.user_by_identifier(identifier)
            if user is not None:
                return user.to_json(ns.api_key)
        return unknown_user_json(ns.api_key)


def get_user(user_ref: str):
    """U3, by client user id or Cotter ID."""
    with context() as ctx:
        return users.find_user(ctx.ns, user_ref).to_json(ctx.api_key)


def list_users():
    """U4. Pages of 50, newest first, from page 0."""
    page = request.args.get("page", "0")
    if not is_whole_number(page):
        raise InvalidRequest(f"Query parameter 'page' must be 0 or more, got {page!r}.")
    start = int(page) * PAGE_SIZE
    with context() as ctx:
        page_users = ctx.ns.users()[start : start + PAGE_SIZE]
        return [u.to_json(ctx.api_key) for u in page_users]


def _method_update() -> users.MethodUpdate:
    body = Body.parse()
    return users.MethodUpdate(
        method=body.text("method"),
        enrolled=body.flag("enrolled"),
        code=body.text("code", required=False),
        algorithm=body.text("algorithm", required=False) or None,
        device_name=body.text("device_name", required=False),
        device_type=body.text("device_type", required=False),
        change_code=body.flag("change_code", required=False),
        current_code=body.text("current_code", required=False) or None,
    )


def _apply_update(ctx: Context, user: users.User, update, *, with_token: bool):
    if update.enrolled and not update.code:
        raise InvalidRequest(
            "Field 'code' is required: the public key, or the PIN.",
            type="missing_field",
        )
    user = users.update_method(ctx, user, update)
    return _user_answer(ctx, user, with_token=with_token, auth_method=update.method)


def update_method(user_ref: str):
    """M1, ``PUT /user/<client_user_id>``."""
    update = _method_update()
    with context() as ctx:
        user = users.find_user(ctx.ns, user_ref)
        return _apply_update(ctx, user, update, with_token=wants_token())


def update_method_by_cotter_id():
    """M2, ``PUT /user/methods?cotter_user_id=``.

    Always answers ``oauth_token``: Flutter reads it without a null check,
    and iOS calls this without asking for it.
    """
    user_ref = request.args.get("cotter_user_id", "")
    if not user_ref:
        raise InvalidRequest(
            "Query parameter 'cotter_user_id' is required.", type="missing_field"
        )
    update = _method_update()
    with context() as ctx:
        user = users.find_user(ctx.ns, user_ref)
        return _apply_update(ctx, user, update, with_token=update.enrolled)


def _enrolled_answer(method: str, enrolled: bool):
    return {"enrolled": enrolled, "method": method}


def _decode_key(encoded: str) -> str:
    try:
        return decode_url_public_key(encoded)
    except InvalidPublicKey as exc:
        raise InvalidRequest(
            f"The public key in the URL cannot be decoded: {exc}"
        ) from None


def check_enrolled(user_ref: str, method: str, encoded_key: str | None = None):
    """M3. A key that is not enrolled is a 200 with ``enrolled: false``: an
    error here breaks iOS's and Flutter's login."""
    key = _decode_key(encoded_key) if encoded_key else None
    with context() as ctx:
        user = users.find_user(ctx.ns, user_ref)
        return _enrolled_answer(method, users.is_enrolled(user, method, key))


def check_enrolled_any(user_ref: str, method: str):
    """M5: is ``method`` enrolled on any device."""
    with context() as ctx:
        user = users.find_user(ctx.ns, user_ref)
        return _enrolled_answer(method, users.is_enrolled(user, method))


def check_enrolled_by_query():
    """M4, ``GET /user/methods?cotter_user_id=&method=&public_key=``."""
    user_ref = request.args.get("cotter_user_id", "")
    method = request.args.get("method", "")
    if not user_ref or not method:
        raise InvalidRequest(
            "Query parameters 'cotter_user_id' and 'method' are required.",
            type="missing_field",
        )
    if method not in METHODS:
        allowed = ", ".join(METHODS)
        raise InvalidRequest(f"Parameter 'method' must be one of {allowed}.")
    # Flutter sends the base64 unencoded, so '+' must stay a plus.
    encoded = raw_query_param("public_key")
    key = _decode_key(encoded[0]) if encoded and encoded[0] else None
    with context() as ctx:
        user = users.find_user(ctx.ns, user_ref)
        return _enrolled_answer(method, users.is_enrolled(user, method, key))
