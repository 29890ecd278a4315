"""Order is a rule: one sequence per author per conversation, whatever the scheduling.

Each race here is set up with the in-memory twins and a gate, so that the later send is ready
first: before the rule, it was committed and handed to the courier ahead of the earlier one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import ClassVar
from uuid import UUID

import pytest

from chinwag.adapters.memory.clock import ManualClock, SequentialIds
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.directory import InMemoryDirectory, InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.repositories import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
)
from chinwag.application.conversations import ConversationLedger, OutgoingOrder
from chinwag.application.delivery import Courier
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.message_repository import OutboxEntry
from chinwag.application.presence import PresenceRelay
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases import SendMessage, SendMessages, SignIn
from chinwag.application.use_cases.send_messages import Draft
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.errors import DomainError
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.unit.test_delivery import ALICE_KEY, BOB, BOB_KEY, FlakyTransport

ME = PeerAddress(host="127.0.0.1", port=1)


class SlowDirectory(InMemoryDirectory):
    """Alice's directory; its first lookup waits for ``gate`` and ``seen_online`` is what its
    presence view says."""

    def __init__(self, registry: InMemoryRegistry) -> None:
        super().__init__(registry, ALICE_KEY)
        self.gate = asyncio.Event()
        self.looking = asyncio.Event()
        self.seen_online: frozenset[str] = frozenset()
        self._first = True

    def online(self) -> frozenset[str]:
        return self.seen_online

    async def lookup(self, user: str) -> PeerLocation:
        if self._first:
            self._first = False
            self.looking.set()
            await self.gate.wait()
        return await super().lookup(user)


class GatedOutbox(InMemoryMessageRepository):
    """Reading the outbox at sign-in waits for ``gate``."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.reading = asyncio.Event()

    async def pending_deliveries(self, sender: str) -> list[OutboxEntry]:
        self.reading.set()
        await self.gate.wait()
        return await super().pending_deliveries(sender)


class Alice:
    """Alice's side over the in-memory twins, with bob online at the registry."""

    def __init__(self, registry: InMemoryRegistry, messages: InMemoryMessageRepository) -> None:
        self.directory = SlowDirectory(registry)
        self.messages = messages
        self.events = RecordingEvents()
        self.transport = FlakyTransport()
        self.session = Session()
        trust = TrustPolicy(
            InMemoryContactRepository(), self.directory, self.events, ManualClock(), ALICE_KEY
        )
        trust.signed_in_as("alice")
        self.trust = trust
        self.courier = Courier(self.directory, self.transport, messages, self.events, trust)
        self.ledger = ConversationLedger(InMemoryConversationRepository(messages))
        deps = (self.session, self.directory, messages, self.ledger, self.courier)
        rest = (self.events, ManualClock(), SequentialIds(prefix=7))
        self.send = SendMessage(*deps, *rest)
        self.send_many = SendMessages(*deps, *rest)

    async def delivered(self, count: int) -> list[UUID]:
        await self.events.wait_for(lambda: len(self.transport.delivered) >= count)
        return self.transport.delivered

    async def stored_order(self) -> list[str]:
        """alice's stored messages to bob, in the order they were stored."""
        page = await self.messages.page(direct_conversation_id("alice", "bob"), 500)
        return [m.body for m in reversed(page)]


async def bob_online() -> InMemoryRegistry:
    registry = InMemoryRegistry()
    await InMemoryDirectory(registry, BOB_KEY).sign_in("bob", BOB, RecordingEvents())
    return registry


def test_a_later_send_whose_checks_finish_first_still_goes_second() -> None:
    async def scenario() -> None:
        alice = Alice(await bob_online(), InMemoryMessageRepository())
        alice.session.start("alice", ME)
        # alice's presence view has not caught up: the first send asks the registry (slowly).
        first = asyncio.ensure_future(alice.send.execute("bob", "first"))
        await alice.directory.looking.wait()
        alice.directory.seen_online = frozenset({"alice", "bob"})  # presence arrives
        second = asyncio.ensure_future(alice.send.execute("bob", "second"))
        for _ in range(20):  # the second send has every chance to overtake
            await asyncio.sleep(0)
        assert not second.done()
        alice.directory.gate.set()
        sent = [await first, await second]
        assert await alice.delivered(2) == [m.id for m in sent]
        assert await alice.stored_order() == ["first", "second"]
        await alice.courier.close()

    asyncio.run(scenario())


def test_a_send_during_sign_in_goes_after_the_older_outbox_and_once() -> None:
    async def scenario() -> None:
        registry = await bob_online()
        messages = GatedOutbox()
        old = Message(
            id=UUID(int=1),
            conversation_id=direct_conversation_id("alice", "bob"),
            sender="alice",
            recipient="bob",
            body="old",
            sent_at=datetime(2026, 1, 1, tzinfo=UTC),
            state=MessageState.QUEUED,
        )
        await messages.add([old])
        alice = Alice(registry, messages)
        alice.directory.gate.set()
        alice.directory.seen_online = frozenset({"alice", "bob"})
        sign_in = SignIn(
            alice.session,
            alice.directory,
            alice.transport,
            object(),  # type: ignore[arg-type]  # nobody connects to alice here
            PresenceRelay(alice.events, alice.courier),
            messages,
            alice.courier,
            alice.trust,
        )
        signing_in = asyncio.ensure_future(sign_in.execute("alice", ME))
        await messages.reading.wait()
        new = await alice.send.execute("bob", "new")  # committed while the outbox is read
        for _ in range(20):
            await asyncio.sleep(0)
        assert alice.transport.delivered == []  # held until the older ones are queued
        messages.gate.set()
        await signing_in
        assert await alice.delivered(2) == [old.id, new.id]
        await alice.courier.close()
        assert alice.transport.delivered == [old.id, new.id]  # once each

    asyncio.run(scenario())


def test_a_batch_shares_one_commit_and_refuses_bad_drafts_alone() -> None:
    async def scenario() -> None:
        registry = await bob_online()
        carol = InMemoryDirectory(registry, bytes([0xC0]) * 32)
        await carol.sign_in("carol", BOB, RecordingEvents())

        class Counting(InMemoryMessageRepository):
            adds: ClassVar[list[list[str]]] = []

            async def add(
                self,
                messages: Sequence[Message],
                members: Mapping[UUID, Sequence[str]] | None = None,
            ) -> list[Message]:
                self.adds.append([m.body for m in messages])
                return await super().add(messages, members)

        alice = Alice(registry, Counting())
        alice.session.start("alice", ME)
        alice.directory.gate.set()
        alice.directory.seen_online = frozenset({"alice", "bob", "carol"})
        drafts = [
            Draft("bob", "b1"),
            Draft("carol", "c1"),
            Draft("alice", "to myself"),
            Draft("bob", "x" * 70_000),
            Draft("bad name!", "hi"),
            Draft("bob", "b2"),
        ]
        outcomes = await alice.send_many.execute(drafts)
        assert [type(o).__name__ for o in outcomes] == [
            "Message",
            "Message",
            "InvalidMessage",
            "InvalidMessage",
            "InvalidUsername",
            "Message",
        ]
        assert all(isinstance(o, DomainError) == (i in (2, 3, 4)) for i, o in enumerate(outcomes))
        # One add per conversation, both in the same pass (SQLite joins them into one commit).
        assert sorted(Counting.adds) == [["b1", "b2"], ["c1"]]
        assert [m.body for m in alice.events.states if m.state is MessageState.PENDING] == [
            "b1",
            "b2",
            "c1",
        ] or [m.body for m in alice.events.states if m.state is MessageState.PENDING] == [
            "c1",
            "b1",
            "b2",
        ]
        await alice.courier.close()

    asyncio.run(scenario())


def test_turns_wait_for_earlier_ones_and_a_dropped_turn_blocks_nobody() -> None:
    async def scenario() -> None:
        order = OutgoingOrder()
        stored: list[list[str]] = []

        async def store(messages: list[Message]) -> None:
            stored.append([m.body for m in messages])

        def draft(body: str) -> Message:
            return Message(
                id=UUID(int=len(body)),
                conversation_id=direct_conversation_id("alice", "bob"),
                sender="alice",
                recipient="bob",
                body=body,
                sent_at=datetime(2026, 1, 1, tzinfo=UTC),
                state=MessageState.PENDING,
            )

        first, second, third = (order.take_turn("alice", "bob") for _ in range(3))
        later = asyncio.ensure_future(third.store([draft("ccc")], store))
        await asyncio.sleep(0)
        assert stored == []  # the first two turns are not stored yet
        second.drop()
        await asyncio.sleep(0)
        assert stored == []
        await first.store([draft("a")], store)
        await later
        assert stored in ([["a"], ["ccc"]], [["a", "ccc"]])

        async def refuse(messages: list[Message]) -> None:
            raise OSError("disk full")

        turn = order.take_turn("alice", "bob")
        with pytest.raises(OSError, match="disk full"):  # the refusal reaches the sender
            await turn.store([draft("dd")], refuse)

    asyncio.run(scenario())
