"""The records the mock keeps, and their Cotter JSON shapes (spec section 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# RN and Flutter test for this ID to learn that an identifier is unknown.
ZERO_UUID = "00000000-0000-0000-0000-000000000000"

TRUSTED_DEVICE = "TRUSTED_DEVICE"
PIN = "PIN"
BIOMETRIC = "BIOMETRIC"
METHODS = (TRUSTED_DEVICE, PIN, BIOMETRIC)


def iso(timestamp: float) -> str:
    """Cotter's timestamp format: RFC 3339 in UTC with microseconds."""
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Method:
    """One enrolled authentication method of a user.

    Trusted devices and biometric keys have a ``public_key`` (stored with its
    whitespace removed, so every SDK's wrapping compares equal); a PIN has a
    ``code``.
    """

    method: str
    enrolled_at: float
    public_key: str | None = None
    algorithm: str | None = None
    code: str | None = None
    device_name: str = ""
    device_type: str = ""


@dataclass
class User:
    id: str
    client_user_id: str
    identifier: str
    created_at: float
    updated_at: float
    identifiers: list[str] | None = None
    methods: list[Method] = field(default_factory=list)

    def find_methods(self, method: str) -> list[Method]:
        return [m for m in self.methods if m.method == method]

    def find_key(self, method: str, public_key: str) -> Method | None:
        for m in self.methods:
            if m.method == method and m.public_key == public_key:
                return m
        return None

    def enrolled(self) -> list[str]:
        names: list[str] = []
        for m in self.methods:
            if m.method not in names:
                names.append(m.method)
        return names

    def to_json(self, issuer: str) -> dict[str, Any]:
        latest = max(self.methods, key=lambda m: m.enrolled_at, default=None)
        updated = iso(self.updated_at)
        return {
            "ID": self.id,
            "created_at": iso(self.created_at),
            # Both spellings: one docs page and iOS use `update_at`.
            "updated_at": updated,
            "update_at": updated,
            "deleted_at": None,
            "issuer": issuer,
            "client_user_id": self.client_user_id,
            # Android calls Arrays.asList on this: never null.
            "enrolled": self.enrolled(),
            "default_method": latest.method if latest else None,
            "identifier": self.identifier,
            "identifiers": self.identifiers,
        }


def unknown_user_json(issuer: str) -> dict[str, Any]:
    """What ``GET /user?identifier=`` answers for an identifier nobody has."""
    epoch = "0001-01-01T00:00:00Z"
    return {
        "ID": ZERO_UUID,
        "created_at": epoch,
        "updated_at": epoch,
        "update_at": epoch,
        "deleted_at": None,
        "issuer": issuer,
        "client_user_id": "",
        "enrolled": [],
        "default_method": None,
        "identifier": "",
        "identifiers": None,
    }


@dataclass
class Event:
    id: int
    user_id: str
    client_user_id: str
    issuer: str
    event: str
    ip: str
    location: str
    timestamp: str
    method: str
    new: bool
    approved: bool
    created_at: float
    updated_at: float
    # The untrusted device's key, when it sent one (iOS does).
    public_key: str | None = None
    # Minted once, when a poller first sees the event approved, so that
    # repeated polls return the same tokens.
    oauth_token: dict[str, Any] | None = None
    # The mock's own bookkeeping, never sent to SDKs: how often the
    # requester polled, who answered, and whether it expired unanswered.
    polls: int = 0
    answered_by: str | None = None
    expired: bool = False

    def to_json(self, signature: str) -> dict[str, Any]:
        created = iso(self.created_at)
        updated = iso(self.updated_at)
        return {
            "ID": self.id,
            # gorm-style keys (older docs, cotter-token-js) and snake case (iOS).
            "CreatedAt": created,
            "UpdatedAt": updated,
            "DeletedAt": None,
            "created_at": created,
            "updated_at": updated,
            "deleted_at": None,
            "user_id": self.user_id,
            "client_user_id": self.client_user_id,
            "issuer": self.issuer,
            "event": self.event,
            "ip": self.ip,
            "location": self.location,
            "timestamp": self.timestamp,
            "method": self.method,
            "new": self.new,
            "approved": self.approved,
            "signature": signature,
        }


@dataclass
class RefreshToken:
    """One refresh token. Tokens rotated from the same login share a family."""

    id: int
    secret: str
    family: str
    user_id: str
    auth_method: str
    created_at: float
    expires_at: float
    # When the user logged in; kept across rotation for the ID token.
    auth_time: float
    extra_claims: dict[str, Any] = field(default_factory=dict)
    used: bool = False
    revoked: bool = False

    @property
    def value(self) -> str:
        return f"{self.id}:{self.secret}"


@dataclass
class Challenge:
    """A login started on the hosted page, waiting for ``get_identity``."""

    id: int
    code: str
    code_challenge: str
    redirect_url: str
    identifier: str
    identifier_type: str
    auth_method: str
    created_at: float
    used: bool = False
