"""The courier carrying a group message: one delivery per member, each in that member's queue.

alice posts to a group of four (alice, bob, carol, dave) over the in-memory twins: each member's
delivery has its own state and events (``delivery_state_changed``), the message's summary is
told whenever the repository says it changed, and one member who waits (offline, deferring)
holds nobody else. Direct messages keep their events exactly (``test_delivery.py``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import pytest

from chinwag.adapters.memory.directory import InMemoryDirectory, InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.repositories import InMemoryMessageRepository
from chinwag.application.delivery import Courier, CourierSettings
from chinwag.application.errors import OutboxFull, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.message_repository import StateChange
from chinwag.application.ports.peer_transport import DeliveryReport, Route
from chinwag.domain.group import HASH_SIZE, Member
from chinwag.domain.group_log import GroupState
from chinwag.domain.message import GroupStamp, Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.unit.test_delivery import FlakyTransport, alices_courier, message

GROUP = UUID("00000000-0000-8000-8000-00000000f00d")
MEMBERS = ("bob", "carol", "dave")
"""Whom alice's group messages go to (everyone but her)."""
KEYS = {name: bytes([0x10 + n]) * 32 for n, name in enumerate(("alice", *MEMBERS))}


def group_message(seq: int, sender: str = "alice") -> Message:
    """alice's ``seq``-th message to the group (its id is ``seq`` + 100), ``pending``."""
    return Message(
        id=UUID(int=100 + seq),
        conversation_id=GROUP,
        sender=sender,
        group_id=GROUP,
        stamp=GroupStamp(seq=seq, version=0, signature=bytes(64)),
        body=f"group message {seq}",
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        state=MessageState.PENDING,
    )


def group_state(
    names: Sequence[str] = ("alice", *MEMBERS),
    admins: frozenset[str] = frozenset({"alice"}),
    name: str = "Friends",
    version: int = 0,
) -> GroupState:
    return GroupState(
        id=GROUP,
        name=name,
        members=tuple(Member(name=n, key=KEYS.get(n, bytes(32))) for n in names),
        admins=admins,
        version=version,
        head=bytes(HASH_SIZE),
    )


class MemberTransport(FlakyTransport):
    """Acknowledges everything, except what ``defer`` says: a member's name and the reason it
    defers every message it is sent (until cleared). ``per_peer`` is what each member got and
    acknowledged, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.defer: dict[str, str] = {}
        self.per_peer: dict[str, list[UUID]] = {}
        self.tries: dict[str, int] = {}

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        self.tries[peer] = self.tries.get(peer, 0) + 1
        if self.failures:
            self.failures -= 1
            self.open = None
            raise PeerUnreachable("cable pulled", self.cause)
        self.open = self.used
        ids = [m.id for m in messages]
        if peer in self.defer:
            reason = self.defer[peer]
            return DeliveryReport(frozenset(), {}, dict.fromkeys(ids, reason), route=self.used)
        self.per_peer.setdefault(peer, []).extend(ids)
        return DeliveryReport(frozenset(ids), {}, route=self.used)


async def online(registry: InMemoryRegistry, *names: str) -> None:
    for name in names:
        await InMemoryDirectory(registry, KEYS[name]).sign_in(
            name, PeerAddress(host=f"{name}.example", port=1), RecordingEvents()
        )


async def known_but_offline(registry: InMemoryRegistry, name: str) -> None:
    directory = InMemoryDirectory(registry, KEYS[name])
    await directory.sign_in(name, PeerAddress(host=f"{name}.example", port=1), RecordingEvents())
    await directory.sign_out()


class Alice:
    """alice's courier, with bob and carol online (``present``) and dave known but offline."""

    async def start(
        self, settings: CourierSettings | None = None, present: Sequence[str] = ("bob", "carol")
    ) -> None:
        self.registry = InMemoryRegistry()
        await online(self.registry, *present)
        for name in MEMBERS:
            if name not in present:
                await known_but_offline(self.registry, name)
        self.transport = MemberTransport()
        self.repository = InMemoryMessageRepository()
        self.events = RecordingEvents()
        self.settings = settings or CourierSettings(retry_delay=60.0)  # only wake-ups retry
        self.courier = self.new_courier()

    def new_courier(self) -> Courier:
        return alices_courier(
            self.registry, self.transport, self.repository, self.events, self.settings
        )

    async def post(self, *messages: Message) -> None:
        """Store ``messages`` with a delivery per member, then hand them to the courier."""
        await self.repository.add(messages, {m.id: MEMBERS for m in messages})
        for m in messages:
            self.courier.enqueue(m, MEMBERS)

    def delivery(self, m: Message, member: str) -> MessageState | None:
        latest = self.events.latest_delivery(m.id, member)
        return latest.state if latest else None

    def told(self, m: Message, member: str) -> list[tuple[MessageState, str | None]]:
        """The states told of ``m``'s delivery to ``member``, with their reasons."""
        return [
            (d.state, d.reason)
            for d, r, _ in self.events.deliveries
            if d.id == m.id and r == member
        ]

    def summaries(self, m: Message) -> list[MessageState]:
        return [s.state for s in self.events.states if s.id == m.id]

    async def stored(self, m: Message) -> dict[str, tuple[MessageState, str | None]]:
        return {d.recipient: (d.state, d.reason) for d in await self.repository.deliveries(m.id)}


def test_each_member_has_its_own_delivery_and_the_summary_follows_the_repository() -> None:
    async def scenario() -> None:
        alice = Alice()
        await alice.start()
        posted = group_message(1)
        direct = message(1)  # to bob, at the same time: its events stay as they were
        await alice.repository.add([direct])
        await alice.post(posted)
        alice.courier.enqueue(direct)
        assert alice.courier.backlog() == 4  # a delivery per member, and the direct message
        await alice.events.wait_for(
            lambda: (
                alice.delivery(posted, "bob") is MessageState.DELIVERED
                and alice.delivery(posted, "carol") is MessageState.DELIVERED
                and alice.delivery(posted, "dave") is MessageState.QUEUED
            )
        )
        for member in ("bob", "carol"):
            assert alice.told(posted, member) == [
                (MessageState.SENT, None),
                (MessageState.DELIVERED, None),
            ]
        [(queued, reason)] = alice.told(posted, "dave")
        assert queued is MessageState.QUEUED
        assert reason is not None
        assert "dave" in reason  # why it waits: dave is offline
        stored = await alice.stored(posted)
        assert stored["bob"] == stored["carol"] == (MessageState.DELIVERED, None)
        assert stored["dave"] == (MessageState.QUEUED, reason)
        # The summary is told only as the repository changes it: never a member's own "sent",
        # and last what is stored.
        summary = await alice.repository.get(posted.id)
        assert summary is not None
        assert summary.state is not MessageState.DELIVERED  # dave still lacks it
        told = alice.summaries(posted)
        assert MessageState.SENT not in told
        assert all(a != b for a, b in itertools.pairwise(told))
        assert not told or told[-1] is summary.state
        assert alice.courier.backlog() == 1  # one delivery waits: dave's

        await online(alice.registry, "dave")
        alice.courier.online(frozenset({"alice", "bob", "carol", "dave"}))
        await alice.events.wait_for(
            lambda: alice.delivery(posted, "dave") is MessageState.DELIVERED
        )
        await alice.events.wait_for(lambda: MessageState.DELIVERED in alice.summaries(posted))
        assert alice.summaries(posted)[-1] is MessageState.DELIVERED
        stored_after = await alice.stored(posted)
        assert {s for s, _ in stored_after.values()} == {MessageState.DELIVERED}
        assert alice.transport.per_peer == {
            "bob": [posted.id, direct.id],  # in the order they were enqueued for bob
            "carol": [posted.id],
            "dave": [posted.id],
        }
        # The direct message: only message_state_changed, exactly as before.
        assert all(d.id != direct.id for d, _, _ in alice.events.deliveries)
        assert [s.state for s in alice.events.states if s.id == direct.id] == [
            MessageState.SENT,
            MessageState.DELIVERED,
        ]
        await alice.courier.close()

    asyncio.run(scenario())


def test_a_member_who_defers_holds_nobody_else_and_each_member_keeps_the_order() -> None:
    async def scenario() -> None:
        alice = Alice()
        await alice.start(present=MEMBERS)
        alice.transport.defer["carol"] = "over_quota"
        posted = [group_message(n) for n in (1, 2, 3)]
        await alice.post(*posted)
        await alice.events.wait_for(
            lambda: (
                all(
                    alice.delivery(m, name) is MessageState.DELIVERED
                    for m in posted
                    for name in ("bob", "dave")
                )
                and all(alice.delivery(m, "carol") is MessageState.QUEUED for m in posted)
            )
        )
        ids = [m.id for m in posted]
        assert alice.transport.per_peer == {"bob": ids, "dave": ids}
        for m in posted:
            assert (await alice.stored(m))["carol"] == (MessageState.QUEUED, "over_quota")
            assert alice.told(m, "carol")[-1] == (MessageState.QUEUED, "over_quota")
        assert alice.courier.backlog() == 3

        del alice.transport.defer["carol"]
        alice.courier.wake("carol")  # carol takes messages again (she reached us)
        await alice.events.wait_for(
            lambda: all(alice.delivery(m, "carol") is MessageState.DELIVERED for m in posted)
        )
        assert alice.transport.per_peer["carol"] == ids  # in alice's order, once each
        for m in posted:
            assert (await alice.stored(m))["carol"] == (MessageState.DELIVERED, None)
        assert alice.courier.backlog() == 0
        await alice.courier.close()

    asyncio.run(scenario())


def test_after_a_restart_each_pending_delivery_is_resumed_once_and_older_first() -> None:
    async def scenario() -> None:
        alice = Alice()
        await alice.start(present=MEMBERS)
        old = group_message(1)
        await alice.repository.add([old], {old.id: MEMBERS})
        # Before the restart bob acknowledged it and carol's delivery was waiting.
        await alice.repository.update_states(
            [
                StateChange(old.id, MessageState.DELIVERED, None, "bob"),
                StateChange(old.id, MessageState.QUEUED, "carol is offline", "carol"),
            ]
        )
        courier = alice.new_courier()
        courier.hold()  # signing in
        new = group_message(2)
        await alice.repository.add([new], {new.id: MEMBERS})
        courier.enqueue(new, MEMBERS)  # sent while sign-in reads the outbox
        outbox = await alice.repository.pending_deliveries("alice")
        assert [(e.message.id, e.recipient) for e in outbox] == [
            (old.id, "carol"),
            (old.id, "dave"),
            (new.id, "bob"),
            (new.id, "carol"),
            (new.id, "dave"),
        ]
        assert outbox[0].message.state is MessageState.QUEUED  # that delivery's state
        courier.resume(outbox)
        await alice.events.wait_for(
            lambda: (
                all(alice.delivery(new, name) is MessageState.DELIVERED for name in MEMBERS)
                and all(alice.delivery(old, n) is MessageState.DELIVERED for n in ("carol", "dave"))
            )
        )
        assert alice.transport.per_peer == {
            "bob": [new.id],  # it had the old one
            "carol": [old.id, new.id],
            "dave": [old.id, new.id],
        }
        assert await alice.repository.pending_deliveries("alice") == []
        assert alice.summaries(old)[-1] is MessageState.DELIVERED
        assert alice.summaries(new)[-1] is MessageState.DELIVERED
        await courier.close()
        await alice.courier.close()

    asyncio.run(scenario())


def test_a_broken_connection_puts_a_members_deliveries_back_to_pending_then_resends() -> None:
    async def scenario() -> None:
        alice = Alice()
        await alice.start(CourierSettings(retry_delay=0.001, max_attempts=5), MEMBERS)
        alice.transport.failures = 1  # the first batch, whoever it goes to, is lost
        posted = group_message(1)
        await alice.post(posted)
        await alice.events.wait_for(
            lambda: all(alice.delivery(posted, n) is MessageState.DELIVERED for n in MEMBERS)
        )
        broken = [n for n in MEMBERS if (MessageState.PENDING, None) in alice.told(posted, n)]
        assert len(broken) == 1  # that member's delivery went back to pending, and only its
        assert alice.told(posted, broken[0]) == [
            (MessageState.SENT, None),
            (MessageState.PENDING, None),
            (MessageState.SENT, None),
            (MessageState.DELIVERED, None),
        ]
        assert sorted(alice.transport.per_peer) == sorted(MEMBERS)
        assert all(ids == [posted.id] for ids in alice.transport.per_peer.values())
        await alice.courier.close()

    asyncio.run(scenario())


def test_the_outbox_counts_deliveries_and_enqueue_checks_whom_a_message_goes_to() -> None:
    async def scenario() -> None:
        alice = Alice()
        await alice.start(CourierSettings(max_outbox=3, retry_delay=60.0), present=())
        alice.courier.check_room(3)  # a group message to three members fits
        with pytest.raises(OutboxFull, match="0 messages are already waiting"):
            alice.courier.check_room(4)  # one to four does not
        assert alice.courier.room() == 3
        posted = group_message(1)
        await alice.post(posted)
        assert alice.courier.backlog() == 3
        assert alice.courier.room() == 0
        with pytest.raises(OutboxFull, match="3 messages are already waiting"):
            alice.courier.check_room()
        with pytest.raises(ValueError, match="members it goes to"):
            alice.courier.enqueue(group_message(2))
        with pytest.raises(ValueError, match="goes to nobody else"):
            alice.courier.enqueue(message(1), ["carol"])
        alice.courier.enqueue(message(1), ["bob"])  # its own recipient, named: fine
        await alice.courier.close()

    asyncio.run(scenario())


def test_a_group_message_is_never_told_as_a_direct_one() -> None:
    """Every ``sent``, ``delivered`` and ``queued`` of a member's delivery is a
    ``delivery_state_changed``: a ``message_state_changed`` of a group message is its summary,
    whose route is never a member's."""

    async def scenario() -> None:
        alice = Alice()
        await alice.start()
        posted = group_message(1)
        await alice.post(posted)
        await alice.events.wait_for(lambda: alice.delivery(posted, "dave") is MessageState.QUEUED)
        await alice.events.wait_for(
            lambda: (
                alice.delivery(posted, "bob") is MessageState.DELIVERED
                and alice.delivery(posted, "carol") is MessageState.DELIVERED
            )
        )
        assert all(r is None for r in alice.events.routes)
        delivered = [r for d, _, r in alice.events.deliveries if d.state is MessageState.DELIVERED]
        assert delivered == [Route.DIRECT, Route.DIRECT]
        await alice.courier.close()

    asyncio.run(scenario())
