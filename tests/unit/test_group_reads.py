"""What the clients read about groups, each through a use case that checks the session and that
the user is (or was) in the group: a group's history and log, the deliveries of the user's
messages on a page, unread counts and read markers, and the order of conversations with the
groups among them (what the desktop app's session asks for)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import pytest

from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.repositories import InMemoryMessageRepository
from chinwag.application.errors import NotSignedIn
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.ports.message_repository import Delivery
from chinwag.application.use_cases import CountUnread, ListContacts, LoadHistory, MarkRead
from chinwag.application.use_cases.load_history import MAX_PAGE
from chinwag.application.use_cases.message_deliveries import MessageDeliveries, TooManyMessages
from chinwag.domain.contact import Contact
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.errors import UnknownGroup
from chinwag.domain.group import ChangeKind
from chinwag.domain.message import Message, MessageState
from tests.unit.groups_world import User, World

NOWHERE = UUID(int=12345)
"""A group nobody created."""

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class CountingMessages(InMemoryMessageRepository):
    """Counts the reads of deliveries (one per message asked about)."""

    def __init__(self) -> None:
        super().__init__()
        self.delivery_reads = 0

    async def deliveries(self, message_id: UUID) -> list[Delivery]:
        self.delivery_reads += 1
        return await super().deliveries(message_id)


@dataclass
class Reads:
    """The read use cases of one user, wired as the container wires them."""

    history: LoadHistory
    deliveries: MessageDeliveries
    unread: CountUnread
    mark_read: MarkRead
    contacts: ListContacts
    pinned: InMemoryContactRepository


def reads(user: User) -> Reads:
    pinned = InMemoryContactRepository()
    return Reads(
        LoadHistory(user.session, user.messages, user.book),
        MessageDeliveries(user.session, user.messages),
        CountUnread(user.session, user.conversations, user.book),
        MarkRead(user.session, user.conversations, user.book),
        ListContacts(user.session, user.conversations, pinned, user.book),
        pinned,
    )


def run(test: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        try:
            await asyncio.wait_for(test(world), timeout=10)
        finally:
            await world.close()

    asyncio.run(main())


async def direct(user: User, sender: str, body: str, n: int) -> Message:
    """A direct message from ``sender`` to ``user`` stored as received (as the intake would)."""
    await user.ledger.direct(user.name, sender)
    message = Message(
        id=UUID(int=(1 << 100) + n),
        conversation_id=direct_conversation_id(user.name, sender),
        sender=sender,
        recipient=user.name,
        body=body,
        sent_at=T0,
        state=MessageState.RECEIVED,
    )
    await user.messages.add([message])
    return message


async def bodies(user: User, group: UUID, count: int) -> bool:
    return len(await user.bodies(group)) >= count


# -- history (review finding 14) -------------------------------------------------------------


def test_group_history_is_only_of_a_group_the_user_is_or_was_in() -> None:
    async def scenario(world: World) -> None:
        alice, bob, _ = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("trio", ["bob", "carol"])).id
        await alice.post.execute(group, "hello both")
        await world.until(lambda: bodies(bob, group, 1))
        await direct(bob, "carol", "just to you", 1)
        history = reads(bob).history
        assert [m.body for m in await history.group(group)] == ["hello both"]
        with pytest.raises(UnknownGroup, match=f"not in a group with id {NOWHERE}"):
            await history.group(NOWHERE)
        # A direct conversation's id is not a group: its messages are not shown as a group's.
        conversation = direct_conversation_id("bob", "carol")
        assert [m.body for m in await history.execute("carol")] == ["just to you"]
        with pytest.raises(UnknownGroup):
            await history.group(conversation)
        await bob.sign_out()
        with pytest.raises(NotSignedIn):
            await history.group(group)

    run(scenario)


def test_a_group_left_or_removed_from_keeps_its_history_and_log() -> None:
    async def scenario(world: World) -> None:
        alice, bob, carol = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("trio", ["bob", "carol"])).id
        await alice.post.execute(group, "before")
        await world.until(lambda: bodies(bob, group, 1))
        await world.until(lambda: bodies(carol, group, 1))
        await bob.groups.leave(group)
        await alice.groups.remove(group, "carol")
        await world.quiet()
        for user in (bob, carol):
            assert [m.body for m in await reads(user).history.group(group)] == ["before"]
            kinds = [c.kind for c in await user.groups.log(group)]
            assert kinds[0] is ChangeKind.CREATE and len(kinds) >= 2

    run(scenario)


def test_the_log_is_the_chain_oldest_first_for_members_only() -> None:
    async def scenario(world: World) -> None:
        alice, bob, _ = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("pair", ["bob"])).id
        await alice.groups.add(group, "carol")
        await alice.groups.rename(group, "trio")
        log = await alice.groups.log(group)
        assert [(c.kind, c.version) for c in log] == [
            (ChangeKind.CREATE, 0),
            (ChangeKind.ADD, 1),
            (ChangeKind.RENAME, 2),
        ]
        assert log[1].member == "carol" and log[2].name == "trio"
        with pytest.raises(UnknownGroup):
            await alice.groups.log(NOWHERE)
        outsider = world.user("dave")
        with pytest.raises(NotSignedIn):
            await outsider.groups.log(group)
        await world.until(lambda: _log_length(bob, group, 3))

    run(scenario)


async def _log_length(user: User, group: UUID, length: int) -> bool:
    try:
        return len(await user.groups.log(group)) >= length
    except UnknownGroup:
        return False


# -- deliveries (finding 16) -------------------------------------------------------------------


def test_the_deliveries_of_a_page_are_one_request_read_once_per_message() -> None:
    async def scenario(world: World) -> None:
        alice, bob, _ = await world.online("alice", "bob", "carol")
        counting = CountingMessages()
        deliveries = MessageDeliveries(alice.session, counting)
        group = (await alice.groups.create("trio", ["bob", "carol"])).id
        mine = await alice.post.execute(group, "hello both")
        await world.until(lambda: bodies(bob, group, 1))
        await world.until(lambda: _delivered(alice, mine.id, 2))
        found = await reads(alice).deliveries.execute([mine.id, NOWHERE])
        assert {d.recipient: d.state for d in found[mine.id]} == {
            "bob": MessageState.DELIVERED,
            "carol": MessageState.DELIVERED,
        }
        assert found[NOWHERE] == []
        [received] = await bob.messages.page(group, 1)
        assert await reads(bob).deliveries.execute([received.id]) == {received.id: []}
        # Asked twice in a page, read once; never more reads than a page holds.
        assert await deliveries.execute([NOWHERE, NOWHERE]) == {NOWHERE: []}
        assert counting.delivery_reads == 1
        too_many = [UUID(int=n) for n in range(MAX_PAGE + 1)]
        with pytest.raises(TooManyMessages, match=f"at most {MAX_PAGE} messages"):
            await deliveries.execute(too_many)
        assert counting.delivery_reads == 1
        await alice.sign_out()
        with pytest.raises(NotSignedIn):
            await deliveries.execute([mine.id])

    run(scenario)


async def _delivered(user: User, message: UUID, count: int) -> bool:
    found = await user.messages.deliveries(message)
    return sum(d.state is MessageState.DELIVERED for d in found) >= count


# -- unread and read markers (finding 16) ------------------------------------------------------


def test_unread_counts_groups_apart_from_people_and_marks_only_a_groups() -> None:
    async def scenario(world: World) -> None:
        alice, bob = await world.online("alice", "bob")
        group = (await alice.groups.create("pair", ["bob"])).id
        await alice.post.execute(group, "one")
        await alice.post.execute(group, "two")
        await world.until(lambda: bodies(bob, group, 2))
        from_carol = await direct(bob, "carol", "psst", 1)
        count, mark = reads(bob).unread, reads(bob).mark_read
        first, second = (await bob.messages.page(group, 2))[::-1]
        assert await count.groups() == {group: Unread(2, first.id)}
        assert await count.execute() == {"carol": Unread(1, from_carol.id)}
        end = await count.history_end()
        assert await count.groups(end) == {group: Unread(2, first.id)}
        await mark.group(group, first.id)
        assert await count.groups() == {group: Unread(1, second.id)}
        # A direct conversation's id is not a group's: its marker does not move that way.
        with pytest.raises(UnknownGroup):
            await mark.group(direct_conversation_id("bob", "carol"), from_carol.id)
        with pytest.raises(UnknownGroup):
            await mark.group(NOWHERE, first.id)
        assert await count.execute() == {"carol": Unread(1, from_carol.id)}
        await mark.execute("carol", from_carol.id)
        await mark.group(group, second.id)
        assert await count.execute() == {} and await count.groups() == {}
        await bob.sign_out()
        with pytest.raises(NotSignedIn):
            await count.groups()
        with pytest.raises(NotSignedIn):
            await mark.group(group, second.id)

    run(scenario)


# -- the order of conversations with groups (finding 16) ----------------------------------------


def test_conversations_are_ordered_by_latest_message_with_groups_among_them() -> None:
    async def scenario(world: World) -> None:
        alice, bob, _ = await world.online("alice", "bob", "carol")
        quiet = (await alice.groups.create("quiet", ["bob"])).id
        busy = (await alice.groups.create("busy", ["bob", "carol"])).id
        await direct(bob, "carol", "older", 1)
        await alice.post.execute(busy, "newer")
        await world.until(lambda: bodies(bob, busy, 1))
        await world.until(lambda: _log_length(bob, quiet, 1))
        await direct(bob, "alice", "newest", 2)
        bobs = reads(bob)
        await bobs.pinned.save(Contact(name="zed", key=bytes(32), first_seen=T0))
        await bobs.pinned.save(Contact(name="bob", key=bytes(32), first_seen=T0))
        chats: Sequence[str | UUID] = await bobs.contacts.chats()
        assert chats == ["alice", busy, "carol", "zed", quiet]
        assert await bobs.contacts.execute() == ["alice", "carol", "zed"]
        await bob.sign_out()
        with pytest.raises(NotSignedIn):
            await bobs.contacts.chats()

    run(scenario)
