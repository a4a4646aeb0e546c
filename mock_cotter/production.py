"""Serving with Granian, the production server of the Docker image.

Granian (a Rust HTTP server with a WSGI interface, from PyPI) is used rather
than Werkzeug's development server, and rather than gunicorn: on one core,
gunicorn's own per-request work capped the image at about 1,000 JWKS
requests a second, Granian's at about 4,000. It also keeps header names
that contain ``_`` (every Cotter SDK sends ``API_KEY_ID``), which gunicorn,
Werkzeug and nginx drop by default.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .app import DroppedConnection
from .config import ENV_PREFIX, env_name

logger = logging.getLogger(__name__)


class HidePlannedDrops(logging.Filter):
    """Drop Granian's traceback for a drop fault: the connection was
    abandoned on purpose, and the access log already has a line for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, DroppedConnection):
            return False
        # Granian logs from Rust, with the traceback in the message text.
        return DroppedConnection.MESSAGE not in record.getMessage()


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A dictConfig for the worker processes, which do not inherit the
    parent's handlers."""
    formatter = (
        {"()": "mock_cotter.cli.JsonLines"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"mock_cotter": formatter},
        "filters": {"planned_drops": {"()": "mock_cotter.production.HidePlannedDrops"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "mock_cotter",
                "filters": ["planned_drops"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        # Granian's own loggers: keep them, in the same format.
        "loggers": {
            "_granian": {
                "level": level.upper(),
                "handlers": ["stderr"],
                "propagate": False,
            },
            "granian.access": {
                "level": "WARNING",
                "handlers": ["stderr"],
                "propagate": False,
            },
        },
    }


def serve(
    host: str,
    port: int,
    *,
    workers: int,
    settings: dict[str, Any],
    log_level: str,
    log_format: str,
) -> None:
    """Run Granian in the foreground until SIGTERM or SIGINT."""
    from granian import Granian
    from granian.constants import Interfaces

    # Workers are new processes that build the app from MOCK_COTTER_*
    # variables, so flags given to `serve` travel as variables.
    for name, value in settings.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(value)
        os.environ[env_name(name)] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    os.environ[f"{ENV_PREFIX}LOG_LEVEL"] = log_level
    Granian(
        "mock_cotter.app:create_app",
        factory=True,
        interface=Interfaces.WSGI,
        address=host,
        port=port,
        workers=workers,
        # One thread per worker runs the app: with the GIL, more threads
        # only add switching (measured: 3,900 against 3,400 requests/s).
        blocking_threads=1,
        backpressure=64,
        log_level=log_level,
        log_dictconfig=logging_config(log_level, log_format),
        log_access=False,
        # Stop within the 2 s a container runtime is given on SIGTERM.
        workers_kill_timeout=1,
    ).serve()
