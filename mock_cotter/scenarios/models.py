"""What a scenario file may say, as pydantic models.

The same models validate fixture files and admin bodies, and generate the
published JSON Schema (``fixtures/scenario.schema.json``), so the three can
never disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SDK_NAMES = ("react-native", "flutter", "android", "ios")
OUTCOMES = ("approved", "denied", "expired")


class Strict(BaseModel):
    """Unknown fields are errors: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ClockSpec(Strict):
    start: datetime | int | None = Field(
        None,
        description="Where the clock starts: an RFC 3339 time or unix seconds. "
        "Real time if unset.",
    )
    frozen: bool = Field(False, description="Whether the clock stands still.")

    def start_seconds(self) -> float | None:
        if self.start is None:
            return None
        if isinstance(self.start, datetime):
            return self.start.timestamp()
        return float(self.start)


class DeviceSpec(Strict):
    """A trusted device enrolled for a user, with a fixed key.

    Either ``seed`` (32 bytes as 64 hex digits) with ``sdk``, so that
    ``mock_cotter.testing.TrustedDevice`` can act as this very device, or a
    ready ``public_key`` with its ``algorithm``.
    """

    name: str | None = Field(None, description="Device name; made up if unset.")
    sdk: Literal["react-native", "flutter", "android", "ios"] = Field(
        "react-native", description="Whose key format the device uses."
    )
    seed: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$", description="32-byte key seed, in hex."
    )
    public_key: str | None = Field(None, description="The public key, as sent.")
    algorithm: Literal["ED25519", "EC", "ECDSA", "RSA"] | None = Field(
        None, description="The key's algorithm, with public_key."
    )

    @model_validator(mode="after")
    def _one_key(self) -> DeviceSpec:
        if (self.seed is None) == (self.public_key is None):
            raise ValueError("give either seed (with sdk) or public_key, not both")
        if self.public_key is not None and self.algorithm is None:
            raise ValueError("public_key needs algorithm")
        return self


class UserSpec(Strict):
    identifier: str | None = Field(
        None, description="Email or phone number; a made-up email if unset."
    )
    id: str | None = Field(None, description="Cotter user ID; generated if unset.")
    client_user_id: str | None = Field(
        None, description="Legacy app-side id; the user ID if unset."
    )
    pin: str | None = Field(None, pattern=r"^[0-9]{4,12}$", description="A PIN.")
    devices: list[DeviceSpec] = Field(
        default_factory=list, description="Trusted devices."
    )


class PendingSpec(Strict):
    """What happens to login requests waiting for a trusted device."""

    outcome: Literal["approved", "denied", "expired"] | None = Field(
        None,
        description="What the waiting request becomes; unset: only a device's "
        "answer or the admin API changes it.",
    )
    after_polls: int | None = Field(
        None, ge=0, description="...once the requester has polled this many times."
    )
    after_seconds: float | None = Field(
        None, ge=0, description="...or once this much virtual time has passed."
    )
    by: str | None = Field(
        None, description="The device that answers, by name (for the journal)."
    )
    lifetime: float | None = Field(
        None,
        gt=0,
        description="Seconds after which an unanswered request expires, "
        "whatever the outcome says.",
    )


class TokenSpec(Strict):
    access_token_lifetime: int | None = Field(None, gt=0)
    id_token_lifetime: int | None = Field(None, gt=0)
    refresh_token_lifetime: int | None = Field(None, gt=0)
    extra_claims: dict[str, Any] = Field(
        default_factory=dict, description="Added to every access token."
    )
    first_access_token_expired: bool = Field(
        False,
        description="The first token set issued for an API key is already expired.",
    )


class RefreshSpec(Strict):
    reuse: Literal["revoke", "allow"] | None = Field(
        None, description="What a reused refresh token does (see settings)."
    )
    revoked: bool = Field(
        False, description="Every refresh token is refused as revoked."
    )


class FaultSpec(Strict):
    """Something that goes wrong on matching requests."""

    path: str = Field(
        description="Glob over the request path, e.g. '/api/v0/token/jwks' or "
        "'/api/v0/event/*'."
    )
    method: str | None = Field(None, description="HTTP method; any if unset.")
    status: int | None = Field(
        None, ge=400, le=599, description="Answer this status instead."
    )
    body: dict[str, Any] | None = Field(
        None, description="The error body; Cotter-shaped {msg, type} if unset."
    )
    malformed: bool = Field(False, description="Answer 200 with a broken JSON body.")
    drop: bool = Field(False, description="Close the connection without answering.")
    latency: float = Field(0, ge=0, le=30, description="Seconds to wait first.")
    skip: int = Field(
        0, ge=0, description="Let this many matching calls through first."
    )
    times: int | None = Field(
        None, ge=1, description="Apply to this many calls, then stop; always if unset."
    )
    probability: float = Field(
        1.0, ge=0, le=1, description="Chance per call, drawn from the seed."
    )

    @model_validator(mode="after")
    def _one_effect(self) -> FaultSpec:
        effects = [self.status is not None, self.malformed, self.drop]
        if sum(effects) > 1:
            raise ValueError("choose one of status, malformed and drop")
        if not any(effects) and not self.latency:
            raise ValueError("a fault needs status, malformed, drop or latency")
        return self


class RateLimitSpec(Strict):
    """Cotter's documented limit on requests that send messages."""

    path: str = Field(description="Glob over the request path.")
    method: str | None = None
    per: Literal["ip", "identifier", "api_key"] = Field(
        "ip", description="What is counted."
    )
    limit: int = Field(ge=1, description="Requests allowed in the window.")
    window: float = Field(300, gt=0, description="Seconds of virtual time.")


class PendingEventSpec(Strict):
    """A login request already waiting when the scenario starts."""

    user: str = Field(description="The user's identifier.")
    event: str = "LOGIN"
    ip: str | None = Field(None, description="Made up if unset.")
    location: str | None = Field(None, description="A made-up city if unset.")


class Scenario(Strict):
    """One named situation for client code to meet."""

    name: str = Field("default", pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    seed: int | None = Field(None, description="Seed for ids and made-up data.")
    clock: ClockSpec = ClockSpec()
    users: list[UserSpec] = Field(default_factory=list)
    events: list[PendingEventSpec] = Field(default_factory=list)
    pending: PendingSpec = PendingSpec()
    tokens: TokenSpec = TokenSpec()
    refresh: RefreshSpec = RefreshSpec()
    faults: list[FaultSpec] = Field(default_factory=list)
    rate_limits: list[RateLimitSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_users(self) -> Scenario:
        named = {u.identifier for u in self.users if u.identifier}
        for index, event in enumerate(self.events):
            if event.user not in named:
                raise ValueError(
                    f"events[{index}].user {event.user!r} is not one of the "
                    f"scenario's users ({', '.join(sorted(named)) or 'none'})"
                )
        return self


DEFAULT = Scenario(
    description="Cotter as the SDKs expect it: requests wait for a device's answer."
)


def json_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
