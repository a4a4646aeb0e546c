"""Scenario fixture files: the published JSON Schema is the loader's own,
every bundled file obeys it, and a broken file stops the server from
starting with a message that names the file, the line or field path, and
what is allowed; nothing is half-loaded."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import yaml
from conftest import Api

from mock_cotter import create_app
from mock_cotter.errors import ConfigError
from mock_cotter.scenarios import load_file
from mock_cotter.scenarios.models import Scenario, json_schema
from mock_cotter.testing import TrustedDevice

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCHEMA_FILE = FIXTURES / "scenario.schema.json"
BUNDLED = sorted(
    path for path in FIXTURES.iterdir() if path.suffix in (".yaml", ".yml")
)
BUNDLED_NAMES = (
    "approved",
    "demo",
    "denied",
    "expired",
    "jwks-unavailable",
    "rate-limited",
    "refresh-revoked",
    "server-error",
    "slow-approval",
    "token-expired",
)


def as_json(value):
    """A YAML document as JSON would carry it: times as RFC 3339 text."""

    def encode(item):
        if isinstance(item, datetime.datetime):
            return item.isoformat().replace("+00:00", "Z")
        raise TypeError(f"cannot encode {item!r}")

    return json.loads(json.dumps(value, default=encode))


def schema_validator():
    # jsonschema is a test-only dependency (the test extra).
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def start_error(**config) -> str:
    """The ConfigError message of an app that must not start."""
    with pytest.raises(ConfigError) as refused:
        create_app(config)
    return str(refused.value)


# -- the published schema -----------------------------------------------------


def test_published_schema_is_generated_from_the_loaders_models():
    expected = json.dumps(json_schema(), indent=2) + "\n"

    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected


def test_every_bundled_scenario_is_there():
    assert set(BUNDLED_NAMES) <= {path.stem for path in BUNDLED}


@pytest.mark.parametrize("path", BUNDLED, ids=lambda path: path.name)
def test_bundled_file_obeys_the_published_schema(path):
    document = as_json(yaml.safe_load(path.read_text(encoding="utf-8")))

    errors = [error.message for error in schema_validator().iter_errors(document)]

    assert errors == []


@pytest.mark.parametrize("path", BUNDLED, ids=lambda path: path.name)
def test_bundled_file_loads_under_its_file_name_with_a_description(path):
    scenario = load_file(path)

    assert scenario.name == path.stem
    assert scenario.description


@pytest.mark.parametrize(
    "document",
    [
        {"pendin": {}},
        {"pending": {"outcome": "maybe"}},
        {"pending": {"after_polls": -1}},
        {"faults": [{"path": "/x", "status": 200}]},
        {"faults": [{"status": 500}]},
        {"users": [{"pin": "12"}]},
        {"users": [{"devices": [{"seed": "xyz"}]}]},
        {"rate_limits": [{"path": "/app", "per": "session", "limit": 5}]},
        {"clock": {"frozen": "yes please"}},
        {"seed": "forty-two"},
    ],
    ids=str,
)
def test_schema_and_loader_both_refuse_a_bad_document(document):
    assert not schema_validator().is_valid(document)
    with pytest.raises(ValueError):
        Scenario.model_validate(document)


def test_schema_and_loader_both_accept_a_full_document():
    document = {
        "name": "everything",
        "description": "All the fields.",
        "seed": 3,
        "clock": {"start": "2021-01-02T03:04:05Z", "frozen": True},
        "users": [
            {
                "identifier": "a@example.com",
                "pin": "1234",
                "devices": [{"sdk": "ios", "seed": "ab" * 32}],
            }
        ],
        "events": [{"user": "a@example.com", "ip": "10.0.0.1"}],
        "pending": {"outcome": "denied", "after_seconds": 3, "by": "phone"},
        "tokens": {"access_token_lifetime": 60, "extra_claims": {"role": "x"}},
        "refresh": {"reuse": "allow"},
        "faults": [{"path": "/api/v0/*", "latency": 0.1, "probability": 0.5}],
        "rate_limits": [{"path": "/app", "per": "ip", "limit": 10}],
    }

    assert schema_validator().is_valid(document)
    assert Scenario.model_validate(document).tokens.extra_claims == {"role": "x"}


# -- broken files stop the server ---------------------------------------------


def test_bad_yaml_syntax_names_the_file_and_line(tmp_path):
    path = write(
        tmp_path,
        "broken.yaml",
        "description: x\npending:\n  outcome: approved\n   after_polls: 1\n",
    )

    message = start_error(fixtures=str(tmp_path))

    assert str(path) in message
    assert "line 4" in message
    assert "YAML syntax error" in message


def test_unknown_field_names_path_line_and_allowed_fields(tmp_path):
    path = write(
        tmp_path,
        "typo.yaml",
        "description: x\npending:\n  outcome: approved\n  aftre_polls: 1\n",
    )

    message = start_error(fixtures=str(tmp_path))

    assert str(path) in message
    assert "line 4: pending.aftre_polls: unknown field" in message
    for allowed in ("after_polls", "after_seconds", "by", "lifetime", "outcome"):
        assert allowed in message


def test_unknown_top_level_field_lists_the_scenario_fields(tmp_path):
    write(tmp_path, "top.yaml", "description: x\nfautls: []\n")

    message = start_error(fixtures=str(tmp_path))

    assert "line 2: fautls: unknown field" in message
    for allowed in ("clock", "events", "faults", "pending", "rate_limits", "users"):
        assert allowed in message


def test_wrong_type_names_the_field_path_and_what_it_must_be(tmp_path):
    path = write(
        tmp_path,
        "typed.yaml",
        "users:\n  - identifier: a@example.com\n    pin: 1234\n"
        "pending:\n  after_polls: many\n",
    )

    message = start_error(fixtures=str(tmp_path))

    assert str(path) in message
    assert "line 3: users.0.pin" in message
    assert "line 5: pending.after_polls" in message
    assert "integer" in message


def test_wrong_value_in_a_list_names_its_index(tmp_path):
    write(
        tmp_path,
        "faulty.yaml",
        "faults:\n  - path: /api/v0/user/list\n    status: 500\n"
        "  - path: /api/v0/rules\n    status: 200\n",
    )

    message = start_error(fixtures=str(tmp_path))

    assert "line 5: faults.1.status" in message
    assert "400" in message


def test_event_of_an_unknown_user_is_refused(tmp_path):
    write(
        tmp_path,
        "orphan.yaml",
        "users:\n  - identifier: a@example.com\nevents:\n  - user: b@example.com\n",
    )

    message = start_error(fixtures=str(tmp_path))

    assert "'b@example.com'" in message
    assert "a@example.com" in message


def test_two_broken_files_are_both_reported(tmp_path):
    first = write(tmp_path, "first.yaml", "pending: [\n")
    second = write(tmp_path, "second.json", '{"seed": "x"}')
    write(tmp_path, "fine.yaml", "description: A good one.\n")

    message = start_error(fixtures=str(tmp_path))

    assert str(first) in message
    assert str(second) in message
    assert "fine.yaml" not in message


def test_a_broken_file_keeps_the_server_from_starting(make_server, tmp_path):
    write(tmp_path, "good.yaml", "pending:\n  outcome: denied\n")
    write(tmp_path, "bad.yaml", "pending:\n  outcome: sometimes\n")

    with pytest.raises(ConfigError) as refused:
        make_server(fixtures=str(tmp_path))

    assert "bad.yaml" in str(refused.value)
    assert "approved" in str(refused.value)  # what outcome allows


def test_bad_toml_syntax_names_the_file(tmp_path):
    path = write(tmp_path, "broken.toml", "[pending\noutcome = 'approved'\n")

    message = start_error(fixtures=str(tmp_path))

    assert str(path) in message
    assert "TOML syntax error" in message
    assert "line 1" in message


def test_bad_json_syntax_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "broken.json", '{\n  "seed": 1,\n}\n')

    message = start_error(fixtures=str(tmp_path))

    assert str(path) in message
    assert "line 3: JSON syntax error" in message


def test_a_document_that_is_not_a_mapping_is_refused(tmp_path):
    path = write(tmp_path, "list.yaml", "- approved\n- denied\n")

    message = start_error(fixtures=str(tmp_path))

    assert str(path) in message
    assert "mapping" in message


def test_a_name_that_differs_from_the_file_name_is_refused(tmp_path):
    path = write(tmp_path, "mine.yaml", "name: theirs\n")

    message = start_error(fixtures=str(tmp_path))

    assert str(path) in message
    assert "'theirs'" in message
    assert "'mine'" in message


def test_a_name_equal_to_the_file_name_is_accepted(make_server, tmp_path):
    write(tmp_path, "mine.yaml", "name: mine\ndescription: Mine.\n")

    server = make_server(fixtures=str(tmp_path))

    listed = Api(server, "k").get("/_mock/scenarios").json()
    assert {"name": "mine", "description": "Mine."} in listed


def test_a_missing_fixtures_folder_is_refused(tmp_path):
    message = start_error(fixtures=str(tmp_path / "absent"))

    assert "absent" in message


def test_an_unknown_scenario_name_lists_the_known_ones():
    message = start_error(scenario="nope")

    assert "'nope'" in message
    for name in BUNDLED_NAMES:
        assert name in message


def test_an_unknown_scenario_name_may_be_one_from_the_fixtures_folder(tmp_path):
    write(tmp_path, "mine.yaml", "description: Mine.\n")

    message = start_error(scenario="nope", fixtures=str(tmp_path))

    assert "mine" in message


def test_a_broken_scenario_file_given_as_the_scenario_is_refused(tmp_path):
    path = write(tmp_path, "chosen.yaml", "pending:\n  outcome: eventually\n")

    message = start_error(scenario=str(path))

    assert str(path) in message
    assert "pending.outcome" in message


# -- TOML and JSON scenarios work ---------------------------------------------


def first_poll(api: Api) -> dict:
    TrustedDevice.react_native(api.server.url, api.api_key).sign_up("u@example.com")
    laptop = TrustedDevice.react_native(api.server.url, api.api_key)
    pending = laptop.request_login("u@example.com")
    response = api.get(f"/event/get/{pending['ID']}", params={"oauth_token": "true"})
    assert response.status_code == 200, response.text
    return response.json()


def test_toml_and_json_scenarios_load_and_play(make_server, tmp_path):
    write(
        tmp_path,
        "from-toml.toml",
        'description = "TOML"\n[pending]\noutcome = "approved"\nafter_polls = 1\n',
    )
    write(
        tmp_path,
        "from-json.json",
        json.dumps({"description": "JSON", "pending": {"outcome": "denied"}}),
    )
    server = make_server(fixtures=str(tmp_path))
    by_toml, by_json = Api(server, "toml-key"), Api(server, "json-key")

    by_toml.put("/_mock/scenario", json={"name": "from-toml"})
    by_json.put("/_mock/scenario", json={"name": "from-json"})

    assert first_poll(by_toml)["approved"] is True
    denied = first_poll(by_json)
    assert (denied["approved"], denied["new"]) == (False, False)


def test_a_fixtures_file_may_replace_a_bundled_scenario(make_server, tmp_path):
    write(tmp_path, "approved.yaml", "pending:\n  outcome: denied\n")
    server = make_server(fixtures=str(tmp_path), scenario="approved")

    event = first_poll(Api(server, "replaced"))

    assert (event["approved"], event["new"]) == (False, False)


def test_files_with_other_suffixes_are_ignored(make_server, tmp_path):
    write(tmp_path, "README.md", "# not a scenario: {{{")
    write(tmp_path, "notes.txt", "pending: [")

    server = make_server(fixtures=str(tmp_path))

    names = {s["name"] for s in Api(server, "k").get("/_mock/scenarios").json()}
    assert "README" not in names
    assert "notes" not in names
