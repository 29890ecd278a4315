"""The receive path of group messages: signatures, membership, versions, each author's order.

bob's client (the application as wired, over the in-memory twins) is handed crafted messages
and changes, signed with the fake scheme of :mod:`tests.unit.groups_world`; what he stores,
acknowledges, defers and refuses is checked, and which peer he asks for a sync.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from uuid import UUID

import pytest

from chinwag.application.ports.peer_transport import Incoming, Intake
from chinwag.domain.conversation import ConversationKind
from chinwag.domain.group import ChangeKind
from chinwag.domain.message import Message
from tests.unit.groups_world import T0, Log, User, World, post


class Bob:
    """bob, signed in, with the sync requests he makes recorded (not sent)."""

    def __init__(self, user: User, monkeypatch: pytest.MonkeyPatch) -> None:
        self.user = user
        self.asked: list[tuple[str, UUID]] = []
        monkeypatch.setattr(user.sync, "request", lambda peer, g: self.asked.append((peer, g)))

    async def knows(self, log: Log) -> None:
        await self.user.receive.group_changes_received("alice", log.changes)

    async def gets(self, peer: str, *messages: Message) -> Intake:
        return await self.user.receive.messages_received(peer, [Incoming.of(m) for m in messages])

    async def stored(self, group: UUID) -> list[str]:
        return await self.user.bodies(group)


def run(monkeypatch: pytest.MonkeyPatch, test: Callable[[Bob], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        (user,) = await world.online("bob")
        try:
            await asyncio.wait_for(test(Bob(user, monkeypatch)), timeout=10)
        finally:
            await world.close()

    asyncio.run(main())


def test_a_members_message_is_stored_once_in_the_groups_conversation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        await bob.knows(log)
        first = post(log.id, "alice", 1)
        intake = await bob.gets("alice", first)
        assert list(intake.committed) == [first.id]
        again = await bob.gets("carol", first)  # forwarded by carol: acknowledged again
        assert list(again.committed) == [first.id]
        assert await bob.stored(log.id) == ["alice 1"]
        assert [m.id for m in bob.user.events.received] == [first.id]
        conversation = await bob.user.conversations.get(log.id)
        assert conversation is not None and conversation.kind is ConversationKind.GROUP
        stored = await bob.user.messages.get(first.id)
        assert stored is not None and stored.stamp == first.stamp  # kept as signed

    run(monkeypatch, scenario)


def test_a_forwarded_message_with_a_changed_body_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        await bob.knows(log)
        altered = post(log.id, "alice", 1).model_copy(update={"body": "send carol money"})
        intake = await bob.gets("carol", altered)
        assert intake.rejected[altered.id][0] == "refused"
        assert await bob.stored(log.id) == []

    run(monkeypatch, scenario)


def test_a_message_with_a_forged_author_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        await bob.knows(log)
        forged = post(log.id, "alice", 1, "I, alice, say so", signer="carol")
        intake = await bob.gets("carol", forged)
        assert intake.rejected[forged.id][0] == "refused"
        assert await bob.stored(log.id) == []

    run(monkeypatch, scenario)


def test_a_non_members_message_is_refused_even_with_the_group_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        await bob.knows(log)
        intrusion = post(log.id, "eve", 1)
        intake = await bob.gets("eve", intrusion)
        assert intake.rejected[intrusion.id][0] == "refused"
        assert await bob.stored(log.id) == []

    run(monkeypatch, scenario)


def test_a_removed_members_later_message_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        log.then(ChangeKind.REMOVE, member="carol")
        await bob.knows(log)
        later = post(log.id, "carol", 1, version=1)
        intake = await bob.gets("carol", later)
        assert intake.rejected[later.id][0] == "refused"
        assert await bob.stored(log.id) == []

    run(monkeypatch, scenario)


def test_a_removed_member_cannot_post_past_the_cut_under_an_old_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Removed after their message 2, carol's message 3 is refused even stamped with the
    version from before her removal; her message 2 (sent before it) still counts."""

    async def scenario(bob: Bob) -> None:
        log = Log()
        log.then(ChangeKind.REMOVE, member="carol", upto=2)
        await bob.knows(log)
        first, second = post(log.id, "carol", 1), post(log.id, "carol", 2)
        assert set((await bob.gets("carol", first, second)).committed) == {first.id, second.id}
        late = post(log.id, "carol", 3, version=0)
        intake = await bob.gets("carol", late)
        assert intake.rejected[late.id][0] == "refused"
        assert len(await bob.stored(log.id)) == 2

    run(monkeypatch, scenario)


def test_a_member_who_left_and_was_added_again_posts_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        log.then(ChangeKind.LEAVE, author="carol", upto=0)
        log.then(ChangeKind.ADD, member="carol")
        await bob.knows(log)
        before = post(log.id, "carol", 1, version=0)
        assert (await bob.gets("carol", before)).rejected[before.id][0] == "refused"
        again = post(log.id, "carol", 1, version=2)
        assert (await bob.gets("carol", again)).committed == [again.id]

    run(monkeypatch, scenario)


def test_a_receiver_that_is_not_a_member_any_more_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        log.then(ChangeKind.REMOVE, member="bob")
        await bob.knows(log)
        message = post(log.id, "alice", 1, version=1)
        intake = await bob.gets("alice", message)
        assert intake.rejected[message.id][0] == "refused"
        state, left = await bob.user.groups.get(log.id)
        assert left and not state.is_member("bob")

    run(monkeypatch, scenario)


def test_a_message_under_a_version_not_reached_waits_then_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        await bob.knows(log)
        added = log.then(ChangeKind.ADD, member="dave")
        message = post(log.id, "dave", 1, version=1)
        intake = await bob.gets("dave", message)
        assert intake.deferred == {message.id: "group_behind"}
        assert bob.asked == [("dave", log.id)]
        await bob.user.receive.group_changes_received("dave", [added])
        intake = await bob.gets("dave", message)  # the courier's next try
        assert list(intake.committed) == [message.id]
        assert await bob.stored(log.id) == ["dave 1"]

    run(monkeypatch, scenario)


def test_a_gap_in_an_authors_order_waits_then_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        await bob.knows(log)
        first, second, third = (post(log.id, "alice", n) for n in (1, 2, 3))
        intake = await bob.gets("carol", second, third)
        assert intake.deferred == {second.id: "group_gap", third.id: "group_gap"}
        assert bob.asked == [("carol", log.id)]
        intake = await bob.gets("alice", first, second)
        assert list(intake.committed) == [first.id, second.id]
        intake = await bob.gets("carol", second, third)
        assert list(intake.committed) == [second.id, third.id]  # the second again: stored
        assert await bob.stored(log.id) == ["alice 1", "alice 2", "alice 3"]

    run(monkeypatch, scenario)


def test_a_message_of_a_group_not_known_waits_and_asks_the_peer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        message = post(log.id, "alice", 1)
        intake = await bob.gets("alice", message)
        assert intake.deferred == {message.id: "unknown_group"}
        assert bob.asked == [("alice", log.id)]
        await bob.knows(log)
        assert list((await bob.gets("alice", message)).committed) == [message.id]

    run(monkeypatch, scenario)


def test_a_group_message_without_its_stamp_or_with_a_recipient_is_invalid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        await bob.knows(log)
        good = Incoming.of(post(log.id, "alice", 1))
        unstamped = Incoming(UUID(int=1), "alice", None, "hi", T0, log.id, None, None)
        addressed = Incoming(UUID(int=2), "alice", "bob", "hi", T0, log.id, 1, 0, good.signature)
        intake = await bob.user.receive.messages_received("alice", [unstamped, addressed, good])
        assert intake.rejected[unstamped.id][0] == "invalid_message"
        assert intake.rejected[addressed.id][0] == "invalid_message"
        assert list(intake.committed) == [good.id]

    run(monkeypatch, scenario)


def test_direct_and_group_messages_in_one_batch_go_each_their_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        await bob.knows(log)
        grouped = post(log.id, "alice", 1)
        direct = Incoming(UUID(int=3), "alice", "bob", "just to you", T0)
        intake = await bob.user.receive.messages_received("alice", [direct, Incoming.of(grouped)])
        assert set(intake.committed) == {direct.id, grouped.id}
        assert await bob.stored(log.id) == ["alice 1"]
        assert [m.body for m in await bob.user.history.execute("alice")] == ["just to you"]

    run(monkeypatch, scenario)


def test_changes_that_follow_a_change_not_known_ask_the_peer_for_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(bob: Bob) -> None:
        log = Log()
        await bob.knows(log)
        log.then(ChangeKind.ADD, member="dave")
        renamed = log.then(ChangeKind.RENAME, name="renamed")
        await bob.user.receive.group_changes_received("carol", [renamed])
        assert bob.asked == [("carol", log.id)]
        state, _ = await bob.user.groups.get(log.id)
        assert state.version == 0  # the rename waits for the add it follows

    run(monkeypatch, scenario)
