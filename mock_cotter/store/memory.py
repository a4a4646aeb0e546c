"""The in-memory store: the default, and the fastest to reset."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from ..models import Challenge, Event, RefreshToken, User
from .ids import Ids


class Namespace:
    """Users, events, refresh tokens and login challenges of one API key."""

    def __init__(self, api_key: str, seed: int):
        self.api_key = api_key
        self.lock = threading.RLock()
        self.ids = Ids(seed, api_key)
        # Whether the scenario's users were loaded (see seeding.py).
        self.seeded = False
        self._users: dict[str, User] = {}
        self._by_identifier: dict[str, str] = {}
        self._by_client_id: dict[str, str] = {}
        self._events: dict[int, Event] = {}
        self._refresh_tokens: dict[int, RefreshToken] = {}
        self._challenges: dict[str, Challenge] = {}
        self._sequences = {"event": 0, "refresh": 0, "challenge": 0}

    def next_id(self, sequence: str) -> int:
        self._sequences[sequence] += 1
        return self._sequences[sequence]

    # -- users ---------------------------------------------------------------

    def add_user(self, user: User) -> None:
        self.save_user(user)

    def save_user(self, user: User) -> None:
        self._users[user.id] = user
        self._by_identifier[user.identifier] = user.id
        self._by_client_id[user.client_user_id] = user.id

    def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def user_by_identifier(self, identifier: str) -> User | None:
        user_id = self._by_identifier.get(identifier)
        return self._users.get(user_id) if user_id else None

    def user_by_client_id(self, client_user_id: str) -> User | None:
        user_id = self._by_client_id.get(client_user_id)
        return self._users.get(user_id) if user_id else None

    def users(self) -> list[User]:
        """Every user, newest first (by creation order: the clock may be
        frozen or moved back)."""
        return list(reversed(self._users.values()))

    # -- events --------------------------------------------------------------

    def save_event(self, event: Event) -> None:
        self._events[event.id] = event

    def get_event(self, event_id: int) -> Event | None:
        return self._events.get(event_id)

    def events(self) -> list[Event]:
        return sorted(self._events.values(), key=lambda e: e.id)

    # -- refresh tokens ------------------------------------------------------

    def save_refresh_token(self, token: RefreshToken) -> None:
        self._refresh_tokens[token.id] = token

    def get_refresh_token(self, token_id: int) -> RefreshToken | None:
        return self._refresh_tokens.get(token_id)

    def refresh_family(self, family: str) -> list[RefreshToken]:
        return [t for t in self._refresh_tokens.values() if t.family == family]

    # -- hosted-page logins --------------------------------------------------

    def save_challenge(self, challenge: Challenge) -> None:
        self._challenges[challenge.code] = challenge

    def get_challenge(self, code: str) -> Challenge | None:
        return self._challenges.get(code)


class MemoryStore:
    """Namespaces in memory, created on first use."""

    persistent = False

    def __init__(self, seed: int | None = None):
        self._seed = Ids.resolve_seed(seed)
        self._lock = threading.Lock()
        self._namespaces: dict[str, Namespace] = {}

    @contextlib.contextmanager
    def session(self, api_key: str) -> Iterator[Namespace]:
        """The namespace of ``api_key``, locked for the duration."""
        namespace = self._namespaces.get(api_key)
        if namespace is None:
            with self._lock:
                namespace = self._namespaces.setdefault(
                    api_key, Namespace(api_key, self._seed)
                )
        with namespace.lock:
            yield namespace

    def api_keys(self) -> list[str]:
        return sorted(self._namespaces)

    def reset(self, api_key: str | None = None) -> None:
        """Forget one API key's state, or everything."""
        with self._lock:
            if api_key is None:
                self._namespaces.clear()
            else:
                self._namespaces.pop(api_key, None)
