"""Users and their enrolled methods (spec sections 3.1 and 5)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .errors import Conflict, InvalidRequest, NotFound
from .models import BIOMETRIC, METHODS, PIN, Method, User
from .runtime import Context
from .signatures import (
    DEVICE_ALGORITHMS,
    InvalidPublicKey,
    check_public_key,
    normalize_key,
)
from .store import Namespace

logger = logging.getLogger(__name__)


def create_user(ctx: Context, identifier: str, client_user_id: str = "") -> User:
    """A new user. Without a ``client_user_id`` it equals the new user's ID."""
    ns = ctx.ns
    if not identifier:
        raise InvalidRequest("An identifier is required to create a user.")
    if ns.user_by_identifier(identifier) is not None:
        # Flutter recognises this exact message.
        raise Conflict("User already exists", type="user_exists")
    if client_user_id and find_user(ns, client_user_id, required=False):
        raise Conflict("User already exists", type="user_exists")

    now = ctx.now()
    user_id = ns.ids.uuid()
    user = User(
        id=user_id,
        client_user_id=client_user_id or user_id,
        identifier=identifier,
        created_at=now,
        updated_at=now,
    )
    ns.add_user(user)
    logger.info("created user %s (%s) for %s", user.id, identifier, ns.api_key)
    return user


def find_user(ns: Namespace, reference: str, *, required: bool = True) -> User | None:
    """The user whose ``client_user_id`` or ``ID`` is ``reference``.

    iOS sometimes puts the Cotter ID where a client user id belongs, so
    both are tried.
    """
    user = ns.user_by_client_id(reference) or ns.get_user(reference)
    if user is None and required:
        raise NotFound(f"User {reference!r} not found.", type="user_not_found")
    return user


def get_or_create_user(ctx: Context, identifier: str) -> User:
    user = ctx.ns.user_by_identifier(identifier)
    return user if user is not None else create_user(ctx, identifier)


@dataclass(frozen=True)
class MethodUpdate:
    """The body of ``PUT /user/<id>`` and ``PUT /user/methods``."""

    method: str
    enrolled: bool
    code: str
    algorithm: str | None = None
    device_name: str = ""
    device_type: str = ""
    change_code: bool = False
    current_code: str | None = None


def update_method(ctx: Context, user: User, update: MethodUpdate) -> User:
    """Enroll, change or remove one method of ``user``."""
    if update.method not in METHODS:
        allowed = ", ".join(METHODS)
        raise InvalidRequest(
            f"Field 'method' must be one of {allowed}; got {update.method!r}."
        )
    if update.method == PIN:
        _update_pin(user, update, ctx.now())
    elif update.enrolled:
        _enroll_key(user, update, ctx.now())
    else:
        key = normalize_key(update.code)
        before = len(user.methods)
        user.methods = [
            m
            for m in user.methods
            if not (m.method == update.method and m.public_key == key)
        ]
        if len(user.methods) == before:
            logger.info(
                "%s key to remove was not enrolled for %s", update.method, user.id
            )

    user.updated_at = ctx.now()
    ctx.ns.save_user(user)
    return user


def _enroll_key(user: User, update: MethodUpdate, now: float) -> None:
    algorithm = (update.algorithm or "").upper()
    if not algorithm and update.method == BIOMETRIC:
        # A biometric key is always P-256 (Android and iOS).
        algorithm = "EC"
    if algorithm not in DEVICE_ALGORITHMS:
        allowed = ", ".join(DEVICE_ALGORITHMS)
        raise InvalidRequest(
            f"Field 'algorithm' must be one of {allowed}; got {update.algorithm!r}."
        )
    try:
        check_public_key(update.code, algorithm)
    except InvalidPublicKey as exc:
        raise InvalidRequest(
            f"Field 'code' is not a usable public key: {exc}"
        ) from None

    key = normalize_key(update.code)
    existing = user.find_key(update.method, key)
    if existing is not None:
        if update.method == BIOMETRIC:
            # Android treats an error containing "already enrolled" as success.
            raise InvalidRequest(
                "This biometric key is already enrolled.", type="already_enrolled"
            )
        existing.device_name = update.device_name or existing.device_name
        existing.device_type = update.device_type or existing.device_type
        return

    if update.method == BIOMETRIC:
        # One biometric key per user: a new one replaces the old.
        user.methods = [m for m in user.methods if m.method != BIOMETRIC]
    user.methods.append(
        Method(
            method=update.method,
            enrolled_at=now,
            public_key=key,
            algorithm=algorithm,
            device_name=update.device_name,
            device_type=update.device_type,
        )
    )


def _update_pin(user: User, update: MethodUpdate, now: float) -> None:
    current = user.find_methods(PIN)
    if not update.enrolled:
        user.methods = [m for m in user.methods if m.method != PIN]
        return
    if not update.code:
        raise InvalidRequest("Field 'code' must hold the PIN.")
    if current and not update.change_code:
        raise InvalidRequest(
            "A PIN is already enrolled; send change_code: true with current_code "
            "to change it.",
            type="already_enrolled",
        )
    if current and update.change_code and current[0].code != update.current_code:
        raise InvalidRequest("Field 'current_code' does not match the enrolled PIN.")
    user.methods = [m for m in user.methods if m.method != PIN]
    user.methods.append(Method(method=PIN, enrolled_at=now, code=update.code))


def is_enrolled(user: User, method: str, public_key: str | None = None) -> bool:
    """Whether ``method`` is enrolled; for keyed methods, this very key."""
    if method not in METHODS:
        allowed = ", ".join(METHODS)
        raise InvalidRequest(f"Method must be one of {allowed}; got {method!r}.")
    if public_key is None or method == PIN:
        return bool(user.find_methods(method))
    return user.find_key(method, normalize_key(public_key)) is not None
