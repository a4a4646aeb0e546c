"""State, kept apart per API key.

Every request works inside one namespace, the state of one ``API_KEY_ID``;
two test processes with different keys never see each other's users, events
or tokens. A store's ``session(api_key)`` hands out the namespace with its
lock held, so a request's reads and writes (a refresh token's rotation, say)
are atomic.

Domain code calls ``save_*`` after changing a record: the in-memory store
keeps the objects themselves, so saving is free; the SQLite store (the
``state_file`` setting) writes them to its file. Both implement the
interface in :mod:`.base`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Namespace, Store
from .ids import Ids
from .memory import MemoryStore
from .memory import Namespace as MemoryNamespace

if TYPE_CHECKING:
    from .sqlite import SqliteStore

__all__ = ["Ids", "MemoryNamespace", "MemoryStore", "Namespace", "SqliteStore", "Store"]


def __getattr__(name: str) -> Any:
    # sqlite3 takes a while to import; only a server with a state file needs it.
    if name == "SqliteStore":
        from .sqlite import SqliteStore

        return SqliteStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
