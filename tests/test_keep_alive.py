"""Keep-alive connections on the in-process server, byte for byte over TCP.

A test suite's HTTP session reuses one connection for hundreds of requests;
these tests pin down when a connection stays open, that it always carries
the next request intact, and when it is closed instead.
"""

from __future__ import annotations

import http.client
import json
import socket

import pytest
from flask import Flask, Response

from mock_cotter import MockCotterServer
from mock_cotter.server import KEEP_ALIVE_MAX_BODY, CotterRequestHandler


def raw_request(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    version: str = "HTTP/1.1",
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1"]
    fields = {"Content-Length": str(len(body)), **(headers or {})}
    lines += [f"{name}: {value}" for name, value in fields.items() if value]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Unbuffered:
    """Stands in for a socket to ``http.client.HTTPResponse``, which then
    reads it without a buffer: a buffered reader may take in the start of
    the next answer, when the server sent both before the client read the
    first, and the next response would find nothing left to read."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def makefile(self, mode: str):
        return self._sock.makefile(mode, buffering=0)


def read_response(sock: socket.socket) -> http.client.HTTPResponse:
    """Read one answer from ``sock``, leaving later bytes on the socket."""
    response = http.client.HTTPResponse(_Unbuffered(sock), method="GET")
    response.begin()
    response.body = response.read()
    return response


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server has closed its end (after any pending bytes)."""
    sock.settimeout(5)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@pytest.fixture(scope="module")
def running() -> MockCotterServer:
    with MockCotterServer() as server:
        yield server


@pytest.fixture
def connection(running):
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=10)
    yield sock
    sock.close()


def test_http11_requests_reuse_one_connection(connection):
    for _ in range(3):
        connection.sendall(raw_request("GET", "/_mock/health"))
        response = read_response(connection)

        assert response.status == 200
        assert response.getheader("Connection") is None
        assert json.loads(response.body)["status"] == "ok"


def test_pipelined_requests_are_answered_in_order(connection):
    connection.sendall(
        raw_request("GET", "/_mock/health")
        + raw_request("GET", "/api/v0/nope")
        + raw_request("GET", "/_mock/health")
    )

    statuses = [read_response(connection).status for _ in range(3)]

    assert statuses == [200, 404, 200]


def test_a_body_the_app_leaves_unread_does_not_leak_into_the_next_request(
    connection,
):
    # GET /_mock/health never reads its body; if the body stayed on the
    # connection it would be parsed as the next request line.
    body = b"GET /api/v0/nope HTTP/1.1\r\n\r\n" * 50
    connection.sendall(raw_request("GET", "/_mock/health", body=body))
    connection.sendall(raw_request("GET", "/_mock/health"))

    first, second = read_response(connection), read_response(connection)

    assert (first.status, second.status) == (200, 200)


def test_the_underscore_header_reaches_the_app_on_a_reused_connection(connection):
    for key in ("first-key", "second-key"):
        connection.sendall(
            raw_request(
                "GET", "/api/v0/notification/company", headers={"API_KEY_ID": key}
            )
        )
        response = read_response(connection)

        assert response.status == 200
        assert json.loads(response.body)["company_id"] == key


@pytest.mark.parametrize(
    "request_bytes",
    [
        raw_request("GET", "/_mock/health", version="HTTP/1.0"),
        raw_request("GET", "/_mock/health", headers={"Connection": "close"}),
        raw_request(
            "POST",
            "/_mock/health",
            body=b"4\r\nabcd\r\n0\r\n\r\n",
            headers={"Content-Length": "", "Transfer-Encoding": "chunked"},
        ),
        raw_request("POST", "/_mock/health", body=b"x" * (KEEP_ALIVE_MAX_BODY + 1)),
    ],
    ids=["http-1.0", "client-asks-close", "chunked-body", "body-over-1-MiB"],
)
def test_the_connection_is_closed_after_the_answer(connection, request_bytes):
    connection.sendall(request_bytes)

    response = read_response(connection)

    assert response.getheader("Connection") == "close"
    assert closed_by_server(connection)


def test_an_answer_that_fails_part_way_closes_its_connection():
    app = Flask("failing")

    @app.get("/half")
    def half():
        def chunks():
            yield b"first half"
            raise RuntimeError("the body broke off")

        response = Response(chunks(), mimetype="text/plain")
        response.headers["Content-Length"] = "20"
        return response

    with MockCotterServer(app) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with sock:
            sock.sendall(raw_request("GET", "/half"))

            # The bytes on the wire no longer frame a next answer.
            assert closed_by_server(sock)


def test_a_drop_fault_on_a_reused_connection_drops_it(running):
    headers = {"Content-Type": "application/json", "API_KEY_ID": "drop-key"}
    faults = {
        "faults": [{"path": "/api/v0/notification/company", "drop": True, "times": 1}]
    }
    client = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        client.request("PUT", "/_mock/faults", json.dumps(faults), headers)
        assert client.getresponse().read()

        client.request("GET", "/api/v0/notification/company", headers=headers)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            client.getresponse()
        client.close()

        # The next request opens a new connection and gets its answer.
        client.request("GET", "/api/v0/notification/company", headers=headers)
        assert client.getresponse().status == 200
    finally:
        client.close()


def test_stopping_the_server_ends_connections_clients_keep():
    server = MockCotterServer().start()
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    client.request("GET", "/_mock/health")
    client.getresponse().read()

    server.stop()

    # The pooled connection must not reach a stopped server's app.
    client.request("GET", "/_mock/health")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        client.getresponse()
    client.close()


def test_an_idle_connection_is_closed_after_the_idle_timeout(monkeypatch):
    monkeypatch.setattr(CotterRequestHandler, "timeout", 0.2)
    with MockCotterServer() as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with sock:
            sock.sendall(raw_request("GET", "/_mock/health"))
            assert read_response(sock).status == 200

            assert closed_by_server(sock)


# -- reading the request head --------------------------------------------------


def test_an_answer_goes_out_in_one_piece_after_the_head(connection):
    connection.sendall(raw_request("GET", "/_mock/health"))
    connection.settimeout(5)

    first = connection.recv(65536)

    # The head and the body arrive together: the answer is whole.
    head, _, body = first.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["status"] == "ok"


def test_a_folded_header_field_continues_the_one_before(connection):
    connection.sendall(
        b"GET /api/v0/notification/company HTTP/1.1\r\nHost: x\r\n"
        b"API_KEY_ID: folded\r\n  -key\r\nContent-Length: 0\r\n\r\n"
    )

    response = read_response(connection)

    assert response.status == 200
    assert json.loads(response.body)["company_id"] == "folded -key"


def test_a_repeated_header_field_reaches_the_app_joined(running):
    # The X-Mock-Cotter-Scenario header, sent twice, names no scenario.
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(
            b"GET /api/v0/notification/company HTTP/1.1\r\nHost: x\r\n"
            b"API_KEY_ID: k\r\nX-Mock-Cotter-Scenario: denied\r\n"
            b"X-Mock-Cotter-Scenario: approved\r\nContent-Length: 0\r\n\r\n"
        )
        response = read_response(sock)

    assert response.status == 400
    assert "denied,approved" in json.loads(response.body)["msg"]


def read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize(
    ("head", "answer"),
    [
        (
            b"GET /_mock/health HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
            b"HTTP/1.1 431 Line too long",
        ),
        (
            b"GET /_mock/health HTTP/1.1\r\n"
            + b"".join(b"X-%d: 1\r\n" % n for n in range(101))
            + b"\r\n",
            b"HTTP/1.1 431 Too many headers",
        ),
        (b"GET /_mock/health with spaces HTTP/1.1\r\n\r\n", b"HTTP/1.1 400"),
        # The standard library answers these before it knows the version,
        # so without a head, as HTTP/0.9 would.
        (b"GET /_mock/health HTTP/2.0\r\n\r\n", b"Invalid HTTP version (2.0)"),
        (b"GET /_mock/health HTTP/one\r\n\r\n", b"Bad request version"),
    ],
    ids=["long-line", "too-many-fields", "bad-line", "http-2", "bad-version"],
)
def test_a_malformed_head_is_answered_and_the_connection_closed(
    connection, head, answer
):
    # Sent after a keep-alive answer: the error must still close.
    connection.sendall(raw_request("GET", "/_mock/health"))
    assert read_response(connection).status == 200
    connection.sendall(head)

    # Everything up to the server's close: one answer, which says so.
    data = read_until_closed(connection)
    assert answer in data
    if answer.startswith(b"HTTP/1.1"):
        assert data.count(b"HTTP/1.1 ") == 1
        assert b"\r\nConnection: close\r\n" in data


def test_expect_100_continue_is_answered_before_the_body_is_sent(connection):
    body = json.dumps({"api_key": "expect-key"}).encode()
    connection.sendall(
        raw_request(
            "POST",
            "/_mock/reset",
            headers={
                "Content-Length": str(len(body)),
                "Content-Type": "application/json",
                "Expect": "100-continue",
            },
        )
    )
    connection.settimeout(5)

    interim = connection.recv(65536)
    connection.sendall(body)
    response = read_response(connection)

    assert interim.startswith(b"HTTP/1.1 100")
    assert response.status == 200
    assert json.loads(response.body) == {"reset": "expect-key"}
