"""Two group messages for one place: one id, or one author's sequence number (finding 4).

A message is stored once by id, and an author's messages once per sequence number. A member
who sends her own message under an id she saw (before the genuine one arrives), or an author
who signs two messages with one number, must not get the second acknowledged without it being
stored: its sender would be told "delivered" and members would differ for good, unnoticed.
bob's client is handed the messages (the fake signatures of :mod:`tests.unit.groups_world`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID

from chinwag.application.ports.peer_transport import Incoming, Intake
from chinwag.domain.group_message import signed_bytes
from chinwag.domain.message import Message
from tests.unit.groups_world import Log, User, World, fake_signature, key_of, post


def run(test: Callable[[User], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        (bob,) = await world.online("bob")
        try:
            await asyncio.wait_for(test(bob), timeout=10)
        finally:
            await world.close()

    asyncio.run(main())


async def gets(bob: User, peer: str, *messages: Message) -> Intake:
    return await bob.receive.messages_received(peer, [Incoming.of(m) for m in messages])


def resigned(message: Message, **fields: object) -> Message:
    """``message`` with ``fields`` changed and signed again by its author (a genuine message
    of theirs, as they could write it)."""
    draft = message.model_copy(update=fields)
    assert draft.stamp is not None
    signature = fake_signature(key_of(draft.sender), signed_bytes(draft))
    stamp = draft.stamp.model_copy(update={"signature": signature})
    return draft.model_copy(update={"stamp": stamp})


async def joined(bob: User) -> Log:
    log = Log(["bob", "carol", "mallory"])
    await bob.receive.group_changes_received("alice", log.changes)
    return log


def test_a_message_sent_under_an_id_another_holds_is_refused_and_the_order_goes_on() -> None:
    """mallory saw alice's message's id and sent bob her own message under it first: alice's
    is not acknowledged (it is not stored), and alice's next message is taken all the same."""

    async def scenario(bob: User) -> None:
        log = await joined(bob)
        genuine = post(log.id, "alice", 1, "alice's words")
        squat = resigned(post(log.id, "mallory", 1, "mallory's words"), id=genuine.id)
        assert list((await gets(bob, "mallory", squat)).committed) == [squat.id]
        intake = await gets(bob, "alice", genuine)
        assert intake.committed == [] and intake.rejected[genuine.id][0] == "refused"
        assert intake.deferred == {}
        again = await gets(bob, "carol", genuine)  # sent again later, by anybody: the same
        assert again.committed == [] and again.rejected[genuine.id][0] == "refused"
        second = post(log.id, "alice", 2)
        assert list((await gets(bob, "alice", second)).committed) == [second.id]
        assert await bob.bodies(log.id) == ["mallory's words", "alice 2"]

    run(scenario)


def test_a_second_message_under_one_sequence_number_is_refused() -> None:
    """alice signs two messages numbered 1; bob keeps the first he got, refuses the other
    (whoever forwards it), and acknowledges the first again."""

    async def scenario(bob: User) -> None:
        log = await joined(bob)
        first = post(log.id, "alice", 1, "version A")
        other = resigned(first, id=UUID(int=99), body="version B")
        assert list((await gets(bob, "alice", first)).committed) == [first.id]
        intake = await gets(bob, "carol", other)
        assert intake.committed == [] and intake.rejected[other.id][0] == "refused"
        assert list((await gets(bob, "carol", first)).committed) == [first.id]
        assert await bob.bodies(log.id) == ["version A"]

    run(scenario)


def test_two_messages_under_one_number_in_one_batch_the_second_is_refused() -> None:
    async def scenario(bob: User) -> None:
        log = await joined(bob)
        first = post(log.id, "alice", 1, "version A")
        other = resigned(first, id=UUID(int=99), body="version B")
        intake = await gets(bob, "carol", first, other, first)
        assert list(intake.committed) == [first.id]
        assert intake.rejected[other.id][0] == "refused"
        assert await bob.bodies(log.id) == ["version A"]

    run(scenario)


def test_another_message_under_a_stored_id_and_number_is_refused() -> None:
    """alice signs her message 1 again, same id and words, at another time: not the message
    stored, so not acknowledged as it."""

    async def scenario(bob: User) -> None:
        log = await joined(bob)
        first = post(log.id, "alice", 1)
        assert list((await gets(bob, "alice", first)).committed) == [first.id]
        later = resigned(first, sent_at=first.sent_at + timedelta(minutes=5))
        intake = await gets(bob, "carol", later)
        assert intake.committed == [] and intake.rejected[later.id][0] == "refused"
        stored = await bob.messages.get(first.id)
        assert stored is not None and stored.sent_at == first.sent_at

    run(scenario)


def test_messages_sent_again_are_compared_with_the_stored_ones_in_few_reads() -> None:
    """A forwarded run of 40 messages bob has, and one he lacks: acknowledged, in one read
    of alice's stored messages."""

    async def scenario(bob: User) -> None:
        log = await joined(bob)
        run_ = [post(log.id, "alice", n) for n in range(1, 41)]
        assert len((await gets(bob, "alice", *run_)).committed) == 40
        reads: list[tuple[str, int, int]] = []
        original = bob.messages.group_messages

        async def counted(group: UUID, author: str, after: int, limit: int) -> list[Message]:
            reads.append((author, after, limit))
            return await original(group, author, after, limit)

        bob.messages.group_messages = counted  # type: ignore[method-assign]
        more = post(log.id, "alice", 41)
        intake = await gets(bob, "carol", *run_, more)
        assert set(intake.committed) == {m.id for m in [*run_, more]}
        assert reads == [("alice", 0, 40)]

    run(scenario)
