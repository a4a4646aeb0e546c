"""Key material: bundled, generated (seeded or not) and loaded from a file."""

from __future__ import annotations

import json

import jwt
import pytest

from mock_cotter.errors import ConfigError
from mock_cotter.keys import KeySet


def test_bundled_keys_are_stable_across_loads():
    assert KeySet.load().jwk() == KeySet.load().jwk()


def test_seeded_keys_are_reproducible_and_differ_by_seed():
    first, again, other = KeySet.generate(3), KeySet.generate(3), KeySet.generate(4)

    assert first.jwk() == again.jwk()
    assert first.event_public_key() == again.event_public_key()
    assert first.jwk() != other.jwk()
    assert first.jwk() != KeySet.load().jwk()


def test_a_written_key_file_loads_back(tmp_path):
    keys = KeySet.generate()
    path = tmp_path / "keys.json"
    path.write_text(keys.to_json())

    loaded = KeySet.load(str(path))

    assert loaded.jwk() == keys.jwk()
    assert loaded.event_public_key() == keys.event_public_key()
    assert loaded.source == str(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "is not valid"),
        ("{}", "jwt_private_key"),
        (json.dumps({"jwt_private_key": "x", "event_private_key": "y"}), "not valid"),
    ],
    ids=["garbage", "empty-object", "not-pem"],
)
def test_a_broken_key_file_names_the_file_and_what_it_needs(tmp_path, content, reason):
    path = tmp_path / "keys.json"
    path.write_text(content)

    with pytest.raises(ConfigError, match=reason) as raised:
        KeySet.load(str(path))

    assert str(path) in str(raised.value)


def test_a_key_file_with_the_wrong_curves_is_refused(tmp_path):
    keys = json.loads(KeySet.generate().to_json())
    keys["jwt_private_key"], keys["event_private_key"] = (
        keys["event_private_key"],
        keys["jwt_private_key"],
    )
    path = tmp_path / "swapped.json"
    path.write_text(json.dumps(keys))

    with pytest.raises(ConfigError, match="P-256"):
        KeySet.load(str(path))


def test_a_server_with_generated_keys_signs_with_them(make_server):
    from conftest import Api

    server = make_server(generate_keys=True, seed=11)
    api = Api(server, "generated")
    token = api.mint()
    expected = KeySet.generate(11)

    assert api.get("/token/jwks").json() == expected.jwks()
    claims = jwt.decode(
        token["access_token"],
        jwt.PyJWK(expected.jwk()),
        algorithms=["ES256"],
        audience="generated",
    )
    assert claims["aud"] == "generated"


def test_a_server_with_a_key_file_publishes_its_keys(make_server, tmp_path):
    from conftest import Api

    keys = KeySet.generate()
    path = tmp_path / "keys.json"
    path.write_text(keys.to_json())

    published = Api(make_server(key_file=str(path)), "k").get("/_mock/keys").json()

    assert published["jwks"] == keys.jwks()
    assert published["event_public_key"] == keys.event_public_key()
