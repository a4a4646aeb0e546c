"""Every error answers Cotter's JSON ``{"msg": str, "type": str}``: never
HTML, never a 500 (cotter-api.md sections 2 and 13).

Flutter ``json.decode``s every error body and throws its ``msg``, so a
non-JSON error crashes it.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

UNKNOWN = "00000000-dead-4bad-8bad-000000000000"


def assert_cotter_error(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert not response.text.lstrip().startswith("<")
    body = response.json()
    assert set(body) == {"msg", "type"}, body
    assert isinstance(body["msg"], str) and body["msg"]
    assert isinstance(body["type"], str)
    return body


@pytest.fixture
def user(api) -> dict:
    return api.create_user("errors@example.com")


def event_body(api, user_ref: str, **changes) -> dict:
    body = {
        "client_user_id": user_ref,
        "issuer": api.api_key,
        "event": "LOGIN",
        "ip": "unknown",
        "location": "unknown",
        "timestamp": str(int(time.time())),
        "method": "PIN",
        "code": "123456",
        "approved": True,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
def event_id(api, user) -> int:
    response = api.post(
        "/event/create_pending",
        json=event_body(api, user["ID"], method="TRUSTED_DEVICE", code=...),
    )
    assert response.status_code == 200, response.text
    return response.json()["ID"]


def call(api, method: str, path: str, user: dict, event_id: int, **kwargs):
    return api.request(method, path.format(user=user["ID"], event=event_id), **kwargs)


# -- bodies that are not a JSON object -----------------------------------------

BODY_ENDPOINTS = [
    ("POST", "/user/create"),
    ("PUT", "/user/{user}"),
    ("PUT", "/user/methods?cotter_user_id={user}"),
    ("POST", "/event/create"),
    ("POST", "/event/create_pending"),
    ("POST", "/event/respond/{event}"),
    ("POST", "/verify/get_identity"),
    ("POST", "/token"),
]

BAD_BODIES = {
    "unquoted-keys": b"{identifier: 'x@example.com'}",
    "truncated-object": b'{"identifier": ',
    "trailing-garbage": b'{"identifier": "x@example.com"} x',
    "json-array": b'["identifier", "x@example.com"]',
    "json-string": b'"x@example.com"',
    "json-null": b"null",
    "empty": b"",
    "whitespace-only": b"  \n",
    "invalid-utf8": b'{"identifier": "\xff\xfe"}',
}


@pytest.mark.parametrize(
    ("method", "path"), BODY_ENDPOINTS, ids=[f"{m} {p}" for m, p in BODY_ENDPOINTS]
)
@pytest.mark.parametrize("raw", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_body_that_is_not_a_json_object_is_a_400(
    api, user, event_id, method, path, raw
):
    response = call(
        api,
        method,
        path,
        user,
        event_id,
        data=raw,
        headers={"Content-Type": "application/json"},
    )

    assert_cotter_error(response, 400)


def test_a_deeply_nested_json_array_is_a_400(api):
    response = api.post(
        "/user/create",
        data=b"[" * 100_000,
        headers={"Content-Type": "application/json"},
    )

    assert_cotter_error(response, 400)


def test_a_json_body_without_a_content_type_is_still_read(api):
    # Not an error: some clients send JSON as text/plain or with no type.
    response = api.post(
        "/user/create",
        data=b'{"identifier": "typeless@example.com"}',
        headers={"Content-Type": "text/plain"},
    )

    assert response.status_code == 200, response.text


# -- missing fields and parameters ---------------------------------------------

PIN = {"method": "PIN", "enrolled": True, "code": "123456"}

MISSING = [
    ("POST", "/user/create", {}, "identifier"),
    ("POST", "/user/create", {"identifiers": []}, "identifier"),
    ("POST", "/user/create", {"identifier": ""}, "identifier"),
    ("PUT", "/user/{user}", {"enrolled": True, "code": "1"}, "method"),
    ("PUT", "/user/{user}", {"method": "PIN", "code": "1"}, "enrolled"),
    ("PUT", "/user/{user}", {"method": "PIN", "enrolled": True}, "code"),
    ("PUT", "/user/methods", PIN, "cotter_user_id"),
    ("POST", "/token", {}, "grant_type"),
    ("POST", "/verify/get_identity", {"authorization_code": "c"}, "code_verifier"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    MISSING,
    ids=[f"{m} {p} {sorted(b)} lacks {f}" for m, p, b, f in MISSING],
)
def test_a_missing_field_is_a_400_naming_it(
    api, user, event_id, method, path, body, field
):
    response = call(api, method, path, user, event_id, json=body)

    assert field in assert_cotter_error(response, 400)["msg"]


@pytest.mark.parametrize(
    "field", ["client_user_id", "issuer", "event", "timestamp", "method", "code"]
)
def test_an_approved_event_without_a_required_field_is_a_400_naming_it(
    api, user, field
):
    body = event_body(api, user["ID"], **{field: ...})

    response = api.post("/event/create", json=body)

    assert field in assert_cotter_error(response, 400)["msg"]


MISSING_QUERY = [
    ("/user", "identifier"),
    ("/user?identifier=", "identifier"),
    ("/user/methods?cotter_user_id={user}", "method"),
    ("/user/methods?method=PIN", "cotter_user_id"),
    ("/event/new", "cotter_user_id"),
]


@pytest.mark.parametrize(
    ("path", "name"), MISSING_QUERY, ids=[p for p, _ in MISSING_QUERY]
)
def test_a_missing_query_parameter_is_a_400_naming_it(api, user, event_id, path, name):
    response = call(api, "GET", path, user, event_id)

    assert name in assert_cotter_error(response, 400)["msg"]


# -- fields of the wrong type ----------------------------------------------------

WRONG_TYPES = [
    ("POST", "/user/create", {"identifier": 5}, "identifier"),
    ("POST", "/user/create", {"identifier": ["x@example.com"]}, "identifier"),
    (
        "POST",
        "/user/create",
        {"client_user_id": "c", "identifiers": "x@example.com"},
        "identifiers",
    ),
    (
        "POST",
        "/user/create",
        {"client_user_id": "c", "identifiers": [1]},
        "identifiers",
    ),
    ("PUT", "/user/{user}", {**PIN, "enrolled": "yes"}, "enrolled"),
    ("PUT", "/user/{user}", {**PIN, "enrolled": 1}, "enrolled"),
    ("PUT", "/user/{user}", {**PIN, "method": 7}, "method"),
    ("PUT", "/user/{user}", {**PIN, "code": 123456}, "code"),
    ("PUT", "/user/{user}", {**PIN, "change_code": "true"}, "change_code"),
    ("PUT", "/user/{user}", {**PIN, "algorithm": {"name": "EC"}}, "algorithm"),
    (
        "POST",
        "/verify/get_identity",
        {
            "code_verifier": "v",
            "authorization_code": "c",
            "challenge_id": "x",
            "redirect_url": "http://localhost/cb",
        },
        "challenge_id",
    ),
    (
        "POST",
        "/verify/get_identity",
        {
            "code_verifier": "v",
            "authorization_code": "c",
            "challenge_id": True,
            "redirect_url": "http://localhost/cb",
        },
        "challenge_id",
    ),
    ("POST", "/token", {"grant_type": ["refresh_token"]}, "grant_type"),
    (
        "POST",
        "/token",
        {"grant_type": "refresh_token", "refresh_token": 12},
        "refresh_token",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    WRONG_TYPES,
    ids=[f"{m} {p} {f}={b[f]!r}" for m, p, b, f in WRONG_TYPES],
)
def test_a_field_of_the_wrong_type_is_a_400_naming_it(
    api, user, event_id, method, path, body, field
):
    response = call(api, method, path, user, event_id, json=body)

    assert field in assert_cotter_error(response, 400)["msg"]


EVENT_WRONG_TYPES = {
    "timestamp=true": {"timestamp": True},
    "timestamp='soon'": {"timestamp": "soon"},
    "timestamp=1.5": {"timestamp": 1.5},
    "approved='true'": {"approved": "true"},
    "issuer=1": {"issuer": 1},
    "user_id=123456": {"user_id": 123456},
    "client_user_id=null,user_id=null": {"client_user_id": None},
    "register_new_device='yes'": {"register_new_device": "yes"},
}


@pytest.mark.parametrize("path", ["/event/create", "/event/create_pending"])
@pytest.mark.parametrize(
    "changes", EVENT_WRONG_TYPES.values(), ids=EVENT_WRONG_TYPES.keys()
)
def test_an_event_field_of_the_wrong_type_is_a_400(api, user, path, changes):
    response = api.post(path, json=event_body(api, user["ID"], **changes))

    assert_cotter_error(response, 400)


@pytest.mark.parametrize("page", ["-1", "abc", "1.5", "0x10"])
def test_a_user_list_page_that_is_not_a_whole_number_is_a_400(api, page):
    response = api.get(f"/user/list?page={page}")

    assert "page" in assert_cotter_error(response, 400)["msg"]


# Python's str.isdigit() accepts these, int() does not.
UNICODE_DIGITS = [
    ("GET", "/user/list?page=\u00b2", None),
    ("GET", "/event/get/\u00b2", None),
    ("POST", "/event/create", {"timestamp": "\u00b2"}),
    ("POST", "/event/create_pending", {"timestamp": "\u00b2"}),
    (
        "POST",
        "/verify/get_identity",
        {
            "code_verifier": "v",
            "authorization_code": "c",
            "challenge_id": "\u00b9",
            "redirect_url": "http://localhost/cb",
        },
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "changes"),
    UNICODE_DIGITS,
    ids=[
        "page=superscript-2",
        "event-id=superscript-2",
        "event-timestamp=superscript-2",
        "pending-timestamp=superscript-2",
        "challenge_id=superscript-1",
    ],
)
def test_unicode_digits_where_a_number_belongs_are_a_400_not_a_crash(
    api, user, event_id, method, path, changes
):
    if changes is None:
        body = None
    elif path.startswith("/event"):
        body = event_body(api, user["ID"], **changes)
    else:
        body = changes

    response = call(api, method, path, user, event_id, json=body)

    assert_cotter_error(response, 400)


# -- unknown users and events ------------------------------------------------------

UNKNOWN_IDS = [
    ("GET", f"/user/{UNKNOWN}", None),
    ("PUT", f"/user/{UNKNOWN}", PIN),
    ("PUT", f"/user/methods?cotter_user_id={UNKNOWN}", PIN),
    ("GET", f"/user/enrolled/{UNKNOWN}/PIN", None),
    ("GET", f"/user/enrolled/any/{UNKNOWN}/TRUSTED_DEVICE", None),
    ("GET", f"/user/methods?cotter_user_id={UNKNOWN}&method=PIN", None),
    ("GET", f"/event/new/{UNKNOWN}", None),
    ("GET", f"/event/new?cotter_user_id={UNKNOWN}", None),
    ("GET", f"/event/new?client_user_id={UNKNOWN}", None),
    ("GET", "/event/get/999999", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    UNKNOWN_IDS,
    ids=[f"{m} {p.replace(UNKNOWN, '<unknown>')}" for m, p, _ in UNKNOWN_IDS],
)
def test_an_unknown_user_or_event_is_a_404(api, user, method, path, body):
    response = api.request(method, path, json=body)

    assert_cotter_error(response, 404)


@pytest.mark.parametrize("path", ["/event/create", "/event/create_pending"])
def test_an_event_for_an_unknown_user_is_a_404(api, path):
    response = api.post(path, json=event_body(api, UNKNOWN))

    assert_cotter_error(response, 404)


def test_responding_to_an_unknown_event_is_a_404(api, user):
    body = event_body(api, user["ID"], method="TRUSTED_DEVICE", code="c2ln")

    response = api.post("/event/respond/999999", json=body)

    assert_cotter_error(response, 404)


@pytest.mark.parametrize("event_ref", ["abc", "-1", "1.5", "0x1"])
def test_a_non_numeric_event_id_is_an_error(api, event_ref):
    response = api.get(f"/event/get/{event_ref}")

    body = assert_cotter_error(response, 400)
    assert event_ref in body["msg"]


def test_a_non_numeric_event_id_on_respond_is_an_error(api, user):
    body = event_body(api, user["ID"], method="TRUSTED_DEVICE", code="c2ln")

    response = api.post("/event/respond/abc", json=body)

    assert_cotter_error(response, 400)


# -- the API key -----------------------------------------------------------------

KEYED = [
    ("GET", "/user/list", None),
    ("GET", f"/user/{UNKNOWN}", None),
    ("POST", "/user/create", {"identifier": "nokey@example.com"}),
    ("GET", "/event/get/1", None),
    ("GET", "/notification/company", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), KEYED, ids=[f"{m} {p}" for m, p, _ in KEYED]
)
@pytest.mark.parametrize(
    "headers", [{}, {"API_KEY_ID": ""}], ids=["no-header", "empty-header"]
)
def test_a_missing_api_key_id_is_a_401(server, method, path, body, headers):
    response = requests.request(
        method, server.api_url + path, json=body, headers=headers, timeout=10
    )

    assert "API_KEY_ID" in assert_cotter_error(response, 401)["msg"]


@pytest.mark.parametrize(
    ("method", "path", "body"), KEYED, ids=[f"{m} {p}" for m, p, _ in KEYED]
)
def test_an_api_key_not_in_the_configured_list_is_a_403(
    make_server, method, path, body
):
    server = make_server(api_keys=["allowed"])

    response = requests.request(
        method,
        server.api_url + path,
        json=body,
        headers={"API_KEY_ID": "intruder"},
        timeout=10,
    )

    assert "intruder" in assert_cotter_error(response, 403)["msg"]


def test_the_configured_api_key_is_let_in(make_server):
    server = make_server(api_keys=["allowed", "also-allowed"])

    responses = [
        requests.get(
            server.api_url + "/user/list", headers={"API_KEY_ID": key}, timeout=10
        )
        for key in ("allowed", "also-allowed")
    ]

    assert [r.status_code for r in responses] == [200, 200]


def test_a_token_path_key_that_differs_from_the_header_is_a_400(api):
    response = api.post(
        "/token/someone-else",
        json={"grant_type": "refresh_token", "refresh_token": "1:x"},
    )

    assert "someone-else" in assert_cotter_error(response, 400)["msg"]


# -- routes and methods ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v0/nope",
        "/api/v0/user/enrolled/someone",
        "/api/v1/user/list",
        "/api/v0/event/get/",
        "/favicon.ico",
    ],
)
def test_an_unknown_route_is_a_json_404(api, server, path):
    response = api.session.get(server.url + path, timeout=10)

    assert path in assert_cotter_error(response, 404)["msg"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/event/create", "POST"),
        ("GET", "/event/create_pending", "POST"),
        ("GET", "/verify/get_identity", "POST"),
        ("DELETE", "/event/get/1", "GET"),
        ("PATCH", "/user/someone", "PUT"),
        ("POST", "/user/enrolled/any/someone/TRUSTED_DEVICE", "GET"),
    ],
)
def test_an_unsupported_method_is_a_405_with_an_allow_header(
    api, method, path, allowed
):
    response = api.request(method, path)

    body = assert_cotter_error(response, 405)
    allow = [m.strip() for m in response.headers["Allow"].split(",")]
    assert allowed in allow
    assert method not in allow
    assert method in body["msg"] and allowed in body["msg"]


# -- issuer ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/event/create", "/event/create_pending"])
def test_an_issuer_other_than_the_api_key_id_header_is_a_400(api, user, path):
    body = event_body(api, user["ID"], issuer="someone-else")

    response = api.post(path, json=body)

    error = assert_cotter_error(response, 400)
    assert "issuer" in error["msg"]
    assert "someone-else" in error["msg"]


def test_a_response_with_another_issuer_is_a_400(api, user, event_id):
    body = event_body(
        api, user["ID"], issuer="someone-else", method="TRUSTED_DEVICE", code="c2ln"
    )

    response = api.post(f"/event/respond/{event_id}", json=body)

    assert "issuer" in assert_cotter_error(response, 400)["msg"]


def test_an_unused_api_key_header_is_not_an_error(server):
    # Any key is accepted when none are configured: a new key is a new,
    # empty namespace.
    response = requests.get(
        server.api_url + "/user/list",
        headers={"API_KEY_ID": f"fresh-{uuid.uuid4()}"},
        timeout=10,
    )

    assert response.status_code == 200
    assert response.json() == []
