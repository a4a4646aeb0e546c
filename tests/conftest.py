"""Shared fixtures: one real HTTP server per store, a fresh API key per test.

Every test that uses ``server`` (or ``api``) runs once against the in-memory
store and once against the SQLite store (``[memory]``, ``[sqlite]``): both
stores must pass the same suite.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from mock_cotter import MockCotterServer
from mock_cotter.store import SqliteStore

# The SQLite store keeps decoded records between requests; a record changed
# without save_* would then look saved until a restart. In tests such a
# request fails (a 500, and the test with it) instead.
SqliteStore.check_saves = True


class Api:
    """A client for one API key of a running mock, over real HTTP."""

    def __init__(self, server: MockCotterServer, api_key: str):
        self.server = server
        self.api_key = api_key
        self.session = requests.Session()
        self.session.headers["API_KEY_ID"] = api_key

    def url(self, path: str) -> str:
        if path.startswith("/_mock") or path.startswith("/app"):
            return self.server.url + path
        return self.server.api_url + path

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url(path), timeout=10, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create_user(self, identifier: str = "user@example.com") -> dict:
        response = self.post("/user/create", json={"identifier": identifier})
        assert response.status_code == 200, response.text
        return response.json()

    def mint(self, identifier: str = "user@example.com", **fields) -> dict:
        response = self.post("/_mock/tokens", json={"identifier": identifier, **fields})
        assert response.status_code == 200, response.text
        return response.json()["oauth_token"]

    def close(self) -> None:
        self.session.close()


STORES = ("memory", "sqlite")


@pytest.fixture(scope="session", params=STORES)
def server(request, tmp_path_factory) -> Iterator[MockCotterServer]:
    config: dict = {"seed": 1234}
    if request.param == "sqlite":
        state = tmp_path_factory.mktemp("state") / "state.sqlite3"
        config["state_file"] = str(state)
    with MockCotterServer(config=config) as running:
        yield running


@pytest.fixture
def api_key() -> str:
    """A key no other test uses, so tests share the server but not state."""
    return f"test-{uuid.uuid4()}"


@pytest.fixture
def api(server: MockCotterServer, api_key: str) -> Iterator[Api]:
    client = Api(server, api_key)
    yield client
    client.close()
    server.runtime.reset(api_key)


@pytest.fixture
def make_server():
    """Start extra servers with their own settings; stopped after the test."""
    started: list[MockCotterServer] = []

    def start(**config) -> MockCotterServer:
        running = MockCotterServer(config=config).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(autouse=True)
def _no_server_errors(request) -> Iterator[None]:
    """A request that made the mock fail unexpectedly fails the test."""
    if "server" not in request.fixturenames:
        # Not asking for the shared server keeps a test out of the
        # memory/sqlite parametrization.
        yield
        return
    server: MockCotterServer = request.getfixturevalue("server")
    server.runtime.errors.clear()
    yield
    errors = list(server.runtime.errors)
    if errors:
        raise errors[0]
