"""Filling a namespace from its scenario: users, devices, PINs, pending
requests, with made-up data drawn from Faker under the scenario's seed."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from .models import PIN, TRUSTED_DEVICE, Event, Method, User
from .signatures import normalize_key
from .store import Ids

if TYPE_CHECKING:
    from .runtime import Context

logger = logging.getLogger(__name__)

_faker_lock = threading.Lock()
_faker: Any = None


def made_up(ctx: Context, kind: str) -> str:
    """One made-up ``email``, ``phone``, ``ip``, ``city`` or ``device_name``,
    reproducible from the namespace's seed and how much it has drawn."""
    global _faker
    with _faker_lock:
        if _faker is None:
            # Faker is slow to import and to build; only made-up data needs it.
            from faker import Faker

            # The Docker image keeps only this locale's data.
            _faker = Faker("en_US")
        _faker.seed_instance(ctx.ns.ids.integer(64))
        if kind == "email":
            return _faker.email()
        if kind == "phone":
            return _faker.numerify("+1##########")
        if kind == "ip":
            return _faker.ipv4_public()
        if kind == "city":
            return _faker.city()
        if kind == "device_name":
            return f"{_faker.first_name()}'s {_faker.random_element(_DEVICES)}"
    raise ValueError(f"nothing to make up for {kind!r}")


_DEVICES = ("iPhone 12", "Pixel 5", "Galaxy S21", "iPad Air", "OnePlus 9")


def seed_namespace(ctx: Context) -> None:
    """Create the scenario's users and pending events in a fresh namespace."""
    scenario = ctx.scenario
    ns = ctx.ns
    if scenario.seed is not None:
        # A scenario's own seed wins over the server's.
        ns.ids = Ids(scenario.seed, ns.api_key)
    if not scenario.users:
        return

    from .testing.devices import device_public_key

    now = ctx.now()
    by_identifier: dict[str, User] = {}
    for spec in scenario.users:
        user_id = spec.id or ns.ids.uuid()
        identifier = spec.identifier or made_up(ctx, "email")
        user = User(
            id=user_id,
            client_user_id=spec.client_user_id or user_id,
            identifier=identifier,
            created_at=now,
            updated_at=now,
        )
        if spec.pin:
            user.methods.append(Method(method=PIN, enrolled_at=now, code=spec.pin))
        for device in spec.devices:
            if device.seed is not None:
                public_key, algorithm = device_public_key(
                    device.sdk, bytes.fromhex(device.seed)
                )
            else:
                public_key, algorithm = device.public_key or "", device.algorithm or ""
            user.methods.append(
                Method(
                    method=TRUSTED_DEVICE,
                    enrolled_at=now,
                    public_key=normalize_key(public_key),
                    algorithm=algorithm,
                    device_name=device.name or made_up(ctx, "device_name"),
                    device_type=device.sdk,
                )
            )
        ns.add_user(user)
        by_identifier[identifier] = user

    for spec in scenario.events:
        user = by_identifier[spec.user]
        ns.save_event(
            Event(
                id=ns.next_id("event"),
                user_id=user.id,
                client_user_id=user.client_user_id,
                issuer=ns.api_key,
                event=spec.event,
                ip=spec.ip or made_up(ctx, "ip"),
                location=spec.location or made_up(ctx, "city"),
                timestamp=str(int(now)),
                method=TRUSTED_DEVICE,
                new=True,
                approved=False,
                created_at=now,
                updated_at=now,
            )
        )
    logger.info(
        "API key %s: loaded %d users and %d pending events of scenario %s",
        ns.api_key,
        len(scenario.users),
        len(scenario.events),
        scenario.name,
    )
