"""The store interface, which the in-memory and SQLite stores both implement.

Domain code sees only :class:`Namespace`: it reads records, changes them in
place and calls ``save_*``. Within one session a namespace hands out the
same object for the same record every time, so a change made through one
reference is seen through every other one, whatever the store.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from ..models import Challenge, Event, RefreshToken, User
from .ids import Ids


@runtime_checkable
class Namespace(Protocol):
    """Users, events, refresh tokens and login challenges of one API key."""

    api_key: str
    ids: Ids
    # Whether the scenario's users were loaded (see seeding.py); kept with
    # the namespace, so a restart does not load them twice.
    seeded: bool

    def next_id(self, sequence: str) -> int:
        """The next number of ``sequence``: ``event``, ``refresh`` or
        ``challenge``."""
        ...

    def add_user(self, user: User) -> None: ...

    def save_user(self, user: User) -> None: ...

    def get_user(self, user_id: str) -> User | None: ...

    def user_by_identifier(self, identifier: str) -> User | None: ...

    def user_by_client_id(self, client_user_id: str) -> User | None: ...

    def users(self) -> list[User]:
        """Every user, newest (by creation order) first."""
        ...

    def save_event(self, event: Event) -> None: ...

    def get_event(self, event_id: int) -> Event | None: ...

    def events(self) -> list[Event]:
        """Every event, oldest (by id) first."""
        ...

    def save_refresh_token(self, token: RefreshToken) -> None: ...

    def get_refresh_token(self, token_id: int) -> RefreshToken | None: ...

    def refresh_family(self, family: str) -> list[RefreshToken]:
        """Every token of ``family``, by id."""
        ...

    def save_challenge(self, challenge: Challenge) -> None: ...

    def get_challenge(self, code: str) -> Challenge | None: ...


@runtime_checkable
class Store(Protocol):
    """Namespaces, one per API key, each created on first use."""

    # Whether state outlives the process (the SQLite store) or not.
    persistent: bool

    def session(self, api_key: str) -> AbstractContextManager[Namespace]:
        """The namespace of ``api_key``, held exclusively for the block.

        Everything the block reads and writes is one atomic step for every
        other thread (and, for a persistent store, every other process).
        """
        ...

    def reset(self, api_key: str | None = None) -> None:
        """Forget one API key's state, or everything."""
        ...

    def api_keys(self) -> list[str]:
        """The API keys that have a namespace, sorted."""
        ...
