"""The application factory, and the hooks every request passes through:
scenario faults and rate limits before the view, the journal after it."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from . import admin, hosted_page
from .api import API_PREFIX
from .api import blueprint as api_blueprint
from .api.common import header_scenario
from .config import Settings, load_settings
from .errors import CotterError
from .runtime import Runtime

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("mock_cotter.access")

# What browsers may send cross-origin: the SDKs' headers, with underscores.
CORS_HEADERS = "API_KEY_ID, API_SECRET_KEY, Content-Type, Authorization"
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"


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
    app.before_request(_before)
    app.after_request(_after)
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


# -- hooks --------------------------------------------------------------------


def _request_api_key() -> str | None:
    key = request.headers.get("API_KEY_ID", "").strip()
    if key:
        return key
    if request.path.startswith(f"{API_PREFIX}/token/"):
        return request.view_args.get("path_key") if request.view_args else None
    return request.args.get("api_key") or None


def _before():
    g.started = time.perf_counter()
    g.fault = None
    if request.method == "OPTIONS":
        # A CORS preflight, answered here for every route.
        return Response(status=204)
    if not (request.path.startswith(API_PREFIX) or request.path == "/app"):
        return None
    rt = runtime_of(current_app)
    # The JWKS is fetched without an API key (Flutter, Python): such calls
    # meet the server's own scenario, counted under the empty key.
    key = _request_api_key() or ""
    scenario = header_scenario() or rt.scenario_for(key)
    g.scenario = scenario.name

    faults = scenario.faults
    extra = rt.faults_for(key)
    if faults or extra:
        seed = scenario.seed if scenario.seed is not None else (rt.settings.seed or 0)
        fault = rt.faults.pick(
            key, f"scenario:{scenario.name}", faults, request.method, request.path, seed
        ) or rt.faults.pick(key, "admin", extra, request.method, request.path, seed)
        if fault is not None:
            response = _play_fault(fault)
            if response is not None:
                return response

    if not scenario.rate_limits:
        return None
    limit = rt.faults.over_limit(
        key,
        scenario.rate_limits,
        request.method,
        request.path,
        lambda per: _rate_subject(key, per),
        rt.clock_for(key).now(),
    )
    if limit is not None:
        g.fault = f"rate limit ({limit.per})"
        response = jsonify(
            {
                "msg": f"Too many requests: at most {limit.limit} per "
                f"{limit.window:g} seconds per {limit.per}. Please try again later.",
                "type": "rate_limited",
            }
        )
        response.status_code = 429
        response.headers["Retry-After"] = str(int(limit.window))
        return response
    return None


def _rate_subject(key: str, per: str) -> str:
    """What a rate limit counts for this request."""
    if per == "api_key":
        return key
    if per == "ip":
        return request.remote_addr or ""
    identifier = request.args.get("identifier") or request.args.get("input") or ""
    if not identifier:
        try:
            body = json.loads(request.get_data(cache=True) or b"null")
        except (ValueError, RecursionError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("identifier"), str):
            identifier = body["identifier"]
    return identifier


class DroppedConnection(ConnectionAbortedError):
    """Raised on purpose mid-answer (a drop fault), to make a server that
    gives the app no socket abandon the connection."""

    MESSAGE = "mock-cotter fault: connection dropped"


def _dropped_connection() -> Response:
    """An answer the client never gets.

    The connection breaks while the answer is being sent, so the journal and
    the access log (written in ``_after``) already have the request when the
    client sees it fail. The Werkzeug server's socket is shut down before
    the head goes out; any other server, which gives the app no socket, is
    left with a head that promised a body that never comes.
    """
    sock = request.environ.get("werkzeug.socket")

    def body():
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise DroppedConnection(DroppedConnection.MESSAGE)
        yield b""  # a generator, so the raise happens while sending

    response = Response(body(), status=200, mimetype="application/json")
    response.headers["Content-Length"] = "64"
    # Handed to the server as is: nothing in Flask may read the body first.
    response.direct_passthrough = True
    return response


def _play_fault(fault) -> Response | None:
    if fault.latency:
        time.sleep(fault.latency)
    if fault.drop:
        g.fault = "drop"
        return _dropped_connection()
    if fault.malformed:
        g.fault = "malformed"
        return Response('{"msg": "truncated', status=200, mimetype="application/json")
    if fault.status is not None:
        g.fault = f"status {fault.status}"
        body = fault.body or {
            "msg": f"Simulated failure ({fault.status}) from mock-cotter.",
            "type": "simulated",
        }
        response = jsonify(body)
        response.status_code = fault.status
        return response
    g.fault = f"latency {fault.latency:g}s"
    return None


def _after(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin:
        # The web SDK sends credentials (cookies), so the origin is echoed
        # rather than "*".
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Vary"] = "Origin"

    elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    key = _request_api_key()
    rt = runtime_of(current_app)
    if not request.path.startswith("/_mock") and request.method != "OPTIONS":
        rt.journal.record(
            time=rt.clock_for(key).now() if key else rt.clock.now(),
            api_key=key,
            method=request.method,
            path=request.path,
            query=request.query_string.decode("latin-1"),
            headers=dict(request.headers),
            request_body=request.get_data(cache=True),
            status=response.status_code,
            response_body=b"" if response.direct_passthrough else response.get_data(),
            duration_ms=elapsed,
            scenario=g.get("scenario", rt.default_scenario.name),
            fault=g.get("fault"),
        )
    if access_logger.isEnabledFor(logging.INFO):
        # A dropped connection has no status the client saw.
        status = "dropped" if g.get("fault") == "drop" else response.status_code
        access_logger.info(
            "%s %s %s %.1fms key=%s",
            request.method,
            request.path,
            status,
            elapsed,
            key or "-",
        )
    return response
