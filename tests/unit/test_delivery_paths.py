"""The courier and the paths of issue 9: the route told with ``sent`` and ``delivered``, the
``unreachable`` and ``relay_refused`` reasons, waking everyone when the registry is back, and
the last location the doctor checks while the registry is out of reach."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest

from chinwag.adapters.memory.clock import ManualClock
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.repositories import InMemoryMessageRepository
from chinwag.application.delivery import Courier, CourierSettings
from chinwag.application.errors import IdentityChanged, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation, RegistryStatus
from chinwag.application.ports.peer_transport import DeliveryReport, Route
from chinwag.application.presence import LastSeen, PresenceRelay
from chinwag.domain.message import Message, MessageState
from tests.unit.test_delivery import (
    BOB,
    BOB_KEY,
    FlakyTransport,
    alices_courier,
    bob_online,
    courier_with,
    message,
    state,
)

SLOW_RETRY = CourierSettings(retry_delay=60.0, max_attempts=5)
"""Only a wake-up can make the courier try again within a test's time."""


class SessionTransport(FlakyTransport):
    """A session to the recipient opens when a delivery goes through and lasts until one fails
    or the test ends it (as a registry restart ends a relayed one): ``route()`` says its route
    only while it lasts, as the real transport does."""

    def __init__(self, *, route: Route = Route.DIRECT) -> None:
        super().__init__(route=route)
        self.session: Route | None = None

    def route(self, peer: str) -> Route | None:
        return self.session

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        try:
            report = await super().deliver(peer, location, messages)
        except PeerUnreachable:
            self.session = None
            raise
        self.session = report.route
        return report


def told(events: RecordingEvents, n: int) -> list[tuple[MessageState, Route | None]]:
    """The states told for message ``n``, each with its route."""
    return [
        (m.state, route)
        for m, route in zip(events.states, events.routes, strict=True)
        if m.id == message(n).id
    ]


@pytest.mark.parametrize("route", [Route.DIRECT, Route.RELAYED])
def test_delivered_says_the_route_and_sent_the_route_of_the_batch_before(route: Route) -> None:
    async def scenario() -> None:
        transport = SessionTransport(route=route)
        courier, repository, events = await courier_with(
            transport, CourierSettings(batch_size=1, window=1)
        )
        first, second = message(1), message(2)
        await repository.add([first, second])
        courier.enqueue(first)
        await events.wait_for(lambda: state(events, first.id) is MessageState.DELIVERED)
        courier.enqueue(second)
        await events.wait_for(lambda: state(events, second.id) is MessageState.DELIVERED)
        assert told(events, 1) == [(MessageState.SENT, None), (MessageState.DELIVERED, route)]
        assert told(events, 2) == [(MessageState.SENT, route), (MessageState.DELIVERED, route)]
        await courier.close()

    asyncio.run(scenario())


def test_after_a_broken_session_sent_no_longer_claims_a_route() -> None:
    async def scenario() -> None:
        transport = SessionTransport(route=Route.RELAYED)
        courier, repository, events = await courier_with(
            transport, CourierSettings(batch_size=1, window=1, retry_delay=0.001)
        )
        first, second = message(1), message(2)
        await repository.add([first, second])
        courier.enqueue(first)
        await events.wait_for(lambda: state(events, first.id) is MessageState.DELIVERED)
        transport.failures = 1  # the relayed session breaks under the next batch
        courier.enqueue(second)
        await events.wait_for(lambda: state(events, second.id) is MessageState.DELIVERED)
        sent = [route for s, route in told(events, 2) if s is MessageState.SENT]
        assert sent == [Route.RELAYED, None]  # the second try goes out on a new session
        await courier.close()

    asyncio.run(scenario())


def test_sent_says_the_session_open_now_never_one_that_ended_meanwhile() -> None:
    async def scenario() -> None:
        transport = SessionTransport(route=Route.RELAYED)
        courier, repository, events = await courier_with(
            transport, CourierSettings(batch_size=1, window=1)
        )
        first, second, third = message(1), message(2), message(3)
        await repository.add([first, second, third])
        courier.enqueue(first)
        await events.wait_for(lambda: state(events, first.id) is MessageState.DELIVERED)
        transport.session = None  # the registry restarted: the relayed session is gone
        courier.enqueue(second)
        await events.wait_for(lambda: state(events, second.id) is MessageState.DELIVERED)
        assert told(events, 2) == [
            (MessageState.SENT, None),
            (MessageState.DELIVERED, Route.RELAYED),
        ]
        transport.session = Route.DIRECT  # a new session, direct this time
        courier.enqueue(third)
        await events.wait_for(lambda: state(events, third.id) is MessageState.DELIVERED)
        assert told(events, 3)[0] == (MessageState.SENT, Route.DIRECT)
        await courier.close()

    asyncio.run(scenario())


async def delivered_once() -> tuple[Courier, InMemoryContactRepository]:
    """Alice's courier after one message reached bob (whose key is now pinned)."""
    contacts = InMemoryContactRepository()
    repository, events = InMemoryMessageRepository(), RecordingEvents()
    courier = alices_courier(
        await bob_online(), FlakyTransport(), repository, events, CourierSettings(), contacts
    )
    assert await courier.last_location("bob") is None  # never looked up yet
    first = message(1)
    await repository.add([first])
    courier.enqueue(first)
    await events.wait_for(lambda: state(events, first.id) is MessageState.DELIVERED)
    return courier, contacts


def test_the_last_location_is_where_the_recipient_was_found_with_the_pinned_key() -> None:
    async def scenario() -> None:
        courier, _ = await delivered_once()
        last = await courier.last_location("bob")
        assert last is not None and (last.address, last.key) == (BOB, BOB_KEY)
        assert await courier.last_location("carol") is None
        await courier.close()

    asyncio.run(scenario())


def test_the_last_location_holds_while_a_key_change_waits() -> None:
    async def scenario() -> None:
        courier, contacts = await delivered_once()
        pinned = await contacts.get("bob")
        assert pinned is not None
        await contacts.save(pinned.model_copy(update={"pending_key": bytes([0xEE]) * 32}))
        with pytest.raises(IdentityChanged):
            await courier.last_location("bob")
        await courier.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("unreachable", "unreachable"),
        ("relay_off", "relay_refused"),
        ("relay_full", "relay_refused"),
        ("relay_limit", "relay_refused"),
    ],
)
def test_no_route_or_a_refusing_relay_queues_at_once_with_the_reason(
    cause: str, reason: str
) -> None:
    async def scenario() -> None:
        transport = FlakyTransport(failures=1, cause=cause)
        courier, repository, events = await courier_with(transport, SLOW_RETRY)
        waiting = message(1)
        await repository.add([waiting])
        courier.enqueue(waiting)
        await events.wait_for(lambda: state(events, waiting.id) is MessageState.QUEUED)
        queued = events.latest_state(waiting.id)
        assert queued is not None and queued.reason == reason
        assert len(transport.batches) == 1  # not after max_attempts tries: at once
        stored = await repository.get(waiting.id)
        assert stored is not None and (stored.state, stored.reason) == (
            MessageState.QUEUED,
            reason,
        )
        await courier.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("cause", ["refused", "timeout", "lost"])
def test_a_failure_that_may_pass_is_tried_again_before_queueing(cause: str) -> None:
    async def scenario() -> None:
        transport = FlakyTransport(failures=2, cause=cause)
        courier, repository, events = await courier_with(
            transport, CourierSettings(retry_delay=0.001, max_attempts=3)
        )
        only = message(1)
        await repository.add([only])
        courier.enqueue(only)
        await events.wait_for(lambda: state(events, only.id) is MessageState.DELIVERED)
        assert MessageState.QUEUED not in [s for s, _ in told(events, 1)]
        await courier.close()

    asyncio.run(scenario())


def test_when_the_registry_is_back_everyone_waiting_is_tried_at_once() -> None:
    async def scenario() -> None:
        transport = FlakyTransport(failures=1, cause="relay_full")
        courier, repository, events = await courier_with(transport, SLOW_RETRY)
        relay = PresenceRelay(events, courier, LastSeen(ManualClock(step=timedelta(0))))
        relay.registry_status_changed(RegistryStatus.CONNECTED, "connected")
        waiting = message(1)
        await repository.add([waiting])
        courier.enqueue(waiting)
        await events.wait_for(lambda: state(events, waiting.id) is MessageState.QUEUED)
        relay.registry_status_changed(RegistryStatus.RECONNECTING, "lost")
        relay.registry_status_changed(RegistryStatus.CONNECTED, "reconnected")
        await events.wait_for(lambda: state(events, waiting.id) is MessageState.DELIVERED)
        assert len(transport.batches) == 2
        assert [s for s, _ in events.statuses] == [
            RegistryStatus.CONNECTED,
            RegistryStatus.RECONNECTING,
            RegistryStatus.CONNECTED,
        ]
        await courier.close()

    asyncio.run(scenario())


def test_the_repository_keeps_the_queued_reason_for_the_next_start() -> None:
    async def scenario() -> None:
        transport = FlakyTransport(failures=1, cause="unreachable")
        courier, repository, events = await courier_with(transport, SLOW_RETRY)
        waiting = message(1)
        await repository.add([waiting])
        courier.enqueue(waiting)
        await events.wait_for(lambda: state(events, waiting.id) is MessageState.QUEUED)
        await courier.close()
        [outbox] = await repository.unacknowledged("alice")
        assert (outbox.state, outbox.reason) == (MessageState.QUEUED, "unreachable")

    asyncio.run(scenario())
