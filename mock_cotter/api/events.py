"""Events: ``/event/...`` (spec section 3.2)."""

from __future__ import annotations

from flask import Blueprint, request

from .. import events, users
from ..errors import InvalidRequest
from .common import (
    Body,
    context,
    is_whole_number,
    json_null,
    wants_token,
)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/event/create", view_func=create_event, methods=["POST"])
    bp.add_url_rule(
        "/event/create_pending", view_func=create_pending_event, methods=["POST"]
    )
    bp.add_url_rule("/event/get/<event_id>", view_func=get_event, methods=["GET"])
    bp.add_url_rule("/event/new/<user_ref>", view_func=get_new_event, methods=["GET"])
    bp.add_url_rule("/event/new", view_func=get_new_event_by_query, methods=["GET"])
    bp.add_url_rule(
        "/event/respond/<event_id>", view_func=respond_to_event, methods=["POST"]
    )


def _user_ref(body: Body) -> str:
    # Flutter sends the Cotter ID as `user_id` when it is longer than five
    # characters, everyone else `client_user_id`; the signed message uses
    # whichever was sent.
    user_id = body.text("user_id", required=False)
    if len(user_id) > 5:
        return user_id
    client_user_id = body.text("client_user_id", required=False)
    if not client_user_id:
        raise InvalidRequest(
            "Field 'client_user_id' (or 'user_id') is required.", type="missing_field"
        )
    return client_user_id


def _event_request(*, signed: bool) -> events.EventRequest:
    body = Body.parse()
    return events.EventRequest(
        user_ref=_user_ref(body),
        issuer=body.text("issuer"),
        event=body.text("event"),
        timestamp=body.timestamp(),
        method=body.text("method"),
        # Android may send null for ip and leaves location out.
        ip=body.text("ip", required=False),
        location=body.text("location", required=False),
        code=body.text("code", required=signed),
        approved=body.flag("approved", required=False, default=signed),
        public_key=body.text("public_key", required=False),
        algorithm=body.text("algorithm", required=False) or None,
        register_new_device=body.flag("register_new_device", required=False),
        new_device_public_key=body.text("new_device_public_key", required=False),
        new_device_algorithm=body.text("new_device_algorithm", required=False),
        device_name=body.text("device_name", required=False),
        device_type=body.text("device_type", required=False),
    )


def _event_id(raw: str) -> int:
    if not is_whole_number(raw):
        raise InvalidRequest(f"Event id must be a whole number, got {raw!r}.")
    return int(raw)


def create_event():
    """E1: an event approved by a trusted device, biometric key or PIN."""
    request_ = _event_request(signed=True)
    with context() as ctx:
        event = events.create_approved(ctx, request_)
        return events.event_json(ctx, event, with_token=wants_token())


def create_pending_event():
    """E2: an untrusted device asks a trusted one for approval."""
    request_ = _event_request(signed=False)
    with context() as ctx:
        event = events.create_pending(ctx, request_)
        return events.event_json(ctx, event)


def get_event(event_id: str):
    """E3: the untrusted device polls; tokens come once it is approved."""
    with context() as ctx:
        event = events.get_event(ctx, _event_id(event_id), poll=True)
        return events.event_json(ctx, event, with_token=wants_token())


def _newest_pending(user_ref: str):
    with context() as ctx:
        user = users.find_user(ctx.ns, user_ref)
        event = events.newest_pending(ctx, user)
        # JSON null when nothing waits: Flutter, iOS and RN all test for it.
        return events.event_json(ctx, event) if event else json_null()


def get_new_event(user_ref: str):
    """E4, ``/event/new/<client_user_id>``."""
    return _newest_pending(user_ref)


def get_new_event_by_query():
    """E4b, Flutter's ``/event/new?cotter_user_id=`` or ``?client_user_id=``."""
    user_ref = request.args.get("cotter_user_id") or request.args.get("client_user_id")
    if not user_ref:
        raise InvalidRequest(
            "Query parameter 'cotter_user_id' or 'client_user_id' is required.",
            type="missing_field",
        )
    return _newest_pending(user_ref)


def respond_to_event(event_id: str):
    """E5: a trusted device approves or rejects a pending event."""
    request_ = _event_request(signed=True)
    with context() as ctx:
        event = events.get_event(ctx, _event_id(event_id))
        event = events.respond(ctx, event, request_)
        return events.event_json(ctx, event)
