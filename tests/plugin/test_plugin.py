"""The pytest plugin, tested from outside: inner test suites run by
``pytester``, against an in-process server and an external one.

The helpers that ``cotter_server`` hands out are also tested directly, with
the plugin the project's own run loads.
"""

from __future__ import annotations

import importlib.metadata

import pytest

from mock_cotter import MockCotterServer
from mock_cotter.testing import CotterAdminError, CotterServer

pytest_plugins = ["pytester"]

ALICE = "alice@example.com"


@pytest.fixture(autouse=True)
def _no_external_server(monkeypatch):
    """Inner runs start their own server unless a test says otherwise."""
    monkeypatch.delenv("MOCK_COTTER_URL", raising=False)


@pytest.fixture
def external():
    """A mock-cotter server outside the inner runs, as a container would be."""
    with MockCotterServer() as running:
        yield running


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    return {k: v for k, v in result.parseoutcomes().items() if k != "seconds"}


# -- loading ------------------------------------------------------------------


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    points = importlib.metadata.entry_points(group="pytest11")

    assert {p.name: p.value for p in points}["mock_cotter"] == (
        "mock_cotter.pytest_plugin"
    )


def test_the_options_and_ini_settings_are_in_pytest_help(pytester):
    result = pytester.runpytest("--help")

    result.stdout.fnmatch_lines(
        [
            "*--cotter-scenario=NAME*",
            "*--cotter-url=URL*",
            "*cotter_scenario (string)*",
            "*cotter_url (string)*",
        ]
    )


def test_the_marker_is_registered(pytester):
    result = pytester.runpytest("--markers")

    result.stdout.fnmatch_lines(["@pytest.mark.cotter(scenario=None, **fields):*"])


def test_no_server_starts_until_a_test_asks_and_then_only_one(pytester, monkeypatch):
    starts = []
    original = MockCotterServer.start

    def start(self):
        starts.append(self)
        return original(self)

    monkeypatch.setattr(MockCotterServer, "start", start)
    pytester.makepyfile(
        test_plain="def test_plain():\n    pass\n",
        test_cotter="""
        def test_one(cotter_server):
            pass

        def test_two(cotter_clock, cotter_device):
            pass
        """,
    )

    pytester.runpytest("test_plain.py").assert_outcomes(passed=1)
    assert starts == []
    pytester.runpytest().assert_outcomes(passed=3)
    assert len(starts) == 1


# -- cotter_server ------------------------------------------------------------


def test_each_test_gets_an_api_key_and_state_of_its_own(pytester):
    pytester.makepyfile(
        """
        KEYS = []

        def test_first(cotter_server):
            KEYS.append(cotter_server.api_key)
            cotter_server.mint_tokens("alice@example.com")
            assert cotter_server.user("alice@example.com") is not None

        def test_second(cotter_server):
            KEYS.append(cotter_server.api_key)
            assert cotter_server.user("alice@example.com") is None

        def test_the_keys_differ():
            assert len(set(KEYS)) == 2
        """
    )

    pytester.runpytest().assert_outcomes(passed=3)


def test_a_tests_state_is_reset_after_it(pytester):
    pytester.makepyfile(
        """
        FIRST = []

        def test_first(cotter_server):
            FIRST.append(cotter_server.api_key)
            cotter_server.mint_tokens("alice@example.com")

        def test_its_user_is_gone(cotter_service):
            first = cotter_service.client(FIRST[0])
            assert first.user("alice@example.com") is None
        """
    )

    pytester.runpytest().assert_outcomes(passed=2)


def test_cotter_server_gives_the_urls_and_the_keys(pytester):
    pytester.makepyfile(
        """
        import json
        import urllib.request

        def test_urls(cotter_server, cotter_service):
            assert cotter_server.url == cotter_service.url
            assert cotter_server.api_url == cotter_server.url + "/api/v0"
            health = cotter_server.url + "/_mock/health"
            with urllib.request.urlopen(health) as answer:
                assert json.load(answer)["api_url"] == cotter_server.api_url

        def test_keys(cotter_server):
            keys = cotter_server.keys()
            assert keys["jwks"]["keys"][0]["kid"] == keys["kid"]
            assert keys["event_public_key"]
        """
    )

    pytester.runpytest().assert_outcomes(passed=2)


# -- scenarios: marker, option, ini -------------------------------------------


SCENARIO_TESTS = """
import pytest

def test_default(cotter_server):
    print("SCENARIO", cotter_server.scenario()["name"])

@pytest.mark.cotter(scenario="denied")
def test_marked(cotter_server):
    assert cotter_server.scenario()["name"] == "denied"
"""


def test_the_marker_chooses_a_scenario_and_overrides_its_fields(pytester):
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.cotter(scenario="approved")

        def test_module_marker(cotter_server):
            assert cotter_server.scenario()["pending"]["outcome"] == "approved"

        @pytest.mark.cotter("denied", tokens={"access_token_lifetime": 60})
        def test_nearest_marker_wins(cotter_server):
            scenario = cotter_server.scenario()
            assert scenario["name"] == "denied"
            assert scenario["pending"] == {
                "outcome": "denied", "after_polls": 1, "by": "scenario phone"
            }
            assert scenario["tokens"]["access_token_lifetime"] == 60

        @pytest.mark.cotter(pending={"after_polls": 4})
        def test_fields_merge_into_the_module_scenario(cotter_server):
            pending = cotter_server.scenario()["pending"]
            assert (pending["outcome"], pending["after_polls"]) == ("approved", 4)

        @pytest.mark.cotter(tokens={"access_token_lifetime": 60})
        def test_overrides_reach_the_tokens(cotter_server):
            token = cotter_server.mint_tokens("alice@example.com")
            assert token["expires_in"] == 60
        """
    )

    pytester.runpytest().assert_outcomes(passed=4)


def test_a_bad_marker_fails_the_test_with_the_servers_message(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.cotter(scenario="no-such-scenario")
        def test_unknown_scenario(cotter_server):
            pass

        @pytest.mark.cotter(tokenz={"access_token_lifetime": 60})
        def test_unknown_field(cotter_server):
            pass

        def test_unaffected(cotter_server):
            pass
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.cotter: Unknown scenario 'no-such-scenario'; known "
            "scenarios: approved, *",
            "*@pytest.mark.cotter: inline scenario: invalid scenario:*",
            "*tokenz: unknown field; allowed here: *",
        ]
    )


def test_the_scenario_option_sets_the_default_and_the_marker_wins(pytester):
    pytester.makepyfile(SCENARIO_TESTS)

    result = pytester.runpytest("-s", "--cotter-scenario=expired")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*SCENARIO expired"])


def test_the_ini_sets_the_default_scenario_and_the_option_wins(pytester):
    pytester.makeini("[pytest]\ncotter_scenario = approved\n")
    pytester.makepyfile(SCENARIO_TESTS)

    from_ini = pytester.runpytest("-s")
    from_option = pytester.runpytest("-s", "--cotter-scenario=expired")

    from_ini.stdout.fnmatch_lines(["*SCENARIO approved"])
    from_option.stdout.fnmatch_lines(["*SCENARIO expired"])


def test_an_unknown_default_scenario_errors_every_test_that_uses_the_server(
    pytester,
):
    pytester.makepyfile(SCENARIO_TESTS + "\ndef test_plain():\n    pass\n")

    result = pytester.runpytest("--cotter-scenario=nope")

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*--cotter-scenario: Unknown scenario 'nope'*"])


# -- errors inside the server -------------------------------------------------


def test_an_exception_in_the_server_fails_the_test_that_caused_it(pytester):
    pytester.makepyfile(
        test_server_errors="""
        import urllib.error
        import urllib.request

        def explode(self):
            raise RuntimeError("the JWKS caught fire")

        def test_causes_it(cotter_server, cotter_service, monkeypatch):
            keys = cotter_service.server.runtime.keys
            monkeypatch.setattr(type(keys), "jwks", explode)
            try:
                urllib.request.urlopen(cotter_server.api_url + "/token/jwks")
            except urllib.error.HTTPError as answer:
                assert answer.code == 500  # the test alone would pass

        def test_after_it(cotter_server):
            cotter_server.keys()
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_causes_it _*",
            "*mock-cotter raised 1 unexpected exception while serving this test*",
            "*in explode",
            "*RuntimeError: the JWKS caught fire",
            "FAILED test_server_errors.py::test_causes_it - *",
        ]
    )


# -- cotter_clock, cotter_device, cotter_sdk ----------------------------------


def test_the_clock_fixture_moves_the_tests_own_clock(pytester):
    pytester.makepyfile(
        """
        from datetime import datetime, timezone

        def test_clock(cotter_clock, cotter_server, cotter_service):
            assert cotter_clock.freeze(1_600_000_000) == 1_600_000_000
            assert cotter_clock.frozen
            assert cotter_clock.advance(90) == 1_600_000_090
            moon = datetime(1969, 7, 20, 20, 17, tzinfo=timezone.utc)
            assert cotter_clock.set(moon) == moon.timestamp()
            assert cotter_clock() == moon.timestamp()
            assert not cotter_service.client().clock.frozen
            cotter_clock.unfreeze()
            assert not cotter_clock.frozen
        """
    )

    pytester.runpytest().assert_outcomes(passed=1)


def test_cotter_device_makes_phones_trusted_by_the_tests_user(pytester):
    pytester.makepyfile(
        """
        import pytest

        def test_phones(cotter_device, cotter_server):
            first = cotter_device()
            second = cotter_device("android")
            stranger = cotter_device(trusted=False)
            assert first.user["identifier"] == "user@example.com"
            assert second.user["ID"] == first.user["ID"]
            assert second.is_enrolled(first.user)
            assert stranger.user is None
            assert not stranger.is_enrolled(first.user)

        @pytest.mark.cotter(scenario="demo")
        def test_the_demo_phone(cotter_device):
            seed = bytes.fromhex("01" * 32)
            phone = cotter_device(seed=seed)
            assert phone.user["identifier"] == "alice@example.com"
            event = phone.login("alice@example.com")
            assert event["approved"] is True
        """
    )

    pytester.runpytest().assert_outcomes(passed=2)


def test_phones_sign_with_the_tests_virtual_clock(pytester):
    pytester.makepyfile(
        """
        import time

        def test_signing(cotter_device, cotter_clock):
            cotter_clock.freeze(1_500_000_000)  # 2017
            phone = cotter_device()
            assert phone.login("user@example.com")["approved"] is True
            phone.clock = time.time  # years away from the server's clock
            assert phone.login("user@example.com")["approved"] is False
        """
    )

    pytester.runpytest().assert_outcomes(passed=1)


def test_cotter_sdk_points_the_python_sdk_at_the_server_for_one_test(pytester):
    pytester.makepyfile(
        """
        from cotter import constants

        ORIGINAL = constants.CotterBackendURL

        def test_pointed(cotter_sdk, cotter_server):
            assert cotter_sdk.constants is constants
            assert constants.CotterBackendURL == cotter_server.api_url
            assert constants.CotterJSURL == cotter_server.url
            assert constants.CotterJWKSURL == (
                cotter_server.api_url + "/token/jwks"
            )

        def test_restored():
            assert constants.CotterBackendURL == ORIGINAL
        """
    )

    pytester.runpytest().assert_outcomes(passed=2)


def test_cotter_sdk_without_the_sdk_says_to_install_it(pytester):
    pytester.makeconftest(
        """
        import sys
        import pytest

        @pytest.fixture(autouse=True)
        def no_cotter(monkeypatch):
            monkeypatch.setitem(sys.modules, "cotter", None)
        """
    )
    pytester.makepyfile("def test_sdk(cotter_sdk):\n    pass\n")

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cannot be imported*: pip install cotter"])


# -- an external server -------------------------------------------------------

EXTERNAL_TESTS = """
def test_external(cotter_service, cotter_server, cotter_device):
    assert cotter_service.external and cotter_service.server is None
    print("KEY", cotter_server.api_key, "URL", cotter_server.url)
    cotter_device(identifier="alice@example.com")
"""


@pytest.mark.parametrize("how", ["option", "ini", "environment", "api_url"])
def test_the_fixtures_use_an_external_server_when_given_its_url(
    pytester, external, monkeypatch, how
):
    pytester.makepyfile(EXTERNAL_TESTS)
    args = ["-s"]
    if how == "option":
        args.append(f"--cotter-url={external.url}")
    elif how == "ini":
        pytester.makeini(f"[pytest]\ncotter_url = {external.url}\n")
    elif how == "environment":
        monkeypatch.setenv("MOCK_COTTER_URL", external.url)
    else:
        args.append(f"--cotter-url={external.api_url}")

    result = pytester.runpytest(*args)

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*KEY * URL {external.url}"])
    key = result.stdout.str().split("KEY ", 1)[1].split()[0]
    created = external.runtime.journal.entries(path="/api/v0/user/create")
    assert [entry.api_key for entry in created] == [key]
    # The test's key was reset afterwards.
    assert key not in external.runtime.store.api_keys()


def test_an_unreachable_external_server_is_reported_clearly(pytester, external):
    url = external.url
    external.stop()
    pytester.makepyfile(EXTERNAL_TESTS)

    result = pytester.runpytest(f"--cotter-url={url}")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*No mock-cotter server answers at {url}*"])


# -- pytest-xdist -------------------------------------------------------------

XDIST_TESTS = """
import os
import pytest

ALICE = "alice@example.com"

def record(cotter_service):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "serial")
    with open(os.environ["SERVERS_FILE"], "a") as out:
        out.write(f"{worker} {cotter_service.url}\\n")

@pytest.mark.parametrize("n", range(4))
def test_a_fresh_user_every_time(cotter_service, cotter_server, cotter_device, n):
    record(cotter_service)
    assert cotter_server.user(ALICE) is None
    cotter_device(identifier=ALICE)
    assert len(cotter_server.requests("/user/create")) == 1

@pytest.mark.cotter(scenario="denied")
def test_denied(cotter_device):
    cotter_device(identifier=ALICE)
    app = cotter_device(trusted=False)
    assert app.poll_event(app.request_login(ALICE)["ID"])["approved"] is False

def test_clock(cotter_clock):
    assert cotter_clock.freeze(1_000) == 1_000

def test_fails_on_purpose(cotter_server):
    cotter_server.assert_called("/event/create")
"""


def test_xdist_gives_the_same_results_as_a_serial_run(pytester, monkeypatch):
    servers = pytester.path / "servers.txt"
    monkeypatch.setenv("SERVERS_FILE", str(servers))
    pytester.makepyfile(XDIST_TESTS)

    serial = outcomes(pytester.runpytest())
    servers.unlink()
    parallel = outcomes(pytester.runpytest_subprocess("-n", "2"))

    assert serial == parallel == {"passed": 6, "failed": 1}
    # One server per worker.
    per_worker = dict(line.split() for line in servers.read_text().splitlines())
    assert sorted(per_worker) == ["gw0", "gw1"]
    assert len(set(per_worker.values())) == 2


def test_xdist_workers_share_an_external_server_without_sharing_state(
    pytester, external, monkeypatch
):
    monkeypatch.setenv("SERVERS_FILE", str(pytester.path / "servers.txt"))
    pytester.makepyfile(XDIST_TESTS)

    result = pytester.runpytest_subprocess("-n", "2", f"--cotter-url={external.url}")

    assert outcomes(result) == {"passed": 6, "failed": 1}
    keys = {entry.api_key for entry in external.runtime.journal.entries()}
    # One key per test; test_clock and test_fails_on_purpose call no endpoint.
    assert len(keys) == 5


# -- the CotterServer handle, directly ----------------------------------------


def test_assert_called_counts_calls_matching_method_and_json(cotter_server):
    app = cotter_server.device(trusted=False)
    cotter_server.device(identifier=ALICE)
    app.request_login(ALICE)
    app.request_login(ALICE)

    calls = cotter_server.assert_called(
        "/event/create_pending", times=2, json_subset={"event": "LOGIN"}
    )

    assert [c["status"] for c in calls] == [200, 200]
    cotter_server.assert_called("/event/*", method="POST", times=2)
    cotter_server.assert_called("/api/v0/event/create_pending", times=2)
    cotter_server.assert_called("/event/create_pending", times=0, method="GET")
    with pytest.raises(AssertionError) as failed:
        cotter_server.assert_called(
            "/event/create_pending", json_subset={"event": "LOGIN_WITH_DEVICE"}
        )
    message = str(failed.value)
    assert message.startswith(
        'Expected /api/v0/event/create_pending with JSON containing {"event": '
        '"LOGIN_WITH_DEVICE"} to be called at least once; it was called 0 times.'
    )
    assert "POST /api/v0/event/create_pending -> 200" in message


def test_the_journal_shows_only_the_tests_own_calls(cotter_server, cotter_service):
    other = cotter_service.client()
    other.device(identifier=ALICE)
    cotter_server.device(identifier=ALICE)

    mine = cotter_server.requests()

    assert mine and {entry["api_key"] for entry in mine} == {cotter_server.api_key}
    other.reset()


def test_approve_deny_and_expire_answer_the_newest_waiting_request(
    cotter_server,
):
    cotter_server.device(identifier=ALICE)
    app = cotter_server.device(trusted=False)
    first, second, third = (app.request_login(ALICE)["ID"] for _ in range(3))

    denied = cotter_server.deny()
    approved = cotter_server.approve(first)
    expired = cotter_server.expire()

    assert (denied["ID"], approved["ID"], expired["ID"]) == (third, first, second)
    assert app.poll_event(first)["approved"] is True
    assert "oauth_token" not in app.poll_event(third)
    assert [e["answered_by"] for e in cotter_server.events()] == ["admin"] * 3
    assert cotter_server.events()[1]["expired"] is True
    with pytest.raises(CotterAdminError, match="No event .* is waiting"):
        cotter_server.approve()


def test_mint_tokens_adds_claims_and_lifetime(cotter_server, cotter_clock):
    now = cotter_clock.freeze(1_700_000_000)

    token = cotter_server.mint_tokens(ALICE, lifetime=120, role="admin")

    import jwt

    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert (claims["role"], claims["exp"] - now) == ("admin", 120)
    assert claims["aud"] == cotter_server.api_key


def test_faults_make_the_tests_requests_fail(cotter_server):
    assert cotter_server.faults({"path": "/api/v0/user", "status": 503}) == 1

    with pytest.raises(CotterAdminError) as failed:
        cotter_server.user(ALICE)
    assert failed.value.status == 503

    assert cotter_server.faults() == 0
    assert cotter_server.user(ALICE) is None


def test_set_scenario_takes_a_name_or_a_document(cotter_server):
    assert cotter_server.set_scenario("denied") == "denied"
    assert cotter_server.scenario()["pending"]["outcome"] == "denied"

    document = {"name": "mine", "users": [{"identifier": ALICE}]}
    assert cotter_server.set_scenario(document) == "mine"
    assert cotter_server.user(ALICE) is not None


def test_a_handle_works_without_pytest_against_any_server(external):
    with CotterServer(external.api_url) as server:
        assert server.url == external.url
        assert server.api_key.startswith("test-")
        server.mint_tokens(ALICE)
        assert server.user(ALICE) is not None
        server.reset()
        assert server.user(ALICE) is None
