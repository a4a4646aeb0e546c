"""What every Cotter view needs: the caller's namespace and a checked body."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, unquote_plus

from flask import Response, current_app, g, request

from ..errors import ConfigError, Forbidden, InvalidRequest, Unauthorized
from ..runtime import Context, Runtime
from ..scenarios import Scenario

API_KEY_HEADER = "API_KEY_ID"


def runtime() -> Runtime:
    return current_app.extensions["mock_cotter"]


def api_key(fallback: str | None = None) -> str:
    """The caller's API key, from the ``API_KEY_ID`` header.

    Header names are case-insensitive, so HTTP/2's lower case works too.
    ``fallback`` (an API key in the path or query) is used when the
    header is missing and must match it when both are given.
    """
    key = request.headers.get(API_KEY_HEADER, "").strip()
    if fallback and key and fallback != key:
        raise InvalidRequest(
            f"The API key in the URL ({fallback!r}) does not match the "
            f"API_KEY_ID header ({key!r})."
        )
    key = key or (fallback or "")
    if not key:
        raise Unauthorized(f"The {API_KEY_HEADER} header is missing.")
    allowed = runtime().settings.api_keys
    if allowed and key not in allowed:
        raise Forbidden(f"API key {key!r} is not allowed by this server.")
    return key


SCENARIO_HEADER = "X-Mock-Cotter-Scenario"


def header_scenario() -> Scenario | None:
    """The scenario a request asks for, for itself only.

    Resolved once per request (faults are picked before the view runs, from
    the same scenario), and a name that is not known is a 400 for any route.
    """
    if "header_scenario" in g:
        return g.header_scenario
    name = request.headers.get(SCENARIO_HEADER, "").strip()
    scenario = None
    if name:
        try:
            scenario = runtime().library.get(name)
        except ConfigError as exc:
            raise InvalidRequest(f"{SCENARIO_HEADER}: {exc}") from None
    g.header_scenario = scenario
    return scenario


@contextlib.contextmanager
def context(fallback: str | None = None) -> Iterator[Context]:
    """The caller's :class:`Context`, its namespace locked while the view runs."""
    with runtime().context(api_key(fallback), header_scenario()) as ctx:
        yield ctx


def is_whole_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²", which int() refuses."""
    return text.isascii() and text.isdigit()


def json_null() -> Response:
    """A JSON ``null`` body, which ``jsonify`` cannot produce."""
    return current_app.response_class("null\n", mimetype="application/json")


def wants_token() -> bool:
    """Whether the query asks for ``oauth_token`` in the answer."""
    return request.args.get("oauth_token", "").lower() == "true"


def raw_query_param(name: str) -> list[str]:
    """Candidate values of a query parameter, without form decoding first.

    iOS sends identifiers unencoded (``a+b@x.com``) and Flutter sends
    base64 unencoded, so a ``+`` is usually a plus; the form-decoded value
    (``+`` as a space) comes second for clients that did encode.
    """
    values: list[str] = []
    for part in request.query_string.decode("latin-1").split("&"):
        key, sep, value = part.partition("=")
        if sep and unquote(key) == name:
            for candidate in (unquote(value), unquote_plus(value)):
                if candidate not in values:
                    values.append(candidate)
    return values


class Body:
    """A JSON object body with typed, named field access.

    Every accessor raises :class:`InvalidRequest` naming the field and the
    type it must have.
    """

    def __init__(self, data: dict[str, Any]):
        self.data = data

    @classmethod
    def parse(cls, *, optional: bool = False) -> Body:
        raw = request.get_data(cache=True)
        if not raw.strip():
            if optional:
                return cls({})
            raise InvalidRequest(
                "The request body is empty; a JSON object is required."
            )
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise InvalidRequest(
                f"The request body is not valid JSON: {exc}.", type="invalid_json"
            ) from None
        if not isinstance(data, dict):
            raise InvalidRequest(
                "The request body must be a JSON object.", type="invalid_json"
            )
        return cls(data)

    def _get(self, name: str, required: bool, expected: str) -> Any:
        value = self.data.get(name)
        if value is None and required:
            raise InvalidRequest(
                f"Field {name!r} is required and must be {expected}.",
                type="missing_field",
            )
        return value

    def _wrong(self, name: str, expected: str, value: Any) -> InvalidRequest:
        kind = type(value).__name__
        return InvalidRequest(
            f"Field {name!r} must be {expected}, got {kind} {value!r}.",
            type="wrong_type",
        )

    def text(self, name: str, *, required: bool = True, default: str = "") -> str:
        value = self._get(name, required, "a string")
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._wrong(name, "a string", value)
        return value

    def flag(self, name: str, *, required: bool = True, default: bool = False) -> bool:
        value = self._get(name, required, "true or false")
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong(name, "true or false", value)
        return value

    def number(self, name: str, *, required: bool = True, default: int = 0) -> int:
        value = self._get(name, required, "a whole number")
        if value is None:
            return default
        # Some clients send numbers as strings ("challenge_id": "12").
        if isinstance(value, str) and is_whole_number(value.strip().lstrip("-")):
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(name, "a whole number", value)
        return value

    def timestamp(self, name: str = "timestamp") -> str:
        """Unix seconds, sent as a string by every SDK (a number is accepted)."""
        value = self._get(name, True, "unix seconds as a string")
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not is_whole_number(value.strip()):
            raise self._wrong(name, "unix seconds as a string", value)
        return value.strip()

    def mapping(self, name: str, *, required: bool = False) -> dict[str, Any]:
        value = self._get(name, required, "a JSON object")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._wrong(name, "a JSON object", value)
        return value
