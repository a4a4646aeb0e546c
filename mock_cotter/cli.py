"""The ``mock-cotter`` command."""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
from typing import Any

import click

from . import __version__
from .app import create_app, runtime_of
from .config import Settings, env_name
from .errors import ConfigError
from .server import make_wsgi_server

logger = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warning", "error")


def _settings_options(command):
    """One option per setting, each also read from its MOCK_COTTER_* variable
    (by create_app, so that the environment means the same everywhere)."""
    for field in reversed(dataclasses.fields(Settings)):
        flag = "--" + field.name.replace("_", "-")
        options: dict[str, Any] = {
            "default": None,
            "help": f"{field.metadata['help']} [env: {env_name(field.name)}]",
        }
        kind = str(field.type)
        if field.metadata.get("choices"):
            options["type"] = click.Choice(field.metadata["choices"])
        elif kind.startswith("bool"):
            options["is_flag"] = True
        elif kind.startswith("int"):
            options["type"] = int
        command = click.option(flag, field.name, **options)(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mock-cotter")
def main() -> None:
    """A local stand-in for the Cotter passwordless-authentication API."""


@main.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="MOCK_COTTER_HOST",
    help="Address to bind to. [env: MOCK_COTTER_HOST]",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="MOCK_COTTER_PORT",
    help="Port to bind to; 0 picks a free one. [env: MOCK_COTTER_PORT]",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(LOG_LEVELS),
    envvar="MOCK_COTTER_LOG_LEVEL",
    help="How much to log. [env: MOCK_COTTER_LOG_LEVEL]",
)
@_settings_options
def serve(host: str, port: int, log_level: str, **settings: Any) -> None:
    """Run the server in the foreground until interrupted."""
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = {name: value for name, value in settings.items() if value is not None}
    try:
        app = create_app(config)
        server = make_wsgi_server(app, host, port)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"Cannot listen on {host}:{port}: {exc.strerror}."
        ) from None

    runtime = runtime_of(app)
    url = f"http://{host}:{server.server_port}"
    logger.info("keys: %s; state: in memory", runtime.keys.source)
    click.echo(f"mock-cotter {__version__} serving the Cotter API at {url}/api/v0")

    def stop(signum, frame):
        raise KeyboardInterrupt

    # A container stops its main process with SIGTERM.
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        logger.info("stopped")
