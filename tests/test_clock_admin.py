"""The virtual clock over HTTP and from Python: the server's clock, each API
key's own clock, and everything that reads them (token times, events and
their expiry, refresh-token lifetime, device timestamp freshness)."""

from __future__ import annotations

import time

import jwt
import pytest
from conftest import Api

from mock_cotter.testing import TrustedDevice

T0 = 1_600_000_000  # 2020-09-13T12:26:40Z
DAY = 24 * 3600


def clock(api: Api, *, key: bool = True) -> dict:
    """GET /_mock/clock: the key's clock, or the server's with key=False."""
    headers = None if key else {"API_KEY_ID": ""}
    response = api.get("/_mock/clock", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def set_clock(api: Api, *, key: bool = True, **body) -> dict:
    headers = None if key else {"API_KEY_ID": ""}
    response = api.put("/_mock/clock", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def advance(api: Api, seconds: float) -> dict:
    response = api.post("/_mock/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text
    return response.json()


def freeze_at(api: Api, now: float, *, key: bool = True) -> None:
    """Freeze, then set: a frozen clock is set to exactly ``now``."""
    set_clock(api, key=key, frozen=True)
    set_clock(api, key=key, now=now)


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# -- GET / PUT /_mock/clock ---------------------------------------------------


def test_the_clock_is_real_time_by_default(make_server):
    api = Api(make_server(), "real-key")

    before = time.time()
    server_clock, key_clock = clock(api, key=False), clock(api)
    after = time.time()

    for each in (server_clock, key_clock):
        assert before <= each["now"] <= after
        assert each["frozen"] is False


def test_put_clock_with_unix_seconds_and_frozen_stops_exactly_there(make_server):
    api = Api(make_server(), "unix-key")

    answer = set_clock(api, key=False, now=T0, frozen=True)

    assert answer == {"now": T0, "iso": "2020-09-13T12:26:40.000000Z", "frozen": True}
    time.sleep(0.01)
    assert clock(api, key=False)["now"] == T0


def test_put_clock_with_an_rfc3339_time(make_server):
    api = Api(make_server(), "rfc-key")
    set_clock(api, key=False, frozen=True)

    answer = set_clock(api, key=False, now="2021-01-02T03:04:05Z")

    assert answer["now"] == 1_609_556_645
    assert answer["iso"] == "2021-01-02T03:04:05.000000Z"


def test_put_clock_with_an_rfc3339_offset_time(make_server):
    api = Api(make_server(), "offset-key")
    set_clock(api, key=False, frozen=True)

    answer = set_clock(api, key=False, now="2021-01-02T05:04:05+02:00")

    assert answer["now"] == 1_609_556_645


def test_unfreezing_lets_the_clock_run_from_where_it_stood(make_server):
    api = Api(make_server(), "thaw-key")
    freeze_at(api, T0)

    answer = set_clock(api, frozen=False)
    time.sleep(0.01)
    later = clock(api)

    assert answer["frozen"] is False
    assert T0 < later["now"] < T0 + 5
    assert later["frozen"] is False


def test_a_running_clock_set_in_the_past_keeps_ticking(make_server):
    api = Api(make_server(), "past-key")

    set_clock(api, now=T0)
    first = clock(api)["now"]
    time.sleep(0.01)
    second = clock(api)["now"]

    assert T0 <= first < second < T0 + 5


def test_advance_moves_the_clock_forward(make_server):
    api = Api(make_server(), "advance-key")
    freeze_at(api, T0)

    answer = advance(api, 90.5)

    assert answer["now"] == T0 + 90.5
    assert answer["frozen"] is True
    assert clock(api)["now"] == T0 + 90.5


def test_advance_moves_a_running_clock_too(make_server):
    api = Api(make_server(), "running-advance-key")

    before = time.time()
    answer = advance(api, 3600)

    assert before + 3600 <= answer["now"] < time.time() + 3600 + 1
    assert answer["frozen"] is False


# -- per-key clocks and the server clock --------------------------------------


def test_changing_one_keys_clock_leaves_other_keys_alone(make_server):
    server = make_server()
    mover, other = Api(server, "mover"), Api(server, "other")

    freeze_at(mover, T0)

    assert clock(mover)["now"] == T0
    assert abs(clock(other)["now"] - time.time()) < 5
    assert abs(clock(mover, key=False)["now"] - time.time()) < 5


def test_server_clock_moves_keys_that_never_set_their_own(make_server):
    server = make_server()
    follower, own = Api(server, "follower"), Api(server, "own")
    freeze_at(own, T0)
    clock(follower)  # the key's clock exists, following the server's

    freeze_at(follower, T0 + DAY, key=False)

    assert clock(follower) == {
        "now": T0 + DAY,
        "iso": "2020-09-14T12:26:40.000000Z",
        "frozen": True,
    }
    assert clock(own)["now"] == T0
    assert clock(Api(server, "newcomer"))["now"] == T0 + DAY


def test_server_clock_advance_moves_following_keys(make_server):
    server = make_server()
    follower = Api(server, "follower")
    freeze_at(follower, T0, key=False)

    follower.post(
        "/_mock/clock/advance", json={"seconds": 60}, headers={"API_KEY_ID": ""}
    )

    assert clock(follower)["now"] == T0 + 60


def test_a_key_stops_following_the_server_once_it_sets_its_clock(make_server):
    server = make_server()
    api = Api(server, "detached")
    freeze_at(api, T0, key=False)
    advance(api, 10)  # the key's own clock, from the server's time

    set_clock(api, key=False, now=T0 + DAY)

    assert clock(api)["now"] == T0 + 10


def test_reset_of_a_key_makes_its_clock_follow_the_server_again(make_server):
    server = make_server()
    api = Api(server, "reset-clock")
    freeze_at(api, T0)

    api.post("/_mock/reset")

    assert abs(clock(api)["now"] - time.time()) < 5
    assert clock(api)["frozen"] is False


# -- Python control -----------------------------------------------------------


def test_python_server_clock_is_what_http_reports(make_server):
    server = make_server()
    api = Api(server, "python-key")

    server.runtime.clock.freeze()
    server.runtime.clock.set(T0)

    assert clock(api, key=False)["now"] == T0
    assert clock(api)["now"] == T0
    server.runtime.clock.advance(5)
    assert clock(api)["now"] == T0 + 5


def test_python_key_clock_is_what_http_reports_for_that_key(make_server):
    server = make_server()
    api, other = Api(server, "python-key"), Api(server, "other-key")

    key_clock = server.runtime.clock_for(api.api_key)
    key_clock.freeze()
    key_clock.set(T0)

    assert clock(api)["now"] == T0
    assert clock(api)["frozen"] is True
    assert abs(clock(other)["now"] - time.time()) < 5
    advance(api, 30)
    assert server.runtime.clock_for(api.api_key).now() == T0 + 30


# -- what the clock drives ----------------------------------------------------


def test_the_keys_clock_sets_token_iat_and_exp(api):
    freeze_at(api, T0)

    first = api.mint()
    advance(api, 100)
    second = api.mint()

    for token, issued in ((first, T0), (second, T0 + 100)):
        for kind in ("access_token", "id_token"):
            assert claims(token[kind])["iat"] == issued
            assert claims(token[kind])["exp"] == issued + 3600


def test_the_keys_clock_sets_event_timestamps(api):
    freeze_at(api, T0)
    phone = TrustedDevice.react_native(
        api.server.url, api.api_key, clock=lambda: clock(api)["now"]
    )
    phone.sign_up("user@example.com")

    event = phone.login("user@example.com")

    assert event["approved"] is True
    assert event["timestamp"] == str(T0)
    assert event["created_at"] == "2020-09-13T12:26:40.000000Z"
    assert claims(event["oauth_token"]["access_token"])["iat"] == T0


def test_the_keys_clock_expires_a_waiting_request(api):
    api.put("/_mock/scenario", json={"scenario": {"pending": {"lifetime": 120}}})
    freeze_at(api, T0)
    phone = TrustedDevice.react_native(
        api.server.url, api.api_key, clock=lambda: clock(api)["now"]
    )
    phone.sign_up("user@example.com")
    pending = phone.request_login("user@example.com")
    poll = f"/event/get/{pending['ID']}"

    advance(api, 119)
    still_waiting = api.get(poll).json()
    advance(api, 1)
    expired = api.get(poll).json()

    assert still_waiting["new"] is True
    assert (expired["new"], expired["approved"]) == (False, False)
    listed = api.get("/_mock/events").json()
    assert [e["expired"] for e in listed if e["ID"] == pending["ID"]] == [True]
    assert expired["updated_at"] == "2020-09-13T12:28:40.000000Z"


def refresh(api: Api, refresh_token: str):
    return api.post(
        f"/token/{api.api_key}",
        json={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )


def test_the_keys_clock_ends_a_refresh_tokens_lifetime(api):
    freeze_at(api, T0)
    kept, lapsed = api.mint(), api.mint()
    advance(api, 30 * DAY - 1)

    assert refresh(api, kept["refresh_token"]).status_code == 200
    advance(api, 1)
    response = refresh(api, lapsed["refresh_token"])

    assert response.status_code == 400
    assert "expired" in response.json()["msg"]


def test_device_signing_with_real_time_is_refused_a_day_ahead(api):
    set_clock(api, now=time.time() + DAY)
    phone = TrustedDevice.react_native(api.server.url, api.api_key)
    phone.sign_up("user@example.com")

    event = phone.login("user@example.com")

    assert event["approved"] is False
    assert "oauth_token" not in event


def test_device_signing_with_the_virtual_time_is_accepted_a_day_ahead(api):
    set_clock(api, now=time.time() + DAY)
    phone = TrustedDevice.react_native(api.server.url, api.api_key)
    phone.sign_up("user@example.com")
    phone.clock = lambda: clock(api)["now"]

    event = phone.login("user@example.com")

    assert event["approved"] is True
    assert abs(int(event["timestamp"]) - (time.time() + DAY)) < 60


# -- bad bodies ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/_mock/clock", {"now": "next tuesday"}, "now"),
        ("/_mock/clock", {"now": [1]}, "now"),
        ("/_mock/clock", {"frozen": "maybe"}, "frozen"),
        ("/_mock/clock", {"nwo": T0}, "nwo"),
        ("/_mock/clock/advance", {}, "seconds"),
        ("/_mock/clock/advance", {"seconds": "ten"}, "seconds"),
        ("/_mock/clock/advance", {"seconds": 10, "minutes": 1}, "minutes"),
    ],
)
def test_a_bad_clock_body_is_a_400_naming_the_field(api, path, body, field):
    before = clock(api)
    method = api.put if path == "/_mock/clock" else api.post

    response = method(path, json=body)

    assert response.status_code == 400
    assert response.json()["type"] == "invalid_body"
    assert field in response.json()["msg"]
    assert clock(api)["frozen"] == before["frozen"]
    assert abs(clock(api)["now"] - before["now"]) < 5


def test_an_unknown_clock_field_lists_the_allowed_ones(api):
    response = api.put("/_mock/clock", json={"nwo": T0})

    msg = response.json()["msg"]
    assert "unknown field" in msg
    assert "frozen" in msg
    assert "now" in msg.replace("nwo", "")


def test_a_clock_body_that_is_not_json_is_a_400(api):
    response = api.put(
        "/_mock/clock", data=b"{now:", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["msg"]
