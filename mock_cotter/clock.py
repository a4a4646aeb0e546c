"""The virtual clock that every timestamp, expiry and freshness check reads."""

from __future__ import annotations

import threading
import time

from .models import iso


class Clock:
    """Wall-clock time by default; can be frozen, set and moved forward.

    The clock keeps an offset from real time, so a clock that was set to a
    date in the past keeps ticking from there unless it is frozen.

    A clock made with a ``parent`` follows it until it is changed itself:
    each API key's clock follows the server's until a test moves it.
    """

    def __init__(
        self,
        start: float | None = None,
        *,
        frozen: bool = False,
        parent: Clock | None = None,
    ):
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._parent = parent
        if start is not None:
            self.set(start)
        if frozen:
            self.freeze()

    def now(self) -> float:
        """The current virtual time, in unix seconds."""
        if self._parent is not None:
            return self._parent.now()
        frozen_at = self._frozen_at
        if frozen_at is not None:
            return frozen_at
        return time.time() + self._offset

    def seconds(self) -> int:
        """The current virtual time, in whole unix seconds."""
        return int(self.now())

    @property
    def frozen(self) -> bool:
        if self._parent is not None:
            return self._parent.frozen
        return self._frozen_at is not None

    @property
    def follows_parent(self) -> bool:
        return self._parent is not None

    def _detach(self) -> None:
        # Called with the lock held: take over the parent's current time.
        parent, self._parent = self._parent, None
        if parent is None:
            return
        if parent.frozen:
            self._frozen_at = parent.now()
        else:
            self._offset = parent.now() - time.time()

    def set(self, timestamp: float) -> None:
        """Jump to ``timestamp``; a frozen clock stays frozen there."""
        with self._lock:
            self._detach()
            if self._frozen_at is not None:
                self._frozen_at = float(timestamp)
            else:
                self._offset = float(timestamp) - time.time()

    def advance(self, seconds: float) -> float:
        """Move the clock forward (or back, with a negative value)."""
        with self._lock:
            self._detach()
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
        return self.now()

    def freeze(self, at: float | None = None) -> None:
        """Stop the clock at the current virtual time, or exactly at ``at``."""
        with self._lock:
            self._detach()
            if at is not None:
                self._frozen_at = float(at)
            elif self._frozen_at is None:
                self._frozen_at = time.time() + self._offset

    def unfreeze(self) -> None:
        """Let the clock run again from where it was frozen."""
        with self._lock:
            self._detach()
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    def reset(self) -> None:
        """Back to real time, running."""
        with self._lock:
            self._parent = None
            self._offset = 0.0
            self._frozen_at = None

    def to_json(self) -> dict[str, object]:
        now = self.now()
        return {"now": now, "iso": iso(now), "frozen": self.frozen}

    def __repr__(self) -> str:
        state = "frozen" if self.frozen else "running"
        return f"<Clock {state} at {self.now():.3f}>"
