"""TrustedDevice without a server: key formats, signatures and the wire form.

HTTP goes to a fake ``http.client`` connection that records each request
byte for byte and answers from a script.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_der_public_key

from mock_cotter.signatures import (
    decode_url_public_key,
    device_event_message,
    enroll_device_message,
    normalize_key,
    verify_device_signature,
)
from mock_cotter.testing import CotterHTTPError, TrustedDevice

BASE_URL = "http://cotter.test:5000"
API_KEY = "aaf7319d-8f91-4752-a23f-c43ba862d548"
NOW = 1591935918
SEED = bytes(range(32))

# A legacy user whose client_user_id differs from its Cotter ID, so tests
# can tell which of the two each SDK sends and signs.
USER = {
    "ID": "61e51b1b-55cd-4b00-9cc0-4b71fa0eb00f",
    "client_user_id": "legacy-client-42",
    "issuer": API_KEY,
    "identifier": "user@example.com",
    "enrolled": ["TRUSTED_DEVICE"],
}
ENROLLED = {"enrolled": True, "method": "TRUSTED_DEVICE"}
NOT_ENROLLED = {"enrolled": False, "method": "TRUSTED_DEVICE"}

IOS_HEADER = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")

# A user created from an identifier only: client_user_id equals ID.
NEW_USER = {**USER, "client_user_id": USER["ID"]}

# The id each SDK signs in with (section 8.2).
SIGNING_ID = {
    "react-native": USER["client_user_id"],
    "flutter": USER["ID"],
    "android": USER["client_user_id"],
    "ios": USER["ID"],
}

# The id each SDK approves with: Flutter and iOS copy it from the event.
RESPOND_ID = {**SIGNING_ID, "ios": USER["client_user_id"]}


@dataclass
class Sent:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes | None

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def raw_query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def json(self) -> Any:
        assert self.body is not None
        return json.loads(self.body)


@dataclass
class FakeWire:
    """Stands in for the network: records requests, replays scripted replies."""

    sent: list[Sent] = field(default_factory=list)
    replies: list[tuple[int, bytes]] = field(default_factory=list)

    def reply(self, payload: Any, status: int = 200) -> None:
        self.replies.append((status, json.dumps(payload).encode()))

    def connection(self, host: str, port: int | None, timeout: float) -> _FakeConn:
        assert (host, port) == ("cotter.test", 5000)
        return _FakeConn(self)


class _FakeResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = body

    def read(self) -> bytes:
        return self._body


class _FakeConn:
    def __init__(self, wire: FakeWire) -> None:
        self.wire = wire

    def request(self, method, target, body=None, headers=None) -> None:
        self.wire.sent.append(Sent(method, target, dict(headers or {}), body))

    def getresponse(self) -> _FakeResponse:
        assert self.wire.replies, "unexpected extra request"
        return _FakeResponse(*self.wire.replies.pop(0))

    def close(self) -> None:
        pass


@pytest.fixture
def wire(monkeypatch) -> FakeWire:
    fake = FakeWire()
    monkeypatch.setattr(http.client, "HTTPConnection", fake.connection)
    return fake


def make(sdk: str, seed: bytes | None = SEED, **options: Any) -> TrustedDevice:
    return TrustedDevice(
        sdk, BASE_URL, API_KEY, seed=seed, clock=lambda: NOW, **options
    )


def trusted(sdk: str, **options: Any) -> TrustedDevice:
    device = make(sdk, **options)
    device.user = dict(USER)
    return device


def pending_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "ID": 610152,
        "user_id": USER["ID"],
        "client_user_id": USER["client_user_id"],
        "issuer": API_KEY,
        "event": "LOGIN",
        "ip": "73.15.208.6",
        "location": "Orinda",
        "timestamp": "1591935000",
        "method": "TRUSTED_DEVICE",
        "new": True,
        "approved": False,
    }
    event.update(overrides)
    return event


def assert_signed_event(body: dict[str, Any], algorithm: str, approved: bool) -> None:
    """Check the body's code the way the server must (section 6)."""
    uid = body["user_id"] if "user_id" in body else body["client_user_id"]
    message = device_event_message(
        uid, body["issuer"], body["event"], body["timestamp"], body["method"], approved
    )
    assert verify_device_signature(body["public_key"], algorithm, message, body["code"])


SDKS = TrustedDevice.SDKS


# --- construction -------------------------------------------------------------


def test_sdk_names_are_the_four_official_mobile_sdks():
    assert set(SDKS) == {"react-native", "flutter", "android", "ios"}


@pytest.mark.parametrize(
    ("factory", "sdk"),
    [
        (TrustedDevice.react_native, "react-native"),
        (TrustedDevice.flutter, "flutter"),
        (TrustedDevice.android, "android"),
        (TrustedDevice.ios, "ios"),
    ],
)
def test_named_constructors_build_the_matching_sdk(factory, sdk):
    device = factory(BASE_URL, API_KEY, seed=SEED)

    assert device.sdk == sdk
    assert device.public_key == make(sdk).public_key


def test_unknown_sdk_is_rejected_with_the_known_names():
    with pytest.raises(ValueError, match="react-native, flutter, android, ios"):
        TrustedDevice("windows-phone", BASE_URL, API_KEY)


def test_base_url_must_be_http():
    with pytest.raises(ValueError, match="http"):
        TrustedDevice("android", "cotter.test:5000", API_KEY)


@pytest.mark.parametrize("sdk", SDKS)
def test_seed_makes_the_key_reproducible(sdk):
    assert make(sdk).public_key == make(sdk).public_key
    assert make(sdk).public_key != make(sdk, seed=b"\x01" * 32).public_key
    assert make(sdk, seed=None).public_key != make(sdk, seed=None).public_key


@pytest.mark.parametrize("sdk", SDKS)
def test_seed_must_be_32_bytes(sdk):
    with pytest.raises(ValueError, match="32 bytes"):
        make(sdk, seed=b"short")


# --- public-key text formats (section 8.1) ------------------------------------


@pytest.mark.parametrize("sdk", ["react-native", "flutter"])
def test_ed25519_key_is_padded_base64_of_32_raw_bytes(sdk):
    device = make(sdk)

    assert device.algorithm == "ED25519"
    assert len(device.public_key) == 44
    assert device.public_key.endswith("=")
    raw = base64.b64decode(device.public_key, validate=True)
    ed25519.Ed25519PublicKey.from_public_bytes(raw)


def test_android_key_is_spki_der_wrapped_at_76_columns_with_final_newline():
    device = make("android")

    lines = device.public_key.split("\n")
    assert device.algorithm == "EC"
    assert [len(line) for line in lines] == [76, 48, 0]
    der = base64.b64decode("".join(lines), validate=True)
    key = load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)


def test_ios_key_is_fixed_header_and_point_in_64_column_lines_plus_newline():
    device = make("ios")

    lines = device.public_key.split("\n")
    assert device.algorithm == "EC"
    assert [len(line) for line in lines] == [64, 60, 0]
    raw = base64.b64decode("".join(lines), validate=True)
    assert raw[:26] == IOS_HEADER
    assert len(raw) == 26 + 65
    assert raw[26] == 0x04


# --- signatures -----------------------------------------------------------


@pytest.mark.parametrize("sdk", SDKS)
def test_signature_verifies_under_the_enrollment_algorithm(sdk):
    device = make(sdk)
    message = "uidissLOGIN1591935918TRUSTED_DEVICEtrue"

    signature = device.sign(message)

    assert verify_device_signature(
        device.public_key, device.algorithm, message, signature
    )
    assert not verify_device_signature(
        device.public_key, device.algorithm, message + "x", signature
    )


@pytest.mark.parametrize("sdk", SDKS)
def test_signature_verifies_under_the_qr_algorithm_label(sdk):
    device = make(sdk)

    signature = device.sign("hello")

    assert verify_device_signature(
        device.public_key, device.qr_algorithm, "hello", signature
    )


@pytest.mark.parametrize("sdk", ["react-native", "flutter"])
def test_ed25519_signature_is_unwrapped_base64_of_64_bytes(sdk):
    signature = make(sdk).sign("hello")

    assert len(base64.b64decode(signature, validate=True)) == 64


def test_android_signature_is_der_wrapped_like_base64_default():
    signature = make("android").sign("hello")

    assert signature.endswith("\n")
    assert all(len(line) <= 76 for line in signature.split("\n"))
    der = base64.b64decode(signature.replace("\n", ""), validate=True)
    assert der[0] == 0x30


def test_ios_signature_is_der_in_unwrapped_base64():
    signature = make("ios").sign("hello")

    assert "\n" not in signature
    assert base64.b64decode(signature, validate=True)[0] == 0x30


# --- QR text (section 10) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("sdk", "algorithm", "user_field"),
    [
        ("react-native", "ED25519", "ID"),
        ("flutter", "ED25519", "ID"),
        ("android", "EC", "client_user_id"),
        ("ios", "ECDSA", "client_user_id"),
    ],
)
def test_qr_code_is_key_algorithm_api_key_user_and_time(sdk, algorithm, user_field):
    device = make(sdk)

    text = device.qr_code(USER)

    assert text.split(":") == [
        device.public_key,
        algorithm,
        API_KEY,
        USER[user_field],
        str(NOW),
    ]
    assert device.user == USER


@pytest.mark.parametrize("sdk", ["android", "ios"])
def test_qr_key_keeps_its_embedded_newlines(sdk):
    text = make(sdk).qr_code(USER)

    assert text.count("\n") == 2
    assert "\n:" in text


# --- enrolled-check URL encodings (section 9) --------------------------------------


def test_react_native_checks_enrollment_in_path_with_padded_base64url(wire):
    device = make("react-native")
    wire.reply(ENROLLED)

    assert device.is_enrolled(USER)

    sent = wire.sent[0]
    prefix = f"/api/v0/user/enrolled/{USER['client_user_id']}/TRUSTED_DEVICE/"
    assert sent.target.startswith(prefix)
    encoded = sent.target[len(prefix) :]
    assert encoded.endswith("=")
    assert decode_url_public_key(encoded) == device.public_key


def test_android_path_encoding_covers_the_key_newlines(wire):
    device = make("android")
    wire.reply(ENROLLED)

    device.is_enrolled(USER)

    encoded = wire.sent[0].path.rsplit("/", 1)[1]
    inner = base64.urlsafe_b64decode(encoded).decode()
    assert inner == device.public_key
    assert decode_url_public_key(encoded) == normalize_key(device.public_key)


def test_flutter_query_has_unescaped_standard_base64_in_sdk_order(wire):
    device = make("flutter")
    wire.reply(ENROLLED)

    device.is_enrolled(USER)

    sent = wire.sent[0]
    assert sent.path == "/api/v0/user/methods"
    names = [pair.split("=", 1)[0] for pair in sent.raw_query.split("&")]
    assert names == ["cotter_user_id", "method", "public_key"]
    value = sent.raw_query.split("public_key=", 1)[1]
    assert value == base64.b64encode(device.public_key.encode()).decode()
    parsed = urllib.parse.parse_qs(sent.raw_query)["public_key"][0]
    assert decode_url_public_key(parsed) == device.public_key


def test_ios_query_has_unpadded_base64url_with_key_before_method(wire):
    device = make("ios")
    wire.reply(ENROLLED)

    device.is_enrolled(USER)

    sent = wire.sent[0]
    names = [pair.split("=", 1)[0] for pair in sent.raw_query.split("&")]
    assert names == ["cotter_user_id", "public_key", "method"]
    query = urllib.parse.parse_qs(sent.raw_query)
    assert query["cotter_user_id"] == [USER["ID"]]
    assert "=" not in query["public_key"][0]
    assert decode_url_public_key(query["public_key"][0]) == normalize_key(
        device.public_key
    )


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (ENROLLED, True),
        (NOT_ENROLLED, False),
        ({"enrolled": True, "method": "PIN"}, False),
    ],
)
def test_is_enrolled_requires_true_for_trusted_device(wire, reply, expected):
    wire.reply(reply)

    assert make("android").is_enrolled(USER) is expected


def test_is_enrolled_rejects_a_response_without_method(wire):
    wire.reply({"enrolled": True})

    with pytest.raises(ValueError, match="malformed enrolled-check response"):
        make("ios").is_enrolled(USER)


# --- headers and transport --------------------------------------------------


@pytest.mark.parametrize(
    ("sdk", "expected"),
    [
        ("react-native", {"API_KEY_ID": API_KEY, "Content-type": "application/json"}),
        (
            "flutter",
            {
                "api_key_id": API_KEY,
                "content-type": "application/json; charset=utf-8",
            },
        ),
        (
            "android",
            {
                "API_KEY_ID": API_KEY,
                "API_SECRET_KEY": "s3cret",
                "Content-Type": "application/json; charset=utf-8",
            },
        ),
        (
            "ios",
            {
                "API_KEY_ID": API_KEY,
                "API_SECRET_KEY": "s3cret",
                "Content-Type": "application/json",
            },
        ),
    ],
)
def test_headers_are_spelled_as_each_sdk_sends_them(wire, sdk, expected):
    device = trusted(sdk, api_secret="s3cret")
    wire.reply(pending_event(approved=True))

    device.approve(pending_event())

    assert wire.sent[0].headers == expected


@pytest.mark.parametrize(
    ("sdk", "expected"),
    [
        ("react-native", {"API_KEY_ID": API_KEY}),
        ("flutter", {"api_key_id": API_KEY, "content-type": "application/json"}),
        ("android", {"API_KEY_ID": API_KEY}),
        (
            "ios",
            {
                "API_KEY_ID": API_KEY,
                "API_SECRET_KEY": API_KEY,
                "Content-Type": "application/json",
            },
        ),
    ],
)
def test_user_lookup_headers_leave_out_android_secret(wire, sdk, expected):
    wire.reply(USER)
    wire.reply(NOT_ENROLLED)
    wire.reply(pending_event())

    make(sdk).login("user@example.com")

    assert wire.sent[0].headers == expected


@pytest.mark.parametrize(
    ("sdk", "query"),
    [
        ("react-native", "identifier=a%2Bb%40x.com"),
        ("flutter", "identifier=a%2Bb%40x.com"),
        ("android", "identifier=a%2Bb%40x.com"),
        ("ios", "identifier=a+b@x.com"),
    ],
)
def test_identifier_is_url_encoded_except_by_ios(wire, sdk, query):
    wire.reply(USER)
    wire.reply(NOT_ENROLLED)
    wire.reply(pending_event())

    make(sdk).login("a+b@x.com")

    assert wire.sent[0].target == "/api/v0/user?" + query


@pytest.mark.parametrize("sdk", ["android", "ios"])
def test_android_and_ios_escape_slashes_in_json(wire, sdk):
    wire.reply(USER)
    wire.reply(USER)

    make(sdk).sign_up("a/b@x.com")

    assert b'"a\\/b@x.com"' in wire.sent[0].body
    assert wire.sent[0].json["identifier"] == "a/b@x.com"


@pytest.mark.parametrize("sdk", ["react-native", "flutter"])
def test_javascript_and_dart_keep_slashes_plain(wire, sdk):
    wire.reply(USER)
    wire.reply(USER)

    make(sdk).sign_up("a/b@x.com")

    assert b'"a/b@x.com"' in wire.sent[0].body


def test_error_status_raises_with_status_and_server_msg(wire):
    wire.reply({"msg": "User already exists", "type": ""}, status=409)

    with pytest.raises(CotterHTTPError, match="409.*User already exists") as info:
        make("react-native").sign_up("user@example.com")

    assert info.value.status == 409
    assert info.value.body == {"msg": "User already exists", "type": ""}


def test_non_json_error_body_is_reported_without_a_dict(wire):
    wire.replies.append((502, b"<html>Bad Gateway</html>"))

    with pytest.raises(CotterHTTPError, match="502") as info:
        make("android").poll_event(1)

    assert info.value.body is None


def test_non_json_success_body_is_an_error(wire):
    wire.replies.append((200, b"OK"))

    with pytest.raises(CotterHTTPError, match="non-JSON"):
        make("android").poll_event(1)


@pytest.mark.parametrize(("sdk", "accepted"), [("flutter", False), ("ios", True)])
def test_only_flutter_rejects_non_200_success(wire, sdk, accepted):
    wire.reply(pending_event(), status=201)

    if accepted:
        assert make(sdk).poll_event(610152)["ID"] == 610152
    else:
        with pytest.raises(CotterHTTPError, match="201"):
            make(sdk).poll_event(610152)


# --- sign-up and enrollment (sections 3.1, 5.1) ------------------------------------


def test_sign_up_creates_the_user_then_enrolls_with_oauth_token(wire):
    device = make("react-native")
    wire.reply(USER)
    wire.reply({**USER, "oauth_token": {"access_token": "a"}})

    response = device.sign_up("user@example.com")

    create, enroll = wire.sent
    assert (create.method, create.target) == ("POST", "/api/v0/user/create")
    assert create.json == {"identifier": "user@example.com"}
    assert enroll.method == "PUT"
    assert enroll.target == (
        f"/api/v0/user/methods?cotter_user_id={USER['ID']}&oauth_token=true"
    )
    assert enroll.json == {
        "method": "TRUSTED_DEVICE",
        "enrolled": True,
        "code": device.public_key,
        "algorithm": "ED25519",
        "device_name": "iPhone12,1 1.0.0",
        "device_type": "Apple",
    }
    assert response["oauth_token"] == {"access_token": "a"}
    assert device.user == USER


def test_flutter_enrollment_adds_change_code_and_mobile_device_type(wire):
    wire.reply(USER)

    make("flutter").enroll(USER)

    body = wire.sent[0].json
    assert body["device_type"] == "MOBILE"
    assert body["change_code"] is False
    assert body["current_code"] is None
    assert body["algorithm"] == "ED25519"


def test_android_enrollment_sends_ec_with_the_wrapped_key(wire):
    device = make("android")
    wire.reply(USER)

    device.enroll(USER)

    body = wire.sent[0].json
    assert body["algorithm"] == "EC"
    assert body["code"] == device.public_key
    assert body["code"].endswith("\n")


def test_ios_sign_up_sends_empty_client_user_id_and_enrolls_without_token(wire):
    device = make("ios")
    wire.reply(USER)
    wire.reply(USER)

    device.sign_up("user@example.com")

    create, enroll = wire.sent
    assert create.json == {"client_user_id": "", "identifier": "user@example.com"}
    assert enroll.target == f"/api/v0/user/methods?cotter_user_id={USER['ID']}"
    assert enroll.json == {
        "method": "TRUSTED_DEVICE",
        "enrolled": True,
        "code": device.public_key,
        "algorithm": "EC",
    }


@pytest.mark.parametrize(
    ("sdk", "target_query", "expected"),
    [
        (
            "react-native",
            "?oauth_token=true",
            {"algorithm": None, "device_name": "iPhone12,1 1.0.0"},
        ),
        ("android", "", {"device_type": "Google"}),
        ("ios", "", {}),
        (
            "flutter",
            "?oauth_token=true",
            {"algorithm": None, "change_code": False, "current_code": None},
        ),
    ],
)
def test_remove_unenrolls_this_key_without_a_signature(
    wire, sdk, target_query, expected
):
    device = trusted(sdk)
    wire.reply(USER)

    device.remove()

    sent = wire.sent[0]
    assert sent.method == "PUT"
    assert sent.target == f"/api/v0/user/{USER['client_user_id']}{target_query}"
    body = sent.json
    assert body["method"] == "TRUSTED_DEVICE"
    assert body["enrolled"] is False
    assert body["code"] == device.public_key
    for key, value in expected.items():
        assert body[key] == value
    if sdk in ("android", "ios"):
        assert "algorithm" not in body
    if sdk == "ios":
        assert set(body) == {"method", "enrolled", "code"}


# --- login as a trusted device (section 3.2.1, message a) ------------------------


@pytest.mark.parametrize("sdk", SDKS)
def test_login_sends_a_signature_the_server_can_verify(wire, sdk):
    device = make(sdk)
    wire.reply(USER)
    wire.reply(ENROLLED)
    wire.reply(pending_event(approved=True, new=False))

    device.login("user@example.com")

    sent = wire.sent[2]
    assert (sent.method, sent.target) == (
        "POST",
        "/api/v0/event/create?oauth_token=true",
    )
    body = sent.json
    assert body["timestamp"] == str(NOW)
    assert body["approved"] is True
    assert body["method"] == "TRUSTED_DEVICE"
    assert body["issuer"] == API_KEY
    assert normalize_key(body["public_key"]) == normalize_key(device.public_key)
    # iOS sends no algorithm: the server must use the enrolled one.
    assert_signed_event(body, body.get("algorithm", device.algorithm), True)


@pytest.mark.parametrize(
    ("sdk", "expected"),
    [
        (
            "react-native",
            {
                "client_user_id": SIGNING_ID["react-native"],
                "event": "LOGIN",
                "ip": "unknown",
                "location": "unknown",
                "algorithm": "ED25519",
            },
        ),
        (
            "flutter",
            {
                "user_id": SIGNING_ID["flutter"],
                "event": "LOGIN_WITH_DEVICE",
                "ip": "127.0.0.1",
                "location": "Local",
                "algorithm": "ED25519",
            },
        ),
        ("android", {"client_user_id": SIGNING_ID["android"], "algorithm": "EC"}),
        (
            "ios",
            {
                "client_user_id": SIGNING_ID["ios"],
                "event": "LOGIN",
                "ip": "unknown",
                "location": "unknown",
            },
        ),
    ],
)
def test_login_body_has_exactly_the_sdk_fields(wire, sdk, expected):
    wire.reply(USER)
    wire.reply(ENROLLED)
    wire.reply(pending_event(approved=True))

    make(sdk).login("user@example.com")

    body = wire.sent[2].json
    common = {"issuer", "event", "timestamp", "method", "code", "approved"}
    assert set(body) == common | {"public_key"} | set(expected) | (
        {"ip", "location"} if sdk != "android" else set()
    )
    for key, value in expected.items():
        assert body[key] == value


def test_login_signs_with_the_device_clock(wire):
    now = [NOW]
    device = make("react-native")
    device.clock = lambda: now[0]
    now[0] = 1700000000.9
    wire.reply(USER)
    wire.reply(ENROLLED)
    wire.reply(pending_event(approved=True))

    device.login("user@example.com")

    assert wire.sent[2].json["timestamp"] == "1700000000"


def test_login_with_unenrolled_key_falls_back_to_a_pending_event(wire):
    wire.reply(USER)
    wire.reply(NOT_ENROLLED)
    wire.reply(pending_event())

    event = make("react-native").login("user@example.com")

    assert wire.sent[2].target == "/api/v0/event/create_pending"
    assert event["approved"] is False


def test_login_of_unknown_identifier_raises_lookup_error(wire):
    wire.reply({**USER, "ID": "00000000-0000-0000-0000-000000000000"})

    with pytest.raises(LookupError, match="nobody@example.com"):
        make("flutter").login("nobody@example.com")


# --- pending login from an untrusted device (section 3.2.2) ------------------------


@pytest.mark.parametrize(
    ("sdk", "extra"),
    [
        ("react-native", {}),
        ("flutter", {}),
        ("android", {}),
        ("ios", {"approved": False}),
    ],
)
def test_request_login_posts_an_unsigned_pending_event(wire, sdk, extra):
    device = make(sdk)
    wire.reply(USER)
    wire.reply(pending_event())

    event = device.request_login("user@example.com", event="TRANSACTION")

    sent = wire.sent[1]
    assert (sent.method, sent.target) == ("POST", "/api/v0/event/create_pending")
    body = sent.json
    assert "code" not in body
    assert body["event"] == "TRANSACTION"
    assert body["timestamp"] == str(NOW)
    assert body["method"] == "TRUSTED_DEVICE"
    assert body.get("user_id", body.get("client_user_id")) == SIGNING_ID[sdk]
    for key, value in extra.items():
        assert body[key] == value
    assert ("public_key" in body) is (sdk == "ios")
    assert event["ID"] == 610152


def test_poll_event_asks_for_the_oauth_token(wire):
    wire.reply(pending_event())

    make("ios").poll_event(610152)

    assert wire.sent[0].target == "/api/v0/event/get/610152?oauth_token=true"


# --- approving on the trusted device (section 3.2.3, message b) ------------------


@pytest.mark.parametrize(
    ("sdk", "target"),
    [
        ("react-native", f"/api/v0/event/new/{USER['client_user_id']}"),
        ("flutter", f"/api/v0/event/new?cotter_user_id={USER['ID']}"),
        ("android", f"/api/v0/event/new/{USER['client_user_id']}"),
        ("ios", f"/api/v0/event/new/{USER['client_user_id']}"),
    ],
)
def test_pending_request_reads_json_null_as_none(wire, sdk, target):
    wire.reply(None)

    assert trusted(sdk).pending_request() is None
    assert wire.sent[0].target == target


def test_pending_request_returns_the_event(wire):
    wire.reply(pending_event())

    assert trusted("android").pending_request()["ID"] == 610152


def test_pending_request_needs_a_user():
    with pytest.raises(RuntimeError, match="no user yet"):
        make("android").pending_request()


@pytest.mark.parametrize("sdk", SDKS)
def test_approve_signs_the_pending_events_own_timestamp(wire, sdk):
    device = trusted(sdk)
    event = pending_event()
    wire.reply({**event, "approved": True, "new": False})

    response = device.approve(event)

    sent = wire.sent[0]
    assert (sent.method, sent.target) == ("POST", "/api/v0/event/respond/610152")
    body = sent.json
    assert body["timestamp"] == event["timestamp"] != str(NOW)
    assert (body["ip"], body["location"]) == ("73.15.208.6", "Orinda")
    assert body["approved"] is True
    assert body.get("user_id", body.get("client_user_id")) == RESPOND_ID[sdk]
    assert ("algorithm" in body) is (sdk != "ios")
    assert_signed_event(body, device.algorithm, True)
    assert response["approved"] is True


@pytest.mark.parametrize("sdk", ["react-native", "flutter", "android"])
def test_reject_signs_false(wire, sdk):
    device = trusted(sdk)
    wire.reply(pending_event(new=False))

    device.reject(pending_event())

    body = wire.sent[0].json
    assert body["approved"] is False
    assert_signed_event(body, device.algorithm, False)


def test_ios_cannot_reject():
    device = trusted("ios")

    assert not device.can_reject
    with pytest.raises(NotImplementedError, match="only approve"):
        device.reject(pending_event())


def test_flutter_respond_signs_with_the_events_user_id(wire):
    device = trusted("flutter")
    event = pending_event(user_id="other-cotter-user-id")
    wire.reply(event)

    device.approve(event)

    body = wire.sent[0].json
    assert body["user_id"] == "other-cotter-user-id"
    assert "client_user_id" not in body
    assert_signed_event(body, "ED25519", True)


def test_flutter_respond_falls_back_to_client_user_id_for_short_user_id(wire):
    device = trusted("flutter")
    event = pending_event(user_id="")
    wire.reply(event)

    device.approve(event)

    body = wire.sent[0].json
    assert body["client_user_id"] == USER["client_user_id"]
    assert "user_id" not in body


def test_ios_respond_signs_the_events_client_user_id_and_method(wire):
    device = trusted("ios")
    event = pending_event(method="BIOMETRIC", client_user_id="from-the-event")
    wire.reply(event)

    device.approve(event)

    body = wire.sent[0].json
    assert body["client_user_id"] == "from-the-event"
    assert body["method"] == "BIOMETRIC"
    assert_signed_event(body, "EC", True)


# --- adding a device by QR (section 3.2.1, message c) -------------------------------


@pytest.mark.parametrize(
    ("scanner_sdk", "new_sdk"),
    [
        ("react-native", "android"),
        ("android", "ios"),
        ("ios", "react-native"),
        ("flutter", "flutter"),
    ],
)
def test_scan_qr_enrolls_the_new_key_with_a_verifiable_signature(
    wire, scanner_sdk, new_sdk
):
    scanner = make(scanner_sdk)
    scanner.user = dict(NEW_USER)
    new_device = make(new_sdk, seed=b"\x07" * 32)
    qr_text = new_device.qr_code(NEW_USER)
    wire.reply(pending_event(event="ENROLL_NEW_TRUSTED_DEVICE", approved=True))

    scanner.scan_qr(qr_text)

    body = wire.sent[0].json
    assert body["event"] == "ENROLL_NEW_TRUSTED_DEVICE"
    assert body["register_new_device"] is True
    assert body["new_device_public_key"] == new_device.public_key
    assert body["new_device_algorithm"] == new_device.qr_algorithm
    uid = body.get("user_id", body.get("client_user_id"))
    message = enroll_device_message(
        uid, API_KEY, body["timestamp"], new_device.public_key
    )
    assert verify_device_signature(
        scanner.public_key, scanner.algorithm, message, body["code"]
    )


@pytest.mark.parametrize(
    ("sdk", "target", "device_fields"),
    [
        ("react-native", "/api/v0/event/create", ("iPhone12,1 1.0.0", "Apple")),
        ("android", "/api/v0/event/create?oauth_token=true", ("Pixel 5 11", "Google")),
        ("ios", "/api/v0/event/create?oauth_token=true", ("New Device", "some device")),
    ],
)
def test_scan_qr_query_and_device_fields_follow_the_sdk(
    wire, sdk, target, device_fields
):
    wire.reply(pending_event(approved=True))

    trusted(sdk).scan_qr(make(sdk, seed=None).qr_code(USER))

    sent = wire.sent[0]
    assert sent.target == target
    assert (sent.json["device_name"], sent.json["device_type"]) == device_fields


@pytest.mark.parametrize(
    ("sdk", "field", "uid"),
    [
        ("react-native", "client_user_id", USER["client_user_id"]),
        ("flutter", "user_id", USER["ID"]),
        ("android", "client_user_id", USER["client_user_id"]),
        ("ios", "client_user_id", USER["client_user_id"]),
    ],
)
def test_scan_qr_signs_as_the_sdk_names_the_user(wire, sdk, field, uid):
    scanner = trusted(sdk)
    new_device = make(sdk, seed=None)
    wire.reply(pending_event(approved=True))

    scanner.scan_qr(new_device.qr_code(USER))

    body = wire.sent[0].json
    assert body[field] == uid
    message = enroll_device_message(
        uid, API_KEY, body["timestamp"], new_device.public_key
    )
    assert verify_device_signature(
        scanner.public_key, scanner.algorithm, message, body["code"]
    )


def test_scan_qr_rejects_a_code_for_another_api_key():
    qr_text = make("android").qr_code(USER).replace(API_KEY, "other-key")

    with pytest.raises(ValueError, match="other-key"):
        trusted("android").scan_qr(qr_text)


def test_scan_qr_rejects_a_code_for_another_user():
    other = {**USER, "ID": "x" * 36, "client_user_id": "someone-else"}
    qr_text = make("android").qr_code(other)

    with pytest.raises(ValueError, match="someone-else"):
        trusted("android").scan_qr(qr_text)


@pytest.mark.parametrize(
    ("sdk", "max_age"),
    [("react-native", 180), ("android", 900), ("ios", 180_000)],
)
def test_scan_qr_rejects_a_code_older_than_the_sdk_allows(wire, sdk, max_age):
    qr_text = make(sdk).qr_code(USER)
    scanner = trusted(sdk)
    scanner.clock = lambda: NOW + max_age
    wire.reply(pending_event(approved=True))

    scanner.scan_qr(qr_text)
    scanner.clock = lambda: NOW + max_age + 1

    with pytest.raises(ValueError, match="old"):
        scanner.scan_qr(qr_text)


def test_scan_qr_rejects_text_with_too_few_parts():
    with pytest.raises(ValueError, match="5"):
        trusted("ios").scan_qr("key:EC:api")
