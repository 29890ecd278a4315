"""The registry's core as one object: its stores (ports) and the use cases over them, wired.

:class:`RegistryCore` is what the shells (the TCP server, the WebSocket listener) and the
container share: the sessions of this registry, the presence fan-out, and one use case per
request. :func:`embedded_stores` makes the default stores (names in the name book, presence in
memory, a bus and a router within this process); a shared store (Redis) gives its own.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from chinwag.adapters.registry.store.local_bus import (
    LocalNetwork,
    LocalPresenceBus,
    LocalRelayRouter,
    kick_text,
)
from chinwag.adapters.registry.store.memory import MemoryPresenceStore
from chinwag.application.registry.admission import MAX_NEW_NAMES_PER_MINUTE, NameAdmission
from chinwag.application.registry.fanout import PRESENCE_ALL_BELOW, PresenceFanOut
from chinwag.application.registry.look_up import LookUp
from chinwag.application.registry.outbox import PresenceOutboxes
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
from chinwag.application.registry.sessions import LocalClients
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
    sessions of this registry (the router pushes to them)."""

    names: NameStore
    presence: PresenceStore
    bus: PresenceBus
    router: RelayRouter
    clients: LocalClients


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
    stats: RegistryStats = field(default_factory=RegistryStats)
    ticker: LoopTicker = field(default_factory=LoopTicker)
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
        stores, stats, ticker = self.stores, self.stats, self.ticker
        clients = stores.clients
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
        self.unregister = Unregister(clients, stores.presence, stats, self.fanout)
        self.disconnect = Disconnect(clients, stores.presence, stats, self.fanout)
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
        """Hear the network (changes, notes, resyncs) and start the fan-out's mode checks."""
        self.stores.bus.listen(self.fanout.heard, self._noted, self.fanout.on_resync)
        await self.fanout.start()

    async def close(self) -> None:
        """Stop: nobody here is leaving, the registry is (no leave is published)."""
        self.disconnect.shutting_down = True
        self.fanout.stop()

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
        else:  # ReleasedNote: the name store reads the binding again on the next sign-in
            log.info("%s was released by the operator on another registry", note.name)
