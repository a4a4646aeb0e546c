"""Every bundled scenario, played through real HTTP by a client that behaves
like the Cotter SDKs: it polls a pending login once per second of virtual
time, and refreshes its tokens once the access token has expired by the
virtual clock. Then how a scenario is chosen, and seeded determinism."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable

import jwt
import pytest
import requests
from conftest import Api

from mock_cotter import MockCotterServer
from mock_cotter.testing import CotterHTTPError, TrustedDevice

MAX_POLLS = 60
DEMO_SEED = bytes.fromhex("01" * 32)
BUNDLED = (
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
COTTER_ISSUER = "https://www.cotter.app"


# -- an SDK-like client -------------------------------------------------------


def play(api: Api, scenario: str | dict) -> None:
    """Make ``api``'s key play a scenario, by name or inline document."""
    body = {"name": scenario} if isinstance(scenario, str) else {"scenario": scenario}
    response = api.put("/_mock/scenario", json=body)
    assert response.status_code == 200, response.text


def virtual_now(api: Api) -> float:
    """The API key's virtual clock."""
    response = api.get("/_mock/clock")
    assert response.status_code == 200, response.text
    return response.json()["now"]


def virtual_clock(api: Api) -> Callable[[], float]:
    """A ``clock=`` for :class:`TrustedDevice` that reads the key's clock."""
    return lambda: virtual_now(api)


class RefreshRefused(Exception):
    def __init__(self, response: requests.Response):
        self.response = response
        super().__init__(response.text)


class SdkClient:
    """The app on an untrusted device, as the SDKs write it: after asking for
    approval it polls ``/event/get`` every second (here: of virtual time,
    moved by the admin API, so nothing sleeps), and before using its tokens
    it refreshes them when the access token's ``exp`` has passed."""

    def __init__(self, api: Api):
        self.api = api
        self.polls = 0

    def wait_one_second(self) -> None:
        response = self.api.post("/_mock/clock/advance", json={"seconds": 1})
        assert response.status_code == 200, response.text

    def poll(self, event_id: int) -> dict:
        response = self.api.get(
            f"/event/get/{event_id}", params={"oauth_token": "true"}
        )
        assert response.status_code == 200, response.text
        self.polls += 1
        return response.json()

    def wait_for_answer(self, event_id: int) -> dict:
        """Poll until the event is answered, or for ``MAX_POLLS`` polls."""
        for _ in range(MAX_POLLS):
            event = self.poll(event_id)
            if event["approved"] or not event["new"]:
                return event
            self.wait_one_second()
        return event

    def usable_tokens(self, oauth_token: dict) -> dict:
        """``oauth_token`` itself, or a refreshed one if it has expired."""
        claims = unverified(oauth_token["access_token"])
        if claims["exp"] >= virtual_now(self.api):
            return oauth_token
        response = self.api.post(
            f"/token/{self.api.api_key}",
            json={
                "grant_type": "refresh_token",
                "refresh_token": oauth_token["refresh_token"],
            },
        )
        if response.status_code != 200:
            raise RefreshRefused(response)
        return response.json()


def unverified(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def jwks_key(api: Api) -> jwt.PyJWK:
    response = api.get("/token/jwks")
    assert response.status_code == 200, response.text
    return jwt.PyJWK(response.json()["keys"][0])


def verify_at(api: Api, token: str, now: float) -> dict:
    """Verify ``token`` with PyJWT; its times against the virtual ``now``."""
    claims = jwt.decode(
        token,
        jwks_key(api),
        algorithms=["ES256"],
        audience=api.api_key,
        issuer=COTTER_ISSUER,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["exp"] > now, f"expired at {claims['exp']}, now is {now}"
    assert claims["iat"] <= now
    return claims


def phone_user(api: Api, identifier: str = "user@example.com") -> TrustedDevice:
    """A user signed up on a trusted phone that signs with virtual time."""
    phone = TrustedDevice.react_native(
        api.server.url, api.api_key, clock=virtual_clock(api)
    )
    phone.sign_up(identifier)
    return phone


def ask_for_login(api: Api, identifier: str = "user@example.com") -> dict:
    """An untrusted device asks the user's phone to approve a login."""
    laptop = TrustedDevice.react_native(
        api.server.url, api.api_key, clock=virtual_clock(api)
    )
    pending = laptop.request_login(identifier)
    assert pending["new"] is True
    return pending


# -- pending-login scenarios --------------------------------------------------


def test_approved_scenario_approves_with_tokens_on_the_first_poll(api):
    play(api, "approved")
    phone_user(api)
    client = SdkClient(api)

    event = client.wait_for_answer(ask_for_login(api)["ID"])

    assert client.polls == 1
    assert (event["approved"], event["new"]) == (True, False)
    claims = verify_at(api, event["oauth_token"]["access_token"], virtual_now(api))
    assert claims["identifier"] == "user@example.com"


def test_denied_scenario_denies_on_the_first_poll_without_tokens(api):
    play(api, "denied")
    phone_user(api)
    client = SdkClient(api)

    event = client.wait_for_answer(ask_for_login(api)["ID"])

    assert client.polls == 1
    assert (event["approved"], event["new"]) == (False, False)
    assert "oauth_token" not in event


def test_expired_scenario_expires_the_request_after_30_virtual_seconds(api):
    play(api, "expired")
    # Frozen, so that only the client's one-second steps move it.
    api.put("/_mock/clock", json={"frozen": True})
    phone = phone_user(api)
    client = SdkClient(api)
    asked_at = virtual_now(api)

    event = client.wait_for_answer(ask_for_login(api)["ID"])

    # Polls at 0, 1, ... 29 s still wait; the one at 30 s sees it expired.
    assert client.polls == 31
    assert virtual_now(api) - asked_at == 30
    assert (event["approved"], event["new"]) == (False, False)
    assert "oauth_token" not in event
    with pytest.raises(CotterHTTPError) as refused:
        phone.approve(event)
    assert refused.value.status == 400
    assert refused.value.body["type"] == "event_expired"


def test_expired_scenario_keeps_the_request_waiting_before_30_seconds(api):
    play(api, "expired")
    api.put("/_mock/clock", json={"frozen": True})
    phone_user(api)
    client = SdkClient(api)
    event_id = ask_for_login(api)["ID"]

    for _ in range(29):
        client.wait_one_second()
    event = client.poll(event_id)

    assert (event["approved"], event["new"]) == (False, True)


def test_slow_approval_scenario_approves_on_the_fifth_poll(api):
    play(api, "slow-approval")
    phone_user(api)
    client = SdkClient(api)

    event = client.wait_for_answer(ask_for_login(api)["ID"])

    assert client.polls == 5
    assert (event["approved"], event["new"]) == (True, False)
    verify_at(api, event["oauth_token"]["access_token"], virtual_now(api))


# -- token scenarios ----------------------------------------------------------


def test_token_expired_scenario_issues_an_expired_first_access_token(api):
    play(api, "token-expired")
    # The key's clock is real time here, so PyJWT's own clock agrees.
    api.put("/_mock/clock", json={"now": time.time()})
    phone = TrustedDevice.react_native(
        api.server.url, api.api_key, clock=virtual_clock(api)
    )

    first = phone.sign_up("user@example.com")["oauth_token"]

    now = virtual_now(api)
    assert unverified(first["access_token"])["exp"] < now
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(
            first["access_token"],
            jwks_key(api),
            algorithms=["ES256"],
            audience=api.api_key,
            issuer=COTTER_ISSUER,
        )


def test_token_expired_scenario_refresh_gives_valid_tokens(api):
    play(api, "token-expired")
    phone = TrustedDevice.react_native(
        api.server.url, api.api_key, clock=virtual_clock(api)
    )
    first = phone.sign_up("user@example.com")["oauth_token"]
    client = SdkClient(api)

    tokens = client.usable_tokens(first)

    assert tokens["refresh_token"] != first["refresh_token"]
    now = virtual_now(api)
    verify_at(api, tokens["access_token"], now)
    verify_at(api, tokens["id_token"], now)
    # Later logins are fine too: only the first token set is expired.
    later = phone.login("user@example.com")
    assert later["approved"] is True
    verify_at(api, later["oauth_token"]["access_token"], virtual_now(api))


def test_refresh_revoked_scenario_refuses_the_refresh_as_revoked(api):
    play(api, "refresh-revoked")
    phone = phone_user(api)
    tokens = phone.login("user@example.com")["oauth_token"]
    client = SdkClient(api)
    assert client.usable_tokens(tokens) is tokens  # still valid: no refresh
    api.post("/_mock/clock/advance", json={"seconds": 3601})

    with pytest.raises(RefreshRefused) as refused:
        client.usable_tokens(tokens)

    assert refused.value.response.status_code == 400
    msg = refused.value.response.json()["msg"]
    assert "not valid" in msg
    assert "revoked" in msg


# -- rate limits (spec section 13) --------------------------------------------


def open_login_page(api: Api, identifier: str | None) -> requests.Response:
    params = {
        "api_key": api.api_key,
        "redirect_url": "http://localhost:3000/callback",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    }
    if identifier is not None:
        params["input"] = identifier
    return api.get("/app", params=params, allow_redirects=False)


def assert_rate_limited(response: requests.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == "300"
    body = response.json()
    assert set(body) == {"msg", "type"}
    assert body["msg"]


def test_rate_limited_scenario_refuses_the_11th_login_page_from_one_ip(api):
    play(api, "rate-limited")
    answers = [
        open_login_page(api, f"user{n}@example.com").status_code for n in range(10)
    ]

    eleventh = open_login_page(api, "user10@example.com")

    assert answers == [302] * 10
    assert_rate_limited(eleventh)


def test_rate_limited_scenario_refuses_the_6th_login_for_one_identifier(api):
    play(api, "rate-limited")
    answers = [open_login_page(api, "same@example.com").status_code for _ in range(5)]

    sixth = open_login_page(api, "same@example.com")

    assert answers == [302] * 5
    assert_rate_limited(sixth)
    # Another identifier from the same IP is still under both limits.
    assert open_login_page(api, "other@example.com").status_code == 302


def test_rate_limited_scenario_allows_again_after_five_virtual_minutes(api):
    play(api, "rate-limited")
    for _ in range(5):
        open_login_page(api, "same@example.com")
    assert_rate_limited(open_login_page(api, "same@example.com"))

    api.post("/_mock/clock/advance", json={"seconds": 300})

    assert open_login_page(api, "same@example.com").status_code == 302


def test_rate_limited_page_visits_without_identifier_count_only_per_ip(api):
    # The page makes up a different user for each visit without `input`:
    # none of them shares an identifier, so only the IP limit (10) applies.
    play(api, "rate-limited")

    answers = [open_login_page(api, None).status_code for _ in range(10)]

    assert answers == [302] * 10
    assert_rate_limited(open_login_page(api, None))


# -- faults -------------------------------------------------------------------


def test_jwks_unavailable_scenario_fails_only_the_jwks_endpoint(api):
    play(api, "jwks-unavailable")

    jwks = api.get("/token/jwks")

    assert jwks.status_code == 503
    assert jwks.json() == {"msg": "Service Unavailable", "type": ""}
    # Everything else works, tokens included.
    tokens = api.mint()
    refreshed = api.post(
        f"/token/{api.api_key}",
        json={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 200
    assert api.get("/user/list").status_code == 200


def test_jwks_unavailable_as_server_scenario_fails_jwks_fetched_without_key(
    make_server,
):
    # Flutter and the Python SDK fetch the JWKS with no API_KEY_ID header.
    server = make_server(scenario="jwks-unavailable")

    response = requests.get(server.api_url + "/token/jwks", timeout=10)

    assert response.status_code == 503
    assert response.json() == {"msg": "Service Unavailable", "type": ""}


def api_endpoints(server: MockCotterServer) -> list[tuple[str, str]]:
    """Every (method, path) the Cotter blueprint serves, ids filled in."""
    endpoints = []
    for rule in server.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v0"):
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", "1")
            path = path.replace(f"<path:{argument}>", "1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            endpoints.append((method, path.removeprefix("/api/v0")))
    return endpoints


def test_server_error_scenario_fails_every_cotter_endpoint_with_500(api):
    play(api, "server-error")
    endpoints = api_endpoints(api.server)
    assert len(endpoints) > 10

    failures = {}
    for method, path in endpoints:
        response = api.request(method, path, json={})
        failures[(method, path)] = (
            response.status_code,
            tuple(sorted(response.json())),
        )

    assert set(failures.values()) == {(500, ("msg", "type"))}, failures
    page = open_login_page(api, "user@example.com")
    assert page.status_code == 500


def test_server_error_scenario_leaves_the_mock_endpoints_working(api):
    play(api, "server-error")

    assert api.get("/_mock/health").status_code == 200
    assert api.get("/_mock/clock").status_code == 200
    assert api.get("/_mock/events").json() == []
    assert api.get("/_mock/scenario").json()["name"] == "server-error"
    # A test can switch back over /_mock.
    play(api, "default")
    assert api.get("/user/list").status_code == 200


# -- the demo scenario --------------------------------------------------------


def demo_phone(api: Api) -> TrustedDevice:
    return TrustedDevice.react_native(
        api.server.url, api.api_key, seed=DEMO_SEED, clock=virtual_clock(api)
    )


def test_demo_scenario_clock_starts_at_its_fixture_time(api):
    play(api, "demo")

    now = virtual_now(api)

    assert 1591934833 <= now < 1591934833 + 60  # 2020-06-12T04:07:13Z


def test_demo_scenario_phone_logs_in_with_its_seeded_key(api):
    play(api, "demo")

    event = demo_phone(api).login("alice@example.com")

    assert event["approved"] is True
    claims = verify_at(api, event["oauth_token"]["access_token"], virtual_now(api))
    assert claims["identifier"] == "alice@example.com"


def test_demo_scenario_phone_sees_and_approves_the_waiting_request(api):
    play(api, "demo")
    phone = demo_phone(api)
    phone.login("alice@example.com")

    pending = phone.pending_request()

    assert pending is not None
    assert (pending["new"], pending["event"]) == (True, "LOGIN")
    # Made up from the seed, not the SDKs' "unknown".
    assert pending["ip"] not in ("", "unknown")
    assert pending["location"] not in ("", "unknown")
    answered = phone.approve(pending)
    assert (answered["approved"], answered["new"]) == (True, False)
    polled = SdkClient(api).poll(pending["ID"])
    assert "oauth_token" in polled


def test_demo_scenario_user_logs_in_with_pin_1234(api):
    play(api, "demo")
    user = api.get("/user", params={"identifier": "alice@example.com"}).json()

    def pin_login(pin: str) -> dict:
        body = {
            "client_user_id": user["client_user_id"],
            "issuer": api.api_key,
            "event": "LOGIN",
            "ip": "unknown",
            "location": "unknown",
            "timestamp": str(int(virtual_now(api))),
            "method": "PIN",
            "code": pin,
            "approved": True,
        }
        response = api.post("/event/create", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    assert pin_login("1234")["approved"] is True
    assert pin_login("4321")["approved"] is False


# -- choosing a scenario ------------------------------------------------------


def first_poll(api: Api) -> dict:
    """Sign a user up, ask for a login and poll once."""
    phone_user(api)
    return SdkClient(api).poll(ask_for_login(api)["ID"])


def test_scenario_chosen_in_create_app_config_applies_to_every_key(make_server):
    server = make_server(scenario="denied")

    for key in ("key-one", "key-two"):
        event = first_poll(Api(server, key))
        assert (event["approved"], event["new"]) == (False, False)


def test_scenario_chosen_by_environment_variable(make_server, monkeypatch):
    monkeypatch.setenv("MOCK_COTTER_SCENARIO", "denied")
    server = make_server()
    api = Api(server, "env-key")

    assert api.get("/_mock/scenario").json()["name"] == "denied"
    event = first_poll(api)
    assert (event["approved"], event["new"]) == (False, False)


def test_scenario_chosen_by_file_path(make_server, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("pending:\n  outcome: approved\n  after_polls: 2\n")
    server = make_server(scenario=str(path))
    api = Api(server, "file-key")
    phone_user(api)
    client = SdkClient(api)

    event = client.wait_for_answer(ask_for_login(api)["ID"])

    assert client.polls == 2
    assert event["approved"] is True


def test_default_scenario_leaves_a_request_waiting(api):
    event = first_poll(api)

    assert (event["approved"], event["new"]) == (False, True)


def test_two_keys_play_different_scenarios_at_once(server):
    by_name = Api(server, "by-name-key")
    inline = Api(server, "inline-key")
    try:
        play(by_name, "approved")
        play(inline, {"pending": {"outcome": "denied", "after_polls": 3}})
        phone_user(by_name)
        phone_user(inline)
        named_client, inline_client = SdkClient(by_name), SdkClient(inline)
        named_id, inline_id = ask_for_login(by_name)["ID"], ask_for_login(inline)["ID"]

        named = named_client.wait_for_answer(named_id)
        denied = inline_client.wait_for_answer(inline_id)

        assert (named_client.polls, named["approved"]) == (1, True)
        assert (inline_client.polls, denied["approved"], denied["new"]) == (
            3,
            False,
            False,
        )
        assert inline.get("/_mock/scenario").json()["pending"]["outcome"] == "denied"
    finally:
        for api in (by_name, inline):
            server.runtime.reset(api.api_key)
            api.close()


def test_scenario_header_applies_to_one_request_only(api):
    headers = {"X-Mock-Cotter-Scenario": "server-error"}

    with_header = api.get("/user/list", headers=headers)
    without = api.get("/user/list")

    assert with_header.status_code == 500
    assert without.status_code == 200
    assert api.get("/_mock/scenario").json()["name"] == "default"


def test_scenario_header_answers_a_waiting_request_for_that_poll(api):
    phone_user(api)
    event_id = ask_for_login(api)["ID"]
    client = SdkClient(api)
    assert client.poll(event_id)["new"] is True

    response = api.get(
        f"/event/get/{event_id}",
        params={"oauth_token": "true"},
        headers={"X-Mock-Cotter-Scenario": "approved"},
    )

    assert response.status_code == 200
    assert response.json()["approved"] is True
    assert "oauth_token" in response.json()


def test_unknown_scenario_name_is_a_400_listing_the_known_ones(api):
    response = api.put("/_mock/scenario", json={"name": "nope"})

    assert response.status_code == 400
    msg = response.json()["msg"]
    assert "'nope'" in msg
    for name in BUNDLED:
        assert name in msg
    assert api.get("/_mock/scenario").json()["name"] == "default"


def test_unknown_scenario_in_header_is_a_400_listing_the_known_ones(api):
    response = api.get("/user/list", headers={"X-Mock-Cotter-Scenario": "nope"})

    assert response.status_code == 400
    msg = response.json()["msg"]
    assert "nope" in msg
    for name in BUNDLED:
        assert name in msg


def test_unknown_scenario_in_header_is_a_400_on_routes_without_a_user_too(api):
    response = api.get("/token/jwks", headers={"X-Mock-Cotter-Scenario": "nope"})

    assert response.status_code == 400
    assert "nope" in response.json()["msg"]


def test_scenario_header_naming_a_file_plays_that_files_faults(api, tmp_path):
    path = tmp_path / "lists-fail.yaml"
    path.write_text(
        "faults:\n  - path: /api/v0/user/list\n    status: 503\n",
        encoding="utf-8",
    )

    with_header = api.get("/user/list", headers={"X-Mock-Cotter-Scenario": str(path)})

    assert with_header.status_code == 503
    assert api.get("/user/list").status_code == 200


def test_every_bundled_scenario_is_listed(api):
    listed = {s["name"]: s["description"] for s in api.get("/_mock/scenarios").json()}

    assert set(BUNDLED) <= set(listed)
    assert all(listed[name] for name in BUNDLED)


# -- determinism --------------------------------------------------------------

DETERMINISM_KEY = "determinism-key"
FROZEN = "2021-03-04T05:06:07Z"
MADE_UP = {
    "clock": {"start": FROZEN, "frozen": True},
    "users": [
        {
            "identifier": "carol@example.com",
            "devices": [{"sdk": "android", "seed": "02" * 32}],
        },
        {"pin": "2468"},
    ],
    "events": [{"user": "carol@example.com"}, {"user": "carol@example.com"}],
}


def run_session(server: MockCotterServer, scenario: str | dict) -> list[bytes]:
    """One fixed sequence of requests; the raw bodies of the answers."""
    api = Api(server, DETERMINISM_KEY)
    play(api, scenario)
    # Frozen first, then set: the clock stands at exactly FROZEN.
    api.put("/_mock/clock", json={"frozen": True})
    api.put("/_mock/clock", json={"now": FROZEN})
    bodies = []
    for n in range(2):
        page = api.get(
            "/app",
            params={
                "api_key": api.api_key,
                "redirect_url": "http://localhost:3000/callback",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "state": f"s{n}",
            },
            allow_redirects=False,
        )
        bodies.append(page.content)
        location = urllib.parse.urlsplit(page.headers["Location"])
        query = dict(urllib.parse.parse_qsl(location.query))
        identity = api.post(
            "/verify/get_identity",
            json={
                "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                "authorization_code": query["code"],
                "challenge_id": int(query["challenge_id"]),
                "redirect_url": "http://localhost:3000/callback",
            },
        )
        assert identity.status_code == 200, identity.text
        bodies.append(identity.content)
    users = api.get("/user/list")
    bodies.append(users.content)
    for user in users.json():
        bodies.append(api.get(f"/event/new/{user['client_user_id']}").content)
    bodies.append(api.get("/_mock/events").content)
    api.close()
    return bodies


def test_same_seed_gives_byte_identical_responses(make_server):
    first = run_session(make_server(seed=5), MADE_UP)
    second = run_session(make_server(seed=5), MADE_UP)

    assert first == second
    events = json.loads(first[-1])
    assert len(events) == 2
    assert all(e["ip"] != "unknown" and e["location"] != "unknown" for e in events)


def test_different_seeds_give_different_made_up_data(make_server):
    first = run_session(make_server(seed=5), MADE_UP)
    second = run_session(make_server(seed=6), MADE_UP)

    made_up = [json.loads(first[1])["user"], json.loads(second[1])["user"]]
    assert made_up[0]["identifier"] != made_up[1]["identifier"]
    assert json.loads(first[-1])[0]["ip"] != json.loads(second[-1])[0]["ip"]


def test_demo_scenario_seed_gives_byte_identical_responses(make_server):
    # No server seed: the demo scenario's own seed makes the data.
    first = run_session(make_server(), "demo")
    second = run_session(make_server(), "demo")

    assert first == second
