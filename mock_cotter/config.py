"""Settings, read from defaults, then ``MOCK_COTTER_*`` variables, then a mapping.

Every setting is declared once, in :class:`Settings`, with its help text; the
environment variable of a setting is its name upper-cased behind
``MOCK_COTTER_`` (``seed`` is ``MOCK_COTTER_SEED``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

ENV_PREFIX = "MOCK_COTTER_"

# Cotter's production values: clients and backends compare against these.
COTTER_ISSUER = "https://www.cotter.app"
COTTER_KID = "SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9"

REFRESH_REUSE_CHOICES = ("revoke", "allow")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _setting(default: Any, help: str, choices: tuple[str, ...] = ()) -> Any:
    metadata = {"help": help, "choices": choices}
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default=tuple(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that can be configured, with its default."""

    seed: int | None = _setting(
        None, "Seed for ids, refresh tokens and generated data; random if unset."
    )
    api_keys: tuple[str, ...] = _setting(
        (), "API keys accepted in API_KEY_ID (comma-separated); any key if empty."
    )
    key_file: str | None = _setting(
        None,
        "JSON key file (see `mock-cotter keys generate`); bundled test keys if unset.",
    )
    generate_keys: bool = _setting(
        False,
        "Sign with new keys instead of the bundled test keys: derived from the "
        "seed when there is one, random otherwise.",
    )
    state_file: str | None = _setting(
        None,
        "SQLite file that keeps users, devices, events and tokens across restarts "
        "and can be shared by several processes; state stays in memory if unset.",
    )
    issuer: str = _setting(COTTER_ISSUER, "The `iss` claim of every JWT.")
    public_url: str | None = _setting(
        None,
        "Root URL clients reach the mock at, when it differs from the bind "
        "address (Docker Compose, a reverse proxy); shown at start-up and by "
        "/_mock/health.",
    )
    access_token_lifetime: int = _setting(3600, "Access-token lifetime, in seconds.")
    id_token_lifetime: int = _setting(3600, "ID-token lifetime, in seconds.")
    refresh_token_lifetime: int = _setting(
        30 * 24 * 3600, "Refresh-token lifetime, in seconds."
    )
    refresh_reuse: str = _setting(
        "revoke",
        "What a refresh token that was already used does: `revoke` rejects it and "
        "revokes its whole family; `allow` keeps it valid (the iOS SDK reuses it).",
        REFRESH_REUSE_CHOICES,
    )
    scenario: str = _setting(
        "default",
        "Scenario every API key starts in: a bundled or fixtures-folder name, "
        "or a path to a scenario file.",
    )
    fixtures: str | None = _setting(
        None, "Folder of extra scenario files (.yaml, .toml, .json)."
    )
    journal_size: int = _setting(
        1000, "How many requests the journal keeps (oldest dropped); 0 turns it off."
    )
    timestamp_tolerance: int = _setting(
        300,
        "How far (seconds) a device-signed timestamp may be from the clock; "
        "0 accepts any.",
    )

    @classmethod
    def names(cls) -> list[str]:
        return [field.name for field in dataclasses.fields(cls)]

    def replace(self, **changes: Any) -> Settings:
        return load_settings(changes, environ={}, base=self)


def env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def load_settings(
    config: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    base: Settings | None = None,
) -> Settings:
    """Build :class:`Settings` from ``base`` (or the defaults), the environment
    and ``config``, later layers winning.

    Raises :class:`ConfigError` naming the variable or key that is wrong.
    """
    environ = os.environ if environ is None else environ
    fields = {field.name: field for field in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}

    for name, field in fields.items():
        raw = environ.get(env_name(name))
        if raw is not None and raw != "":
            values[name] = _convert(field, raw, env_name(name))

    for key, raw in (config or {}).items():
        name = key.lower()
        if name.startswith(ENV_PREFIX.lower()):
            name = name[len(ENV_PREFIX) :]
        if name not in fields:
            allowed = ", ".join(sorted(fields))
            raise ConfigError(f"Unknown setting {key!r}; allowed settings: {allowed}.")
        values[name] = _convert(fields[name], raw, f"setting {key!r}")

    settings = dataclasses.replace(base or Settings(), **values)
    _check(settings)
    return settings


def _convert(field: dataclasses.Field, raw: Any, where: str) -> Any:
    kind = str(field.type)
    if raw is None:
        if "None" in kind:
            return None
        raise ConfigError(f"{where} cannot be empty.")

    if kind.startswith("tuple"):
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(raw, (list, tuple)) and all(isinstance(v, str) for v in raw):
            return tuple(raw)
        raise ConfigError(f"{where} must be a list of strings, got {raw!r}.")

    if kind.startswith("bool"):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigError(f"{where} must be true or false, got {raw!r}.")

    if kind.startswith("int"):
        if isinstance(raw, bool):
            raise ConfigError(f"{where} must be a whole number, got {raw!r}.")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a whole number, got {raw!r}.") from None

    if not isinstance(raw, str):
        raise ConfigError(f"{where} must be a string, got {raw!r}.")
    choices = field.metadata.get("choices")
    if choices and raw not in choices:
        allowed = ", ".join(choices)
        raise ConfigError(f"{where} must be one of {allowed}; got {raw!r}.")
    return raw


def _check(settings: Settings) -> None:
    for name in (
        "access_token_lifetime",
        "id_token_lifetime",
        "refresh_token_lifetime",
    ):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds.")
    if settings.journal_size < 0:
        raise ConfigError("journal_size must be 0 (off) or a positive number.")
    if settings.timestamp_tolerance < 0:
        raise ConfigError("timestamp_tolerance must be 0 (off) or a positive number.")
    if settings.key_file is not None and not os.path.isfile(settings.key_file):
        raise ConfigError(f"key_file {settings.key_file!r} does not exist.")
    if settings.key_file is not None and settings.generate_keys:
        raise ConfigError("Set key_file or generate_keys, not both.")
