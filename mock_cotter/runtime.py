"""Everything one app instance owns, and the per-request :class:`Context`.

:func:`mock_cotter.create_app` builds one :class:`Runtime` per app and keeps
it in ``app.extensions``; nothing here is a module global, so two apps in one
process never share state.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from .clock import Clock
from .config import Settings
from .faults import FaultBook
from .journal import Journal
from .keys import KeySet
from .scenarios import Scenario, ScenarioLibrary
from .scenarios.models import FaultSpec
from .store import MemoryStore, Namespace, Store
from .tokens import TokenIssuer

logger = logging.getLogger(__name__)


@dataclass
class Context:
    """What one request works with: the caller's namespace, its clock and
    the scenario in force (which a request header may have chosen)."""

    runtime: Runtime
    ns: Namespace
    clock: Clock
    scenario: Scenario

    @property
    def api_key(self) -> str:
        return self.ns.api_key

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def tokens(self) -> TokenIssuer:
        return self.runtime.tokens

    def now(self) -> float:
        return self.clock.now()


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    keys: KeySet
    store: Store
    tokens: TokenIssuer
    library: ScenarioLibrary
    default_scenario: Scenario
    journal: Journal
    faults: FaultBook = field(default_factory=FaultBook)
    # Unexpected exceptions raised while serving, for the test that caused them.
    errors: list[BaseException] = field(default_factory=list)
    _scenarios: dict[str, Scenario] = field(default_factory=dict)
    _clocks: dict[str, Clock] = field(default_factory=dict)
    _extra_faults: dict[str | None, list[FaultSpec]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        library = ScenarioLibrary.load([settings.fixtures] if settings.fixtures else [])
        scenario = library.get(settings.scenario)
        clock = _clock_of(scenario)
        if settings.generate_keys:
            keys = KeySet.generate(settings.seed)
        else:
            keys = KeySet.load(settings.key_file)
        return cls(
            settings=settings,
            clock=clock,
            keys=keys,
            store=_store_of(settings, settings.seed),
            tokens=TokenIssuer(settings, keys),
            library=library,
            default_scenario=scenario,
            journal=Journal(settings.journal_size),
        )

    # -- scenarios and clocks, per API key ---------------------------------

    def scenario_for(self, api_key: str) -> Scenario:
        return self._scenarios.get(api_key, self.default_scenario)

    def set_scenario(self, api_key: str, scenario: Scenario) -> None:
        """Start ``api_key`` afresh in ``scenario``."""
        self.reset(api_key)
        with self._lock:
            self._scenarios[api_key] = scenario
        logger.info("API key %s now plays scenario %s", api_key, scenario.name)

    def clock_for(self, api_key: str) -> Clock:
        """The key's clock: it follows the server's clock until the key's
        scenario or a test sets it."""
        clock = self._clocks.get(api_key)
        if clock is None:
            with self._lock:
                clock = self._clocks.get(api_key)
                if clock is None:
                    scenario = self.scenario_for(api_key)
                    if scenario.clock.start is None and not scenario.clock.frozen:
                        clock = Clock(parent=self.clock)
                    else:
                        clock = _clock_of(scenario)
                    self._clocks[api_key] = clock
        return clock

    def faults_for(self, api_key: str | None) -> list[FaultSpec]:
        """Faults set over HTTP: the key's own, then the server-wide ones."""
        return [*self._extra_faults.get(api_key, []), *self._extra_faults.get(None, [])]

    def own_faults(self, api_key: str | None) -> list[FaultSpec]:
        """Faults set over HTTP for ``api_key`` (None: for every key)."""
        return list(self._extra_faults.get(api_key, []))

    def set_faults(self, api_key: str | None, faults: list[FaultSpec]) -> None:
        with self._lock:
            self._extra_faults[api_key] = list(faults)
        self.faults.reset(api_key)

    @contextlib.contextmanager
    def context(
        self, api_key: str, scenario: Scenario | None = None
    ) -> Iterator[Context]:
        """The caller's :class:`Context`, with its namespace locked.

        A namespace met for the first time gets its scenario's users and
        pending events. ``scenario`` (from a request header) changes the
        rules for one request without loading its users.
        """
        own = self.scenario_for(api_key)
        with self.store.session(api_key) as ns:
            ctx = Context(self, ns, self.clock_for(api_key), scenario or own)
            if not ns.seeded:
                from .seeding import seed_namespace

                seed_namespace(Context(self, ns, ctx.clock, own))
                ns.seeded = True
            yield ctx

    def reset(self, api_key: str | None = None) -> None:
        """Forget the state of one API key, or of everything.

        One key loses its users, events, tokens, scenario choice, clock and
        fault counts; everything also means the server's clock and journal.
        """
        self.store.reset(api_key)
        self.faults.reset(api_key)
        with self._lock:
            if api_key is None:
                self._scenarios.clear()
                self._clocks.clear()
                self._extra_faults.clear()
                self.errors.clear()
                self.clock = _clock_of(self.default_scenario)
            else:
                self._scenarios.pop(api_key, None)
                self._clocks.pop(api_key, None)
                self._extra_faults.pop(api_key, None)
        if api_key is None:
            self.journal.clear()


def _clock_of(scenario: Scenario) -> Clock:
    return Clock(scenario.clock.start_seconds(), frozen=scenario.clock.frozen)


def _store_of(settings: Settings, seed: int | None) -> Store:
    """The SQLite store when there is a state file, else the in-memory one."""
    if settings.state_file:
        from .store import SqliteStore

        store: Store = SqliteStore(settings.state_file, seed=seed)
        logger.info("store: SQLite, persistent, in %s", settings.state_file)
        return store
    logger.info("store: in memory")
    return MemoryStore(seed=seed)
