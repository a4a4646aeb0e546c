"""The ``mock-cotter`` command: the dev stub, keys, tokens and fixtures."""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from . import __version__
from .app import create_app, runtime_of
from .config import Settings, env_name, load_settings
from .errors import ConfigError
from .keys import KeySet
from .server import make_wsgi_server

logger = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("plain", "json")
SERVERS = ("werkzeug", "granian")


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


def _build_app(settings: dict[str, Any]):
    config = {name: value for name, value in settings.items() if value is not None}
    try:
        return create_app(config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


class JsonLines(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mock-cotter")
def main() -> None:
    """A local stand-in for the Cotter passwordless-authentication API.

    Every setting can also come from its MOCK_COTTER_* environment variable.
    """


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
@click.option(
    "--log-format",
    default="plain",
    show_default=True,
    type=click.Choice(LOG_FORMATS),
    envvar="MOCK_COTTER_LOG_FORMAT",
    help="Plain lines or JSON lines. [env: MOCK_COTTER_LOG_FORMAT]",
)
@click.option(
    "--server",
    "server_kind",
    default="werkzeug",
    show_default=True,
    type=click.Choice(SERVERS),
    envvar="MOCK_COTTER_SERVER",
    help="werkzeug: one process, no extra dependency (the dev stub). granian: "
    "the production server of the Docker image (pip install "
    "'mock-cotter[server]'). [env: MOCK_COTTER_SERVER]",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    envvar="MOCK_COTTER_WORKERS",
    help="Worker processes (granian only); more than one needs --state-file, "
    "as each process keeps its own memory. [env: MOCK_COTTER_WORKERS]",
)
@_settings_options
def serve(
    host: str,
    port: int,
    log_level: str,
    log_format: str,
    server_kind: str,
    workers: int,
    **settings,
) -> None:
    """Run the server in the foreground until interrupted."""
    _configure_logging(log_level, log_format)
    _check_workers(workers, server_kind, settings)
    # Built here even when Granian's workers build their own, so that a bad
    # setting stops the command with a clear message, not a worker crash.
    app = _build_app(settings)
    runtime = runtime_of(app)
    if server_kind == "granian":
        if port == 0:
            port = _free_port(host)
        _log_start(runtime, f"http://{host}:{port}")
        try:
            from . import production
        except ImportError:
            raise click.UsageError(
                "--server granian needs Granian: pip install 'mock-cotter[server]'."
            ) from None
        given = {name: value for name, value in settings.items() if value is not None}
        click.echo(
            f"mock-cotter {__version__} serving the Cotter API at "
            f"http://{host}:{port}/api/v0 (granian, {workers} worker(s))"
        )
        production.serve(
            host,
            port,
            workers=workers,
            settings=given,
            log_level=log_level,
            log_format=log_format,
        )
        return

    try:
        server = make_wsgi_server(app, host, port)
    except OSError as exc:
        raise click.ClickException(
            f"Cannot listen on {host}:{port}: {exc.strerror}."
        ) from None

    url = f"http://{host}:{server.server_port}"
    _log_start(runtime, url)
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


def _free_port(host: str) -> int:
    """A port nothing listens on now: Granian binds in its own threads and
    does not report the port it got for 0, which the URL must show."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            return probe.getsockname()[1]
    except OSError as exc:
        raise click.ClickException(
            f"Cannot listen on {host}: {exc.strerror}."
        ) from None


def _check_workers(workers: int, server_kind: str, settings: dict[str, Any]) -> None:
    if workers == 1:
        return
    if server_kind != "granian":
        raise click.UsageError("--workers needs --server granian.")
    try:
        resolved = load_settings(
            {name: value for name, value in settings.items() if value is not None}
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if not resolved.state_file:
        raise click.UsageError(
            "--workers > 1 needs --state-file: each worker process would "
            "otherwise keep users and tokens of its own."
        )
    if resolved.generate_keys and resolved.seed is None:
        raise click.UsageError(
            "--workers > 1 with --generate-keys needs --seed: each worker "
            "would otherwise sign with random keys of its own."
        )


def _log_start(runtime, url: str) -> None:
    public = runtime.settings.public_url or url
    state_file = runtime.settings.state_file
    state = f"persistent, in {state_file}" if state_file else "in memory"
    logger.info(
        "listening on %s; clients use %s/api/v0; scenario: %s; keys: %s; state: %s",
        url,
        public,
        runtime.default_scenario.name,
        runtime.keys.source,
        state,
    )


# -- keys ---------------------------------------------------------------------


@main.group(invoke_without_command=True)
@click.option("--key-file", envvar="MOCK_COTTER_KEY_FILE", help="A key file to read.")
@click.option(
    "--generate-keys",
    is_flag=True,
    envvar="MOCK_COTTER_GENERATE_KEYS",
    help="Show the keys generated from --seed instead.",
)
@click.option(
    "--seed", type=int, envvar="MOCK_COTTER_SEED", help="With --generate-keys."
)
@click.pass_context
def keys(ctx: click.Context, key_file: str | None, generate_keys: bool, seed) -> None:
    """Print the public keys: the JWKS, the JWT key as PEM and the Ed25519
    event key (standard base64 of its 32 raw bytes)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        key_set = KeySet.generate(seed) if generate_keys else KeySet.load(key_file)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    answer = {
        "source": key_set.source,
        "jwks": key_set.jwks(),
        "jwt_public_key_pem": key_set.jwt_public_pem(),
        "event_public_key": key_set.event_public_key(),
    }
    click.echo(json.dumps(answer, indent=2))


@keys.command("generate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--seed", type=int, help="Derive the keys from this seed.")
def keys_generate(path: Path, force: bool, seed: int | None) -> None:
    """Write a new key file to PATH (for --key-file)."""
    if path.exists() and not force:
        raise click.UsageError(f"{path} exists; pass --force to overwrite it.")
    key_set = KeySet.generate(seed)
    path.write_text(key_set.to_json())
    path.chmod(0o600)
    click.echo(f"wrote {path}; its public keys: mock-cotter keys --key-file {path}")


# -- token --------------------------------------------------------------------


@main.command()
@click.option("--api-key", required=True, help="The API_KEY_ID (audience).")
@click.option("--identifier", help="The user's email or phone; created if new.")
@click.option("--user-id", help="An existing user's Cotter ID (with --url).")
@click.option("--auth-method", default="TRUSTED_DEVICE", show_default=True)
@click.option("--claims", help="Extra access-token claims, as a JSON object.")
@click.option("--lifetime", type=click.IntRange(1), help="Access-token seconds.")
@click.option(
    "--url",
    help="Mint through a running server (its root URL), so that its refresh "
    "token works there; otherwise mint offline with the same keys.",
)
@click.option("--access-token", "only_access", is_flag=True, help="Print only it.")
@_settings_options
def token(
    api_key: str,
    identifier: str | None,
    user_id: str | None,
    auth_method: str,
    claims: str | None,
    lifetime: int | None,
    url: str | None,
    only_access: bool,
    **settings,
) -> None:
    """Mint an access, ID and refresh token set, for testing a backend."""
    if not identifier and not user_id:
        raise click.UsageError("Give --identifier or --user-id.")
    try:
        extra = json.loads(claims) if claims else {}
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--claims") from None
    if not isinstance(extra, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--claims")
    body = {
        "identifier": identifier,
        "user_id": user_id,
        "auth_method": auth_method,
        "extra_claims": extra,
        "lifetime": lifetime,
    }
    body = {k: v for k, v in body.items() if v not in (None, {})}

    if url:
        answer = _post(url.rstrip("/") + "/_mock/tokens", body, api_key)
    else:
        client = _build_app(settings).test_client()
        response = client.post(
            "/_mock/tokens", json=body, headers={"API_KEY_ID": api_key}
        )
        answer = response.get_json()
        if response.status_code != 200:
            raise click.ClickException(answer.get("msg", response.status))
    oauth_token = answer["oauth_token"]
    if only_access:
        click.echo(oauth_token["access_token"])
    else:
        click.echo(json.dumps(oauth_token, indent=2))


def _post(url: str, body: dict[str, Any], api_key: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "API_KEY_ID": api_key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise click.ClickException(f"{url} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"Cannot reach {url}: {exc}") from None


# -- fixtures -----------------------------------------------------------------


@main.group()
def fixtures() -> None:
    """Check, list and describe scenario files."""


@fixtures.command("check")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)
def fixtures_check(paths: tuple[Path, ...]) -> None:
    """Validate scenario files (or folders of them); report every problem
    with its file and line, and exit 1 if any file is invalid."""
    from .scenarios import ScenarioError, load_file
    from .scenarios.loader import SCHEMA_FILE, SUFFIXES

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.iterdir())
                if p.suffix.lower() in SUFFIXES and p.name != SCHEMA_FILE
            )
        else:
            files.append(path)
    failed = 0
    for path in files:
        try:
            scenario = load_file(path)
        except ScenarioError as exc:
            failed += 1
            click.echo(str(exc), err=True)
        else:
            click.echo(f"ok: {path} (scenario {scenario.name})")
    if failed:
        click.echo(f"{failed} of {len(files)} files are invalid.", err=True)
        sys.exit(1)


@fixtures.command("list")
@click.option(
    "--fixtures", "folder", envvar="MOCK_COTTER_FIXTURES", help="Extra folder."
)
def fixtures_list(folder: str | None) -> None:
    """List the scenarios a server would know, with their descriptions."""
    from .scenarios import ScenarioLibrary

    try:
        library = ScenarioLibrary.load([folder] if folder else [])
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    for name in library.names():
        click.echo(f"{name:<18} {library.get(name).description}")


@fixtures.command("schema")
def fixtures_schema() -> None:
    """Print the JSON Schema of scenario files."""
    from .scenarios.models import json_schema

    click.echo(json.dumps(json_schema(), indent=2))
