"""The in-process server handle, over real HTTP."""

from __future__ import annotations

import http.client
import threading

import pytest
import requests
from werkzeug.serving import make_server

from mock_cotter import MockCotterServer, create_app


def get_with_raw_header(port: int, path: str, header: str, value: str) -> dict:
    """Send ``header`` byte for byte, as an SDK's HTTP stack would."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path)
        connection.putheader(header, value)
        connection.endheaders()
        response = connection.getresponse()
        return {"status": response.status, "body": response.read().decode()}
    finally:
        connection.close()


@pytest.mark.parametrize("header", ["API_KEY_ID", "api_key_id", "Api_Key_Id"])
def test_the_underscore_api_key_header_reaches_the_app(server, header):
    answer = get_with_raw_header(
        server.port, "/api/v0/notification/company", header, "underscore-key"
    )

    assert answer["status"] == 200
    assert '"company_id":"underscore-key"' in answer["body"]


def test_plain_werkzeug_would_drop_the_header_our_handler_keeps():
    # The reason CotterRequestHandler exists: without it the SDKs' key is lost.
    plain = make_server("127.0.0.1", 0, create_app(), threaded=True)
    thread = threading.Thread(target=plain.serve_forever, daemon=True)
    thread.start()
    try:
        answer = get_with_raw_header(
            plain.server_port, "/api/v0/notification/company", "API_KEY_ID", "k"
        )
    finally:
        plain.shutdown()
        plain.server_close()

    assert answer["status"] == 401


def test_start_on_port_zero_picks_a_free_port_and_serves_at_once():
    with MockCotterServer() as running:
        response = requests.get(running.url + "/_mock/health", timeout=10)

        assert running.port > 0
        assert running.api_url == running.url + "/api/v0"
        assert response.json()["status"] == "ok"


def test_stop_closes_the_port_even_with_a_keep_alive_client():
    running = MockCotterServer().start()
    session = requests.Session()
    session.get(running.url + "/_mock/health", timeout=10)

    running.stop()

    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{running.port}/_mock/health", timeout=2)
    session.close()


def test_a_stopped_server_can_start_again_with_its_state():
    running = MockCotterServer()
    with running:
        requests.post(
            running.api_url + "/user/create",
            json={"identifier": "kept@example.com"},
            headers={"API_KEY_ID": "k"},
            timeout=10,
        )
    with running:
        response = requests.get(
            running.api_url + "/user?identifier=kept@example.com",
            headers={"API_KEY_ID": "k"},
            timeout=10,
        )

    assert response.json()["identifier"] == "kept@example.com"


def test_url_of_a_server_that_is_not_running_raises():
    with pytest.raises(RuntimeError, match="not running"):
        MockCotterServer().url  # noqa: B018


def test_starting_twice_raises():
    with MockCotterServer() as running, pytest.raises(RuntimeError, match="already"):
        running.start()


def test_two_servers_in_one_process_keep_separate_state():
    with MockCotterServer() as first, MockCotterServer() as second:
        headers = {"API_KEY_ID": "shared-key"}
        requests.post(
            first.api_url + "/user/create",
            json={"identifier": "only-first@example.com"},
            headers=headers,
            timeout=10,
        )
        response = requests.get(
            second.api_url + "/user?identifier=only-first@example.com",
            headers=headers,
            timeout=10,
        )

    assert response.json()["ID"] == "00000000-0000-0000-0000-000000000000"


def test_api_keys_are_isolated_on_one_server(api, server):
    from conftest import Api

    api.create_user("private@example.com")
    other = Api(server, api.api_key + "-neighbour")

    response = other.get("/user?identifier=private@example.com")

    assert response.json()["ID"] == "00000000-0000-0000-0000-000000000000"


def test_cors_preflight_allows_the_sdk_headers_with_credentials(api):
    response = api.session.options(
        api.url("/token/" + api.api_key),
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "API_KEY_ID, Content-Type",
        },
        timeout=10,
    )

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "API_KEY_ID" in response.headers["Access-Control-Allow-Headers"]


def test_notification_company_answers_an_empty_app_id(api):
    response = api.get("/notification/company")

    assert response.status_code == 200
    assert response.json()["app_id"] == ""
    assert response.json()["company_id"] == api.api_key


def test_admin_keys_publish_what_verifies_the_mocks_signatures(api):
    keys = api.get("/_mock/keys").json()

    assert keys["jwks"] == api.get("/token/jwks").json()
    assert keys["jwt_public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert len(__import__("base64").b64decode(keys["event_public_key"])) == 32
