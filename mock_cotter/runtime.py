"""Everything one app instance owns: settings, clock, keys, store, tokens.

:func:`mock_cotter.create_app` builds one :class:`Runtime` per app and keeps
it in ``app.extensions``; nothing here is a module global, so two apps in one
process never share state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .clock import Clock
from .config import Settings
from .keys import KeySet
from .store import MemoryStore
from .tokens import TokenIssuer

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    keys: KeySet
    store: MemoryStore
    tokens: TokenIssuer
    # Unexpected exceptions raised while serving, for the test that caused them.
    errors: list[BaseException] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        clock = Clock()
        if settings.generate_keys:
            keys = KeySet.generate(settings.seed)
        else:
            keys = KeySet.load(settings.key_file)
        return cls(
            settings=settings,
            clock=clock,
            keys=keys,
            store=MemoryStore(seed=settings.seed),
            tokens=TokenIssuer(settings, keys, clock),
        )

    def reset(self, api_key: str | None = None) -> None:
        """Forget the state of one API key, or of all of them."""
        self.store.reset(api_key)
        if api_key is None:
            self.errors.clear()
