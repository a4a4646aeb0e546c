"""The application factory."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from . import admin, hosted_page
from .api import blueprint as api_blueprint
from .config import Settings, load_settings
from .errors import CotterError
from .runtime import Runtime

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("mock_cotter.access")

# What browsers may send cross-origin: the SDKs' headers, with underscores.
CORS_HEADERS = "API_KEY_ID, API_SECRET_KEY, Content-Type, Authorization"


def create_app(config: Mapping[str, Any] | Settings | None = None) -> Flask:
    """Create a mock-cotter application.

    Settings come from the defaults, then ``MOCK_COTTER_*`` environment
    variables, then ``config`` (a mapping of setting names, or a ready
    :class:`Settings`, which skips the environment).
    """
    if isinstance(config, Settings):
        settings = config
    else:
        settings = load_settings(config)

    app = Flask(__name__)
    app.json.sort_keys = False
    app.json.compact = True
    app.extensions["mock_cotter"] = Runtime.from_settings(settings)

    app.register_blueprint(api_blueprint())
    app.register_blueprint(hosted_page.bp)
    app.register_blueprint(admin.bp)

    app.register_error_handler(CotterError, _cotter_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.before_request(_start_timer)
    app.after_request(_finish_request)
    return app


def runtime_of(app: Flask) -> Runtime:
    """The :class:`Runtime` (clock, keys, store) behind ``app``."""
    return app.extensions["mock_cotter"]


def _cotter_error(error: CotterError):
    return jsonify(error.to_json()), error.status


def _http_error(error: HTTPException):
    """Werkzeug's own errors (404, 405, 413...) in Cotter's JSON shape."""
    if error.code == 404:
        msg = f"No Cotter endpoint at {request.method} {request.path}."
    elif error.code == 405:
        allowed = ", ".join(sorted(error.valid_methods or []))
        msg = f"{request.method} is not supported on {request.path}; use {allowed}."
    else:
        msg = error.description or error.name
    type_ = (error.name or "error").lower().replace(" ", "_")
    response = jsonify({"msg": msg, "type": type_})
    response.status_code = error.code or 500
    if error.code == 405 and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _unexpected_error(error: Exception):
    """A bug in the mock: logged with its traceback and kept for the test
    harness, answered as JSON so that SDKs can still parse it."""
    logger.exception("unexpected error on %s %s", request.method, request.path)
    runtime_of(current_app).errors.append(error)
    body = {
        "msg": f"mock-cotter failed: {type(error).__name__}: {error}",
        "type": "internal",
    }
    return jsonify(body), 500


def _start_timer() -> None:
    g.started = time.perf_counter()
    if request.method == "OPTIONS":
        # A CORS preflight, answered here for every route.
        return ("", 204)
    return None


def _finish_request(response):
    origin = request.headers.get("Origin")
    if origin:
        # The web SDK sends credentials (cookies), so the origin is echoed
        # rather than "*".
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Allow-Methods"] = (
            "GET, POST, PUT, DELETE, OPTIONS"
        )
        response.headers["Vary"] = "Origin"
    if access_logger.isEnabledFor(logging.INFO):
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_logger.info(
            "%s %s %s %.1fms key=%s",
            request.method,
            request.path,
            response.status_code,
            elapsed,
            request.headers.get("API_KEY_ID", "-"),
        )
    return response
