"""Errors, rendered the way Cotter rendered them: ``{"msg": ..., "type": ...}``."""

from __future__ import annotations


class CotterError(Exception):
    """An error answered to the client as a Cotter-shaped JSON body."""

    status = 400
    type = "bad_request"

    def __init__(self, msg: str, *, status: int | None = None, type: str | None = None):
        super().__init__(msg)
        self.msg = msg
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type

    def to_json(self) -> dict[str, str]:
        return {"msg": self.msg, "type": self.type}


class InvalidRequest(CotterError):
    """Raised when a body or query is malformed, incomplete or of the wrong type."""

    status = 400
    type = "invalid_request"


class Unauthorized(CotterError):
    """Raised when the ``API_KEY_ID`` header is missing."""

    status = 401
    type = "unauthorized"


class Forbidden(CotterError):
    """Raised when an API key is not among the configured allowed keys."""

    status = 403
    type = "forbidden"


class NotFound(CotterError):
    """Raised for an unknown user, event or route."""

    status = 404
    type = "not_found"


class Conflict(CotterError):
    """Raised when a resource already exists (a duplicate user)."""

    status = 409
    type = "conflict"


class InvalidGrant(CotterError):
    """Raised for a refresh token, PKCE verifier or authorization code that fails."""

    status = 400
    type = "invalid_grant"


class ConfigError(ValueError):
    """Raised when a setting, flag or environment variable has a bad value.

    The message names the setting and the values it allows.
    """
