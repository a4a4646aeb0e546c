"""gunicorn settings for serving mock-cotter, read from ``MOCK_COTTER_*``.

    gunicorn --config python:mock_cotter.gunicorn_conf

This is how the Docker image runs the server. gunicorn rather than
``mock-cotter serve``: Werkzeug's server is meant for development, while
gunicorn is a well-kept production server that handles signals, timeouts and
slow clients, and that can be told (``header_map``) to keep the
``API_KEY_ID`` header every Cotter SDK sends.

Variables read here (the app reads the other ``MOCK_COTTER_*`` settings):
``MOCK_COTTER_HOST`` (127.0.0.1; the image sets 0.0.0.0), ``MOCK_COTTER_PORT``
(8000), ``MOCK_COTTER_WORKERS`` (1), ``MOCK_COTTER_THREADS`` (8),
``MOCK_COTTER_LOG_LEVEL`` (info) and ``MOCK_COTTER_LOG_FORMAT`` (plain).
"""

from __future__ import annotations

import os

from mock_cotter.config import ENV_PREFIX, load_settings
from mock_cotter.errors import ConfigError

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("plain", "json")


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name) or default


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{ENV_PREFIX}{name} must be a whole number, got {raw!r}."
        ) from None

    if value < minimum:
        raise ConfigError(
            f"{ENV_PREFIX}{name} must be at least {minimum}, got {value}."
        )

    return value


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _env(name, default).lower()
    if value not in choices:
        raise ConfigError(
            f"{ENV_PREFIX}{name} must be one of {', '.join(choices)}; got {value!r}."
        )

    return value


def _bind_address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"

    return f"{host}:{port}"


# The app's own settings, checked here so that a wrong one stops the server
# with one clear message before any worker starts.
_settings = load_settings()
_log_level = _env_choice("LOG_LEVEL", "info", LOG_LEVELS)
_log_format = _env_choice("LOG_FORMAT", "plain", LOG_FORMATS)

wsgi_app = "mock_cotter:create_app()"
bind = [_bind_address(_env("HOST", "127.0.0.1"), _env_int("PORT", 8000, minimum=0))]

# Users, devices and tokens live in the memory of one process: with two
# workers a user created through one would be unknown to the other. More
# than one worker needs the SQLite state file, which they share.
workers = _env_int("WORKERS", 1, minimum=1)
if workers > 1 and not _settings.state_file:
    raise ConfigError(
        f"{ENV_PREFIX}WORKERS={workers} needs {ENV_PREFIX}STATE_FILE: each "
        "worker would otherwise keep users and tokens of its own."
    )

if workers > 1 and _settings.generate_keys and _settings.seed is None:
    raise ConfigError(
        f"{ENV_PREFIX}WORKERS={workers} with {ENV_PREFIX}GENERATE_KEYS needs "
        f"{ENV_PREFIX}SEED: each worker would otherwise sign with random keys "
        "of its own."
    )

# Threads, not processes, give one worker its concurrency; the app's state
# is safe to share between threads.
worker_class = "gthread"
threads = _env_int("THREADS", 8, minimum=1)

# Every Cotter SDK sends API_KEY_ID and API_SECRET_KEY, with underscores.
# gunicorn drops such headers by default ("drop") because API_KEY_ID and
# API-KEY-ID both map to HTTP_API_KEY_ID; the mock must see them.
header_map = "dangerous"

# `docker stop` must not wait: in-flight requests get one second, then the
# worker is killed. The mock answers in milliseconds.
graceful_timeout = 1
timeout = 30
keepalive = 5

# No runtime control socket (gunicorn >= 25.1): nothing uses it, and the
# image's user has no home to put it in.
control_socket_disable = True

# The worker heartbeat file: /dev/shm is memory in a container, where /tmp
# may sit on a slow overlay file system.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

proc_name = "mock-cotter"
loglevel = _log_level

# gunicorn's own lines and the app's (one per request from mock_cotter.access,
# at info) go to stderr in one format, the same as `mock-cotter serve`'s.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": _log_level.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {
            "level": _log_level.upper(),
            "handlers": [],
            "propagate": True,
        },
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": _log_format,
        },
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "mock_cotter.cli.JsonLines"},
    },
}
