"""The pytest plugin: a Cotter stand-in, a virtual clock and simulated phones
for every test, with nothing to import or configure.

It is loaded through the ``pytest11`` entry point. Nothing starts until a
test asks for a ``cotter_*`` fixture: then one server starts for the whole
session (per pytest-xdist worker), in a background thread, unless
``--cotter-url`` (or ``cotter_url``, or ``MOCK_COTTER_URL``) names one that
is already running. Each test gets an API key of its own, so tests never
share state, and that key is reset after the test.

Everything goes through the server's HTTP admin API (``/_mock``), so the
in-process and external servers behave the same. Only the check for
exceptions raised inside the server needs the in-process server: there the
test that caused them fails, with their tracebacks.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from types import ModuleType

    from mock_cotter.server import MockCotterServer
    from mock_cotter.testing.client import CotterServer, Transport

logger = logging.getLogger(__name__)

URL_ENV = "MOCK_COTTER_URL"
MARKER = "cotter"


class CotterServerError(Exception):
    """The mock raised unexpected exceptions while serving a test."""


# -- options ------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mock-cotter", "mock-cotter (Cotter API stand-in)")
    group.addoption(
        "--cotter-scenario",
        dest="cotter_scenario",
        metavar="NAME",
        default=None,
        help="Scenario every test's API key starts in (a name the server "
        "knows, e.g. approved, denied, expired). Default: the server's.",
    )
    group.addoption(
        "--cotter-url",
        dest="cotter_url",
        metavar="URL",
        default=None,
        help="Use the mock-cotter server running at URL (its root, e.g. "
        f"http://localhost:8000) instead of starting one. [env: {URL_ENV}]",
    )
    parser.addini(
        "cotter_scenario", "Default for --cotter-scenario.", type="string", default=""
    )
    parser.addini("cotter_url", "Default for --cotter-url.", type="string", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(scenario=None, **fields): play a mock-cotter scenario in this "
        "test; other keywords are scenario fields laid over it "
        "(e.g. tokens={'access_token_lifetime': 60}).",
    )


def _setting(config: pytest.Config, name: str, env: str | None = None) -> str | None:
    """A setting from the command line, else the environment, else the ini."""
    value = config.getoption(name)
    if not value and env:
        value = os.environ.get(env)
    if not value:
        value = config.getini(name)
    return (value or "").strip() or None


# -- the session's server -----------------------------------------------------


class CotterService:
    """The server this session uses: started here, or running elsewhere.

    ``server`` is the in-process :class:`~mock_cotter.MockCotterServer`, or
    None for an external one.
    """

    def __init__(
        self,
        url: str,
        server: MockCotterServer | None = None,
        default_scenario: str | None = None,
    ):
        from mock_cotter.testing.client import API_PREFIX, Transport

        url = url.rstrip("/")
        if url.endswith(API_PREFIX):
            url = url[: -len(API_PREFIX)]
        self.url = url
        self.server = server
        self.default_scenario = default_scenario
        self.transport: Transport = Transport(url)

    @property
    def api_url(self) -> str:
        return self.url + "/api/v0"

    @property
    def external(self) -> bool:
        return self.server is None

    @classmethod
    def start(cls, default_scenario: str | None = None) -> CotterService:
        """Start a server in a background thread of this process."""
        from mock_cotter.server import MockCotterServer

        server = MockCotterServer().start()
        return cls(server.url, server, default_scenario)

    @classmethod
    def connect(cls, url: str, default_scenario: str | None = None) -> CotterService:
        """Use the server running at ``url``; fail at once if it is not there."""
        from mock_cotter.testing.client import CotterAdminError

        service = cls(url, None, default_scenario)
        try:
            service.client().health()
        except CotterAdminError as exc:
            problem = str(exc)
        else:
            return service
        service.stop()
        pytest.fail(
            f"No mock-cotter server answers at {url} "
            f"(--cotter-url, cotter_url or {URL_ENV}): {problem}",
            pytrace=False,
        )

    def client(self, api_key: str | None = None) -> CotterServer:
        """A handle for ``api_key`` (a new unique key if None)."""
        from mock_cotter.testing.client import CotterServer

        return CotterServer(self.url, api_key, transport=self.transport)

    def error_count(self) -> int:
        return len(self.server.runtime.errors) if self.server else 0

    def errors_since(self, count: int) -> list[BaseException]:
        return list(self.server.runtime.errors[count:]) if self.server else []

    def stop(self) -> None:
        self.transport.close()
        if self.server is not None:
            self.server.stop()

    def __repr__(self) -> str:
        where = "external" if self.external else "in-process"
        return f"<CotterService {where} {self.url}>"


@pytest.fixture(scope="session")
def cotter_service(pytestconfig: pytest.Config) -> Iterator[CotterService]:
    """The mock-cotter server of this session (of this xdist worker)."""
    url = _setting(pytestconfig, "cotter_url", URL_ENV)
    scenario = _setting(pytestconfig, "cotter_scenario")
    if url:
        service = CotterService.connect(url, scenario)
    else:
        service = CotterService.start(scenario)
    logger.info("mock-cotter for this session: %r", service)
    yield service
    service.stop()


# -- one test's view of it ----------------------------------------------------


class _ErrorWatch:
    """Exceptions the in-process server records while one test runs."""

    def __init__(self, service: CotterService):
        self.service = service
        self.seen = service.error_count()

    def check(self, when: str) -> None:
        __tracebackhide__ = True
        errors = self.service.errors_since(self.seen)
        self.seen += len(errors)
        if not errors:
            return
        tracebacks = "\n".join(
            "".join(traceback.format_exception(type(e), e, e.__traceback__))
            for e in errors
        )
        raise CotterServerError(
            f"mock-cotter raised {len(errors)} unexpected "
            f"exception{'s' if len(errors) > 1 else ''} while serving this "
            f"test ({when}); the client got a 500:\n\n{tracebacks}"
        )


_WATCH = pytest.StashKey[_ErrorWatch]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    __tracebackhide__ = True
    try:
        return (yield)
    finally:
        watch = item.stash.get(_WATCH, None)
        if watch is not None:
            watch.check("during the test")


def _marker_settings(
    node: pytest.Item, default: str | None
) -> tuple[str | None, dict[str, Any]]:
    """The scenario name and the fields laid over it, from every ``cotter``
    marker on the test, the nearest winning."""
    from mock_cotter.testing.client import deep_merge

    scenario = default
    fields: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers(MARKER))):
        if len(marker.args) > 1:
            pytest.fail(
                f"@pytest.mark.{MARKER} takes one scenario name and keyword "
                f"fields, got {marker.args!r}.",
                pytrace=False,
            )
        kwargs = dict(marker.kwargs)
        if marker.args:
            scenario = marker.args[0]
        if "scenario" in kwargs:
            scenario = kwargs.pop("scenario")
        fields = deep_merge(fields, kwargs)
    return scenario, fields


def _play(server: CotterServer, scenario: str | None, fields: dict[str, Any]) -> None:
    from mock_cotter.testing.client import deep_merge

    if scenario is not None:
        server.set_scenario(scenario)
    if fields:
        server.set_scenario(deep_merge(server.scenario(), fields))


@pytest.fixture
def cotter_server(
    cotter_service: CotterService, request: pytest.FixtureRequest
) -> Iterator[CotterServer]:
    """The session's mock-cotter server, seen through an API key of this
    test's own, in the scenario its ``cotter`` marker chose."""
    from mock_cotter.testing.client import CotterAdminError

    server = cotter_service.client()
    watch = _ErrorWatch(cotter_service)
    request.node.stash[_WATCH] = watch
    scenario, fields = _marker_settings(request.node, cotter_service.default_scenario)
    problem = None
    try:
        _play(server, scenario, fields)
    except CotterAdminError as exc:
        problem = exc.body.get("msg") if isinstance(exc.body, dict) else str(exc)
    if problem is not None:
        marked = request.node.get_closest_marker(MARKER) is not None
        source = f"@pytest.mark.{MARKER}" if marked else "--cotter-scenario"
        pytest.fail(f"{source}: {problem}", pytrace=False)
    yield server
    del request.node.stash[_WATCH]
    # The key is never used again: this only frees what the test left. In
    # process, the runtime is at hand and a reset costs no HTTP round trip.
    if cotter_service.server is not None:
        cotter_service.server.runtime.reset(server.api_key)
    else:
        server.reset()
    watch.check("after the test")


@pytest.fixture
def cotter_clock(cotter_server: CotterServer):
    """The virtual clock of this test's API key: ``freeze``, ``unfreeze``,
    ``set``, ``advance``, ``now``."""
    return cotter_server.clock


@pytest.fixture
def cotter_device(cotter_server: CotterServer):
    """Make simulated phones (:class:`~mock_cotter.testing.TrustedDevice`)
    for this test's user: ``cotter_device(sdk="react-native", *,
    identifier=None, trusted=True, seed=None, **options)``."""
    return cotter_server.device


@pytest.fixture
def cotter_sdk(
    cotter_server: CotterServer, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """The Python ``cotter`` package, pointed at this test's server until
    the test ends (its backend, JS and JWKS URLs)."""
    try:
        import cotter
        from cotter import constants
    except ImportError as exc:
        pytest.fail(
            "The cotter_sdk fixture points the Python Cotter SDK at the mock, "
            f"but it cannot be imported ({exc}): pip install cotter",
            pytrace=False,
        )
    monkeypatch.setattr(constants, "CotterBackendURL", cotter_server.api_url)
    monkeypatch.setattr(constants, "CotterJSURL", cotter_server.url)
    monkeypatch.setattr(
        constants, "CotterJWKSURL", cotter_server.api_url + "/token/jwks"
    )
    return cotter
