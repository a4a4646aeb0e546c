"""Faults and rate limits: what a scenario makes go wrong, and when.

Which call a fault hits is decided by counters and, for a probability, by
a random source seeded from the scenario's seed, the API key and the
fault's place in its list, so a run with the same seed fails the same
calls every time.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections import deque
from collections.abc import Callable, Sequence

from .scenarios.models import FaultSpec, RateLimitSpec


def matches(spec: FaultSpec | RateLimitSpec, method: str, path: str) -> bool:
    if spec.method is not None and spec.method.upper() != method:
        return False
    return fnmatch.fnmatchcase(path, spec.path)


class FaultBook:
    """Counts matching calls per API key, for faults and rate limits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[tuple, int] = {}
        self._randoms: dict[tuple, random.Random] = {}
        self._windows: dict[tuple, deque[float]] = {}

    def pick(
        self,
        api_key: str,
        source: str,
        faults: Sequence[FaultSpec],
        method: str,
        path: str,
        seed: int,
    ) -> FaultSpec | None:
        """The fault this call meets, if any. ``source`` names the list
        (a scenario, or faults set over HTTP) so that their counts differ."""
        with self._lock:
            for index, fault in enumerate(faults):
                if not matches(fault, method, path):
                    continue
                key = (api_key, source, index)
                calls = self._calls.get(key, 0) + 1
                self._calls[key] = calls
                applied = calls - fault.skip
                if applied <= 0 or (fault.times is not None and applied > fault.times):
                    continue
                if fault.probability < 1:
                    chance = self._randoms.get(key)
                    if chance is None:
                        chance = random.Random(f"{seed}:{api_key}:{source}:{index}")
                        self._randoms[key] = chance
                    if chance.random() >= fault.probability:
                        continue
                return fault
        return None

    def over_limit(
        self,
        api_key: str,
        limits: Sequence[RateLimitSpec],
        method: str,
        path: str,
        subject: Callable[[str], str],
        now: float,
    ) -> RateLimitSpec | None:
        """The limit this call breaks, if any; the call counts either way,
        as Cotter counted every request in its five-minute window."""
        broken = None
        with self._lock:
            for index, limit in enumerate(limits):
                if not matches(limit, method, path):
                    continue
                counted = subject(limit.per)
                if not counted:
                    # Nothing to count by (no identifier in the request).
                    continue
                key = (api_key, index, counted)
                window = self._windows.setdefault(key, deque())
                while window and window[0] <= now - limit.window:
                    window.popleft()
                window.append(now)
                if len(window) > limit.limit and broken is None:
                    broken = limit
        return broken

    def reset(self, api_key: str | None = None) -> None:
        with self._lock:
            for table in (self._calls, self._randoms, self._windows):
                if api_key is None:
                    table.clear()
                else:
                    for key in [k for k in table if k[0] == api_key]:
                        del table[key]
