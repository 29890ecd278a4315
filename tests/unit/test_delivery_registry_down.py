"""While the registry is down, a ``--listen none`` peer keeps its relay route: messages to it
wait for the registry (which carries the relay), never as ``unreachable`` ("no direct path and
no relay"), which would be false.

The courier falls back to the last location with the pinned key when the registry is out of
reach; that location keeps the routes it had (found by a review of issue 9)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chinwag.adapters.memory.directory import InMemoryDirectory, InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.repositories import InMemoryMessageRepository
from chinwag.application.delivery import CourierSettings
from chinwag.application.errors import PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import DeliveryReport
from chinwag.application.routing import routes
from chinwag.domain.message import Message, MessageState
from tests.unit.test_delivery import BOB_KEY, FlakyTransport, alices_courier, message, state


class RoutingTransport(FlakyTransport):
    """Follows the port's contract: no route -> ``unreachable``; the relayed session breaks
    once (the registry died under it), the registry goes down with it, and the relay cannot be
    asked while it is down."""

    def __init__(self, registry: InMemoryRegistry) -> None:
        super().__init__()
        self.registry = registry
        self.locations: list[PeerLocation] = []

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        self.locations.append(location)
        if not routes(location):
            raise PeerUnreachable(
                f"{peer} accepts no connections and there is no relay", "unreachable"
            )
        if len(self.locations) == 1:
            self.registry.available = False
            raise PeerUnreachable("the relay's session broke", "lost")
        if not self.registry.available:
            raise PeerUnreachable("cannot relay: the registry is down", "registry_unreachable")
        return await super().deliver(peer, location, messages)


def test_with_the_registry_down_a_listen_none_peer_waits_for_the_relay() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await InMemoryDirectory(registry, BOB_KEY).sign_in("bob", None, RecordingEvents())
        transport = RoutingTransport(registry)
        repository = InMemoryMessageRepository()
        events = RecordingEvents()
        courier = alices_courier(
            registry, transport, repository, events, CourierSettings(retry_delay=0.001)
        )
        waiting = message(1)
        await repository.add([waiting])
        courier.enqueue(waiting)
        await events.wait_for(lambda: state(events, waiting.id) is MessageState.QUEUED)
        queued = events.latest_state(waiting.id)
        await courier.close()
        assert queued is not None
        assert queued.reason != "unreachable", transport.locations[-1]
        assert "registry" in (queued.reason or ""), queued.reason
        assert transport.locations[-1].relay and transport.locations[-1].address is None

    asyncio.run(scenario())
