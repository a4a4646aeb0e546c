"""The SQLite store: state in one file that outlives the process.

Each record is one JSON column beside the key columns it is looked up by.
Every session is one ``BEGIN IMMEDIATE`` transaction, so a request's reads
and writes (a refresh token's rotation, the revocation of a reused token's
family) are atomic across the threads of one server and across every
process that shares the file.

Decoded records outlive their session while nothing else writes the file:
``PRAGMA data_version`` tells, at the start of each transaction, whether
another connection (another worker process) committed since this one last
did. Until then the file holds exactly what this process last read or
wrote, so a refresh reads its token and user from memory, and a record
saved unchanged is not written again.

String keys are stored as UTF-8 BLOBs with surrogates passed through: JSON
bodies can carry lone surrogates, which SQLite TEXT cannot hold, and the
in-memory store accepts any string as a key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import ConfigError, CotterError
from ..models import Challenge, Event, Method, RefreshToken, User
from .ids import Ids

logger = logging.getLogger(__name__)

# PRAGMA application_id: marks a file as a mock-cotter state file ("MCot").
APPLICATION_ID = 0x4D436F74
SCHEMA_VERSION = 1
# How long a writer waits for another process's transaction, in seconds.
BUSY_TIMEOUT = 30.0
SEQUENCES = ("event", "refresh", "challenge")
# How many namespaces keep their decoded records between sessions (the most
# recently used): a shared test server sees a new API key per test.
KEPT_NAMESPACES = 64
# SQLite integers are signed 64-bit; a larger id cannot be stored, so it
# cannot name a record (and binding it would raise OverflowError).
_INT64 = range(-(2**63), 2**63)

# No index on refresh_tokens.family: refresh_family() runs only on reuse and
# logout, and scans the key's tokens (as the in-memory store does), while an
# index would cost a page write on every refresh.
_SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE namespaces (
    api_key BLOB PRIMARY KEY,
    seed TEXT NOT NULL,
    counter INTEGER NOT NULL,
    sequences TEXT NOT NULL,
    seeded INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE users (
    pos INTEGER PRIMARY KEY,
    api_key BLOB NOT NULL,
    id BLOB NOT NULL,
    identifier BLOB NOT NULL,
    client_user_id BLOB NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (api_key, id)
);
CREATE INDEX users_by_identifier ON users (api_key, identifier);
CREATE INDEX users_by_client_id ON users (api_key, client_user_id);
CREATE TABLE events (
    api_key BLOB NOT NULL,
    id INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (api_key, id)
) WITHOUT ROWID;
CREATE TABLE refresh_tokens (
    api_key BLOB NOT NULL,
    id INTEGER NOT NULL,
    family BLOB NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (api_key, id)
) WITHOUT ROWID;
CREATE TABLE challenges (
    api_key BLOB NOT NULL,
    code BLOB NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (api_key, code)
) WITHOUT ROWID;
"""
_TABLES = ("namespaces", "users", "events", "refresh_tokens", "challenges")

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _blob(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _text(blob: bytes) -> str:
    return blob.decode("utf-8", "surrogatepass")


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls))


_METHOD_FIELDS = _field_names(Method)
_USER_FIELDS = _field_names(User)
_EVENT_FIELDS = _field_names(Event)
_TOKEN_FIELDS = _field_names(RefreshToken)
_CHALLENGE_FIELDS = _field_names(Challenge)


def _dump(record: Any, names: tuple[str, ...]) -> str:
    return _dumps({name: getattr(record, name) for name in names})


def _dump_user(user: User) -> str:
    fields = {name: getattr(user, name) for name in _USER_FIELDS}
    fields["methods"] = [
        {name: getattr(method, name) for name in _METHOD_FIELDS}
        for method in user.methods
    ]
    return _dumps(fields)


def _load_user(data: str) -> User:
    fields = json.loads(data)
    fields["methods"] = [Method(**method) for method in fields["methods"]]
    return User(**fields)


class SqliteNamespace:
    """One API key's records, read and written in the open transaction.

    Records are read on demand and written as soon as they are saved; the
    namespace's own state (the seed and counter of ``ids``, the sequences,
    ``seeded``) is written when the session commits, if it changed. Each
    record is decoded once and then shared by every reader, as with the
    in-memory store, for as long as the store keeps the namespace (see
    :class:`SqliteStore`). ``_stored`` holds each record's JSON as the file
    has it, so that a record saved unchanged is not written again.
    """

    def __init__(self, connection: sqlite3.Connection, api_key: str, seed: int):
        self.api_key = api_key
        self._db = connection
        self._key = _blob(api_key)
        row = connection.execute(
            "SELECT seed, counter, sequences, seeded FROM namespaces WHERE api_key = ?",
            (self._key,),
        ).fetchone()
        self._state: tuple[str, int, str, bool] | None = None
        if row is None:
            self.ids = Ids(seed, api_key)
            self._sequences = dict.fromkeys(SEQUENCES, 0)
            # Whether the scenario's users were loaded (see seeding.py).
            self.seeded = False
        else:
            self._state = (row[0], row[1], row[2], bool(row[3]))
            # A scenario may have given the namespace a seed of its own.
            self.ids = Ids(int(row[0]), api_key, row[1])
            self._sequences = json.loads(row[2])
            self.seeded = bool(row[3])
        self._users: dict[str, User] = {}
        self._events: dict[int, Event] = {}
        self._tokens: dict[int, RefreshToken] = {}
        self._challenges: dict[str, Challenge] = {}
        self._stored: dict[tuple[str, Any], str] = {}

    def next_id(self, sequence: str) -> int:
        number = self._sequences.get(sequence, 0) + 1
        self._sequences[sequence] = number
        return number

    def flush(self) -> None:
        """Write the namespace's own state, if it changed (or is new)."""
        state = (
            str(self.ids.seed),
            self.ids.counter,
            _dumps(self._sequences),
            bool(self.seeded),
        )
        if state != self._state:
            self._db.execute(
                "INSERT INTO namespaces (api_key, seed, counter, sequences, seeded) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (api_key) DO UPDATE SET "
                "seed = excluded.seed, counter = excluded.counter, "
                "sequences = excluded.sequences, seeded = excluded.seeded",
                (self._key, *state),
            )
            self._state = state

    def unsaved(self) -> list[str]:
        """Records changed in memory but not saved: each a bug in the caller,
        which a restart would expose. For tests (see
        :attr:`SqliteStore.check_saves`); it encodes every record held."""
        held: tuple[tuple[str, dict[Any, Any], Callable[[Any], str]], ...] = (
            ("user", self._users, _dump_user),
            ("event", self._events, lambda event: _dump(event, _EVENT_FIELDS)),
            ("token", self._tokens, lambda token: _dump(token, _TOKEN_FIELDS)),
            ("challenge", self._challenges, lambda c: _dump(c, _CHALLENGE_FIELDS)),
        )
        return [
            f"{kind} {key!r} of API key {self.api_key!r}"
            for kind, records, encode in held
            for key, record in records.items()
            if self._stored.get((kind, key)) != encode(record)
        ]

    def _write(self, kind: str, key: Any, data: str, sql: str, *values: Any) -> None:
        """Run ``sql`` unless the file already holds ``data`` for the record."""
        if self._stored.get((kind, key)) == data:
            return
        self._db.execute(sql, values)
        self._stored[kind, key] = data

    # -- users ---------------------------------------------------------------

    def add_user(self, user: User) -> None:
        self.save_user(user)

    def save_user(self, user: User) -> None:
        # The upsert keeps `pos`, the creation order users() lists by.
        data = _dump_user(user)
        self._write(
            "user",
            user.id,
            data,
            "INSERT INTO users (api_key, id, identifier, client_user_id, data) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (api_key, id) DO UPDATE SET "
            "identifier = excluded.identifier, "
            "client_user_id = excluded.client_user_id, data = excluded.data",
            self._key,
            _blob(user.id),
            _blob(user.identifier),
            _blob(user.client_user_id),
            data,
        )
        self._users[user.id] = user

    def _user(self, row: tuple[bytes, str] | None) -> User | None:
        if row is None:
            return None
        user_id = _text(row[0])
        user = self._users.get(user_id)
        if user is None:
            user = self._users[user_id] = _load_user(row[1])
            self._stored["user", user_id] = row[1]
        return user

    def get_user(self, user_id: str) -> User | None:
        user = self._users.get(user_id)
        if user is not None:
            return user
        return self._user(
            self._db.execute(
                "SELECT id, data FROM users WHERE api_key = ? AND id = ?",
                (self._key, _blob(user_id)),
            ).fetchone()
        )

    # Domain code keeps identifiers and client user ids unique; should two
    # users share one, the newer wins, as in the in-memory index.
    def user_by_identifier(self, identifier: str) -> User | None:
        return self._user(
            self._db.execute(
                "SELECT id, data FROM users WHERE api_key = ? AND identifier = ? "
                "ORDER BY pos DESC LIMIT 1",
                (self._key, _blob(identifier)),
            ).fetchone()
        )

    def user_by_client_id(self, client_user_id: str) -> User | None:
        return self._user(
            self._db.execute(
                "SELECT id, data FROM users WHERE api_key = ? "
                "AND client_user_id = ? ORDER BY pos DESC LIMIT 1",
                (self._key, _blob(client_user_id)),
            ).fetchone()
        )

    def users(self) -> list[User]:
        """Every user, newest first (by creation order: the clock may be
        frozen or moved back)."""
        rows = self._db.execute(
            "SELECT id, data FROM users WHERE api_key = ? ORDER BY pos DESC",
            (self._key,),
        )
        return [self._user(row) for row in rows]  # type: ignore[misc]

    # -- events --------------------------------------------------------------

    def save_event(self, event: Event) -> None:
        data = _dump(event, _EVENT_FIELDS)
        self._write(
            "event",
            event.id,
            data,
            "INSERT INTO events (api_key, id, data) VALUES (?, ?, ?) "
            "ON CONFLICT (api_key, id) DO UPDATE SET data = excluded.data",
            self._key,
            event.id,
            data,
        )
        self._events[event.id] = event

    def _event(self, event_id: int, data: str) -> Event:
        event = self._events.get(event_id)
        if event is None:
            event = self._events[event_id] = Event(**json.loads(data))
            self._stored["event", event_id] = data
        return event

    def get_event(self, event_id: int) -> Event | None:
        event = self._events.get(event_id)
        if event is not None or event_id not in _INT64:
            return event
        row = self._db.execute(
            "SELECT data FROM events WHERE api_key = ? AND id = ?",
            (self._key, event_id),
        ).fetchone()
        return None if row is None else self._event(event_id, row[0])

    def events(self) -> list[Event]:
        rows = self._db.execute(
            "SELECT id, data FROM events WHERE api_key = ? ORDER BY id",
            (self._key,),
        )
        return [self._event(event_id, data) for event_id, data in rows]

    # -- refresh tokens ------------------------------------------------------

    def save_refresh_token(self, token: RefreshToken) -> None:
        data = _dump(token, _TOKEN_FIELDS)
        self._write(
            "token",
            token.id,
            data,
            "INSERT INTO refresh_tokens (api_key, id, family, data) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (api_key, id) DO UPDATE SET "
            "family = excluded.family, data = excluded.data",
            self._key,
            token.id,
            _blob(token.family),
            data,
        )
        self._tokens[token.id] = token

    def _token(self, token_id: int, data: str) -> RefreshToken:
        token = self._tokens.get(token_id)
        if token is None:
            token = self._tokens[token_id] = RefreshToken(**json.loads(data))
            self._stored["token", token_id] = data
        return token

    def get_refresh_token(self, token_id: int) -> RefreshToken | None:
        token = self._tokens.get(token_id)
        if token is not None or token_id not in _INT64:
            return token
        row = self._db.execute(
            "SELECT data FROM refresh_tokens WHERE api_key = ? AND id = ?",
            (self._key, token_id),
        ).fetchone()
        return None if row is None else self._token(token_id, row[0])

    def refresh_family(self, family: str) -> list[RefreshToken]:
        rows = self._db.execute(
            "SELECT id, data FROM refresh_tokens WHERE api_key = ? AND family = ? "
            "ORDER BY id",
            (self._key, _blob(family)),
        )
        return [self._token(token_id, data) for token_id, data in rows]

    # -- hosted-page logins --------------------------------------------------

    def save_challenge(self, challenge: Challenge) -> None:
        data = _dump(challenge, _CHALLENGE_FIELDS)
        self._write(
            "challenge",
            challenge.code,
            data,
            "INSERT INTO challenges (api_key, code, data) VALUES (?, ?, ?) "
            "ON CONFLICT (api_key, code) DO UPDATE SET data = excluded.data",
            self._key,
            _blob(challenge.code),
            data,
        )
        self._challenges[challenge.code] = challenge

    def get_challenge(self, code: str) -> Challenge | None:
        challenge = self._challenges.get(code)
        if challenge is not None:
            return challenge
        row = self._db.execute(
            "SELECT data FROM challenges WHERE api_key = ? AND code = ?",
            (self._key, _blob(code)),
        ).fetchone()
        if row is None:
            return None
        challenge = self._challenges[code] = Challenge(**json.loads(row[0]))
        self._stored["challenge", code] = row[0]
        return challenge


class SqliteStore:
    """Namespaces in an SQLite file (WAL mode), shared by every process that
    opens it.

    A session is a ``BEGIN IMMEDIATE`` transaction. It commits when the block
    ends normally or with a :class:`CotterError` (an answer the mock gives on
    purpose, which may follow a deliberate write: a reused refresh token
    revokes its family, then is refused); any other exception rolls it back.
    A session opened inside another one on the same thread joins it.

    The namespaces of recent sessions, with the records they decoded, are
    kept for the next session as long as the file's ``data_version`` shows
    no other connection's commit. A rollback, a session ended by a
    :class:`CotterError`, or another process's commit drops them all.
    """

    persistent = True
    # Tests set this to make a session that commits a record changed in
    # memory but never saved raise: kept between sessions, such a change
    # would otherwise look saved until the next restart.
    check_saves = False

    def __init__(self, path: str | os.PathLike[str], seed: int | None = None):
        self.path = os.fspath(path)
        # One connection per process: SQLite lets one writer in at a time
        # anyway, and a lock wakes waiting threads at once, where SQLite's
        # busy handler would have them poll and sleep.
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._closer: weakref.finalize | None = None
        self._pid = 0
        self._inherited: list[sqlite3.Connection] = []
        # The namespaces of the open transaction, and of recent ones.
        self._open: dict[str, SqliteNamespace] | None = None
        self._kept: OrderedDict[str, SqliteNamespace] = OrderedDict()
        self._data_version: int | None = None
        self._seed = self._initialise(seed)
        logger.debug(
            "state file %s opened (SQLite %s)", self.path, sqlite3.sqlite_version
        )

    # -- opening -------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT,
            isolation_level=None,
            check_same_thread=False,
        )
        # With WAL, NORMAL syncs at checkpoints, not at each commit: a crash
        # of the process (kill -9) loses nothing committed; only a crash of
        # the machine may lose the last transactions.
        connection.execute("PRAGMA synchronous = NORMAL")
        # A checkpoint syncs the file twice; every 10,000 pages (a WAL of up
        # to 40 MB) instead of 1,000 makes that rare on the refresh path.
        connection.execute("PRAGMA wal_autocheckpoint = 10000")
        return connection

    def _initialise(self, seed: int | None) -> int:
        """Check or create the schema; return the seed to use."""
        if self.path == ":memory:" or not self.path:
            raise ConfigError(
                f"state_file {self.path!r} is not a file; leave state_file unset "
                "to keep state in memory."
            )
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ConfigError(
                f"state_file {self.path!r}: the directory {directory!r} does not exist."
            )
        try:
            connection = self._connect()
        except sqlite3.Error as exc:
            raise ConfigError(
                f"state_file {self.path!r} cannot be opened as an SQLite "
                f"database: {exc}."
            ) from None
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("BEGIN IMMEDIATE")
            self._check_schema(connection)
            seed = self._stored_seed(connection, seed)
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            raise ConfigError(
                f"state_file {self.path!r} is not a usable SQLite database: {exc}."
            ) from None
        finally:
            # Opened again on first use, so a server forked after start-up
            # (a pre-forking WSGI server) shares no connection with its parent.
            connection.close()
        return seed

    def _check_schema(self, connection: sqlite3.Connection) -> None:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        if application_id == APPLICATION_ID:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise ConfigError(
                    f"state_file {self.path!r} has schema version {version}; "
                    f"this mock-cotter reads version {SCHEMA_VERSION}."
                )
            return
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if application_id != 0 or tables:
            raise ConfigError(
                f"state_file {self.path!r} is an SQLite database of another "
                "application, not a mock-cotter state file."
            )
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        logger.info("created state file %s", self.path)

    @staticmethod
    def _stored_seed(connection: sqlite3.Connection, seed: int | None) -> int:
        """A configured seed wins; without one, the file keeps a random seed so
        that ids carry on the same sequence after a restart."""
        if seed is not None:
            return seed
        row = connection.execute("SELECT value FROM meta WHERE key = 'seed'").fetchone()
        if row is not None:
            return int(row[0])
        seed = Ids.resolve_seed(None)
        connection.execute(
            "INSERT INTO meta (key, value) VALUES ('seed', ?)", (str(seed),)
        )
        return seed

    def _db(self) -> sqlite3.Connection:
        """This process's connection (the caller holds the lock)."""
        if self._connection is None or self._pid != os.getpid():
            self._forget_inherited()
            self._forget_kept()
            self._connection = self._connect()
            # Closed when the store is collected or at exit, if not before:
            # an unclosed connection is a ResourceWarning.
            self._closer = weakref.finalize(self, self._connection.close)
            self._pid = os.getpid()
        return self._connection

    def _forget_inherited(self) -> None:
        if self._connection is not None and self._pid != os.getpid():
            # Inherited through fork: the parent still uses it, so this
            # process neither uses nor closes it.
            if self._closer is not None:
                self._closer.detach()
            self._inherited.append(self._connection)
            self._connection = self._closer = None

    def _forget_kept(self) -> None:
        """Drop the namespaces kept from earlier sessions: the file may no
        longer hold what they do."""
        self._kept.clear()
        self._data_version = None

    def close(self) -> None:
        """Close the connection; the next session opens a new one."""
        with self._lock:
            self._forget_inherited()
            self._forget_kept()
            if self._closer is not None:
                self._closer()
            self._connection = self._closer = None

    # -- transactions --------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._open is not None:
                # Nested in this thread's transaction: the outer one commits.
                yield self._db()
                return
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            # Unchanged for this connection's own commits; changed by any
            # other connection's (another process sharing the file).
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:
                self._forget_kept()
            self._open = {}
            try:
                yield db
            except CotterError:
                self._commit(db, version)
                # The error may have cut short a change to a record that
                # was never saved; the file, not memory, has it right.
                self._forget_kept()
                raise
            except BaseException:
                self._rollback(db)
                raise
            else:
                self._commit(db, version)
            finally:
                self._open = None

    def _commit(self, db: sqlite3.Connection, version: int) -> None:
        try:
            namespaces = list((self._open or {}).values())
            for namespace in namespaces:
                namespace.flush()
            if self.check_saves:
                unsaved = [name for ns in namespaces for name in ns.unsaved()]
                if unsaved:
                    raise RuntimeError(
                        "changed in memory but never saved: " + ", ".join(unsaved)
                    )
            db.execute("COMMIT")
        except BaseException:
            self._rollback(db)
            raise
        self._data_version = version

    def _rollback(self, db: sqlite3.Connection) -> None:
        # The kept records may hold changes the file no longer has.
        self._forget_kept()
        if db.in_transaction:
            db.execute("ROLLBACK")

    @contextlib.contextmanager
    def session(self, api_key: str) -> Iterator[SqliteNamespace]:
        """The namespace of ``api_key`` in a transaction of its own."""
        with self._transaction() as db:
            assert self._open is not None
            namespace = self._open.get(api_key)
            if namespace is None:
                namespace = self._kept.pop(api_key, None)
                if namespace is None:
                    namespace = SqliteNamespace(db, api_key, self._seed)
                self._kept[api_key] = self._open[api_key] = namespace
                if len(self._kept) > KEPT_NAMESPACES:
                    self._kept.popitem(last=False)
            yield namespace

    def api_keys(self) -> list[str]:
        with self._lock:
            rows = self._db().execute("SELECT api_key FROM namespaces").fetchall()
        return sorted(_text(row[0]) for row in rows)

    def reset(self, api_key: str | None = None) -> None:
        """Forget one API key's state, or everything (the seed stays)."""
        with self._transaction() as db:
            for table in _TABLES:
                if api_key is None:
                    db.execute(f"DELETE FROM {table}")
                else:
                    db.execute(
                        f"DELETE FROM {table} WHERE api_key = ?", (_blob(api_key),)
                    )
            assert self._open is not None
            if api_key is None:
                self._open.clear()
                self._kept.clear()
            else:
                self._open.pop(api_key, None)
                self._kept.pop(api_key, None)
