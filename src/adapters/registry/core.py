"""The registry's core as one object: its stores (ports) and the use cases over them, wired.

:class:`RegistryCore` is what the shells (the TCP server, the WebSocket listener) and the
container share: the sessions of this registry, the presence fan-out, and one use case per
request. :func:`embedded_stores` makes the default stores (names in the name book, presence in
memory, a bus and a router within this process); a shared store (Redis) gives its own, and
needs more while the registry serves (its liveness, republishing, the bus's connection:
:class:`~chinwag.adapters.registry.store.shared.SharedStoreLife`, which does nothing for the
embedded stores).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from chinwag.adapters.registry.eager import run_eagerly
from chinwag.adapters.registry.store.local_bus import (
    LocalNetwork,
    LocalPresenceBus,
    LocalRelayRouter,
    kick_text,
)
from chinwag.adapters.registry.store.memory import MemoryPresenceStore
from chinwag.adapters.registry.store.shared import SharedStoreLife
from chinwag.application.registry.admission import MAX_NEW_NAMES_PER_MINUTE, NameAdmission
from chinwag.application.registry.fanout import PRESENCE_ALL_BELOW, PresenceFanOut
from chinwag.application.registry.look_up import LookUp
from chinwag.application.registry.outbox import PresenceOutboxes
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import NameStore
from chinwag.application.registry.ports.presence_bus import (
    KickNote,
    Note,
    OfferNote,
    PresenceBus,
)
from chinwag.application.registry.ports.presence_store import PresenceStore
from chinwag.application.registry.ports.relay_router import RelayRouter, RelaySessions
from chinwag.application.registry.register import Register
from chinwag.application.registry.relay_offer import OfferRelay
from chinwag.application.registry.sessions import LocalClients, LocalRegistration
from chinwag.application.registry.stats import RegistryStats
from chinwag.application.registry.unregister import Disconnect, Unregister
from chinwag.application.registry.unwatch import Unwatch
from chinwag.application.registry.watch import Watch, WatchIndex
from chinwag.application.registry.who import WhoOnline, WhoWatched
from chinwag.domain.registry.presence import WATCHING_VERSION

log = logging.getLogger("chinwag.adapters.registry.server")

VERSIONS = (2, WATCHING_VERSION)
"""The ``register`` versions this registry speaks."""


class LoopTicker:
    """The :class:`~chinwag.application.registry.ports.ticker.Ticker` of the running event
    loop (looked up at each call, so a core may be made before the loop runs)."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def soon(self, fn: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_soon(fn)

    def later(self, delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay, fn)


def new_registry_id() -> str:
    """An id for one run of one registry process (epochs of its sign-ins start with it)."""
    return secrets.token_hex(6)


@dataclass(slots=True)
class Stores:
    """What a registry keeps its state in: names, presence, the bus and the router, and the
    sessions of this registry (the router pushes to them); and the counters that the stores
    and the use cases bump (a shared store's bus counts its messages and reconnections)."""

    names: NameStore
    presence: PresenceStore
    bus: PresenceBus
    router: RelayRouter
    clients: LocalClients
    stats: RegistryStats = field(default_factory=RegistryStats)


def embedded_stores(
    names: NameStore,
    registry: str | None = None,
    network: LocalNetwork | None = None,
    advertised: tuple[str, ...] = (),
) -> Stores:
    """The default stores: ``names`` (the name book), presence in this process's memory, and a
    bus and router on ``network`` (one of its own if None: a registry alone)."""
    clients = LocalClients(registry or new_registry_id())
    bus = LocalPresenceBus(clients.registry, network)
    return Stores(
        names=names,
        presence=MemoryPresenceStore(bus),
        bus=bus,
        router=LocalRelayRouter(clients, advertised, bus.network),
        clients=clients,
    )


@dataclass(slots=True)
class RegistryCore:
    """Sessions, presence and the use cases of one registry, over ``stores``."""

    stores: Stores
    relay: RelaySessions
    presence_all_below: int = PRESENCE_ALL_BELOW
    max_new_names_per_minute: int = MAX_NEW_NAMES_PER_MINUTE
    ticker: LoopTicker = field(default_factory=LoopTicker)
    stats: RegistryStats = field(init=False)
    """The stores' counters (``stores.stats``)."""
    life: SharedStoreLife = field(init=False)
    index: WatchIndex = field(init=False)
    outboxes: PresenceOutboxes = field(init=False)
    fanout: PresenceFanOut = field(init=False)
    register: Register = field(init=False)
    unregister: Unregister = field(init=False)
    disconnect: Disconnect = field(init=False)
    look_up: LookUp = field(init=False)
    watch: Watch = field(init=False)
    unwatch: Unwatch = field(init=False)
    who_online: WhoOnline = field(init=False)
    who_watched: WhoWatched = field(init=False)
    offer_relay: OfferRelay = field(init=False)

    def __post_init__(self) -> None:
        self.stats = self.stores.stats
        stores, stats, ticker = self.stores, self.stats, self.ticker
        clients = stores.clients
        self.life = SharedStoreLife(stores.presence, stores.bus, stores.names, clients)
        self.index = WatchIndex()
        self.outboxes = PresenceOutboxes(ticker, stats)
        self.fanout = PresenceFanOut(
            clients,
            self.index,
            self.outboxes,
            stores.presence,
            stores.bus,
            ticker,
            stats,
            below=self.presence_all_below,
        )
        admission = NameAdmission(stores.names, ticker, self.max_new_names_per_minute)
        self.register = Register(
            stores.names,
            stores.presence,
            stores.router,
            clients,
            admission,
            stats,
            self.fanout,
            VERSIONS,
        )
        later = self.life.leave_later
        self.unregister = Unregister(clients, stores.presence, stats, self.fanout, later)
        self.disconnect = Disconnect(clients, stores.presence, stats, self.fanout, later)
        self.look_up = LookUp(
            clients, stores.presence, stores.names, stats, self.relay.settings.enabled
        )
        self.watch = Watch(self.index, self.fanout, stores.presence, stores.bus, stats)
        self.unwatch = Unwatch(self.index, self.fanout, stats)
        self.who_online = WhoOnline(stores.presence, stats)
        self.who_watched = WhoWatched(self.fanout, stats)
        self.offer_relay = OfferRelay(self.look_up, self.relay, stores.router, stats)

    @property
    def clients(self) -> LocalClients:
        return self.stores.clients

    async def start(self) -> None:
        """Hear the network (changes, notes, resyncs) and start the fan-out's mode checks;
        with a shared store, first count as alive in it and subscribe (StoreUnavailable if it
        cannot be reached)."""
        self.stores.bus.listen(self.fanout.heard, self._noted, self._resynced)
        await self.life.start()
        await self.fanout.start()

    async def close(self) -> None:
        """Stop: nobody here is leaving, the registry is (no leave is published; a shared
        store lets this registry's names expire with it, as for a kill)."""
        self.disconnect.shutting_down = True
        self.fanout.stop()
        await self.life.close()

    def probed(self, registration: LocalRegistration) -> None:
        """A probe of ``registration`` ended (its ``reachability`` is set): tell the presence
        store, so that a lookup on another registry answers what it found. The reachability
        desk calls this; a registration replaced or gone meanwhile is skipped."""
        if self.clients.holding(registration.name, registration.epoch) is None:
            return
        pending = run_eagerly(
            self._set_reachable(registration.name, registration.epoch, registration.reachable())
        )
        if isinstance(pending, asyncio.Task):
            self.life.keep(pending)

    async def _set_reachable(self, name: str, epoch: str, reachable: bool | None) -> None:
        try:
            await self.stores.presence.set_reachable(name, epoch, reachable)
        except StoreUnavailable as exc:  # a republish writes it again with the entry
            log.info("the reachability of %s was not stored: %s", name, exc)

    def _resynced(self) -> None:
        """The bus came back from a loss: a shared store may have lost this registry's entries
        (joined again), and changes were missed (the fan-out reads what it follows again)."""
        self.life.resynced(then=self.fanout.on_resync)

    def _noted(self, note: Note) -> None:
        """A note from another registry: an offer or a kick for a session here."""
        if isinstance(note, OfferNote):
            session = self.clients.holding(note.name, note.epoch)
            if session is not None and not session.closed:
                offer = note.offer
                session.client.relay_incoming(offer.sid, offer.from_, offer.timeout, offer.via)
        elif isinstance(note, KickNote):
            session = self.clients.holding(note.name, note.epoch)
            if session is not None and not session.closed:
                self.clients.remove(session)  # the name is held elsewhere now: no leave
                session.registration = None
                session.client.kick(note.code, kick_text(note.name, note.code))
        else:  # ReleasedNote: a cached binding is stale; the store is read at the next sign-in
            self.life.released(note.name)
            log.info("%s was released by the operator", note.name)
