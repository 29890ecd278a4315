"""A group message dated ahead of the receiver's clock is taken: no member may hold up an
author because of its own clock.

A direct message dated more than a day ahead is refused (nobody pins theirs to the bottom of a
conversation). A group message used to be refused alike, but its time is signed by its author
and every member must take the same messages: a member whose clock was behind refused it for
good, kept a gap in that author's numbering, and deferred every later message of the author
(``group_gap``) for ever, while the other members had them all.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.repositories import InMemoryMessageRepository
from chinwag.application.ports.peer_transport import Incoming
from chinwag.domain.group_message import signed_bytes
from chinwag.domain.message import GroupStamp, Message
from tests.unit.groups_world import Log, World, fake_signature, key_of, post
from tests.unit.test_delivery import bobs_receiver, message


def dated(draft: Message, ahead: timedelta) -> Message:
    """``draft`` sent ``ahead`` of the receiver's clock, signed again by its author."""
    assert draft.stamp is not None
    moved = draft.model_copy(update={"sent_at": draft.sent_at + ahead})
    signature = fake_signature(key_of(moved.sender), signed_bytes(moved))
    return moved.model_copy(
        update={"stamp": GroupStamp(seq=draft.stamp.seq, version=0, signature=signature)}
    )


def test_a_group_message_dated_days_ahead_is_taken_and_its_author_is_not_held_up() -> None:
    async def scenario() -> None:
        world = World()
        (bob,) = await world.online("bob")
        try:
            log = Log(members=("bob", "carol"))
            await bob.receive.group_changes_received("alice", log.changes)
            ahead = dated(post(log.id, "alice", 1, "from a clock two days fast"), timedelta(days=2))
            first = await bob.receive.messages_received("alice", [Incoming.of(ahead)])
            assert (first.committed, first.deferred, first.rejected) == ([ahead.id], {}, {})

            later = post(log.id, "alice", 2, "the next one")
            second = await bob.receive.messages_received("alice", [Incoming.of(later)])
            assert (second.committed, second.deferred) == ([later.id], {})
            # Kept as signed (a member hands it on), in the order it came.
            assert await bob.bodies(log.id) == ["from a clock two days fast", "the next one"]
            stored = await bob.messages.get(ahead.id)
            assert stored is not None and stored.sent_at == ahead.sent_at
        finally:
            await world.close()

    asyncio.run(scenario())


def test_a_direct_message_dated_more_than_a_day_ahead_is_still_refused() -> None:
    async def scenario() -> None:
        receive = bobs_receiver(InMemoryMessageRepository(), RecordingEvents())
        early = message(1)
        ahead = message(2).model_copy(update={"sent_at": early.sent_at + timedelta(days=2)})
        intake = await receive.execute("alice", [Incoming.of(early), Incoming.of(ahead)])
        assert intake.committed == [early.id]
        assert intake.rejected == {ahead.id: ("refused", "the recipient refused it")}

    asyncio.run(scenario())
