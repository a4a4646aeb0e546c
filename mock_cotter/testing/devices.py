"""Simulated phones that call a mock-cotter server exactly as each SDK does.

A :class:`TrustedDevice` holds one device key and speaks real HTTP, using
only the standard library, so it works from pytest, a script or a REPL.
The differences between the React Native, Flutter, Android and iOS SDKs
(cotter-api.md sections 3, 8, 9 and 10) live in one frozen profile per SDK.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from mock_cotter.signatures import device_event_message, enroll_device_message

logger = logging.getLogger(__name__)

__all__ = ["CotterHTTPError", "TrustedDevice"]

API_PREFIX = "/api/v0"
TRUSTED_DEVICE = "TRUSTED_DEVICE"
ENROLL_NEW_TRUSTED_DEVICE = "ENROLL_NEW_TRUSTED_DEVICE"

# RN and Flutter test for this ID to spot "no such user" on GET /user.
_ZERO_USER_ID = "00000000-0000-0000-0000-000000000000"

_ENROLLED_KEYS = {"enrolled", "method"}

# iOS CryptoUtil glues this fixed X9.62 SubjectPublicKeyInfo prefix in
# front of the raw keychain point instead of asking for a DER export.
_IOS_SPKI_HEADER = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

_PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
_Query = Sequence[tuple[str, str]]


class CotterHTTPError(Exception):
    """Raised when the server answers a device request with an error status."""

    def __init__(self, status: int, body: Any, message: str) -> None:
        self.status = status
        self.body: dict[str, Any] | None = body if isinstance(body, dict) else None
        super().__init__(message)


# --- key material and its per-SDK text forms --------------------------------


def _checked_seed(seed: bytes) -> bytes:
    if len(seed) != 32:
        raise ValueError(f"seed must be 32 bytes, got {len(seed)}")

    return seed


def _new_ed25519(seed: bytes | None) -> ed25519.Ed25519PrivateKey:
    if seed is None:
        return ed25519.Ed25519PrivateKey.generate()

    # tweetnacl's sign.keyPair.fromSeed, as RN uses it, takes 32 bytes.
    return ed25519.Ed25519PrivateKey.from_private_bytes(_checked_seed(seed))


def _new_p256(seed: bytes | None) -> ec.EllipticCurvePrivateKey:
    if seed is None:
        return ec.generate_private_key(ec.SECP256R1())

    # Hash into [1, n-1] so a seed gives a reproducible key, like Ed25519.
    digest = hashlib.sha256(_checked_seed(seed)).digest()
    scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _lines(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def _android_base64(data: bytes) -> str:
    # Android Base64.DEFAULT: 76-column lines, each one ending in "\n".
    return "".join(line + "\n" for line in _lines(_b64(data), 76))


def _ios_base64(data: bytes) -> str:
    # Foundation's 64-column option puts "\n" between lines only, and iOS
    # then appends one more "\n" to the key string.
    return "\n".join(_lines(_b64(data), 64)) + "\n"


def _raw_ed25519_text(key: _PrivateKey) -> str:
    raw = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return _b64(raw)


def _android_key_text(key: _PrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return _android_base64(der)


def _ios_key_text(key: _PrivateKey) -> str:
    point = key.public_key().public_bytes(
        serialization.Encoding.X962,
        serialization.PublicFormat.UncompressedPoint,
    )
    return _ios_base64(_IOS_SPKI_HEADER + point)


# --- public-key encodings for the enrolled check (section 9) -----------------


def _url_b64_padded(key: str) -> str:
    # RN: Buffer(key).toString("base64") with +/ -> -_, "=" kept.
    # Android: Base64.URL_SAFE | NO_WRAP, which also keeps "=".
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii")


def _url_b64_unpadded(key: str) -> str:
    # iOS keyToBase64URL: the same, then every "=" removed.
    return _url_b64_padded(key).rstrip("=")


def _std_b64(key: str) -> str:
    # Flutter base64Encode, pasted into the query string without escaping.
    return _b64(key.encode("utf-8"))


def _encode_component(value: str) -> str:
    # encodeURIComponent (RN) and Uri.encodeComponent (Flutter) keep these.
    return urllib.parse.quote(value, safe="!~*'()")


# --- SDK profiles ------------------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    """Everything that differs between the SDKs, as data.

    Defaults describe the plain behaviour; each profile states its quirks.
    """

    sdk: str
    # Keys and signatures (section 8.1).
    new_private_key: Callable[[bytes | None], _PrivateKey]
    public_key_text: Callable[[_PrivateKey], str]
    signature_text: Callable[[bytes], str]
    algorithm: str  # label sent on enrollment
    qr_algorithm: str  # label written into the QR text
    # The User field the sign-in flow signs with and sends as
    # client_user_id; the older flows (E4, E5, QR) use client_user_id.
    uid_key: str
    # Event metadata and device description.
    ip: str | None  # None: key left out, as Android's JSONObject.put(k, null)
    location: str | None
    device_name: str | None
    device_type: str | None
    # HTTP (sections 1 and 2): key id, secret and content-type header names.
    header_names: tuple[str, str, str]
    content_type: str  # sent with a body
    # Enrolled check (section 9).
    url_key: Callable[[str], str]
    enrolled_query: tuple[str, ...] = ()  # M4 parameter order; empty: M3
    # QR flow (section 10).
    qr_uid_key: str = "client_user_id"
    qr_user_keys: tuple[str, ...] = ("client_user_id",)  # accepted by a scanner
    qr_max_age: int = 180  # seconds
    scan_oauth: bool = True
    scan_device: tuple[str, str] | None = None  # (name, type) override
    # Quirks.
    sends_user_id: bool = False  # Flutter: "user_id" when longer than 5
    event_algorithm: bool = True  # iOS never sends it on events
    login_event: str = "LOGIN"
    content_type_without_body: str | None = None
    secret: str = "never"  # "never", "except_user_lookup" or "always"
    escape_slashes: bool = False  # org.json and Apple's encoders write "\/"
    drops_nulls: bool = False  # Android JSONObject.put(k, null) removes k
    only_200: bool = False  # Flutter treats any other status as an error
    encode_identifier: bool = True
    signup_client_user_id: bool = False  # iOS also sends client_user_id ""
    enroll_extra: tuple[tuple[str, Any], ...] = ()
    enroll_oauth: bool = True
    remove_oauth: bool = False
    remove_null_algorithm: bool = False
    pending_by_query: bool = False  # Flutter E4b
    pending_sends_key: bool = False  # iOS adds approved:false, public_key
    respond_copies_event: bool = False  # iOS: ev.client_user_id, ev.method
    can_reject: bool = True


_REACT_NATIVE = _Profile(
    sdk="react-native",
    new_private_key=_new_ed25519,
    public_key_text=_raw_ed25519_text,
    signature_text=_b64,
    algorithm="ED25519",
    qr_algorithm="ED25519",
    uid_key="client_user_id",
    # Offline, RN's geoip-db lookup fails and it falls back to "unknown".
    ip="unknown",
    location="unknown",
    device_name="iPhone12,1 1.0.0",
    device_type="Apple",
    header_names=("API_KEY_ID", "API_SECRET_KEY", "Content-type"),
    content_type="application/json",
    url_key=_url_b64_padded,
    # RN writes cotterUserID into its QR and accepts either id when scanning.
    qr_uid_key="ID",
    qr_user_keys=("ID", "client_user_id"),
    scan_oauth=False,
    remove_oauth=True,
    remove_null_algorithm=True,
)

_FLUTTER = _Profile(
    sdk="flutter",
    new_private_key=_new_ed25519,
    public_key_text=_raw_ed25519_text,
    signature_text=_b64,
    algorithm="ED25519",
    qr_algorithm="ED25519",
    uid_key="ID",
    # Flutter cannot run offline without a geoip stub; this is its answer.
    ip="127.0.0.1",
    location="Local",
    device_name="Pixel 5 11",
    device_type="MOBILE",
    # dart:io lower-cases header names, and package:http adds the charset
    # whenever it sets a string body; GETs carry the bare header.
    header_names=("api_key_id", "api_secret_key", "content-type"),
    content_type="application/json; charset=utf-8",
    content_type_without_body="application/json",
    url_key=_std_b64,
    enrolled_query=("cotter_user_id", "method", "public_key"),
    # Flutter has no QR flow; the RN format and rules stand in for it.
    qr_uid_key="ID",
    qr_user_keys=("ID", "client_user_id"),
    sends_user_id=True,
    login_event="LOGIN_WITH_DEVICE",
    only_200=True,
    enroll_extra=(("change_code", False), ("current_code", None)),
    remove_oauth=True,
    remove_null_algorithm=True,
    pending_by_query=True,
)

_ANDROID = _Profile(
    sdk="android",
    new_private_key=_new_p256,
    public_key_text=_android_key_text,
    signature_text=_android_base64,
    algorithm="EC",
    qr_algorithm="EC",
    uid_key="client_user_id",
    # getLocalIpAddress() may return null, and Android never sends location.
    ip=None,
    location=None,
    device_name="Pixel 5 11",
    device_type="Google",
    header_names=("API_KEY_ID", "API_SECRET_KEY", "Content-Type"),
    content_type="application/json; charset=utf-8",  # Volley JsonRequest
    url_key=_url_b64_padded,
    qr_max_age=15 * 60,
    secret="except_user_lookup",
    escape_slashes=True,
    drops_nulls=True,
    remove_null_algorithm=True,  # then dropped, like every null
)

_IOS = _Profile(
    sdk="ios",
    new_private_key=_new_p256,
    public_key_text=_ios_key_text,
    signature_text=_b64,
    algorithm="EC",
    qr_algorithm="ECDSA",
    # reqAuthWith(cotterUserID:) puts the Cotter ID into client_user_id.
    uid_key="ID",
    # The ipify lookup fails offline; location is always "unknown".
    ip="unknown",
    location="unknown",
    device_name=None,
    device_type=None,
    header_names=("API_KEY_ID", "API_SECRET_KEY", "Content-Type"),
    content_type="application/json",
    url_key=_url_b64_unpadded,
    enrolled_query=("cotter_user_id", "public_key", "method"),
    # Its QR screen still shows the client user id, not the Cotter ID.
    qr_uid_key="client_user_id",
    # iOS means 3 minutes but divides seconds by 1000: about 50 hours.
    qr_max_age=180 * 1000,
    scan_device=("New Device", "some device"),
    event_algorithm=False,
    content_type_without_body="application/json",  # set on every request
    secret="always",
    escape_slashes=True,
    encode_identifier=False,
    signup_client_user_id=True,
    enroll_oauth=False,
    pending_sends_key=True,
    respond_copies_event=True,
    can_reject=False,
)

_PROFILES = {p.sdk: p for p in (_REACT_NATIVE, _FLUTTER, _ANDROID, _IOS)}


def device_public_key(sdk: str, seed: bytes) -> tuple[str, str]:
    """The public key, formatted as ``sdk`` sends it, and the algorithm label
    it enrolls with, of the device that ``seed`` (32 bytes) makes.

    Scenario files name devices by seed; this is the key they enroll, and
    ``TrustedDevice(sdk, ..., seed=seed)`` is the device that holds it.
    """
    profile = _PROFILES[sdk]
    return profile.public_key_text(profile.new_private_key(seed)), profile.algorithm


def _flutter_sender(user_id: Any, client_user_id: Any) -> tuple[str, str]:
    # Flutter prefers user_id and treats ids of 5 characters or fewer as
    # missing, in both the body and the signed message.
    if isinstance(user_id, str) and len(user_id) > 5:
        return "user_id", user_id

    if isinstance(client_user_id, str) and len(client_user_id) > 5:
        return "client_user_id", client_user_id

    raise ValueError(
        "Flutter needs a user_id or client_user_id longer than 5 characters"
    )


def _without_token(response: Any) -> Any:
    if isinstance(response, dict):
        return {k: v for k, v in response.items() if k != "oauth_token"}

    return response


# --- the device --------------------------------------------------------------


class TrustedDevice:
    """One phone running one Cotter SDK, with its own device key.

    Build one with :meth:`react_native`, :meth:`flutter`, :meth:`android`
    or :meth:`ios` (or ``TrustedDevice(sdk, ...)`` with a name from
    :attr:`SDKS`).  ``clock`` returns unix seconds and may be replaced, so
    that tests with a virtual clock sign with its time.  ``api_secret``
    (sent by Android and iOS only) defaults to ``api_key``, as Android's
    device-only ``Cotter.init`` does.
    """

    SDKS = tuple(_PROFILES)

    def __init__(
        self,
        sdk: str,
        base_url: str,
        api_key: str,
        *,
        seed: bytes | None = None,
        api_secret: str | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        try:
            self._profile = _PROFILES[sdk]
        except KeyError:
            raise ValueError(
                f"unknown SDK {sdk!r}; expected one of {', '.join(self.SDKS)}"
            ) from None

        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")

        self._url = url
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.api_secret = api_key if api_secret is None else api_secret
        self.clock = clock
        self.timeout = timeout
        self.user: dict[str, Any] | None = None
        self._private_key = self._profile.new_private_key(seed)
        self.public_key = self._profile.public_key_text(self._private_key)
        self.algorithm = self._profile.algorithm

    @classmethod
    def react_native(
        cls, base_url: str, api_key: str, *, seed: bytes | None = None, **options: Any
    ) -> TrustedDevice:
        """Build a react-native-cotter device: Ed25519, ``client_user_id``."""
        return cls("react-native", base_url, api_key, seed=seed, **options)

    @classmethod
    def flutter(
        cls, base_url: str, api_key: str, *, seed: bytes | None = None, **options: Any
    ) -> TrustedDevice:
        """Build a flutter-sdk device: Ed25519, ``user_id``, M4 and E4b.

        Flutter has no QR flow; :meth:`qr_code` and :meth:`scan_qr` use the
        React Native format and rules for it.
        """
        return cls("flutter", base_url, api_key, seed=seed, **options)

    @classmethod
    def android(
        cls, base_url: str, api_key: str, *, seed: bytes | None = None, **options: Any
    ) -> TrustedDevice:
        """Build an android-sdk device: P-256 "EC", 76-column base64."""
        return cls("android", base_url, api_key, seed=seed, **options)

    @classmethod
    def ios(
        cls, base_url: str, api_key: str, *, seed: bytes | None = None, **options: Any
    ) -> TrustedDevice:
        """Build an ios-sdk device: P-256, 64-column key, no event algorithm."""
        return cls("ios", base_url, api_key, seed=seed, **options)

    def __repr__(self) -> str:
        user_id = self.user.get("ID") if self.user else None
        return f"<TrustedDevice sdk={self.sdk} user={user_id}>"

    @property
    def sdk(self) -> str:
        """The SDK this device imitates, one of :attr:`SDKS`."""
        return self._profile.sdk

    @property
    def can_reject(self) -> bool:
        """Whether this SDK can reject a pending event (iOS only approves)."""
        return self._profile.can_reject

    @property
    def qr_algorithm(self) -> str:
        """The algorithm label this SDK writes into its QR code."""
        return self._profile.qr_algorithm

    # --- signing ---------------------------------------------------------

    def sign(self, message: str) -> str:
        """Sign the UTF-8 of ``message`` and format it as this SDK does."""
        data = message.encode("utf-8")
        key = self._private_key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            raw = key.sign(data)
        else:
            raw = key.sign(data, ec.ECDSA(hashes.SHA256()))

        return self._profile.signature_text(raw)

    # --- users and methods -----------------------------------------------

    def sign_up(self, identifier: str) -> dict[str, Any]:
        """Create a user (U1) and enroll this device for it (M2)."""
        body = {"identifier": identifier}
        if self._profile.signup_client_user_id:
            body = {"client_user_id": "", "identifier": identifier}

        user = self._request("POST", "/user/create", body, user_lookup=True)
        self.user = user
        return self.enroll(user)

    def enroll(self, user: dict[str, Any]) -> dict[str, Any]:
        """Enroll this device key for ``user`` (M2); return User (+ token)."""
        query = [("cotter_user_id", user["ID"])]
        if self._profile.enroll_oauth:
            query.append(("oauth_token", "true"))

        body = self._method_body(enrolled=True)
        response = self._request("PUT", "/user/methods", body, query)
        self.user = _without_token(response)
        return response

    def is_enrolled(self, user: dict[str, Any]) -> bool:
        """Ask whether this key is enrolled for ``user`` (M3 or M4)."""
        profile = self._profile
        encoded = profile.url_key(self.public_key)
        if profile.enrolled_query:
            values = {
                "cotter_user_id": user["ID"],
                "method": TRUSTED_DEVICE,
                "public_key": encoded,
            }
            query = [(name, values[name]) for name in profile.enrolled_query]
            response = self._request("GET", "/user/methods", query=query)
        else:
            client_id = user["client_user_id"]
            path = f"/user/enrolled/{client_id}/{TRUSTED_DEVICE}/{encoded}"
            response = self._request("GET", path)

        # iOS decodes both keys as required; treat their absence as a bug.
        if not isinstance(response, dict) or not _ENROLLED_KEYS <= response.keys():
            raise ValueError(f"malformed enrolled-check response: {response!r}")

        return response["enrolled"] is True and response["method"] == TRUSTED_DEVICE

    def remove(self) -> dict[str, Any]:
        """Un-enroll this key (M1 with ``enrolled: false``, no signature)."""
        user = self._require_user()
        query = [("oauth_token", "true")] if self._profile.remove_oauth else None
        path = f"/user/{user['client_user_id']}"
        response = self._request("PUT", path, self._method_body(enrolled=False), query)
        self.user = _without_token(response)
        return response

    # --- events ----------------------------------------------------------

    def login(self, identifier: str, event: str | None = None) -> dict[str, Any]:
        """Sign in as a trusted device: U2, enrolled check, then signed E1.

        ``event`` defaults to this SDK's own name (Flutter sends
        ``LOGIN_WITH_DEVICE``, the others ``LOGIN``).  Like the SDKs, a
        device whose key is not enrolled falls back to a pending event.
        """
        event = event or self._profile.login_event
        user = self._lookup_user(identifier)
        if not self.is_enrolled(user):
            logger.debug("device not enrolled, requesting approval sdk=%s", self.sdk)
            return self._create_pending(user, event)

        field, uid = self._sender(user)
        timestamp = self._timestamp()
        message = device_event_message(
            uid, self.api_key, event, timestamp, TRUSTED_DEVICE, True
        )
        body = self._approved_body(field, uid, event, timestamp, self.sign(message))
        return self._request("POST", "/event/create", body, [("oauth_token", "true")])

    def request_login(
        self, identifier: str, event: str | None = None
    ) -> dict[str, Any]:
        """Ask a trusted device to approve a sign-in: U2, then E2."""
        event = event or self._profile.login_event
        return self._create_pending(self._lookup_user(identifier), event)

    def poll_event(self, event_id: int | str) -> dict[str, Any]:
        """Fetch an event once (E3), with its token once approved."""
        path = f"/event/get/{event_id}"
        return self._request("GET", path, query=[("oauth_token", "true")])

    def pending_request(self) -> dict[str, Any] | None:
        """Fetch the newest pending event for this device's user (E4/E4b)."""
        user = self._require_user()
        if self._profile.pending_by_query:
            query = [("cotter_user_id", user["ID"])]
            return self._request("GET", "/event/new", query=query)

        return self._request("GET", f"/event/new/{user['client_user_id']}")

    def respond(self, event: dict[str, Any], approve: bool) -> dict[str, Any]:
        """Approve or reject a pending ``event`` with a signed E5."""
        profile = self._profile
        if not approve and not profile.can_reject:
            raise NotImplementedError(
                f"the {self.sdk} SDK can only approve pending events"
            )

        method = TRUSTED_DEVICE
        if profile.sends_user_id:
            # Flutter signs with the ids carried by the event it received.
            field, uid = _flutter_sender(
                event.get("user_id"), event.get("client_user_id")
            )
        elif profile.respond_copies_event:
            field, uid = "client_user_id", str(event["client_user_id"])
            method = event["method"]
        else:
            field, uid = self._client_sender(self._require_user())

        message = device_event_message(
            uid, self.api_key, event["event"], event["timestamp"], method, approve
        )
        body: dict[str, Any] = {
            field: uid,
            "issuer": self.api_key,
            "event": event["event"],
            "ip": event.get("ip"),
            "location": event.get("location"),
            # The pending event's own timestamp, not "now".
            "timestamp": event["timestamp"],
            "method": method,
            "code": self.sign(message),
            "approved": approve,
            "public_key": self.public_key,
        }
        if profile.event_algorithm:
            body["algorithm"] = self.algorithm

        return self._request("POST", f"/event/respond/{event['ID']}", body)

    def approve(self, event: dict[str, Any]) -> dict[str, Any]:
        """Approve a pending ``event`` (E5)."""
        return self.respond(event, True)

    def reject(self, event: dict[str, Any]) -> dict[str, Any]:
        """Reject a pending ``event`` (E5); iOS cannot do this."""
        return self.respond(event, False)

    # --- QR enrollment of another device ----------------------------------

    def qr_code(self, user: dict[str, Any]) -> str:
        """Return the QR text this device shows to be added to ``user``."""
        self.user = user
        uid = user[self._profile.qr_uid_key]
        return ":".join(
            (
                self.public_key,
                self._profile.qr_algorithm,
                self.api_key,
                str(uid),
                self._timestamp(),
            )
        )

    def scan_qr(self, qr_text: str) -> dict[str, Any]:
        """Enroll the device that shows ``qr_text`` (signed E1)."""
        profile = self._profile
        user = self._require_user()
        parts = qr_text.split(":")
        if len(parts) < 5:
            raise ValueError(f"QR text needs 5 ':'-separated parts: {qr_text!r}")

        new_key, new_algorithm, issuer, qr_user, shown_at = parts[:5]
        if issuer != self.api_key:
            raise ValueError(f"QR code is for API key {issuer!r}, not {self.api_key!r}")

        accepted = {str(user.get(key)) for key in profile.qr_user_keys}
        if qr_user not in accepted:
            raise ValueError(f"QR code is for user {qr_user!r}, not this device's user")

        timestamp = self._timestamp()
        if not shown_at.isdigit():
            raise ValueError(f"QR timestamp {shown_at!r} is not unix seconds")

        age = int(timestamp) - int(shown_at)
        if age > profile.qr_max_age:
            raise ValueError(
                f"QR code is {age}s old; {self.sdk} accepts {profile.qr_max_age}s"
            )

        field, uid = self._client_sender(user)
        message = enroll_device_message(uid, self.api_key, timestamp, new_key)
        body = self._approved_body(
            field, uid, ENROLL_NEW_TRUSTED_DEVICE, timestamp, self.sign(message)
        )
        name, kind = profile.scan_device or (profile.device_name, profile.device_type)
        body.update(
            register_new_device=True,
            new_device_public_key=new_key,
            new_device_algorithm=new_algorithm,
            device_type=kind,
            device_name=name,
        )
        query = [("oauth_token", "true")] if profile.scan_oauth else None
        return self._request("POST", "/event/create", body, query)

    # --- helpers ---------------------------------------------------------

    def _timestamp(self) -> str:
        return str(int(self.clock()))

    def _require_user(self) -> dict[str, Any]:
        if self.user is None:
            raise RuntimeError(
                "this device has no user yet; call sign_up, enroll, login "
                "or qr_code first"
            )

        return self.user

    def _sender(self, user: dict[str, Any]) -> tuple[str, str]:
        """Return the body field naming the user, and the id it carries.

        Sign-in (E1, E2) sends and signs this id; see ``uid_key``.
        """
        if self._profile.sends_user_id:
            return _flutter_sender(user.get("ID"), None)

        return "client_user_id", str(user[self._profile.uid_key])

    def _client_sender(self, user: dict[str, Any]) -> tuple[str, str]:
        # RN, Android and iOS approve and add devices under client_user_id.
        if self._profile.sends_user_id:
            return self._sender(user)

        return "client_user_id", str(user["client_user_id"])

    def _lookup_user(self, identifier: str) -> dict[str, Any]:
        value = identifier
        if self._profile.encode_identifier:
            value = _encode_component(identifier)

        query = [("identifier", value)]
        user = self._request("GET", "/user", query=query, user_lookup=True)
        if not isinstance(user, dict) or user.get("ID") in (None, "", _ZERO_USER_ID):
            raise LookupError(f"no Cotter user has identifier {identifier!r}")

        self.user = user
        return user

    def _method_body(self, *, enrolled: bool) -> dict[str, Any]:
        profile = self._profile
        body: dict[str, Any] = {
            "method": TRUSTED_DEVICE,
            "enrolled": enrolled,
            "code": self.public_key,
        }
        if enrolled:
            body["algorithm"] = self.algorithm
        elif profile.remove_null_algorithm:
            body["algorithm"] = None

        if profile.device_name is not None:
            body["device_name"] = profile.device_name

        if profile.device_type is not None:
            body["device_type"] = profile.device_type

        body.update(profile.enroll_extra)
        return body

    def _event_base(
        self, field: str, uid: str, event: str, timestamp: str
    ) -> dict[str, Any]:
        return {
            field: uid,
            "issuer": self.api_key,
            "event": event,
            "ip": self._profile.ip,
            "location": self._profile.location,
            "timestamp": timestamp,
            "method": TRUSTED_DEVICE,
        }

    def _approved_body(
        self, field: str, uid: str, event: str, timestamp: str, code: str
    ) -> dict[str, Any]:
        body = self._event_base(field, uid, event, timestamp)
        body.update(code=code, approved=True, public_key=self.public_key)
        if self._profile.event_algorithm:
            body["algorithm"] = self.algorithm

        return body

    def _create_pending(self, user: dict[str, Any], event: str) -> dict[str, Any]:
        field, uid = self._sender(user)
        body = self._event_base(field, uid, event, self._timestamp())
        if self._profile.pending_sends_key:
            body.update(approved=False, public_key=self.public_key)

        return self._request("POST", "/event/create_pending", body)

    def _encode_body(self, body: dict[str, Any]) -> bytes:
        if self._profile.drops_nulls:
            body = {k: v for k, v in body.items() if v is not None}

        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        if self._profile.escape_slashes:
            # Only string contents can hold "/" in JSON, so this is safe.
            text = text.replace("/", "\\/")

        return text.encode("utf-8")

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: _Query | None = None,
        *,
        user_lookup: bool = False,
    ) -> Any:
        """Send one API call and return its decoded JSON (``None`` for null).

        Query values go on the wire verbatim: callers encode them the way
        the SDK does, because Flutter and iOS deliberately do not.
        ``user_lookup`` marks U1/U2, where Android sends no secret.
        """
        profile = self._profile
        target = self._url.path.rstrip("/") + API_PREFIX + path
        if query:
            target += "?" + "&".join(f"{name}={value}" for name, value in query)

        key_header, secret_header, type_header = profile.header_names
        headers = {key_header: self.api_key}
        if profile.secret == "always" or (
            profile.secret == "except_user_lookup" and not user_lookup
        ):
            headers[secret_header] = self.api_secret

        payload = None
        if body is not None:
            payload = self._encode_body(body)
            headers[type_header] = profile.content_type
        elif profile.content_type_without_body is not None:
            headers[type_header] = profile.content_type_without_body

        status, raw = self._send(method, target, payload, headers)
        logger.debug(
            "device request sdk=%s method=%s target=%s status=%d",
            self.sdk,
            method,
            target,
            status,
        )
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode("utf-8", "replace")

        ok = status == 200 if profile.only_200 else 200 <= status < 300
        if not ok:
            detail = data.get("msg") if isinstance(data, dict) else data
            raise CotterHTTPError(
                status, data, f"{method} {target} returned {status}: {detail!r}"
            )

        if isinstance(data, str):
            raise CotterHTTPError(
                status, None, f"{method} {target} returned non-JSON: {data[:200]!r}"
            )

        return data

    def _send(
        self, method: str, target: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        # http.client rather than urllib.request: urllib title-cases header
        # names, and the SDKs' exact "API_KEY_ID" spelling is under test.
        if self._url.scheme == "https":
            connection_class: type[http.client.HTTPConnection] = (
                http.client.HTTPSConnection
            )
        else:
            connection_class = http.client.HTTPConnection

        connection = connection_class(
            self._url.hostname, self._url.port, timeout=self.timeout
        )
        try:
            connection.request(method, target, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()
