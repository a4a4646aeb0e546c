"""The mock's own endpoints, under ``/_mock``, for tests in any language.

Every body is checked by the same kind of models as the scenario files; a
bad one is a 400 that says which field is wrong and what it may be.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, request
from pydantic import BaseModel, Field, ValidationError

from . import __version__, events, users
from .api.common import api_key, json_null, runtime
from .errors import ConfigError, InvalidRequest, NotFound
from .scenarios import validate
from .scenarios.loader import describe
from .scenarios.models import FaultSpec, Strict
from .tokens import NEGATIVE_VARIANTS

bp = Blueprint("admin", __name__, url_prefix="/_mock")


def _body(model: type[BaseModel]) -> Any:
    """The JSON body, checked against ``model``."""
    raw = request.get_data(cache=True)
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        problems = "; ".join(describe(exc, None, model))
        raise InvalidRequest(f"Invalid body: {problems}", type="invalid_body") from None


def _caller(body_key: str | None = None) -> str | None:
    """The API key an admin call is about: header or body; None for all."""
    header = request.headers.get("API_KEY_ID", "").strip()
    return body_key or header or None


def _required_caller(body_key: str | None = None) -> str:
    key = _caller(body_key)
    if key is None:
        raise InvalidRequest(
            "This call is about one API key: send the API_KEY_ID header.",
            type="missing_field",
        )
    return api_key(key)


@bp.get("/health")
def health():
    """Readiness, and the URLs clients should use."""
    root = (runtime().settings.public_url or request.host_url).rstrip("/")
    return {
        "status": "ok",
        "version": __version__,
        "api_url": f"{root}/api/v0",
        "jwks_url": f"{root}/api/v0/token/jwks",
        "login_page_url": f"{root}/app",
    }


@bp.get("/keys")
def keys():
    """Everything needed to verify what the mock signs."""
    key_set = runtime().keys
    return {
        "jwks": key_set.jwks(),
        "jwt_public_key_pem": key_set.jwt_public_pem(),
        "event_public_key": key_set.event_public_key(),
        "kid": key_set.kid,
        "source": key_set.source,
    }


# -- tokens -----------------------------------------------------------------


class MintBody(Strict):
    api_key: str | None = None
    identifier: str | None = None
    user_id: str | None = None
    auth_method: str = "TRUSTED_DEVICE"
    extra_claims: dict[str, Any] = Field(default_factory=dict)
    lifetime: int | None = Field(None, gt=0)
    variant: Literal[NEGATIVE_VARIANTS] | None = None  # type: ignore[valid-type]


@bp.post("/tokens")
def mint_tokens():
    """Mint an ``oauth_token`` for a user, creating the user if needed, so a
    test can start already logged in; ``variant`` mints a broken one."""
    body = _body(MintBody)
    if not body.identifier and not body.user_id:
        raise InvalidRequest(
            "Field 'identifier' or 'user_id' is required.", type="missing_field"
        )
    with runtime().context(_required_caller(body.api_key)) as ctx:
        if body.user_id:
            user = users.find_user(ctx.ns, body.user_id)
        else:
            user = users.get_or_create_user(ctx, body.identifier)
        token = ctx.tokens.issue(
            ctx,
            user,
            body.auth_method,
            extra_claims=body.extra_claims,
            lifetime=body.lifetime,
            variant=body.variant,
        )
        return {"oauth_token": token, "user": user.to_json(ctx.api_key)}


# -- reset and clock --------------------------------------------------------


class KeyBody(Strict):
    api_key: str | None = None


@bp.post("/reset")
def reset():
    """Forget one API key's state (header or body), or everything."""
    key = _caller(_body(KeyBody).api_key)
    runtime().reset(key)
    return {"reset": key or "everything"}


class ClockBody(Strict):
    now: datetime | float | None = Field(
        None, description="Unix seconds or an RFC 3339 time."
    )
    frozen: bool | None = None


class AdvanceBody(Strict):
    seconds: float


def _clock():
    key = _caller()
    rt = runtime()
    return rt.clock_for(api_key(key)) if key else rt.clock


@bp.get("/clock")
def get_clock():
    """The clock of the API key in the header, or the server's."""
    return _clock().to_json()


@bp.put("/clock")
def set_clock():
    body = _body(ClockBody)
    clock = _clock()
    # Freeze before setting, so a frozen clock stops exactly at `now`.
    if body.frozen is True:
        clock.freeze()
    if body.now is not None:
        now = body.now.timestamp() if isinstance(body.now, datetime) else body.now
        clock.set(now)
    if body.frozen is False:
        clock.unfreeze()
    return clock.to_json()


@bp.post("/clock/advance")
def advance_clock():
    clock = _clock()
    clock.advance(_body(AdvanceBody).seconds)
    return clock.to_json()


# -- scenarios --------------------------------------------------------------


@bp.get("/scenarios")
def list_scenarios():
    library = runtime().library
    return [
        {"name": name, "description": library.get(name).description}
        for name in library.names()
    ]


@bp.get("/scenario")
def get_scenario():
    scenario = runtime().scenario_for(_required_caller())
    return scenario.model_dump(mode="json", exclude_defaults=True) | {
        "name": scenario.name
    }


@bp.put("/scenario")
def set_scenario():
    """``{"name": "denied"}`` or ``{"scenario": {...}}`` (an inline
    document); the API key starts afresh in it."""
    key = _required_caller()
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict) or set(raw) - {"name", "scenario"} or len(raw) != 1:
        raise InvalidRequest(
            'The body must be {"name": "<scenario>"} or {"scenario": {...}}.',
            type="invalid_body",
        )
    rt = runtime()
    try:
        if "name" in raw:
            if not isinstance(raw["name"], str):
                raise InvalidRequest("Field 'name' must be a string.")
            scenario = rt.library.get(raw["name"])
        elif isinstance(raw["scenario"], dict):
            scenario = validate(raw["scenario"], "inline scenario")
        else:
            raise InvalidRequest("Field 'scenario' must be an object.")
    except ConfigError as exc:
        raise InvalidRequest(str(exc), type="invalid_scenario") from None
    rt.set_scenario(key, scenario)
    return {"api_key": key, "scenario": scenario.name}


@bp.delete("/scenario")
def clear_scenario():
    key = _required_caller()
    runtime().reset(key)
    return {"api_key": key, "scenario": runtime().default_scenario.name}


# -- events -----------------------------------------------------------------


@bp.get("/events")
def list_events():
    """Every event of the API key in the header (or of every key)."""
    rt = runtime()
    key = _caller()
    keys_ = [api_key(key)] if key else rt.store.api_keys()
    answer = []
    for each in keys_:
        with rt.context(each) as ctx:
            answer.extend(events.admin_json(ctx, e) for e in ctx.ns.events())
    return answer


ACTIONS = {"approve": "approved", "deny": "denied", "expire": "expired"}


@bp.post("/events/<int:event_id>/<action>")
def act_on_event(event_id: int, action: str):
    """Act as the user's phone, with no device key."""
    outcome = ACTIONS.get(action)
    if outcome is None:
        raise NotFound(
            f"Unknown action {action!r}; use {', '.join(ACTIONS)}.", type="not_found"
        )
    with runtime().context(_required_caller()) as ctx:
        event = events.get_event(ctx, event_id)
        events.answer(ctx, event, outcome, by="admin")
        return events.admin_json(ctx, event)


# -- request journal --------------------------------------------------------


@bp.get("/requests")
def list_requests():
    """The journal, oldest first; filter by ``path`` (a glob), ``method``
    and ``api_key``; ``limit`` keeps the newest N."""
    args = request.args
    limit = args.get("limit", "")
    if limit and not (limit.isascii() and limit.isdigit()):
        raise InvalidRequest(
            f"Parameter 'limit' must be a whole number, got {limit!r}."
        )
    entries = runtime().journal.entries(
        path=args.get("path"), method=args.get("method"), api_key=args.get("api_key")
    )
    if limit:
        entries = entries[-int(limit) :] if int(limit) else []
    return [entry.to_json() for entry in entries]


@bp.delete("/requests")
def clear_requests():
    runtime().journal.clear(request.args.get("api_key"))
    return json_null()


# -- faults -----------------------------------------------------------------


class FaultsBody(Strict):
    faults: list[FaultSpec]


@bp.get("/faults")
def get_faults():
    key = _caller()
    faults = runtime().own_faults(key)
    listed = [f.model_dump(exclude_defaults=True) for f in faults]
    return {"api_key": key, "faults": listed}


@bp.put("/faults")
def set_faults():
    """Faults for the API key in the header, or for every key."""
    body = _body(FaultsBody)
    key = _caller()
    runtime().set_faults(key, body.faults)
    return {"api_key": key, "faults": len(body.faults)}


@bp.delete("/faults")
def clear_faults():
    key = _caller()
    runtime().set_faults(key, [])
    return {"api_key": key, "faults": 0}
