"""The virtual clock that every timestamp, expiry and freshness check reads."""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock time by default; can be frozen, set and moved forward.

    The clock keeps an offset from real time, so a clock that was set to
    a date in the past keeps ticking from there unless it is frozen.
    """

    def __init__(self, start: float | None = None, *, frozen: bool = False):
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None
        if start is not None:
            self.set(start)
        if frozen:
            self.freeze()

    def now(self) -> float:
        """The current virtual time, in unix seconds."""
        frozen_at = self._frozen_at
        if frozen_at is not None:
            return frozen_at
        return time.time() + self._offset

    def seconds(self) -> int:
        """The current virtual time, in whole unix seconds."""
        return int(self.now())

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def set(self, timestamp: float) -> None:
        """Jump to ``timestamp``; a frozen clock stays frozen there."""
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = float(timestamp)
            else:
                self._offset = float(timestamp) - time.time()

    def advance(self, seconds: float) -> float:
        """Move the clock forward (or back, with a negative value)."""
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
        return self.now()

    def freeze(self) -> None:
        """Stop the clock at the current virtual time."""
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = time.time() + self._offset

    def unfreeze(self) -> None:
        """Let the clock run again from where it was frozen."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    def reset(self) -> None:
        """Back to real time, running."""
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None

    def __repr__(self) -> str:
        state = "frozen" if self.frozen else "running"
        return f"<Clock {state} at {self.now():.3f}>"
