"""State, kept apart per API key.

Every request works inside one namespace, the state of one ``API_KEY_ID``;
two test processes with different keys never see each other's users, events
or tokens. A store's ``session(api_key)`` hands out the namespace with its
lock held, so a request's reads and writes (a refresh token's rotation, say)
are atomic.

Domain code calls ``save_*`` after changing a record: the in-memory store
keeps the objects themselves, so saving is free, but the contract lets a
persistent store write them out.
"""

from __future__ import annotations

from .ids import Ids
from .memory import MemoryStore, Namespace

__all__ = ["Ids", "MemoryStore", "Namespace"]
