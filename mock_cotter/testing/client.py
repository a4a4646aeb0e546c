"""A handle on a running mock-cotter server for one API key.

:class:`CotterServer` drives the server through its HTTP admin API
(``/_mock``) only, with the standard library, so it behaves the same
whether the server runs in this process, in another one or in a
container. The pytest plugin hands one to each test as ``cotter_server``;
it works just as well from a script::

    server = CotterServer("http://127.0.0.1:8000")   # a fresh API key
    server.set_scenario("denied")
    ...
    server.assert_called("/event/create_pending", times=1)
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_cotter.testing.devices import TrustedDevice

logger = logging.getLogger(__name__)

__all__ = ["CotterAdminError", "CotterServer", "Transport", "VirtualClock"]

API_PREFIX = "/api/v0"
# The user a simulated phone belongs to when the scenario names none.
DEFAULT_IDENTIFIER = "user@example.com"
# What GET /user answers for an unknown identifier, as Cotter did.
_ZERO_USER_ID = "00000000-0000-0000-0000-000000000000"
# How much of a request body a failed assertion shows.
_BODY_PREVIEW = 160


class CotterAdminError(Exception):
    """The server answered a call with an error status (or not at all)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


class Transport:
    """One HTTP connection to a server, reused, safe to share between threads.

    A server that closes connections after each answer (Werkzeug's does) is
    simply reconnected to; a kept-alive connection that went stale is
    retried once.
    """

    def __init__(self, url: str, *, timeout: float = 10.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Expected an http(s) URL, got {url!r}.")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._parts = parts
        self._prefix = parts.path.rstrip("/")
        self._lock = threading.Lock()
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._connection = kind(
                self._parts.hostname, self._parts.port, timeout=self.timeout
            )
        return self._connection

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send one call; return the status and the decoded JSON answer."""
        target = self._prefix + path
        if query:
            pairs = {k: v for k, v in query.items() if v is not None}
            target += "?" + urllib.parse.urlencode(pairs)
        sent = dict(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        with self._lock:
            for attempt in (1, 2):
                connection = self._connect()
                reused = connection.sock is not None
                try:
                    connection.request(method, target, body=payload, headers=sent)
                    response = connection.getresponse()
                    raw = response.read()
                except (
                    http.client.RemoteDisconnected,
                    ConnectionResetError,
                    BrokenPipeError,
                ) as exc:
                    connection.close()
                    if reused and attempt == 1:
                        continue
                    raise CotterAdminError(f"{method} {self.url}{path}: {exc}") from exc
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()
                    raise CotterAdminError(
                        f"Cannot reach mock-cotter at {self.url}: {exc}"
                    ) from exc
                except BaseException:
                    # Interrupted mid-call: the connection is of no more use.
                    connection.close()
                    raise
                break
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode("utf-8", "replace")
        return response.status, data

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def _timestamp(when: float | datetime) -> float | str:
    return when.isoformat() if isinstance(when, datetime) else float(when)


class VirtualClock:
    """The virtual clock of one API key: every timestamp, token expiry and
    freshness check the server makes for that key reads it.

    It follows real time until changed. Calling it returns :meth:`now`, so
    it can be handed to ``TrustedDevice(clock=...)`` to sign with its time.
    """

    def __init__(self, server: CotterServer):
        self._server = server

    def _put(self, body: dict[str, Any]) -> float:
        return self._server._admin("PUT", "/clock", body)["now"]

    def now(self) -> float:
        """The key's current virtual time, in unix seconds."""
        return self._server._admin("GET", "/clock")["now"]

    __call__ = now

    @property
    def frozen(self) -> bool:
        return bool(self._server._admin("GET", "/clock")["frozen"])

    def freeze(self, at: float | datetime | None = None) -> float:
        """Stop the clock, at ``at`` (unix seconds or a datetime) if given,
        else where it is; return the time it stands at."""
        now = self._put({"frozen": True})
        if at is not None:
            # Set once frozen, so that it stands exactly at ``at``.
            now = self._put({"now": _timestamp(at)})
        return now

    def unfreeze(self) -> float:
        """Let the clock run again from where it stands."""
        return self._put({"frozen": False})

    def set(self, when: float | datetime) -> float:
        """Jump to ``when``; a frozen clock stays frozen there."""
        return self._put({"now": _timestamp(when)})

    def advance(self, seconds: float) -> float:
        """Move the clock forward (back, if negative); return the new time."""
        answer = self._server._admin("POST", "/clock/advance", {"seconds": seconds})
        return answer["now"]

    def __repr__(self) -> str:
        return f"<VirtualClock api_key={self._server.api_key}>"


def _contains(actual: Any, expected: Any) -> bool:
    """Whether ``actual`` holds ``expected``: dicts by subset, recursively;
    lists item by item; anything else by equality."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _contains(actual[key], value)
            for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return actual == expected


def journal_path(path: str) -> str:
    """The journal path for ``path``: Cotter endpoints may be named without
    the ``/api/v0`` prefix, as the SDKs name them (``/event/create``)."""
    if path.startswith(("/api/", "/app", "/_mock", "*")) or not path.startswith("/"):
        return path
    return API_PREFIX + path


def _times(count: int) -> str:
    return f"{count} time" if count == 1 else f"{count} times"


def _describe(entry: Mapping[str, Any]) -> str:
    line = f"{entry['method']} {entry['path']}"
    if entry.get("query"):
        line += f"?{entry['query']}"
    line += f" -> {entry['status']}"
    if entry.get("request") is not None:
        body = json.dumps(entry["request"])
        if len(body) > _BODY_PREVIEW:
            body = body[: _BODY_PREVIEW - 3] + "..."
        line += f" {body}"
    return line


class CotterServer:
    """A running mock-cotter server, seen through one API key.

    ``url`` is the server's root (``http://HOST:PORT``); ``api_key`` is
    made unique if not given, so that nothing else shares its state.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        transport: Transport | None = None,
    ):
        url = url.rstrip("/")
        if url.endswith(API_PREFIX):
            url = url[: -len(API_PREFIX)]
        self.url = url
        self.api_key = api_key or f"test-{uuid.uuid4()}"
        self._own_transport = transport is None
        self._transport = transport or Transport(url, timeout=timeout)
        self.clock = VirtualClock(self)

    @property
    def api_url(self) -> str:
        """The base URL the Cotter SDKs take: ``<url>/api/v0``."""
        return self.url + API_PREFIX

    def __repr__(self) -> str:
        return f"<CotterServer {self.url} api_key={self.api_key}>"

    def close(self) -> None:
        """Close the connection, if this handle opened it."""
        if self._own_transport:
            self._transport.close()

    def __enter__(self) -> CotterServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- HTTP -----------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        *,
        with_key: bool = True,
    ) -> Any:
        headers = {"API_KEY_ID": self.api_key} if with_key else {}
        status, data = self._transport.request(
            method, path, body=body, query=query, headers=headers
        )
        if status >= 400:
            detail = data.get("msg", data) if isinstance(data, dict) else data
            raise CotterAdminError(
                f"{method} {path} answered {status}: {detail}", status, data
            )
        return data

    def _admin(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        return self._call(method, "/_mock" + path, body, query or None)

    # -- the server -----------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /_mock/health``: the server's status, version and URLs."""
        return self._call("GET", "/_mock/health", with_key=False)

    def keys(self) -> dict[str, Any]:
        """The public keys: ``jwks``, ``jwt_public_key_pem``, ``kid`` and
        ``event_public_key`` (for events and identity tokens)."""
        return self._admin("GET", "/keys")

    def reset(self) -> None:
        """Forget this key's users, events, tokens, scenario, clock and faults."""
        self._admin("POST", "/reset", {})

    # -- scenarios and faults -------------------------------------------------

    def scenario(self) -> dict[str, Any]:
        """The scenario this key plays, as a document (defaults left out)."""
        return self._admin("GET", "/scenario")

    def set_scenario(self, scenario: str | Mapping[str, Any]) -> str:
        """Start this key afresh in a scenario: a name the server knows, or a
        whole scenario document. Returns the scenario's name."""
        if isinstance(scenario, str):
            body: dict[str, Any] = {"name": scenario}
        else:
            body = {"scenario": dict(scenario)}
        return self._admin("PUT", "/scenario", body)["scenario"]

    def faults(self, *faults: Mapping[str, Any]) -> int:
        """Make matching requests of this key fail (see the scenario files'
        ``faults``), replacing earlier ones; none clears them."""
        return self._admin("PUT", "/faults", {"faults": [dict(f) for f in faults]})[
            "faults"
        ]

    # -- tokens and users -----------------------------------------------------

    def mint_tokens(
        self,
        identifier: str,
        *,
        lifetime: int | None = None,
        auth_method: str = "TRUSTED_DEVICE",
        variant: str | None = None,
        **claims: Any,
    ) -> dict[str, Any]:
        """An ``oauth_token`` for ``identifier`` (created if new), as if the
        user had just logged in; keyword arguments become extra claims."""
        body: dict[str, Any] = {
            "identifier": identifier,
            "auth_method": auth_method,
            "extra_claims": claims,
        }
        if lifetime is not None:
            body["lifetime"] = lifetime
        if variant is not None:
            body["variant"] = variant
        return self._admin("POST", "/tokens", body)["oauth_token"]

    def user(self, identifier: str) -> dict[str, Any] | None:
        """The user with ``identifier`` (``GET /user``), or None."""
        found = self._call(
            "GET", API_PREFIX + "/user", query={"identifier": identifier}
        )
        if not isinstance(found, dict) or found.get("ID") in (None, _ZERO_USER_ID):
            return None
        return found

    # -- events ---------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        """Every event of this key, oldest first, with the mock's bookkeeping
        (``polls``, ``answered_by``, ``expired``)."""
        return self._admin("GET", "/events")

    def _act(self, action: str, event_id: int | None) -> dict[str, Any]:
        if event_id is None:
            waiting = [e for e in self.events() if e["new"]]
            if not waiting:
                raise CotterAdminError(
                    f"No event of API key {self.api_key} is waiting to {action}."
                )
            event_id = max(e["ID"] for e in waiting)
        return self._admin("POST", f"/events/{event_id}/{action}")

    def approve(self, event_id: int | None = None) -> dict[str, Any]:
        """Approve a waiting login request as the user's phone would (the
        newest one by default); the requester's next poll gets tokens."""
        return self._act("approve", event_id)

    def deny(self, event_id: int | None = None) -> dict[str, Any]:
        """Reject a waiting login request (the newest one by default)."""
        return self._act("deny", event_id)

    def expire(self, event_id: int | None = None) -> dict[str, Any]:
        """Let a waiting login request expire (the newest one by default)."""
        return self._act("expire", event_id)

    # -- the request journal --------------------------------------------------

    def requests(
        self, path: str | None = None, method: str | None = None
    ) -> list[dict[str, Any]]:
        """The Cotter calls made with this key, oldest first, secrets redacted.

        ``path`` is a glob, with or without ``/api/v0``; ``/_mock`` calls are
        not recorded. Each entry has ``method``, ``path``, ``query``,
        ``headers``, ``request`` (the JSON body), ``status`` and ``response``.
        """
        query = {
            "api_key": self.api_key,
            "path": journal_path(path) if path else None,
            "method": method,
        }
        return self._call("GET", "/_mock/requests", query=query, with_key=False)

    def assert_called(
        self,
        path: str,
        times: int | None = None,
        json_subset: Mapping[str, Any] | None = None,
        method: str | None = None,
    ) -> list[dict[str, Any]]:
        """Assert that ``path`` (a glob) was called: at least once, or exactly
        ``times`` times; counting only calls whose JSON body contains
        ``json_subset`` and whose method is ``method``, when given.

        Returns the matching calls. Redacted fields (signatures, PINs,
        refresh tokens) read ``"[redacted]"``.
        """
        __tracebackhide__ = True
        calls = self.requests(path, method)
        if json_subset is not None:
            calls = [c for c in calls if _contains(c.get("request"), json_subset)]
        if (times is None and calls) or len(calls) == times:
            return calls
        wanted = f"{method.upper()} " if method else ""
        wanted += journal_path(path)
        if json_subset is not None:
            wanted += f" with JSON containing {json.dumps(json_subset)}"
        expected = "at least once" if times is None else _times(times)
        everything = self.requests()
        listing = "\n".join(
            f"  {n}. {_describe(e)}" for n, e in enumerate(everything, 1)
        )
        raise AssertionError(
            f"Expected {wanted} to be called {expected}; it was called "
            f"{_times(len(calls))}.\nCalls with API key {self.api_key}:\n"
            + (listing or "  (none)")
        )

    # -- simulated phones -----------------------------------------------------

    def default_identifier(self) -> str:
        """The user a phone belongs to unless told otherwise: the scenario's
        first user with an identifier, else ``user@example.com``."""
        for user in self.scenario().get("users", []):
            if user.get("identifier"):
                return user["identifier"]
        return DEFAULT_IDENTIFIER

    def device(
        self,
        sdk: str = "react-native",
        *,
        identifier: str | None = None,
        trusted: bool = True,
        seed: bytes | None = None,
        clock: Callable[[], float] | None = None,
        **options: Any,
    ) -> TrustedDevice:
        """A simulated phone running ``sdk`` for this key, signing with the
        key's virtual clock.

        ``trusted``: it is a trusted device of ``identifier`` (by default
        :meth:`default_identifier`): the user is signed up if new and the
        device enrolled if it is not yet. Otherwise it is a device the user
        has not trusted, for playing the side that asks for approval.
        """
        from mock_cotter.testing.devices import TrustedDevice

        device = TrustedDevice(
            sdk,
            self.url,
            self.api_key,
            seed=seed,
            clock=clock or self.clock,
            **options,
        )
        if not trusted:
            return device
        identifier = identifier or self.default_identifier()
        user = self.user(identifier)
        if user is None:
            device.sign_up(identifier)
        elif device.is_enrolled(user):
            device.user = user
        else:
            device.enroll(user)
        logger.debug("%r is trusted by %s", device, identifier)
        return device


def deep_merge(base: Mapping[str, Any], *overrides: Mapping[str, Any]) -> dict:
    """``base`` with each of ``overrides`` laid over it: dicts merge key by
    key, anything else (lists included) is replaced."""
    merged = dict(base)
    for override in overrides:
        for key, value in override.items():
            current = merged.get(key)
            if isinstance(current, Mapping) and isinstance(value, Mapping):
                merged[key] = deep_merge(current, value)
            else:
                merged[key] = value
    return merged
