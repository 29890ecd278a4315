"""Hand-written fakes for the registry's use-case tests: a client that records what it is told,
a ticker whose time moves only when the test says, and the ports over dicts (names, presence,
bus, router, relay sessions), each able to be away (``fail``) or to hold its answer (``hold``),
put together in a :class:`World` of one registry (``r1``).

The fakes keep the ports' contracts (first key wins, a leave only for its epoch, sorted keyset
paging...), so a use case that passes here behaves alike over the real stores, whose contract
tests check the same rules.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chinwag.application.registry.sessions import ClientSession, LocalClients, LocalRegistration
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.registry.presence import WATCHING_VERSION, OnlineEntry
from chinwag.domain.registry.refusals import KickCode
from tests.unit.registry_fakes import (
    FakeBus,
    FakeNameStore,
    FakePresenceStore,
    FakeRelaySession,
    FakeRelaySessions,
    FakeRouter,
)

__all__ = [  # the fakes live in registry_fakes; tests take everything from here
    "FakeBus",
    "FakeNameStore",
    "FakePresenceStore",
    "FakeRelaySession",
    "FakeRelaySessions",
    "FakeRouter",
    "ManualTicker",
    "RecordingClient",
    "World",
    "client_of",
    "key",
]

REGISTRY = "r1"
"""The id of the registry the world runs."""


def key(label: str) -> bytes:
    """A 32-byte identity key, the same for the same label."""
    return hashlib.sha256(label.encode()).digest()


# -- the client ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incoming:
    """One ``relay_incoming`` a client was told."""

    sid: str
    from_: str
    timeout: float
    via: tuple[str, ...] | None


class RecordingClient:
    """A :class:`~chinwag.application.registry.ports.client.ClientPort` that keeps every call,
    in order (``calls``), and by kind."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.presences: list[list[str]] = []
        self.changes: list[tuple[list[str], list[str]]] = []
        self.incoming: list[Incoming] = []
        self.kicks: list[tuple[KickCode, str]] = []

    def presence(self, online: Sequence[str]) -> None:
        self.presences.append(list(online))
        self.calls.append(("presence", list(online)))

    def presence_changed(self, joined: Sequence[str], left: Sequence[str]) -> None:
        change = (list(joined), list(left))
        self.changes.append(change)
        self.calls.append(("presence_changed", change))

    def relay_incoming(
        self, sid: str, from_: str, timeout: float, via: Sequence[str] | None
    ) -> None:
        told = Incoming(sid, from_, timeout, None if via is None else tuple(via))
        self.incoming.append(told)
        self.calls.append(("relay_incoming", told))

    def kick(self, code: KickCode, text: str) -> None:
        self.kicks.append((code, text))
        self.calls.append(("kick", code))

    @property
    def kicked(self) -> KickCode | None:
        """The code of the last kick, if any."""
        return self.kicks[-1][0] if self.kicks else None

    @property
    def pushes(self) -> int:
        """``presence_changed`` pushes so far."""
        return len(self.changes)

    def seen_online(self) -> set[str]:
        """Who the client believes is online: its last whole ``presence`` and the changes since."""
        online: set[str] = set()
        for kind, what in self.calls:
            if kind == "presence":
                assert isinstance(what, list)
                online = set(what)
            elif kind == "presence_changed":
                assert isinstance(what, tuple)
                joined, left = what
                online |= set(joined)
                online -= set(left)
        return online

    def forget(self) -> None:
        """Clear what was recorded (the test looks at what comes next)."""
        self.calls.clear()
        self.presences.clear()
        self.changes.clear()
        self.incoming.clear()
        self.kicks.clear()


# -- time ------------------------------------------------------------------------------------


class ManualHandle:
    __slots__ = ("cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualTicker:
    """A :class:`~chinwag.application.registry.ports.ticker.Ticker` whose clock moves only in
    :meth:`advance`. ``soon`` callbacks wait for the next pass (:meth:`turn`), as the event
    loop's do: those queued during a pass run in the one after."""

    MAX_PASSES = 10_000

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._soon: list[Callable[[], None]] = []
        self._timers: list[tuple[float, int, ManualHandle]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def soon(self, fn: Callable[[], None]) -> None:
        self._soon.append(fn)

    def later(self, delay: float, fn: Callable[[], None]) -> ManualHandle:
        handle = ManualHandle(self.now + max(0.0, delay), fn)
        heapq.heappush(self._timers, (handle.when, next(self._order), handle))
        return handle

    @property
    def pending(self) -> int:
        """Callbacks waiting: soon ones and timers not cancelled."""
        return len(self._soon) + sum(1 for *_, h in self._timers if not h.cancelled)

    def next_due(self) -> float | None:
        """When the next timer not cancelled is due, if any."""
        for when, _, handle in sorted(self._timers):
            if not handle.cancelled:
                return when
        return None

    def turn(self) -> int:
        """Run one pass: the ``soon`` callbacks queued before it; how many ran."""
        ready, self._soon = self._soon, []
        for fn in ready:
            fn()
        return len(ready)

    def settle(self) -> None:
        """Run passes until no ``soon`` callback is queued (time does not move)."""
        for _ in range(self.MAX_PASSES):
            if not self.turn():
                return
        raise AssertionError("soon callbacks keep queueing more: a loop that never ends?")

    def advance(self, seconds: float) -> None:
        """Settle, then move the clock ``seconds`` on, running each timer due on the way at its
        time (and settling after each)."""
        target = self.now + seconds
        self.settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, handle = heapq.heappop(self._timers)
            if handle.cancelled:
                continue
            self.now = max(self.now, when)
            handle.fn()
            self.settle()
        self.now = target


# -- the stores ------------------------------------------------------------------------------


@dataclass
class World:
    """One registry (``r1``) over fakes: what a use case takes, made in one line."""

    ticker: ManualTicker = field(default_factory=ManualTicker)
    bus: FakeBus = field(default_factory=FakeBus)
    names: FakeNameStore = field(default_factory=FakeNameStore)
    clients: LocalClients = field(default_factory=lambda: LocalClients(REGISTRY))
    stats: RegistryStats = field(default_factory=RegistryStats)
    relay: FakeRelaySessions = field(default_factory=FakeRelaySessions)
    presence: FakePresenceStore = field(init=False)
    router: FakeRouter = field(init=False)

    def __post_init__(self) -> None:
        self.presence = FakePresenceStore(self.bus)
        self.router = FakeRouter(self.clients)

    def session(
        self, label: str = "someone", address: str = "198.51.100.7", version: int = WATCHING_VERSION
    ) -> ClientSession:
        """A new authenticated connection (not registered) with the key of ``label``."""
        session = ClientSession(key(label), address, RecordingClient())
        session.version = version
        return session

    async def online(
        self,
        name: str,
        address: str = "198.51.100.7",
        version: int = WATCHING_VERSION,
        port: int | None = 7000,
    ) -> ClientSession:
        """Set up, without the use cases: ``name`` (key ``key(name)``) bound and registered
        here, in the presence store and in ``clients``. Nothing is published or pushed."""
        session = self.session(name, address, version)
        self.names.bound(name, session.key)
        session.names_claimed.add(name)
        session.registration = LocalRegistration(
            name, address if port is not None else None, port, session.key, self.clients.new_epoch()
        )
        self.clients.put(session)
        entry = self.clients.entry(session)
        self.presence.entries[name] = entry
        return session

    def elsewhere(
        self, name: str, registry: str = "r2", version: int = WATCHING_VERSION, n: int = 1
    ) -> OnlineEntry:
        """Set up: ``name`` bound and online on another registry of the network."""
        self.names.bound(name, key(name))
        entry = OnlineEntry(
            name, key(name), "203.0.113.9", 7000, registry, f"{registry}:{n}", version, None
        )
        self.presence.entries[name] = entry
        return entry


def client_of(session: ClientSession) -> RecordingClient:
    """The recording client of a session the world made."""
    assert isinstance(session.client, RecordingClient)
    return session.client
