"""The admin API under ``/_mock``: reset, events answered as the user's
phone, the request journal (bounded, filtered, secrets redacted), faults,
and validation of every admin body."""

from __future__ import annotations

import json
import time

import jwt
import pytest
import requests
from conftest import Api

from mock_cotter.testing import CotterHTTPError, TrustedDevice

REDACTED = "[redacted]"
REDIRECT_URL = "http://localhost:3000/callback"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # of VERIFIER


def journal(api: Api, **params) -> list[dict]:
    response = api.get("/_mock/requests", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def own_journal(api: Api, **params) -> list[dict]:
    return journal(api, api_key=api.api_key, **params)


def set_faults(api: Api, *faults: dict, everyone: bool = False) -> None:
    headers = {"API_KEY_ID": ""} if everyone else None
    response = api.put("/_mock/faults", json={"faults": list(faults)}, headers=headers)
    assert response.status_code == 200, response.text


def user_with_phone(api: Api, identifier: str = "user@example.com"):
    phone = TrustedDevice.react_native(api.server.url, api.api_key)
    phone.sign_up(identifier)
    return phone


def ask_for_login(api: Api, identifier: str = "user@example.com") -> dict:
    laptop = TrustedDevice.react_native(api.server.url, api.api_key)
    return laptop.request_login(identifier)


def poll(api: Api, event_id: int) -> dict:
    response = api.get(f"/event/get/{event_id}", params={"oauth_token": "true"})
    assert response.status_code == 200, response.text
    return response.json()


def user_count(api: Api) -> int:
    response = api.get("/user/list")
    assert response.status_code == 200, response.text
    return len(response.json())


# -- reset --------------------------------------------------------------------


def test_reset_of_one_key_leaves_other_keys_untouched(server):
    gone, kept = Api(server, "reset-gone"), Api(server, "reset-kept")
    try:
        for api in (gone, kept):
            api.put("/_mock/scenario", json={"name": "denied"})
            api.create_user("someone@example.com")
            api.put("/_mock/clock", json={"frozen": True})

        response = gone.post("/_mock/reset")

        assert response.json() == {"reset": "reset-gone"}
        assert user_count(gone) == 0
        assert gone.get("/_mock/scenario").json()["name"] == "default"
        assert gone.get("/_mock/clock").json()["frozen"] is False
        assert user_count(kept) == 1
        assert kept.get("/_mock/scenario").json()["name"] == "denied"
        assert kept.get("/_mock/clock").json()["frozen"] is True
    finally:
        for api in (gone, kept):
            server.runtime.reset(api.api_key)
            api.close()


def test_reset_names_the_key_in_the_body_too(api):
    api.create_user()
    response = requests.post(
        api.url("/_mock/reset"), json={"api_key": api.api_key}, timeout=10
    )

    assert response.json() == {"reset": api.api_key}
    assert user_count(api) == 0


def test_reset_without_a_key_forgets_everything(make_server):
    server = make_server()
    one, two = Api(server, "one"), Api(server, "two")
    for api in (one, two):
        api.create_user()
    server.runtime.clock.freeze()
    server.runtime.clock.set(1_600_000_000)
    assert journal(one)

    response = requests.post(server.url + "/_mock/reset", timeout=10)

    assert response.json() == {"reset": "everything"}
    assert journal(one) == []
    assert user_count(one) == 0
    assert user_count(two) == 0
    server_clock = requests.get(server.url + "/_mock/clock", timeout=10).json()
    assert abs(server_clock["now"] - time.time()) < 5
    assert server_clock["frozen"] is False


# -- events, answered as the user's phone -------------------------------------


def test_events_lists_the_keys_events_with_bookkeeping(api):
    user_with_phone(api)
    pending = ask_for_login(api)
    poll(api, pending["ID"])

    listed = api.get("/_mock/events").json()

    assert [e["ID"] for e in listed] == [pending["ID"]]
    assert listed[0]["api_key"] == api.api_key
    assert listed[0]["new"] is True
    assert (listed[0]["polls"], listed[0]["answered_by"]) == (1, None)
    assert listed[0]["expired"] is False


def test_admin_approve_gives_the_next_poll_approval_and_tokens(api):
    user_with_phone(api)
    pending = ask_for_login(api)

    answer = api.post(f"/_mock/events/{pending['ID']}/approve")
    event = poll(api, pending["ID"])

    assert answer.status_code == 200
    assert answer.json()["answered_by"] == "admin"
    assert (event["approved"], event["new"]) == (True, False)
    jwks = api.get("/token/jwks").json()
    claims = jwt.decode(
        event["oauth_token"]["access_token"],
        jwt.PyJWK(jwks["keys"][0]),
        algorithms=["ES256"],
        audience=api.api_key,
    )
    assert claims["identifier"] == "user@example.com"


def test_admin_deny_gives_the_next_poll_a_refusal(api):
    user_with_phone(api)
    pending = ask_for_login(api)

    answer = api.post(f"/_mock/events/{pending['ID']}/deny")
    event = poll(api, pending["ID"])

    assert answer.status_code == 200
    assert (event["approved"], event["new"]) == (False, False)
    assert "oauth_token" not in event


def test_admin_expire_ends_the_request_for_poller_and_phone(api):
    phone = user_with_phone(api)
    pending = ask_for_login(api)

    answer = api.post(f"/_mock/events/{pending['ID']}/expire")
    event = poll(api, pending["ID"])

    assert answer.status_code == 200
    assert answer.json()["expired"] is True
    assert (event["approved"], event["new"]) == (False, False)
    with pytest.raises(CotterHTTPError) as refused:
        phone.approve(event)
    assert refused.value.status == 400
    assert refused.value.body["type"] == "event_expired"


def test_an_unknown_event_action_is_a_404_listing_the_actions(api):
    user_with_phone(api)
    pending = ask_for_login(api)

    response = api.post(f"/_mock/events/{pending['ID']}/shrug")

    assert response.status_code == 404
    msg = response.json()["msg"]
    assert all(action in msg for action in ("approve", "deny", "expire"))
    assert poll(api, pending["ID"])["new"] is True


def test_answering_an_answered_event_again_is_a_400(api):
    user_with_phone(api)
    pending = ask_for_login(api)
    api.post(f"/_mock/events/{pending['ID']}/deny")

    response = api.post(f"/_mock/events/{pending['ID']}/approve")

    assert response.status_code == 400
    assert response.json()["type"] == "event_answered"
    assert poll(api, pending["ID"])["approved"] is False


def test_acting_on_an_unknown_event_is_a_404(api):
    response = api.post("/_mock/events/999/approve")

    assert response.status_code == 404
    assert response.json()["type"] == "event_not_found"


def test_acting_on_an_event_needs_the_api_key(api):
    user_with_phone(api)
    pending = ask_for_login(api)

    response = api.post(
        f"/_mock/events/{pending['ID']}/approve", headers={"API_KEY_ID": ""}
    )

    assert response.status_code == 400
    assert "API_KEY_ID" in response.json()["msg"]


# -- the journal --------------------------------------------------------------


def test_journal_keeps_only_the_newest_entries(make_server):
    api = Api(make_server(journal_size=5), "bounded")
    for n in range(8):
        api.create_user(f"user{n}@example.com")

    entries = journal(api)

    assert [e["request"]["identifier"] for e in entries] == [
        f"user{n}@example.com" for n in range(3, 8)
    ]
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5


def test_journal_does_not_record_mock_endpoints(make_server):
    api = Api(make_server(), "quiet")
    api.get("/_mock/clock")
    api.get("/_mock/events")

    assert journal(api) == []


def test_journal_entry_describes_the_exchange(api):
    api.create_user("described@example.com")

    [entry] = own_journal(api)

    assert (entry["method"], entry["path"], entry["status"]) == (
        "POST",
        "/api/v0/user/create",
        200,
    )
    assert entry["request"] == {"identifier": "described@example.com"}
    assert entry["response"]["identifier"] == "described@example.com"
    assert entry["scenario"] == "default"
    assert entry["fault"] is None


@pytest.fixture
def busy(make_server) -> tuple[Api, Api]:
    """A server whose journal holds requests from two keys."""
    server = make_server()
    one, two = Api(server, "key-one"), Api(server, "key-two")
    one.create_user("a@example.com")
    one.get("/user/list")
    one.get("/user", params={"identifier": "a@example.com"})
    two.get("/user/list")
    two.get("/rules")
    return one, two


def test_journal_filters_by_path_glob(busy):
    one, _ = busy

    entries = journal(one, path="/api/v0/user/*")

    assert [(e["api_key"], e["path"]) for e in entries] == [
        ("key-one", "/api/v0/user/create"),
        ("key-one", "/api/v0/user/list"),
        ("key-two", "/api/v0/user/list"),
    ]


def test_journal_filters_by_method(busy):
    one, _ = busy

    entries = journal(one, method="post")

    assert [e["path"] for e in entries] == ["/api/v0/user/create"]


def test_journal_filters_by_api_key(busy):
    one, two = busy

    assert {e["api_key"] for e in journal(one, api_key="key-two")} == {"key-two"}
    assert len(journal(one, api_key="key-one")) == 3
    assert len(journal(one, api_key="key-two")) == 2


def test_journal_limit_keeps_the_newest(busy):
    one, _ = busy

    newest = journal(one, limit=2)

    assert [e["path"] for e in newest] == ["/api/v0/user/list", "/api/v0/rules"]
    assert journal(one, limit=0) == []
    assert [e["path"] for e in journal(one, api_key="key-one", limit=1)] == [
        "/api/v0/user"
    ]


def test_journal_limit_must_be_a_whole_number(busy):
    one, _ = busy

    response = one.get("/_mock/requests", params={"limit": "some"})

    assert response.status_code == 400
    assert "limit" in response.json()["msg"]


def test_delete_clears_the_journal(busy):
    one, _ = busy

    response = one.delete("/_mock/requests")

    assert response.status_code == 200
    assert journal(one) == []


def test_delete_of_one_keys_journal_keeps_the_others(busy):
    one, _ = busy

    one.delete("/_mock/requests", params={"api_key": "key-one"})

    assert {e["api_key"] for e in journal(one)} == {"key-two"}


def journal_text(api: Api) -> str:
    return json.dumps(own_journal(api))


def test_journal_redacts_device_signatures(api):
    phone = user_with_phone(api)
    event = phone.login("user@example.com")
    assert event["approved"] is True

    [entry] = own_journal(api, path="/api/v0/event/create")

    assert entry["request"]["code"] == REDACTED
    assert entry["request"]["public_key"] == phone.public_key
    assert event["signature"] not in journal_text(api)


def test_journal_redacts_pins(api):
    user = api.create_user()
    pin = "975318"
    enrolled = api.put(
        f"/user/{user['client_user_id']}",
        json={"method": "PIN", "enrolled": True, "code": pin},
    )
    assert enrolled.status_code == 200, enrolled.text
    login = api.post(
        "/event/create",
        json={
            "client_user_id": user["client_user_id"],
            "issuer": api.api_key,
            "event": "LOGIN",
            "ip": "unknown",
            "location": "unknown",
            "timestamp": str(int(api.get("/_mock/clock").json()["now"])),
            "method": "PIN",
            "code": pin,
            "approved": True,
        },
    )
    assert login.json()["approved"] is True

    [enrollment] = own_journal(api, method="PUT")
    [event] = own_journal(api, path="/api/v0/event/create")

    assert enrollment["request"]["code"] == REDACTED
    assert event["request"]["code"] == REDACTED
    assert pin not in journal_text(api)


def test_journal_redacts_refresh_tokens_in_requests_and_responses(api):
    minted = api.mint()
    refreshed = api.post(
        f"/token/{api.api_key}",
        json={"grant_type": "refresh_token", "refresh_token": minted["refresh_token"]},
    )
    assert refreshed.status_code == 200

    [entry] = own_journal(api, path="/api/v0/token/*")

    assert entry["request"]["refresh_token"] == REDACTED
    assert entry["response"]["refresh_token"] == REDACTED
    assert entry["response"]["access_token"] == refreshed.json()["access_token"]
    text = journal_text(api)
    assert minted["refresh_token"] not in text
    assert refreshed.json()["refresh_token"] not in text


def test_journal_redacts_refresh_tokens_inside_polled_events(api):
    api.put("/_mock/scenario", json={"name": "approved"})
    user_with_phone(api)
    event = poll(api, ask_for_login(api)["ID"])

    [entry] = own_journal(api, path="/api/v0/event/get/*")

    assert entry["response"]["oauth_token"]["refresh_token"] == REDACTED
    assert event["oauth_token"]["refresh_token"] not in journal_text(api)


def test_journal_redacts_the_api_secret_key_header(api):
    secret = "s3cr3t-api-secret-key-value"

    api.get("/user/list", headers={"API_SECRET_KEY": secret})

    [entry] = own_journal(api)
    names = {name.lower().replace("-", "_") for name in entry["headers"]}
    assert "api_secret_key" in names
    assert secret not in journal_text(api)


def test_journal_redacts_pkce_secrets(api):
    page = api.get(
        "/app",
        params={
            "api_key": api.api_key,
            "redirect_url": REDIRECT_URL,
            "code_challenge": CHALLENGE,
            "input": "pkce@example.com",
        },
        allow_redirects=False,
    )
    query = dict(
        part.split("=", 1) for part in page.headers["Location"].split("?")[1].split("&")
    )
    identity = api.post(
        "/verify/get_identity",
        json={
            "code_verifier": VERIFIER,
            "authorization_code": query["code"],
            "challenge_id": int(query["challenge_id"]),
            "redirect_url": REDIRECT_URL,
        },
    )
    assert identity.status_code == 200, identity.text

    [entry] = own_journal(api, path="/api/v0/verify/*")

    assert entry["request"]["code_verifier"] == REDACTED
    assert entry["request"]["authorization_code"] == REDACTED
    assert entry["response"]["oauth_token"]["refresh_token"] == REDACTED
    text = journal_text(api)
    assert VERIFIER not in text
    assert identity.json()["oauth_token"]["refresh_token"] not in text


# -- faults -------------------------------------------------------------------


def test_status_fault_answers_a_cotter_shaped_error(api):
    set_faults(api, {"path": "/api/v0/user/list", "status": 503})

    response = api.get("/user/list")

    assert response.status_code == 503
    assert set(response.json()) == {"msg", "type"}
    assert own_journal(api)[-1]["fault"] == "status 503"


def test_status_fault_answers_a_custom_body(api):
    body = {"msg": "Slow down", "type": "custom"}
    set_faults(api, {"path": "/api/v0/user/list", "status": 418, "body": body})

    response = api.get("/user/list")

    assert response.status_code == 418
    assert response.json() == body


def test_malformed_fault_answers_broken_json(api):
    set_faults(api, {"path": "/api/v0/user/list", "malformed": True})

    response = api.get("/user/list")

    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert own_journal(api)[-1]["fault"] == "malformed"


def test_drop_fault_closes_the_connection(api):
    set_faults(api, {"path": "/api/v0/user/list", "drop": True, "times": 1})

    with pytest.raises(requests.ConnectionError):
        requests.get(
            api.url("/user/list"), headers={"API_KEY_ID": api.api_key}, timeout=10
        )

    assert api.get("/user/list").status_code == 200
    assert [e["fault"] for e in own_journal(api)] == ["drop", None]


def test_latency_fault_still_answers_and_is_journaled(api):
    set_faults(api, {"path": "/api/v0/user/list", "latency": 0.05})

    response = api.get("/user/list")

    assert response.status_code == 200
    assert response.json() == []
    assert own_journal(api)[-1]["fault"] == "latency 0.05s"


def statuses(api: Api, path: str, calls: int) -> list[int]:
    return [api.get(path).status_code for _ in range(calls)]


def test_fault_skip_lets_calls_through_first(api):
    set_faults(api, {"path": "/api/v0/user/list", "status": 500, "skip": 2})

    assert statuses(api, "/user/list", 4) == [200, 200, 500, 500]


def test_fault_times_stops_after_that_many_calls(api):
    set_faults(api, {"path": "/api/v0/user/list", "status": 500, "times": 2})

    assert statuses(api, "/user/list", 4) == [500, 500, 200, 200]


def test_fault_skip_and_times_together(api):
    set_faults(api, {"path": "/api/v0/user/list", "status": 500, "skip": 1, "times": 1})

    assert statuses(api, "/user/list", 3) == [200, 500, 200]


def test_fault_method_limits_it_to_that_method(api):
    set_faults(api, {"path": "/api/v0/user*", "method": "get", "status": 500})

    assert api.get("/user/list").status_code == 500
    assert api.post("/user/create", json={"identifier": "p@example.com"}).ok


def test_fault_path_glob_matches_only_its_paths(api):
    set_faults(api, {"path": "/api/v0/event/*", "status": 500})

    assert api.get("/event/get/1").status_code == 500
    assert api.get("/user/list").status_code == 200


def failing_calls(seed: int, make_server) -> list[int]:
    """Which of 40 calls a 30 % fault hits, on a fresh server."""
    api = Api(make_server(seed=seed), "dice")
    set_faults(api, {"path": "/api/v0/user/list", "status": 500, "probability": 0.3})
    codes = statuses(api, "/user/list", 40)
    assert set(codes) <= {200, 500}
    return [n for n, code in enumerate(codes) if code == 500]


def test_fault_probability_is_repeatable_with_the_same_seed(make_server):
    first = failing_calls(7, make_server)
    second = failing_calls(7, make_server)

    assert first == second
    assert 0 < len(first) < 40


def test_fault_probability_differs_with_another_seed(make_server):
    assert failing_calls(7, make_server) != failing_calls(8, make_server)


def test_faults_of_one_key_leave_other_keys_alone(api, server):
    set_faults(api, {"path": "/api/v0/*", "status": 500})
    other = Api(server, api.api_key + "-other")
    try:
        assert api.get("/user/list").status_code == 500
        assert other.get("/user/list").status_code == 200
    finally:
        other.close()
        server.runtime.reset(other.api_key)


def test_server_wide_faults_hit_every_key_but_never_mock_endpoints(make_server):
    server = make_server()
    one, two = Api(server, "one"), Api(server, "two")
    set_faults(one, {"path": "*", "status": 500}, everyone=True)

    assert one.get("/user/list").status_code == 500
    assert two.get("/user/list").status_code == 500
    for path in ("/_mock/health", "/_mock/clock", "/_mock/events", "/_mock/requests"):
        assert one.get(path).status_code == 200, path
    assert one.get("/_mock/faults", headers={"API_KEY_ID": ""}).json() == {
        "api_key": None,
        "faults": [{"path": "*", "status": 500}],
    }


def test_delete_faults_ends_them(api):
    set_faults(api, {"path": "/api/v0/user/list", "status": 500})
    assert api.get("/user/list").status_code == 500

    response = api.delete("/_mock/faults")

    assert response.status_code == 200
    assert api.get("/_mock/faults").json()["faults"] == []
    assert api.get("/user/list").status_code == 200


def test_putting_faults_replaces_the_previous_ones(api):
    set_faults(api, {"path": "/api/v0/user/list", "status": 500})

    set_faults(api, {"path": "/api/v0/rules", "status": 502})

    assert api.get("/user/list").status_code == 200
    assert api.get("/rules").status_code == 502


# -- every admin body is validated --------------------------------------------

BAD_BODIES = [
    ("PUT", "/_mock/faults", {"fault": []}, "fault"),
    ("PUT", "/_mock/faults", {"faults": [{"path": "/x", "stauts": 500}]}, "stauts"),
    (
        "PUT",
        "/_mock/faults",
        {"faults": [{"path": "/x", "status": "five hundred"}]},
        "faults.0.status",
    ),
    ("PUT", "/_mock/faults", {"faults": [{"status": 500}]}, "faults.0.path"),
    (
        "PUT",
        "/_mock/faults",
        {"faults": [{"path": "/x", "status": 500, "probability": 2}]},
        "faults.0.probability",
    ),
    (
        "PUT",
        "/_mock/faults",
        {"faults": [{"path": "/x", "status": 500, "drop": True}]},
        "choose one of status, malformed and drop",
    ),
    (
        "PUT",
        "/_mock/faults",
        {"faults": [{"path": "/x"}]},
        "a fault needs status, malformed, drop or latency",
    ),
    ("PUT", "/_mock/faults", {"faults": [{"path": "/x", "times": 0}]}, "times"),
    ("PUT", "/_mock/clock", {"frozen": "maybe"}, "frozen"),
    ("POST", "/_mock/clock/advance", {"seconds": "ten"}, "seconds"),
    ("POST", "/_mock/reset", {"api_kye": "x"}, "api_kye"),
    ("POST", "/_mock/tokens", {"identifier": "a@b.c", "variant": "bad"}, "variant"),
    ("POST", "/_mock/tokens", {"identifier": "a@b.c", "lifetime": "long"}, "lifetime"),
    ("POST", "/_mock/tokens", {"identifier": "a@b.c", "claims": {}}, "claims"),
    (
        "PUT",
        "/_mock/scenario",
        {"scenario": {"pending": {"outcome": "maybe"}}},
        "pending.outcome",
    ),
    (
        "PUT",
        "/_mock/scenario",
        {"scenario": {"tokens": {"acess_token_lifetime": 5}}},
        "tokens.acess_token_lifetime",
    ),
    (
        "PUT",
        "/_mock/scenario",
        {"scenario": {"users": [{"pin": 1234}]}},
        "users.0.pin",
    ),
    ("PUT", "/_mock/scenario", {"name": "denied", "extra": 1}, "name"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "problem"),
    BAD_BODIES,
    ids=[f"{m} {p} {problem}" for m, p, _, problem in BAD_BODIES],
)
def test_a_bad_admin_body_is_a_400_saying_what_is_wrong(
    api, method, path, body, problem
):
    response = api.request(method, path, json=body)

    assert response.status_code == 400, response.text
    assert problem in response.json()["msg"]
    assert response.json()["type"]


def test_an_unknown_admin_field_lists_the_allowed_ones(api):
    response = api.put("/_mock/faults", json={"faults": [{"path": "/x", "stuts": 1}]})

    msg = response.json()["msg"]
    assert "unknown field" in msg
    for allowed in ("status", "malformed", "drop", "latency", "probability"):
        assert allowed in msg


def test_a_rejected_admin_body_changes_nothing(api):
    set_faults(api, {"path": "/api/v0/rules", "status": 502})

    api.put("/_mock/faults", json={"faults": [{"path": "/x", "status": "bad"}]})
    api.put("/_mock/scenario", json={"scenario": {"pending": {"outcome": "no"}}})

    assert api.get("/rules").status_code == 502
    assert api.get("/_mock/scenario").json()["name"] == "default"


def test_an_admin_body_that_is_not_json_is_a_400(api):
    response = api.put(
        "/_mock/faults", data=b"faults: []", headers={"Content-Type": "text/yaml"}
    )

    assert response.status_code == 400
    assert response.json()["msg"]
