"""The SQLite store (``state_file``): state that outlives the server process
and that several processes share.

Every HTTP test that uses the shared ``server`` runs against both stores
(see conftest.py); these tests cover what only a persistent store can do,
and the store interface both stores implement.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from mock_cotter import MockCotterServer, create_app
from mock_cotter.errors import ConfigError, InvalidGrant
from mock_cotter.models import (
    PIN,
    TRUSTED_DEVICE,
    Challenge,
    Event,
    Method,
    RefreshToken,
    User,
)
from mock_cotter.store import MemoryStore, Namespace, SqliteStore, Store
from mock_cotter.testing import TrustedDevice

KEY = "persistent-key"
PHONE_SEED = bytes(range(32))
LAPTOP_SEED = bytes(range(32, 64))
EMAIL = "alice@example.com"


# -- helpers -------------------------------------------------------------------


def call(url: str, method: str, path: str, api_key: str = KEY, **kwargs):
    return requests.request(
        method,
        f"{url}/api/v0{path}" if not path.startswith("/_mock") else url + path,
        headers={"API_KEY_ID": api_key},
        timeout=30,
        **kwargs,
    )


def mint(url: str, identifier: str = EMAIL, api_key: str = KEY) -> str:
    response = call(
        url, "POST", "/_mock/tokens", api_key, json={"identifier": identifier}
    )
    assert response.status_code == 200, response.text
    return response.json()["oauth_token"]["refresh_token"]


def refresh(url: str, token: str, api_key: str = KEY) -> requests.Response:
    body = {"grant_type": "refresh_token", "refresh_token": token}
    return call(url, "POST", f"/token/{api_key}", api_key, json=body)


def enroll_pin(url: str, user: dict, code: str) -> None:
    body = {"method": PIN, "enrolled": True, "code": code}
    response = call(url, "PUT", f"/user/{user['client_user_id']}", json=body)
    assert response.status_code == 200, response.text


def pin_login(url: str, user: dict, code: str) -> dict:
    body = {
        "client_user_id": user["client_user_id"],
        "issuer": KEY,
        "event": "LOGIN",
        "ip": "10.0.0.2",
        "location": "unknown",
        "timestamp": str(int(time.time())),
        "method": PIN,
        "code": code,
        "approved": True,
    }
    response = call(url, "POST", "/event/create?oauth_token=true", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def user_id_of(url: str, identifier: str, api_key: str = KEY) -> str:
    response = call(url, "GET", "/user", api_key, params={"identifier": identifier})
    assert response.status_code == 200, response.text
    return response.json()["ID"]


def create_user(url: str, identifier: str, api_key: str = KEY) -> dict:
    response = call(
        url, "POST", "/user/create", api_key, json={"identifier": identifier}
    )
    assert response.status_code == 200, response.text
    return response.json()


def copy_state(source: Path, target: Path) -> None:
    """A consistent copy of a state file that a server may have open."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


class Worker:
    """A ``mock-cotter serve`` process."""

    def __init__(self, state_file: Path, log: Path, *args: str):
        self.log = log
        with open(log, "wb") as stderr:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mock_cotter",
                    "serve",
                    "--port",
                    "0",
                    "--log-level",
                    "warning",
                    "--state-file",
                    str(state_file),
                    *args,
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.url = ""

    def wait_ready(self) -> Worker:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"(http://\S+)/api/v0", line)
        if not match:
            self.stop()
            raise AssertionError(f"no URL in {line!r}; stderr: {self.log.read_text()}")
        self.url = match.group(1)
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=10)

    def kill(self) -> None:
        self.process.kill()
        self.process.communicate(timeout=10)


def at_once(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run every call in its own thread, released together."""
    barrier = threading.Barrier(len(calls))
    results: list[requests.Response | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # reported below, in the test's thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


# -- restarts --------------------------------------------------------------------


def test_a_restarted_server_keeps_users_devices_pins_events_and_tokens(tmp_path):
    state = tmp_path / "state.sqlite3"
    with MockCotterServer(config={"state_file": str(state)}) as before:
        phone = TrustedDevice("react-native", before.url, KEY, seed=PHONE_SEED)
        phone.sign_up(EMAIL)
        user = phone.user
        enroll_pin(before.url, user, "1234")
        laptop = TrustedDevice("android", before.url, KEY, seed=LAPTOP_SEED)
        pending = laptop.request_login(EMAIL)
        token = mint(before.url)

    with MockCotterServer(config={"state_file": str(state)}) as after:
        # The same phone (same key) in an app started again the next day.
        phone = TrustedDevice("react-native", after.url, KEY, seed=PHONE_SEED)
        login = phone.login(EMAIL)
        phone.user = user
        waiting = phone.pending_request()
        answered = phone.approve(waiting)
        laptop = TrustedDevice("android", after.url, KEY, seed=LAPTOP_SEED)
        polled = laptop.poll_event(pending["ID"])
        by_pin = pin_login(after.url, user, "1234")
        refreshed = refresh(after.url, token)
        other = create_user(after.url, "bob@example.com")

    assert login["approved"] is True and "oauth_token" in login
    assert waiting["ID"] == pending["ID"]
    assert answered["approved"] is True
    assert polled["approved"] is True and "oauth_token" in polled
    assert by_pin["approved"] is True
    assert refreshed.status_code == 200, refreshed.text
    # Sequences carried on: no id was handed out twice.
    assert login["ID"] > pending["ID"]
    assert other["ID"] != user["ID"]


def test_an_unseeded_state_file_continues_the_same_id_sequences(tmp_path):
    state, copy = tmp_path / "state.sqlite3", tmp_path / "copy.sqlite3"
    with MockCotterServer(config={"state_file": str(state)}) as first:
        first_user = create_user(first.url, "one@example.com")
    copy_state(state, copy)

    later: list[tuple[str, str]] = []
    for path in (state, copy):
        with MockCotterServer(config={"state_file": str(path)}) as restarted:
            same_key = create_user(restarted.url, "two@example.com")["ID"]
            # A key first seen after the restart draws from the file's seed.
            new_key = create_user(restarted.url, "two@example.com", "new-key")["ID"]
            later.append((same_key, new_key))

    # Both continuations of the same file drew the same ids: the random
    # seed was kept in the file, and the counter moved on.
    assert later[0] == later[1]
    assert later[0][0] != first_user["ID"]


def test_everything_answered_2xx_survives_kill_9(tmp_path):
    state = tmp_path / "state.sqlite3"
    worker = Worker(state, tmp_path / "first.log").wait_ready()
    try:
        phone = TrustedDevice("ios", worker.url, KEY, seed=PHONE_SEED)
        phone.sign_up(EMAIL)
        user = phone.user
        enroll_pin(worker.url, user, "2468")
        laptop = TrustedDevice("flutter", worker.url, KEY, seed=LAPTOP_SEED)
        pending = laptop.request_login(EMAIL)
        used = mint(worker.url)
        rotated = refresh(worker.url, used).json()["refresh_token"]
        others = [create_user(worker.url, f"u{i}@example.com") for i in range(20)]
    finally:
        worker.kill()
    assert worker.process.returncode == -signal.SIGKILL

    worker = Worker(state, tmp_path / "second.log").wait_ready()
    try:
        phone = TrustedDevice("ios", worker.url, KEY, seed=PHONE_SEED)
        login = phone.login(EMAIL)
        phone.user = user
        waiting = phone.pending_request()
        by_pin = pin_login(worker.url, user, "2468")
        from_rotation = refresh(worker.url, rotated)
        reused = refresh(worker.url, used)
        listed = call(worker.url, "GET", "/user/list").json()
    finally:
        worker.stop()

    assert login["approved"] is True
    assert waiting is not None and waiting["ID"] == pending["ID"]
    assert by_pin["approved"] is True
    # The refresh answered 200 before the kill: its new token works and
    # the token it used up stays used.
    assert from_rotation.status_code == 200, from_rotation.text
    assert reused.status_code == 400
    assert "already used" in reused.json()["msg"]
    assert {u["ID"] for u in others} <= {u["ID"] for u in listed}


# -- several processes on one file ---------------------------------------------

WORKERS = 3
# Races are won by chance: several rounds give a broken store more chances
# to show it.
ROUNDS = 15


@pytest.fixture(scope="module")
def workers(tmp_path_factory) -> Iterator[list[Worker]]:
    """Server processes sharing one state file, as pre-forked workers do."""
    folder = tmp_path_factory.mktemp("workers")
    state = folder / "state.sqlite3"
    started = [Worker(state, folder / f"{i}.log") for i in range(WORKERS)]
    try:
        yield [worker.wait_ready() for worker in started]
    finally:
        for worker in started:
            worker.stop()


def test_workers_let_exactly_one_of_simultaneous_refreshes_of_a_token_through(
    workers,
):
    api_key = "shared-reuse"
    for number in range(ROUNDS):
        token = mint(workers[0].url, f"u{number}@example.com", api_key)
        attempts = [
            (lambda url=worker.url, token=token: refresh(url, token, api_key))
            for worker in workers
            for _ in range(4)
        ]

        answers = at_once(attempts)

        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200] + [400] * (len(attempts) - 1)
        (winner,) = [a for a in answers if a.status_code == 200]
        # Reuse detection revoked the family, the winner's new token included.
        after = refresh(workers[-1].url, winner.json()["refresh_token"], api_key)
        assert after.status_code == 400
        assert "revoked" in after.json()["msg"]


def test_workers_rotate_many_simultaneous_distinct_tokens_each_once(workers):
    api_key = "shared-distinct"
    tokens = [mint(workers[0].url, f"u{i}@example.com", api_key) for i in range(30)]
    attempts = [
        (lambda url=workers[i % WORKERS].url, token=token: refresh(url, token, api_key))
        for i, token in enumerate(tokens)
    ]

    answers = at_once(attempts)

    assert [a.status_code for a in answers] == [200] * len(tokens)
    new_tokens = [a.json()["refresh_token"] for a in answers]
    assert len(set(new_tokens)) == len(tokens)
    assert len({t.partition(":")[0] for t in new_tokens}) == len(tokens)
    # Every rotation was written: each new token works, through another worker.
    again = [
        refresh(workers[(i + 1) % WORKERS].url, token, api_key)
        for i, token in enumerate(new_tokens)
    ]
    assert [a.status_code for a in again] == [200] * len(tokens)


# -- one server, many threads (both stores) -------------------------------------


def test_simultaneous_refreshes_of_one_token_let_exactly_one_through(server, api):
    token = api.mint()["refresh_token"]
    attempts = [(lambda: refresh(server.url, token, api.api_key)) for _ in range(8)]

    statuses = sorted(answer.status_code for answer in at_once(attempts))

    assert statuses == [200] + [400] * 7


# -- reset -----------------------------------------------------------------------


def test_resetting_one_api_key_forgets_only_its_state_for_good(tmp_path):
    state = tmp_path / "state.sqlite3"
    with MockCotterServer(config={"state_file": str(state)}) as running:
        create_user(running.url, EMAIL, "key-a")
        create_user(running.url, EMAIL, "key-b")
        running.runtime.reset("key-a")
        reset_keys = running.runtime.store.api_keys()

    with MockCotterServer(config={"state_file": str(state)}) as restarted:
        in_a = user_id_of(restarted.url, EMAIL, "key-a")
        in_b = user_id_of(restarted.url, EMAIL, "key-b")
        restarted.runtime.reset()
        after_all = user_id_of(restarted.url, EMAIL, "key-b")

    assert reset_keys == ["key-b"]
    assert in_a == "00000000-0000-0000-0000-000000000000"
    assert in_b != "00000000-0000-0000-0000-000000000000"
    assert after_all == "00000000-0000-0000-0000-000000000000"


# -- unusable state files --------------------------------------------------------


def test_a_state_file_that_is_not_sqlite_is_a_config_error_naming_it(tmp_path):
    garbage = tmp_path / "state.sqlite3"
    content = os.urandom(4096)
    garbage.write_bytes(content)

    with pytest.raises(ConfigError, match=re.escape(str(garbage))):
        create_app({"state_file": str(garbage)})
    assert garbage.read_bytes() == content


def test_a_state_file_in_a_missing_directory_is_a_config_error_naming_it(tmp_path):
    missing = tmp_path / "no-such-dir" / "state.sqlite3"

    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        create_app({"state_file": str(missing)})
    assert not missing.parent.exists()


def test_another_applications_sqlite_file_is_not_taken_over(tmp_path):
    other = tmp_path / "other.sqlite3"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE accounts (id INTEGER)")
    connection.close()

    with pytest.raises(ConfigError, match="another application"):
        create_app({"state_file": str(other)})


def test_serve_with_a_garbage_state_file_exits_with_a_message_not_a_traceback(
    tmp_path,
):
    garbage = tmp_path / "state.sqlite3"
    garbage.write_bytes(b"this is not a database\n" * 200)

    done = subprocess.run(
        [sys.executable, "-m", "mock_cotter", "serve", "--port", "0"]
        + ["--state-file", str(garbage)],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 2
    assert str(garbage) in done.stderr
    assert "Traceback" not in done.stderr


# -- the store interface, for both stores ----------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore(seed=7)
        return
    opened = SqliteStore(tmp_path / "state.sqlite3", seed=7)
    yield opened
    opened.close()


def records() -> tuple[User, Event, RefreshToken, Challenge]:
    user = User(
        id="u-1",
        client_user_id="client-\ud800-1",  # a lone surrogate, as JSON allows
        identifier="zoë+1@example.com",
        created_at=1_700_000_000.123456,
        updated_at=1_700_000_001.5,
        identifiers=["zoë+1@example.com", "+15550001"],
        methods=[
            Method(PIN, 1_700_000_000.25, code="0042"),
            Method(
                TRUSTED_DEVICE,
                1_700_000_000.5,
                public_key="AAAA+/==",
                algorithm="ED25519",
                device_name="Zoë's phone",
                device_type="ANDROID",
            ),
        ],
    )
    event = Event(
        id=3,
        user_id=user.id,
        client_user_id=user.client_user_id,
        issuer="k",
        event="LOGIN",
        ip="10.0.0.1",
        location="Paris",
        timestamp="1700000000",
        method=TRUSTED_DEVICE,
        new=False,
        approved=True,
        created_at=1_700_000_000.0,
        updated_at=1_700_000_002.0,
        oauth_token={"access_token": "a.b.c", "expires_in": 3600, "nested": [1, None]},
    )
    token = RefreshToken(
        id=9,
        secret="s3cret",
        family="fam",
        user_id=user.id,
        auth_method=TRUSTED_DEVICE,
        created_at=1_700_000_000,
        expires_at=1_702_592_000,
        auth_time=1_699_999_999.75,
        extra_claims={"role": "admin", "big": 2**70, "list": [1.5, "x", {"y": True}]},
        used=True,
    )
    challenge = Challenge(
        id=2,
        code="code-1",
        code_challenge="abc",
        redirect_url="http://localhost/cb?x=1",
        identifier=user.identifier,
        identifier_type="EMAIL",
        auth_method="OTP",
        created_at=1_700_000_000.0,
    )
    return user, event, token, challenge


def test_records_read_in_a_later_session_equal_what_was_saved(store):
    user, event, token, challenge = records()
    with store.session("k") as ns:
        ns.add_user(user)
        ns.save_event(event)
        ns.save_refresh_token(token)
        ns.save_challenge(challenge)

    with store.session("k") as ns:
        assert isinstance(ns, Namespace)
        assert ns.get_user(user.id) == user
        assert ns.user_by_identifier(user.identifier) == user
        assert ns.user_by_client_id(user.client_user_id) == user
        assert ns.get_event(event.id) == event
        assert ns.events() == [event]
        assert ns.get_refresh_token(token.id) == token
        assert ns.refresh_family("fam") == [token]
        assert ns.get_challenge(challenge.code) == challenge


def test_records_read_after_reopening_the_file_equal_what_was_saved(tmp_path):
    user, event, token, challenge = records()
    with SqliteStore(tmp_path / "state.sqlite3", seed=7).session("k") as ns:
        ns.add_user(user)
        ns.save_event(event)
        ns.save_refresh_token(token)
        ns.save_challenge(challenge)

    reopened = SqliteStore(tmp_path / "state.sqlite3", seed=7)
    with reopened.session("k") as ns:
        found = ns.get_user(user.id)
        assert found == user and found is not user
        assert ns.events() == [event]
        assert ns.refresh_family("fam") == [token]
        assert ns.get_challenge(challenge.code) == challenge
    reopened.close()


def test_a_session_hands_out_one_object_per_record(store):
    user, event, token, _ = records()
    with store.session("k") as ns:
        ns.add_user(user)
        ns.save_event(event)
        ns.save_refresh_token(token)

    with store.session("k") as ns:
        found = ns.get_user(user.id)
        found.methods.append(Method(PIN, 1.0, code="9"))
        ns.save_user(found)
        same = ns.user_by_identifier(user.identifier)
        assert same is found
        assert ns.users()[0] is found
        assert ns.get_event(event.id) is ns.events()[0]
        assert ns.get_refresh_token(token.id) is ns.refresh_family("fam")[0]


def test_lookups_of_unknown_or_unstorable_ids_find_nothing(store):
    with store.session("k") as ns:
        assert ns.get_user("nobody") is None
        assert ns.user_by_identifier("nobody@example.com") is None
        assert ns.get_event(2**80) is None
        assert ns.get_refresh_token(2**64) is None
        assert ns.get_challenge("\udfff") is None


def test_users_are_listed_newest_first_and_keep_their_place_when_saved(store):
    with store.session("k") as ns:
        for number in range(3):
            ns.add_user(User(f"u{number}", f"c{number}", f"i{number}", 5.0, 5.0))
        first = ns.get_user("u0")
        first.updated_at = 9.0
        ns.save_user(first)

    with store.session("k") as ns:
        assert [u.id for u in ns.users()] == ["u2", "u1", "u0"]


def test_ids_and_sequences_carry_on_from_one_session_to_the_next(store):
    with store.session("k") as ns:
        first = (ns.next_id("event"), ns.ids.uuid(), ns.next_id("event"))
    with store.session("k") as ns:
        second = (ns.next_id("event"), ns.ids.uuid(), ns.next_id("refresh"))

    assert first[0] == 1 and first[2] == 2
    assert second[0] == 3 and second[2] == 1
    assert second[1] != first[1]


def test_reset_of_one_key_keeps_the_others(store):
    for key in ("a", "b"):
        with store.session(key) as ns:
            ns.add_user(User("u", "c", "i", 1.0, 1.0))

    store.reset("a")

    assert store.api_keys() == ["b"]
    with store.session("a") as ns:
        assert ns.get_user("u") is None
    with store.session("b") as ns:
        assert ns.get_user("u") is not None


# -- transactions (SQLite) ---------------------------------------------------------


def test_an_unexpected_error_rolls_the_whole_session_back(tmp_path):
    store = SqliteStore(tmp_path / "state.sqlite3", seed=1)
    with pytest.raises(RuntimeError), store.session("k") as ns:
        ns.add_user(User("u", "c", "i", 1.0, 1.0))
        ns.next_id("event")
        raise RuntimeError("a bug in the mock")

    with store.session("k") as ns:
        assert ns.get_user("u") is None
        assert ns.next_id("event") == 1
    store.close()


def test_a_cotter_error_keeps_what_the_session_wrote_before_it(tmp_path):
    # Reuse detection revokes the family, then answers 400.
    store = SqliteStore(tmp_path / "state.sqlite3", seed=1)
    _, _, token, _ = records()
    with pytest.raises(InvalidGrant), store.session("k") as ns:
        token.revoked = True
        ns.save_refresh_token(token)
        raise InvalidGrant("Refresh token is not valid")

    with store.session("k") as ns:
        assert ns.get_refresh_token(token.id).revoked is True
    store.close()


def test_a_session_inside_another_joins_its_transaction(tmp_path):
    store = SqliteStore(tmp_path / "state.sqlite3", seed=1)
    with store.session("k") as outer:
        outer.add_user(User("u", "c", "i", 1.0, 1.0))
        with store.session("k") as inner:
            assert inner is outer
        with store.session("other") as other:
            other.next_id("event")

    assert store.api_keys() == ["k", "other"]
    store.close()


# -- records kept between sessions (SQLite) ----------------------------------------


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "state.sqlite3", seed=1)
    yield opened
    opened.close()


def saved_token(store: SqliteStore) -> RefreshToken:
    _, _, token, _ = records()
    token.used = False
    with store.session("k") as ns:
        ns.save_refresh_token(token)
    return token


def traced(store: SqliteStore) -> list[str]:
    """The SQL statements the store's connection runs from now on (the
    file cannot tell a row rewritten as it was: SQLite leaves the page)."""
    statements: list[str] = []
    store._db().set_trace_callback(statements.append)
    return statements


def test_another_processs_commit_is_seen_by_the_next_session(tmp_path):
    path = tmp_path / "state.sqlite3"
    here, there = SqliteStore(path, seed=1), SqliteStore(path, seed=1)
    token = saved_token(here)
    with here.session("k") as ns:
        kept = ns.get_refresh_token(token.id)

    with there.session("k") as ns:
        theirs = ns.get_refresh_token(token.id)
        theirs.revoked = True
        ns.save_refresh_token(theirs)
        ns.add_user(User("u-2", "c-2", "bob@example.com", 1.0, 1.0))
        their_event = ns.next_id("event")

    with here.session("k") as ns:
        seen = ns.get_refresh_token(token.id)
        assert seen is not kept
        assert seen.revoked is True
        assert ns.get_user("u-2") is not None
        assert ns.next_id("event") == their_event + 1
    here.close()
    there.close()


def test_a_rolled_back_change_is_not_kept_for_the_next_session(sqlite_store):
    token = saved_token(sqlite_store)
    with pytest.raises(RuntimeError), sqlite_store.session("k") as ns:
        found = ns.get_refresh_token(token.id)
        found.used = True
        ns.save_refresh_token(found)
        raise RuntimeError("a bug in the mock")

    with sqlite_store.session("k") as ns:
        assert ns.get_refresh_token(token.id).used is False


def test_a_change_cut_short_by_a_cotter_error_is_not_kept(sqlite_store, monkeypatch):
    # As in production, where nothing checks that changes were saved.
    monkeypatch.setattr(SqliteStore, "check_saves", False)
    token = saved_token(sqlite_store)
    with pytest.raises(InvalidGrant), sqlite_store.session("k") as ns:
        ns.get_refresh_token(token.id).used = True
        raise InvalidGrant("refused before the token was saved")

    with sqlite_store.session("k") as ns:
        assert ns.get_refresh_token(token.id).used is False


def test_a_record_saved_unchanged_is_not_written_again(sqlite_store):
    token = saved_token(sqlite_store)
    statements = traced(sqlite_store)

    with sqlite_store.session("k") as ns:
        ns.save_refresh_token(ns.get_refresh_token(token.id))
    unchanged = list(statements)
    statements.clear()
    with sqlite_store.session("k") as ns:
        found = ns.get_refresh_token(token.id)
        found.used = True
        ns.save_refresh_token(found)

    def writes(sqls: list[str]) -> list[str]:
        return [sql for sql in sqls if sql.startswith("INSERT INTO refresh_tokens")]

    assert writes(unchanged) == []
    assert len(writes(statements)) == 1


def test_a_later_session_reads_a_kept_record_without_querying_the_file(
    sqlite_store,
):
    token = saved_token(sqlite_store)
    statements = traced(sqlite_store)

    with sqlite_store.session("k") as ns:
        assert ns.get_refresh_token(token.id) == token

    assert [sql for sql in statements if sql.startswith("SELECT")] == []


def test_with_check_saves_a_change_never_saved_fails_the_session(
    sqlite_store, monkeypatch
):
    monkeypatch.setattr(SqliteStore, "check_saves", True)
    token = saved_token(sqlite_store)
    with pytest.raises(RuntimeError, match="token 9 of API key 'k'"):
        with sqlite_store.session("k") as ns:
            ns.get_refresh_token(token.id).used = True
            ns.next_id("event")

    with sqlite_store.session("k") as ns:
        assert ns.get_refresh_token(token.id).used is False
        assert ns.next_id("event") == 1


def test_many_api_keys_each_keep_their_own_state(sqlite_store):
    # More keys than the store keeps decoded, so early ones are read again.
    keys = [f"key-{number}" for number in range(100)]
    for key in keys:
        with sqlite_store.session(key) as ns:
            ns.add_user(User("u", "c", key, 1.0, 1.0))
            ns.next_id("event")

    for key in keys:
        with sqlite_store.session(key) as ns:
            assert ns.get_user("u").identifier == key
            assert ns.next_id("event") == 2
