"""Authentication events: approved logins, pending requests and responses
(spec sections 3.2, 5 and 6)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest, NotFound
from .models import BIOMETRIC, PIN, TRUSTED_DEVICE, Event, Method, User
from .runtime import Context
from .signatures import (
    InvalidPublicKey,
    check_public_key,
    device_event_message,
    enroll_device_message,
    event_signature_message,
    normalize_key,
    verify_device_signature,
)
from .users import find_user

logger = logging.getLogger(__name__)

ENROLL_NEW_TRUSTED_DEVICE = "ENROLL_NEW_TRUSTED_DEVICE"


@dataclass(frozen=True)
class EventRequest:
    """The body of ``/event/create``, ``/event/create_pending`` and
    ``/event/respond``, as the SDKs send it."""

    # The user id exactly as the client sent it: it is part of what it signed.
    user_ref: str
    issuer: str
    event: str
    timestamp: str
    method: str
    ip: str = ""
    location: str = ""
    code: str = ""
    approved: bool = True
    public_key: str = ""
    algorithm: str | None = None
    register_new_device: bool = False
    new_device_public_key: str = ""
    new_device_algorithm: str = ""
    device_name: str = ""
    device_type: str = ""


def _check_issuer(ctx: Context, request: EventRequest) -> None:
    if request.issuer != ctx.api_key:
        raise InvalidRequest(
            f"Field 'issuer' ({request.issuer!r}) must equal the API_KEY_ID header.",
            type="issuer_mismatch",
        )


def _new_event(ctx: Context, user: User, request: EventRequest) -> Event:
    now = ctx.now()
    return Event(
        id=ctx.ns.next_id("event"),
        user_id=user.id,
        client_user_id=user.client_user_id,
        issuer=ctx.api_key,
        event=request.event,
        # iOS decodes these as non-optional strings; Android may leave them out.
        ip=request.ip or "unknown",
        location=request.location or "unknown",
        timestamp=request.timestamp,
        method=request.method,
        new=False,
        approved=False,
        created_at=now,
        updated_at=now,
    )


def create_approved(ctx: Context, request: EventRequest) -> Event:
    """``POST /event/create``: a login signed by a trusted device, a biometric
    key or a PIN, or the enrollment of a new device through a QR code.

    A bad signature or wrong PIN is not an error: the event is stored with
    ``approved: false``, which is what the SDKs check for.
    """
    _check_issuer(ctx, request)
    user = find_user(ctx.ns, request.user_ref)
    event = _new_event(ctx, user, request)
    is_enrollment = (
        request.register_new_device or request.event == ENROLL_NEW_TRUSTED_DEVICE
    )

    if is_enrollment and not request.new_device_public_key:
        raise InvalidRequest(
            "Field 'new_device_public_key' is required to enroll a new device."
        )
    if is_enrollment:
        try:
            check_public_key(
                request.new_device_public_key, request.new_device_algorithm
            )
        except InvalidPublicKey as exc:
            raise InvalidRequest(
                f"Field 'new_device_public_key' is not usable: {exc}"
            ) from None

    verdict = _verify_login(ctx, user, request, is_enrollment)
    event.approved = verdict is None and request.approved
    if verdict:
        logger.info("event %s for %s not approved: %s", event.id, user.id, verdict)

    if event.approved and is_enrollment:
        _enroll_new_device(ctx, user, request)
    ctx.ns.save_event(event)
    return event


def _verify_login(
    ctx: Context, user: User, request: EventRequest, is_enrollment: bool
) -> str | None:
    """Why the login is not approved, or None when it is."""
    stale = _stale_timestamp(ctx, request.timestamp)
    if stale:
        return stale

    if request.method == PIN:
        pins = user.find_methods(PIN)
        if not pins:
            return "no PIN is enrolled"
        return None if pins[0].code == request.code else "wrong PIN"

    if request.method not in (TRUSTED_DEVICE, BIOMETRIC):
        return f"method {request.method!r} cannot approve a login"
    key = user.find_key(request.method, normalize_key(request.public_key))
    if key is None and request.method == BIOMETRIC and not request.public_key:
        # A user has one biometric key; not every SDK repeats it.
        key = next(iter(user.find_methods(BIOMETRIC)), None)
    if key is None:
        return f"public_key is not an enrolled {request.method} key of this user"

    if is_enrollment:
        message = enroll_device_message(
            request.user_ref,
            request.issuer,
            request.timestamp,
            request.new_device_public_key,
        )
    else:
        message = device_event_message(
            request.user_ref,
            request.issuer,
            request.event,
            request.timestamp,
            request.method,
            request.approved,
        )
    return _check_signature(key, message, request.code)


def _check_signature(key: Method, message: str, signature: str) -> str | None:
    # The algorithm comes from the enrollment: iOS never sends it on events.
    if verify_device_signature(
        key.public_key or "", key.algorithm or "", message, signature
    ):
        return None
    return "the signature does not verify"


def _stale_timestamp(ctx: Context, timestamp: str) -> str | None:
    tolerance = ctx.settings.timestamp_tolerance
    if not tolerance:
        return None
    drift = abs(ctx.now() - int(timestamp))
    if drift > tolerance:
        return (
            f"timestamp is {drift:.0f} s away from the clock (tolerance {tolerance} s)"
        )
    return None


def _enroll_new_device(ctx: Context, user: User, request: EventRequest) -> None:
    key = normalize_key(request.new_device_public_key)
    if user.find_key(TRUSTED_DEVICE, key) is None:
        user.methods.append(
            Method(
                method=TRUSTED_DEVICE,
                enrolled_at=ctx.now(),
                public_key=key,
                algorithm=request.new_device_algorithm.upper(),
                device_name=request.device_name,
                device_type=request.device_type,
            )
        )
        user.updated_at = ctx.now()
        ctx.ns.save_user(user)
        logger.info("enrolled a new trusted device for %s through a QR code", user.id)


def create_pending(ctx: Context, request: EventRequest) -> Event:
    """``POST /event/create_pending``: an untrusted device asks for approval."""
    _check_issuer(ctx, request)
    user = find_user(ctx.ns, request.user_ref)
    event = _new_event(ctx, user, request)
    event.new = True
    event.public_key = request.public_key or None
    ctx.ns.save_event(event)
    return event


def get_event(ctx: Context, event_id: int, *, poll: bool = False) -> Event:
    """An event of the caller's; ``poll`` counts a requester's poll, which
    a scenario may answer after so many."""
    event = ctx.ns.get_event(event_id)
    if event is None:
        raise NotFound(f"Event {event_id} not found.", type="event_not_found")
    if poll and event.new:
        event.polls += 1
    _play_scenario(ctx, event)
    return event


def _play_scenario(ctx: Context, event: Event) -> None:
    """Answer or expire a waiting event as the scenario says, once due."""
    if not event.new:
        return
    spec = ctx.scenario.pending
    age = ctx.now() - event.created_at
    if spec.lifetime is not None and age >= spec.lifetime:
        answer(ctx, event, "expired", by="scenario")
        return
    if spec.outcome is None:
        ctx.ns.save_event(event)
        return
    waits = [
        spec.after_polls is not None and event.polls >= spec.after_polls,
        spec.after_seconds is not None and age >= spec.after_seconds,
    ]
    if any(waits) or (spec.after_polls is None and spec.after_seconds is None):
        answer(ctx, event, spec.outcome, by=spec.by or "scenario")
    else:
        ctx.ns.save_event(event)


ANSWERS = ("approved", "denied", "expired")


def answer(ctx: Context, event: Event, outcome: str, *, by: str) -> Event:
    """Settle a waiting event without a device signature: a scenario's
    outcome, or the admin API acting as the user's phone."""
    if outcome not in ANSWERS:
        raise InvalidRequest(
            f"Outcome must be one of {', '.join(ANSWERS)}; got {outcome!r}."
        )
    if not event.new:
        raise InvalidRequest(
            f"Event {event.id} was already answered.", type="event_answered"
        )
    event.new = False
    event.approved = outcome == "approved"
    event.expired = outcome == "expired"
    event.answered_by = by
    event.updated_at = ctx.now()
    ctx.ns.save_event(event)
    logger.info("event %s %s by %s", event.id, outcome, by)
    return event


def newest_pending(ctx: Context, user: User) -> Event | None:
    """The newest event of ``user`` still waiting for an answer."""
    for event in reversed(ctx.ns.events()):
        if event.user_id == user.id and event.new:
            _play_scenario(ctx, event)
            if event.new:
                return event
    return None


def respond(ctx: Context, event: Event, request: EventRequest) -> Event:
    """``POST /event/respond/<id>``: a trusted device approves or rejects.

    The signed message uses the pending event's own name and timestamp. A
    signature that does not verify leaves the event pending.
    """
    _check_issuer(ctx, request)
    user = find_user(ctx.ns, request.user_ref)
    if user.id != event.user_id:
        raise InvalidRequest(
            f"Event {event.id} belongs to another user than {request.user_ref!r}."
        )
    if event.expired:
        raise InvalidRequest(f"Event {event.id} expired.", type="event_expired")
    if not event.new:
        raise InvalidRequest(
            f"Event {event.id} was already answered.", type="event_answered"
        )

    key = user.find_key(request.method, normalize_key(request.public_key))
    if key is None:
        verdict = f"public_key is not an enrolled {request.method} key of this user"
    else:
        message = device_event_message(
            request.user_ref,
            request.issuer,
            event.event,
            event.timestamp,
            request.method,
            request.approved,
        )
        verdict = _check_signature(key, message, request.code)

    if verdict:
        logger.info("response to event %s ignored: %s", event.id, verdict)
        return event
    outcome = "approved" if request.approved else "denied"
    return answer(ctx, event, outcome, by=key.device_name or "a trusted device")


def event_json(
    ctx: Context, event: Event, *, with_token: bool = False
) -> dict[str, Any]:
    """The Event object, signed; with ``oauth_token`` when asked for and approved."""
    message = event_signature_message(
        event.client_user_id,
        event.issuer,
        event.event,
        event.timestamp,
        event.method,
        event.new,
        event.approved,
    )
    body = event.to_json(ctx.runtime.keys.sign_event_message(message))
    if with_token and event.approved:
        if event.oauth_token is None:
            user = ctx.ns.get_user(event.user_id)
            if user is None:
                raise NotFound(f"The user of event {event.id} no longer exists.")
            event.oauth_token = ctx.tokens.issue(ctx, user, event.method)
            ctx.ns.save_event(event)
        body["oauth_token"] = event.oauth_token
    return body


def admin_json(ctx: Context, event: Event) -> dict[str, Any]:
    """The Event object with the mock's bookkeeping, for ``/_mock/events``."""
    body = event_json(ctx, event)
    body.update(
        api_key=ctx.api_key,
        polls=event.polls,
        answered_by=event.answered_by,
        expired=event.expired,
    )
    return body
