"""The bus and the relay router of registries in one process, without Redis: a
:class:`LocalNetwork` joins them (production has one registry on it; tests put several).

:class:`LocalPresenceBus` hands each change published by one registry to every *other* registry
of the network that follows its name (a registry's own changes reach its fan-out directly, from
its use cases; Redis echoes them and the fan-out drops the duplicate). Delivery is synchronous:
``publish`` returns once every listener was called, so the memory store's ``join`` never
suspends. :class:`LocalRelayRouter` pushes to a session of its own registry directly and sends
a note to another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from chinwag.application.registry.ports.presence_bus import KickNote, Note, OfferNote
from chinwag.application.registry.ports.relay_router import RelayOffer
from chinwag.application.registry.sessions import LocalClients
from chinwag.domain.registry.presence import OnlineEntry, PresenceChange
from chinwag.domain.registry.refusals import KickCode

log = logging.getLogger(__name__)


def kick_text(name: str, code: KickCode) -> str:
    """What the client ending its registration with ``code`` is told (registrar.py's words)."""
    if code is KickCode.RELEASED:
        return f"{name} was released by the registry's operator and is another key's now"
    return f"{name} signed in again from another connection"


class LocalNetwork:
    """The registries of one process, by id: where a bus delivers changes and notes."""

    def __init__(self) -> None:
        self._buses: dict[str, LocalPresenceBus] = {}

    def attach(self, bus: LocalPresenceBus) -> None:
        if bus.registry in self._buses and self._buses[bus.registry] is not bus:
            raise ValueError(f"registry {bus.registry!r} is on this network already")
        self._buses[bus.registry] = bus

    def detach(self, bus: LocalPresenceBus) -> None:
        if self._buses.get(bus.registry) is bus:
            del self._buses[bus.registry]

    def publish(self, change: PresenceChange, sender: str) -> None:
        """``change`` to every registry but ``sender`` that follows its name."""
        for bus in list(self._buses.values()):
            if bus.registry != sender:
                bus.hear(change)

    def send(self, registry: str, note: Note) -> bool:
        """``note`` to ``registry``; False if it is not on the network or nobody listens."""
        bus = self._buses.get(registry)
        return bus is not None and bus.take(note)


class LocalPresenceBus:
    """A :class:`~chinwag.application.registry.ports.presence_bus.PresenceBus` of registry
    ``registry`` on ``network`` (a network of its own if none is given). It never loses the
    network, so ``on_resync`` is never called."""

    def __init__(self, registry: str, network: LocalNetwork | None = None) -> None:
        self.registry = registry
        self.network = network if network is not None else LocalNetwork()
        self._followed: set[str] = set()
        self._all = False
        self._on_change: Callable[[PresenceChange], None] | None = None
        self._on_note: Callable[[Note], None] | None = None
        self.network.attach(self)

    async def publish(self, change: PresenceChange) -> None:
        self.network.publish(change, self.registry)

    async def follow(self, names: Iterable[str]) -> None:
        self._followed.update(names)

    async def unfollow(self, names: Iterable[str]) -> None:
        self._followed.difference_update(names)

    async def follow_all(self, on: bool) -> None:
        self._all = on

    def listen(
        self,
        on_change: Callable[[PresenceChange], None],
        on_note: Callable[[Note], None],
        on_resync: Callable[[], None],
    ) -> None:
        self._on_change, self._on_note = on_change, on_note

    def follows(self, name: str) -> bool:
        return self._all or name in self._followed

    def hear(self, change: PresenceChange) -> None:
        """A change from another registry: to the listener if this one follows its name."""
        on_change = self._on_change
        if on_change is None or not self.follows(change.name):
            return
        try:
            on_change(change)
        except Exception:  # one registry's fault must not fail another's join
            log.exception("the listener of registry %s failed on %r", self.registry, change)

    def take(self, note: Note) -> bool:
        """A note to this registry: to the listener; False if nobody listens."""
        on_note = self._on_note
        if on_note is None:
            return False
        try:
            on_note(note)
        except Exception:
            log.exception("the listener of registry %s failed on %r", self.registry, note)
        return True

    async def close(self) -> None:
        """Leave the network (nothing more is heard)."""
        self.network.detach(self)
        self._on_change = self._on_note = None


class LocalRelayRouter:
    """A :class:`~chinwag.application.registry.ports.relay_router.RelayRouter` for the
    registry whose sessions are ``clients``, advertising ``urls``: its own entries are pushed
    to their session directly; another registry's get a note on ``network``."""

    def __init__(
        self,
        clients: LocalClients,
        urls: Sequence[str] = (),
        network: LocalNetwork | None = None,
    ) -> None:
        self._clients = clients
        self._urls = list(urls)
        self._network = network

    async def offer(self, target: OnlineEntry, offer: RelayOffer) -> bool:
        if target.registry == self._clients.registry:
            session = self._clients.holding(target.name, target.epoch)
            if session is None or session.closed:
                return False
            session.client.relay_incoming(offer.sid, offer.from_, offer.timeout, offer.via)
            return True
        if self._network is None:
            return False
        via = offer.via if offer.via is not None else tuple(self._urls)
        note = OfferNote(
            target.name, target.epoch, RelayOffer(offer.sid, offer.from_, offer.timeout, via)
        )
        return self._network.send(target.registry, note)

    async def kick(self, entry: OnlineEntry, code: KickCode) -> None:
        if entry.registry == self._clients.registry:
            session = self._clients.holding(entry.name, entry.epoch)
            if session is not None and not session.closed:
                session.client.kick(code, kick_text(entry.name, code))
        elif self._network is not None:
            self._network.send(entry.registry, KickNote(entry.name, entry.epoch, code))

    def advertised(self) -> list[str]:
        return list(self._urls)
