"""Settings: defaults, ``MOCK_COTTER_*`` variables, a mapping on top, and
errors that say what is wrong and what is allowed."""

from __future__ import annotations

import os

import pytest

from mock_cotter import create_app
from mock_cotter.app import runtime_of
from mock_cotter.config import (
    COTTER_ISSUER,
    ConfigError,
    Settings,
    env_name,
    load_settings,
)


@pytest.fixture(autouse=True)
def _no_mock_cotter_environment(monkeypatch):
    """create_app reads os.environ: keep the developer's settings out."""
    for name in list(os.environ):
        if name.startswith("MOCK_COTTER_"):
            monkeypatch.delenv(name)


# -- defaults -------------------------------------------------------------------


def test_defaults_without_environment_or_mapping():
    settings = load_settings(environ={})

    assert settings == Settings()
    assert settings.seed is None
    assert settings.api_keys == ()
    assert settings.key_file is None
    assert settings.issuer == COTTER_ISSUER == "https://www.cotter.app"
    assert settings.access_token_lifetime == 3600
    assert settings.id_token_lifetime == 3600
    assert settings.refresh_token_lifetime == 30 * 24 * 3600
    assert settings.refresh_reuse == "revoke"
    assert settings.timestamp_tolerance == 300


def test_the_variable_of_a_setting_is_its_upper_cased_name():
    assert env_name("refresh_reuse") == "MOCK_COTTER_REFRESH_REUSE"
    assert "seed" in Settings.names()


def test_unrelated_and_empty_variables_are_ignored():
    settings = load_settings(
        environ={"SEED": "5", "COTTER_SEED": "6", "MOCK_COTTER_SEED": ""}
    )

    assert settings.seed is None


# -- the environment ------------------------------------------------------------


def test_environment_values_are_parsed_to_the_setting_types():
    settings = load_settings(
        environ={
            "MOCK_COTTER_SEED": "42",
            "MOCK_COTTER_ACCESS_TOKEN_LIFETIME": " 60 ",
            "MOCK_COTTER_TIMESTAMP_TOLERANCE": "0",
            "MOCK_COTTER_API_KEYS": "key-a, key-b,,key-c ",
            "MOCK_COTTER_REFRESH_REUSE": "allow",
            "MOCK_COTTER_ISSUER": "http://localhost:8000",
        }
    )

    assert settings.seed == 42
    assert settings.access_token_lifetime == 60
    assert settings.timestamp_tolerance == 0
    assert settings.api_keys == ("key-a", "key-b", "key-c")
    assert settings.refresh_reuse == "allow"
    assert settings.issuer == "http://localhost:8000"


def test_a_single_api_key_in_the_environment_is_a_one_item_tuple():
    settings = load_settings(environ={"MOCK_COTTER_API_KEYS": "only"})

    assert settings.api_keys == ("only",)


def test_a_key_file_that_exists_is_accepted_from_the_environment(tmp_path):
    key_file = tmp_path / "keys.json"
    key_file.write_text("{}")

    settings = load_settings(environ={"MOCK_COTTER_KEY_FILE": str(key_file)})

    assert settings.key_file == str(key_file)


def test_load_settings_reads_os_environ_when_no_environ_is_given(monkeypatch):
    monkeypatch.setenv("MOCK_COTTER_SEED", "9")

    assert load_settings().seed == 9


# -- the mapping ----------------------------------------------------------------


def test_the_mapping_overrides_the_environment():
    settings = load_settings(
        {"seed": 7, "api_keys": ["from-mapping"], "refresh_reuse": "revoke"},
        environ={
            "MOCK_COTTER_SEED": "1",
            "MOCK_COTTER_API_KEYS": "from-env",
            "MOCK_COTTER_REFRESH_REUSE": "allow",
            "MOCK_COTTER_ID_TOKEN_LIFETIME": "120",
        },
    )

    assert settings.seed == 7
    assert settings.api_keys == ("from-mapping",)
    assert settings.refresh_reuse == "revoke"
    # What the mapping does not set still comes from the environment.
    assert settings.id_token_lifetime == 120


def test_mapping_keys_may_be_environment_names_in_any_case():
    settings = load_settings(
        {"MOCK_COTTER_SEED": 3, "Access_Token_Lifetime": "90"}, environ={}
    )

    assert settings.seed == 3
    assert settings.access_token_lifetime == 90


def test_mapping_values_are_converted_too():
    settings = load_settings(
        {"seed": "11", "api_keys": "a,b", "key_file": None},
        environ={"MOCK_COTTER_SEED": "3"},
    )

    assert settings.seed == 11
    assert settings.api_keys == ("a", "b")
    assert settings.key_file is None


def test_replace_keeps_other_settings_and_ignores_the_environment(monkeypatch):
    monkeypatch.setenv("MOCK_COTTER_SEED", "99")
    base = load_settings({"seed": 1, "timestamp_tolerance": 5}, environ={})

    changed = base.replace(refresh_reuse="allow")

    assert changed.seed == 1
    assert changed.timestamp_tolerance == 5
    assert changed.refresh_reuse == "allow"


# -- errors ---------------------------------------------------------------------


def test_an_unknown_mapping_key_lists_the_allowed_settings():
    with pytest.raises(ConfigError) as raised:
        load_settings({"sed": 1}, environ={})

    message = str(raised.value)
    assert "'sed'" in message
    for name in Settings.names():
        assert name in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MOCK_COTTER_SEED", "forty-two"),
        ("MOCK_COTTER_SEED", "1.5"),
        ("MOCK_COTTER_ACCESS_TOKEN_LIFETIME", "1h"),
        ("MOCK_COTTER_TIMESTAMP_TOLERANCE", "5m"),
    ],
)
def test_a_bad_int_in_the_environment_names_the_variable(variable, value):
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={variable: value})

    message = str(raised.value)
    assert variable in message
    assert repr(value) in message
    assert "whole number" in message


@pytest.mark.parametrize("value", ["forty-two", True, [1]], ids=repr)
def test_a_bad_int_in_the_mapping_names_the_key(value):
    with pytest.raises(ConfigError) as raised:
        load_settings({"seed": value}, environ={})

    message = str(raised.value)
    assert "'seed'" in message
    assert "whole number" in message


@pytest.mark.parametrize("value", ["REVOKE", "reuse", ""])
def test_a_bad_choice_in_the_environment_names_the_variable_and_choices(value):
    environ = {"MOCK_COTTER_REFRESH_REUSE": value}
    if value == "":
        # An empty variable means "unset", not a bad choice.
        assert load_settings(environ=environ).refresh_reuse == "revoke"
        return

    with pytest.raises(ConfigError) as raised:
        load_settings(environ=environ)

    message = str(raised.value)
    assert "MOCK_COTTER_REFRESH_REUSE" in message
    assert repr(value) in message
    assert "revoke" in message and "allow" in message


def test_a_bad_choice_in_the_mapping_names_the_key_and_choices():
    with pytest.raises(ConfigError) as raised:
        load_settings({"refresh_reuse": "sometimes"}, environ={})

    message = str(raised.value)
    assert "'refresh_reuse'" in message
    assert "revoke" in message and "allow" in message


@pytest.mark.parametrize(
    ("config", "environ"),
    [
        ({"key_file": "/nonexistent/keys.json"}, {}),
        ({}, {"MOCK_COTTER_KEY_FILE": "/nonexistent/keys.json"}),
    ],
    ids=["mapping", "environment"],
)
def test_a_missing_key_file_names_the_setting_and_the_path(config, environ):
    with pytest.raises(ConfigError) as raised:
        load_settings(config, environ=environ)

    message = str(raised.value)
    assert "key_file" in message.lower()
    assert "/nonexistent/keys.json" in message


@pytest.mark.parametrize(
    "name", ["access_token_lifetime", "id_token_lifetime", "refresh_token_lifetime"]
)
@pytest.mark.parametrize("value", [0, -1])
def test_a_lifetime_must_be_positive(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value}, environ={})


def test_a_negative_timestamp_tolerance_is_refused():
    with pytest.raises(ConfigError, match="timestamp_tolerance"):
        load_settings({"timestamp_tolerance": -1}, environ={})


def test_a_list_of_non_strings_for_api_keys_is_refused():
    with pytest.raises(ConfigError, match="api_keys"):
        load_settings({"api_keys": [1, 2]}, environ={})


def test_config_error_is_a_value_error():
    # Callers that catch ValueError (argparse, click) see it.
    assert issubclass(ConfigError, ValueError)


# -- create_app -----------------------------------------------------------------


def first_user_id(app, api_key: str = "seeded") -> str:
    client = app.test_client()
    response = client.post(
        "/api/v0/user/create",
        json={"identifier": "seed@example.com"},
        headers={"API_KEY_ID": api_key},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["ID"]


def test_create_app_honours_the_seed():
    first = create_app({"seed": 1234})
    second = create_app({"seed": 1234})
    other = create_app({"seed": 4321})

    assert runtime_of(first).settings.seed == 1234
    assert first_user_id(first) == first_user_id(second)
    assert first_user_id(first, "other-key") == first_user_id(second, "other-key")
    assert first_user_id(first, "third-key") != first_user_id(other, "third-key")


def test_create_app_without_a_seed_is_not_reproducible():
    assert first_user_id(create_app({})) != first_user_id(create_app({}))


def test_create_app_reads_the_environment_under_its_mapping(monkeypatch):
    monkeypatch.setenv("MOCK_COTTER_SEED", "5")
    monkeypatch.setenv("MOCK_COTTER_TIMESTAMP_TOLERANCE", "30")

    app = create_app({"seed": 6})

    settings = runtime_of(app).settings
    assert settings.seed == 6
    assert settings.timestamp_tolerance == 30


def test_create_app_accepts_ready_settings_and_skips_the_environment(
    monkeypatch,
):
    monkeypatch.setenv("MOCK_COTTER_SEED", "5")

    app = create_app(Settings(seed=8))

    assert runtime_of(app).settings.seed == 8


def test_create_app_raises_config_error_for_a_bad_setting():
    with pytest.raises(ConfigError, match="refresh_reuse"):
        create_app({"refresh_reuse": "never"})
