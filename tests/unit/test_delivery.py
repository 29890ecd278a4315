"""The courier and the receive rule, with hand-written fakes around the in-memory twins.

Every courier here has a real :class:`TrustPolicy` over the in-memory contacts and directory:
bob's key is pinned on the first delivery, as in the product. Key changes, refusals and deferred
messages have their own module (``test_trust.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

import pytest

from chinwag.adapters.memory.clock import ManualClock
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.directory import InMemoryDirectory, InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.repositories import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
)
from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier, CourierSettings
from chinwag.application.errors import OutboxFull, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.message_repository import StateChange
from chinwag.application.ports.peer_transport import (
    DeliveryReport,
    GroupHave,
    InboundHandler,
    Incoming,
    Probe,
    Route,
)
from chinwag.application.quota import InboundQuota
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases import ReceiveMessages
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.group import Change
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.support import NoFileTransfers

BOB = PeerAddress(host="bob.example", port=1)
ALICE_KEY = bytes([0xA1]) * 32
BOB_KEY = bytes([0xB0]) * 32


def message(n: int, sender: str = "alice", recipient: str = "bob") -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=direct_conversation_id(sender, recipient),
        sender=sender,
        recipient=recipient,
        body=f"message {n}",
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        state=MessageState.PENDING,
    )


class FlakyTransport(NoFileTransfers):
    """Fails the first ``failures`` deliveries (``PeerUnreachable`` with ``cause``), then
    acknowledges everything over ``route``; records batches and the key each was addressed to.
    :meth:`route` names a session only once a delivery went through (as a transport's does)."""

    def __init__(
        self,
        failures: int = 0,
        reject: frozenset[UUID] = frozenset(),
        *,
        cause: str = "lost",
        route: Route | None = Route.DIRECT,
    ) -> None:
        self.failures = failures
        self.reject = reject
        self.cause = cause
        self.used = route
        self.open: Route | None = None
        self.delivered: list[UUID] = []
        self.batches: list[list[UUID]] = []
        self.keys: list[bytes] = []

    async def listen(
        self, me: str, address: PeerAddress | None, handler: InboundHandler
    ) -> PeerAddress | None:
        return address

    async def probe(self, peer: str, location: PeerLocation) -> Probe:
        return Probe(self.used or Route.DIRECT, 0.001)

    def route(self, peer: str) -> Route | None:
        return self.open

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        self.batches.append([m.id for m in messages])
        self.keys.append(location.key)
        if self.failures:
            self.failures -= 1
            self.open = None
            raise PeerUnreachable("cable pulled", self.cause)
        self.open = self.used
        acked = frozenset(m.id for m in messages if m.id not in self.reject)
        self.delivered.extend(m.id for m in messages if m.id in acked)
        ids = {m.id for m in messages}
        return DeliveryReport(acked, {i: "refused" for i in self.reject & ids}, route=self.used)

    async def send_have(self, peer: str, location: PeerLocation, have: GroupHave) -> None:
        pass  # no group here

    async def send_changes(
        self, peer: str, location: PeerLocation, changes: Sequence[Change]
    ) -> None:
        pass  # no group here

    async def close(self) -> None:
        pass


def state(events: RecordingEvents, message_id: UUID) -> MessageState | None:
    latest = events.latest_state(message_id)
    return latest.state if latest else None


SETTLED = {MessageState.DELIVERED, MessageState.FAILED}


async def bob_known_but_offline() -> InMemoryRegistry:
    """A registry that has seen bob sign in and out."""
    registry = InMemoryRegistry()
    bob = InMemoryDirectory(registry, BOB_KEY)
    await bob.sign_in("bob", BOB, RecordingEvents())
    await bob.sign_out()
    return registry


async def bob_online() -> InMemoryRegistry:
    registry = InMemoryRegistry()
    await InMemoryDirectory(registry, BOB_KEY).sign_in("bob", BOB, RecordingEvents())
    return registry


def alices_courier(
    registry: InMemoryRegistry,
    transport: FlakyTransport,
    repository: InMemoryMessageRepository,
    events: RecordingEvents,
    settings: CourierSettings | None = None,
    contacts: InMemoryContactRepository | None = None,
) -> Courier:
    """Alice's courier, with her own directory and a trust policy over her contacts."""
    directory = InMemoryDirectory(registry, ALICE_KEY)
    trust = TrustPolicy(
        contacts or InMemoryContactRepository(), directory, events, ManualClock(), ALICE_KEY
    )
    trust.signed_in_as("alice")
    return Courier(directory, transport, repository, events, trust, settings)


async def courier_with(
    transport: FlakyTransport, settings: CourierSettings
) -> tuple[Courier, InMemoryMessageRepository, RecordingEvents]:
    registry = await bob_online()
    repository = InMemoryMessageRepository()
    events = RecordingEvents()
    return alices_courier(registry, transport, repository, events, settings), repository, events


def test_messages_are_retried_in_order_until_acknowledged() -> None:
    async def scenario() -> None:
        transport = FlakyTransport(failures=2)
        courier, repository, events = await courier_with(
            transport, CourierSettings(batch_size=3, window=2, retry_delay=0.001, max_attempts=5)
        )
        messages = [message(n) for n in range(1, 11)]
        await repository.add(messages)
        for m in messages:
            courier.enqueue(m)
        await events.wait_for(
            lambda: all(state(events, m.id) is MessageState.DELIVERED for m in messages)
        )
        assert transport.delivered == [m.id for m in messages]
        assert set(transport.keys) == {BOB_KEY}  # only ever to the key the registry binds
        stored = await repository.page(messages[0].conversation_id, 20)
        assert {m.state for m in stored} == {MessageState.DELIVERED}
        await courier.close()

    asyncio.run(scenario())


def test_after_too_many_failures_messages_wait_queued_and_go_when_possible() -> None:
    async def scenario() -> None:
        transport = FlakyTransport(failures=4)
        courier, repository, events = await courier_with(
            transport, CourierSettings(retry_delay=0.001, max_attempts=3)
        )
        first = message(1)
        await repository.add([first])
        courier.enqueue(first)
        await events.wait_for(lambda: state(events, first.id) is MessageState.QUEUED)
        queued = events.latest_state(first.id)
        assert queued is not None
        assert queued.reason == "cable pulled"
        stored = await repository.get(first.id)
        assert stored is not None
        assert stored.state is MessageState.QUEUED
        await events.wait_for(lambda: state(events, first.id) is MessageState.DELIVERED)
        assert len(transport.batches) == 5
        await courier.close()

    asyncio.run(scenario())


def test_a_rejected_message_fails_alone() -> None:
    async def scenario() -> None:
        transport = FlakyTransport(reject=frozenset({UUID(int=2)}))
        courier, repository, events = await courier_with(transport, CourierSettings())
        batch = [message(1), message(2), message(3)]
        await repository.add(batch)
        for m in batch:
            courier.enqueue(m)
        await events.wait_for(lambda: all(state(events, m.id) in SETTLED for m in batch))
        assert [state(events, m.id) for m in batch] == [
            MessageState.DELIVERED,
            MessageState.FAILED,
            MessageState.DELIVERED,
        ]
        await courier.close()

    asyncio.run(scenario())


class FailingRepository(InMemoryMessageRepository):
    async def add(
        self, messages: Sequence[Message], members: Mapping[UUID, Sequence[str]] | None = None
    ) -> list[Message]:
        raise OSError("disk full")

    async def update_states(self, changes: Sequence[StateChange]) -> list[StateChange]:
        raise OSError("disk full")


def bobs_receiver(
    repository: InMemoryMessageRepository, events: RecordingEvents
) -> ReceiveMessages:
    """Bob's receiving side, signed in, over in-memory twins."""
    registry = InMemoryRegistry()
    directory = InMemoryDirectory(registry, BOB_KEY)
    trust = TrustPolicy(InMemoryContactRepository(), directory, events, ManualClock(), BOB_KEY)
    courier = Courier(directory, FlakyTransport(), repository, events, trust)
    return ReceiveMessages(
        Session(user="bob"),
        repository,
        ConversationLedger(InMemoryConversationRepository(repository)),
        events,
        trust,
        courier,
        ManualClock(),
        InboundQuota(),
    )


def test_nothing_is_acknowledged_unless_committed() -> None:
    async def scenario() -> None:
        events = RecordingEvents()
        receive = bobs_receiver(FailingRepository(), events)
        incoming = Incoming.of(message(1))
        with pytest.raises(OSError, match="disk full"):
            await receive.execute("alice", [incoming])
        assert events.received == []

        receive = bobs_receiver(InMemoryMessageRepository(), events)
        assert (await receive.execute("alice", [incoming])).committed == [incoming.id]
        # A duplicate is acknowledged again but shown once.
        assert (await receive.execute("alice", [incoming])).committed == [incoming.id]
        assert [m.id for m in events.received] == [incoming.id]
        # Somebody else's message, or one claiming another sender, is not acknowledged.
        forged = Incoming.of(message(2, sender="carol"))
        refused = await receive.execute("alice", [forged])
        assert (refused.committed, refused.deferred) == ([], {})
        assert refused.rejected == {forged.id: ("refused", "the recipient refused it")}

    asyncio.run(scenario())


class GatedRepository(InMemoryMessageRepository):
    """Holds every ``update_states`` until ``gate`` is set; fails the first ``failures`` of them."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = asyncio.Event()
        self.failures = failures

    async def update_states(self, changes: Sequence[StateChange]) -> list[StateChange]:
        self.waiting.set()
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise OSError("database is locked")
        return await super().update_states(changes)


async def gated_courier(
    transport: FlakyTransport, repository: GatedRepository, settings: CourierSettings
) -> tuple[Courier, RecordingEvents]:
    events = RecordingEvents()
    courier = alices_courier(await bob_online(), transport, repository, events, settings)
    return courier, events


def test_a_message_sent_while_the_courier_queues_others_goes_out_with_them_in_order() -> None:
    async def scenario() -> None:
        transport = FlakyTransport(failures=2)
        repository = GatedRepository()
        courier, events = await gated_courier(
            transport, repository, CourierSettings(retry_delay=0.001, max_attempts=2)
        )
        first, second = message(1), message(2)
        await repository.add([first, second])
        repository.gate.clear()
        courier.enqueue(first)
        await repository.waiting.wait()  # the courier is recording that `first` waits
        courier.enqueue(second)
        repository.gate.set()
        await events.wait_for(
            lambda: all(state(events, m.id) is MessageState.DELIVERED for m in (first, second))
        )
        assert transport.delivered == [first.id, second.id]
        assert courier.backlog() == 0
        await courier.close()

    asyncio.run(scenario())


def test_an_acknowledged_batch_whose_state_cannot_be_written_is_sent_again() -> None:
    async def scenario() -> None:
        transport = FlakyTransport()
        repository = GatedRepository(failures=1)
        courier, events = await gated_courier(
            transport, repository, CourierSettings(retry_delay=0.001)
        )
        only = message(1)
        await repository.add([only])
        courier.enqueue(only)
        await events.wait_for(lambda: state(events, only.id) is MessageState.DELIVERED)
        assert transport.delivered == [only.id, only.id]  # the receiver dedups by id
        stored = await repository.get(only.id)
        assert stored is not None
        assert stored.state is MessageState.DELIVERED
        await courier.close()

    asyncio.run(scenario())


def test_a_full_outbox_refuses_more_with_a_clear_error() -> None:
    async def scenario() -> None:
        registry = await bob_known_but_offline()
        repository = InMemoryMessageRepository()
        events = RecordingEvents()
        courier = alices_courier(
            registry,
            FlakyTransport(),
            repository,
            events,
            CourierSettings(max_outbox=2, retry_delay=0.001),
        )
        waiting = [message(1), message(2)]
        await repository.add(waiting)
        courier.check_room()
        for m in waiting:
            courier.enqueue(m)
        await events.wait_for(
            lambda: all(state(events, m.id) is MessageState.QUEUED for m in waiting)
        )
        with pytest.raises(OutboxFull, match="2 messages are already waiting"):
            courier.check_room()
        await courier.close()

    asyncio.run(scenario())


def test_signing_out_does_not_wait_for_recipients_who_are_offline() -> None:
    async def scenario() -> None:
        registry = await bob_known_but_offline()
        repository = InMemoryMessageRepository()
        events = RecordingEvents()
        courier = alices_courier(registry, FlakyTransport(), repository, events)
        waiting = message(1)
        await repository.add([waiting])
        courier.enqueue(waiting)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await courier.close(grace=5.0)
        assert loop.time() - started < 1.0

    asyncio.run(scenario())


def test_a_name_the_registry_forgot_keeps_its_messages_queued() -> None:
    async def scenario() -> None:
        courier, repository, events = await courier_with(
            FlakyTransport(), CourierSettings(retry_delay=0.001)
        )
        lost = message(1, recipient="zoe")  # the registry never heard of zoe (any more)
        await repository.add([lost])
        courier.enqueue(lost)
        await events.wait_for(lambda: state(events, lost.id) is MessageState.QUEUED)
        assert courier.backlog() == 1
        await courier.close()

    asyncio.run(scenario())


def test_coming_online_between_two_tries_is_not_missed() -> None:
    async def scenario() -> None:
        registry = await bob_known_but_offline()
        repository = InMemoryMessageRepository()
        events = RecordingEvents()
        transport = FlakyTransport()
        courier = alices_courier(
            registry,
            transport,
            repository,
            events,
            CourierSettings(retry_delay=60.0),  # only a wake-up can make it try again soon
        )
        waiting = message(1)
        await repository.add([waiting])
        courier.enqueue(waiting)
        await events.wait_for(lambda: state(events, waiting.id) is MessageState.QUEUED)
        bob_is_back = InMemoryDirectory(registry, BOB_KEY)
        await bob_is_back.sign_in("bob", BOB, RecordingEvents())
        courier.online(frozenset({"bob"}))
        await events.wait_for(lambda: state(events, waiting.id) is MessageState.DELIVERED)
        await courier.close()

    asyncio.run(scenario())
