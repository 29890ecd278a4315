"""Group messages in the message repository, one contract for SQLite and the memory twin:
stored with their stamp and read back equal, one delivery per member for outgoing ones, each
author's number stored once, and how far each author is (for sync).

The summary rules and the outbox of deliveries are in ``test_group_storage_states.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.memory.repositories import InMemoryMessageRepository
from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.application.errors import MessageNotFound
from chinwag.application.ports import MessageRepository
from chinwag.application.ports.message_repository import Delivery
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import GroupStamp, Message, MessageState

T = TypeVar("T")

GROUP = UUID("0190b5a4-7d1e-8c3f-9a2b-4c5d6e7f8091")
OTHER_GROUP = UUID("0190b5a4-7d1e-8c3f-9a2b-4c5d6e7f8092")
T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)
MEMBERS = ("bob", "carol", "dave")
"""Whom alice's group messages go to."""


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def posted(
    n: int,
    seq: int | None = None,
    author: str = "alice",
    group: UUID = GROUP,
    state: MessageState = MessageState.PENDING,
    body: str | None = None,
    reason: str | None = None,
) -> Message:
    """Group message ``n`` (id ``UUID(int=n)``), ``author``'s number ``seq`` (``n`` if not
    given), with a signature made of its number (the repository checks none)."""
    seq = n if seq is None else seq
    return Message(
        id=UUID(int=n),
        conversation_id=group,
        group_id=group,
        stamp=GroupStamp(seq=seq, version=seq % 3, signature=bytes([n % 256]) * 64),
        sender=author,
        body=f"group note {n}" if body is None else body,
        sent_at=T0 + timedelta(seconds=n),
        state=state,
        reason=reason,
        received_at=T0 + timedelta(seconds=n, microseconds=7)
        if state is MessageState.RECEIVED
        else None,
    )


def received(n: int, seq: int | None = None, author: str = "bob", group: UUID = GROUP) -> Message:
    return posted(n, seq, author, group, MessageState.RECEIVED)


def direct(n: int) -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=Conversation.direct("alice", "bob").id,
        sender="alice",
        recipient="bob",
        body=f"direct note {n}",
        sent_at=T0,
        state=MessageState.PENDING,
    )


def to_members(*messages: Message, names: tuple[str, ...] = MEMBERS) -> dict[UUID, list[str]]:
    return {message.id: list(names) for message in messages}


def ids(messages: list[Message]) -> list[int]:
    return [m.id.int for m in messages]


def pending_to(n: int, *names: str) -> list[Delivery]:
    return [Delivery(UUID(int=n), name, MessageState.PENDING) for name in names]


@pytest.fixture(params=["memory", "sqlite"])
def messages(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageRepository]:
    if request.param == "memory":
        yield InMemoryMessageRepository()
    else:
        with Database(tmp_path / "history.db") as db:
            yield SqliteMessageRepository(db)


def test_a_group_message_reads_back_equal_with_its_stamp_and_no_recipient(
    messages: MessageRepository,
) -> None:
    async def scenario() -> None:
        mine, theirs = posted(1), received(2)
        empty = posted(3).model_copy(update={"stamp": GroupStamp(seq=3, version=0)})
        assert await messages.add([mine, theirs, empty], to_members(mine, empty)) == [
            mine,
            theirs,
            empty,
        ]
        for original in (mine, theirs, empty):
            stored = await messages.get(original.id)
            assert stored == original
            assert stored is not None
            assert (stored.recipient, stored.group_id) == (None, GROUP)
        stored = await messages.get(theirs.id)
        assert stored is not None
        assert stored.stamp == GroupStamp(seq=2, version=2, signature=b"\x02" * 64)
        assert stored.received_at == theirs.received_at

    run(scenario())


def test_an_outgoing_group_message_gets_one_delivery_per_member_in_its_state(
    messages: MessageRepository,
) -> None:
    async def scenario() -> None:
        queued = posted(2, state=MessageState.QUEUED, reason="nobody is online")
        await messages.add(
            [posted(1), queued, direct(3)],
            {
                UUID(int=1): ["dave", "bob", "carol", "bob"],  # a repeat counts once
                UUID(int=2): ["carol"],
                UUID(int=3): ["carol", "dave"],  # a direct message goes to its recipient only
            },
        )
        assert await messages.deliveries(UUID(int=1)) == pending_to(1, "bob", "carol", "dave")
        assert await messages.deliveries(UUID(int=2)) == [
            Delivery(UUID(int=2), "carol", MessageState.QUEUED, "nobody is online")
        ]
        assert await messages.deliveries(UUID(int=3)) == pending_to(3, "bob")
        assert await messages.get(UUID(int=2)) == queued  # its deliveries' summary: itself

    run(scenario())


def test_received_group_messages_have_no_delivery(messages: MessageRepository) -> None:
    async def scenario() -> None:
        await messages.add([received(1)], to_members(received(1)))
        assert await messages.deliveries(UUID(int=1)) == []
        assert await messages.unacknowledged("bob") == []
        assert await messages.pending_deliveries("bob") == []

    run(scenario())


@pytest.mark.parametrize("members", [None, {}, {UUID(int=1): []}])
def test_a_group_message_sent_to_nobody_is_delivered_at_once(
    messages: MessageRepository, members: dict[UUID, list[str]] | None
) -> None:
    """Its summary is that of no delivery: nothing is left to deliver, so it is in no outbox."""

    async def scenario() -> None:
        alone = posted(1)
        assert await messages.add([alone], members) == [alone]
        assert await messages.get(alone.id) == alone.model_copy(
            update={"state": MessageState.DELIVERED}
        )
        assert await messages.deliveries(alone.id) == []
        assert await messages.unacknowledged("alice") == []
        assert await messages.pending_deliveries("alice") == []

    run(scenario())


def test_an_authors_number_is_stored_once_per_group(messages: MessageRepository) -> None:
    """Another id under a number the author used already is a duplicate: skipped, not stored,
    and its deliveries with it. The same number of another author or group is no duplicate."""

    async def scenario() -> None:
        assert ids(await messages.add([posted(1), posted(2)], to_members(posted(1)))) == [1, 2]
        again = [
            posted(11, seq=1),  # alice's 1 again, under another id
            received(12, seq=1),  # bob's 1
            received(13, seq=1, author="alice", group=OTHER_GROUP),
            posted(14, seq=3),
            posted(15, seq=3),  # twice in one call
            posted(2),  # the same message again
        ]
        assert ids(await messages.add(again, to_members(*again))) == [12, 13, 14]
        assert await messages.get(UUID(int=11)) is None
        assert await messages.get(UUID(int=15)) is None
        assert await messages.deliveries(UUID(int=11)) == []
        assert await messages.deliveries(UUID(int=1)) == pending_to(1, *MEMBERS)
        assert await messages.deliveries(UUID(int=14)) == pending_to(14, *MEMBERS)
        assert await messages.group_progress(GROUP) == {"alice": 3, "bob": 1}

    run(scenario())


def test_concurrent_adds_store_each_authors_number_once(messages: MessageRepository) -> None:
    """Calls that share one write job (in SQLite) see each other's numbers too."""

    async def scenario() -> list[list[Message]]:
        batches = [
            [received(n, seq=n) for n in range(1, 31)],
            [received(100 + n, seq=n) for n in range(20, 41)],  # 20..30 taken by the first
            [received(n, seq=n) for n in range(25, 36)],  # the first's ids, the second's numbers
        ]
        return await asyncio.gather(*(messages.add(batch) for batch in batches))

    first, second, third = run(scenario())
    assert ids(first) == list(range(1, 31))
    assert ids(second) == [100 + n for n in range(31, 41)]
    assert third == []
    assert run(messages.group_progress(GROUP)) == {"bob": 40}


def test_group_progress_is_each_authors_highest_number_in_that_group(
    messages: MessageRepository,
) -> None:
    async def scenario() -> None:
        assert await messages.group_progress(GROUP) == {}
        await messages.add([posted(n) for n in range(1, 4)])
        await messages.add([received(10 + n, seq=n) for n in (1, 2)])
        await messages.add([received(20, seq=1, author="carol", group=OTHER_GROUP)])
        await messages.add([direct(30)])
        assert await messages.group_progress(GROUP) == {"alice": 3, "bob": 2}
        assert await messages.group_progress(OTHER_GROUP) == {"carol": 1}
        assert await messages.group_progress(UUID(int=404)) == {}

    run(scenario())


def test_group_messages_are_one_authors_after_a_number_in_order_as_signed(
    messages: MessageRepository,
) -> None:
    async def scenario() -> None:
        # Stored out of the authors' order, mixed with others' and other groups'.
        bobs = {seq: received(10 + seq, seq=seq) for seq in range(1, 8)}
        await messages.add([bobs[seq] for seq in (3, 1, 2)])
        await messages.add(
            [posted(1), received(40, seq=4, group=OTHER_GROUP)], to_members(posted(1))
        )
        await messages.add([bobs[seq] for seq in (7, 4, 6, 5)])
        group_messages = messages.group_messages
        assert await group_messages(GROUP, "bob", 0, 500) == [bobs[s] for s in range(1, 8)]
        assert await group_messages(GROUP, "bob", 2, 3) == [bobs[3], bobs[4], bobs[5]]
        assert await group_messages(GROUP, "bob", 7, 10) == []
        assert await group_messages(GROUP, "alice", 0, 10) == [posted(1)]
        assert await group_messages(GROUP, "carol", 0, 10) == []
        assert await group_messages(OTHER_GROUP, "bob", 3, 10) == [
            received(40, seq=4, group=OTHER_GROUP)
        ]

    run(scenario())


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_group_messages_refuse_limits_outside_1_to_500(
    messages: MessageRepository, limit: int
) -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="limit"):
            await messages.group_messages(GROUP, "bob", 0, limit)

    run(scenario())


def test_a_group_conversation_pages_and_searches_like_any_other(
    messages: MessageRepository,
) -> None:
    """Its conversation id is the group's: pages are by storage order, and search finds its
    messages among one-to-one ones, read back whole."""

    async def scenario() -> None:
        picnic = posted(1, body="picnic on saturday?")
        await messages.add([picnic, direct(2)], to_members(picnic))
        await messages.add([received(n, seq=n - 2) for n in range(3, 9)])
        await messages.add([received(9, seq=1, group=OTHER_GROUP)])
        page = messages.page
        assert ids(await page(GROUP, 3)) == [8, 7, 6]
        assert ids(await page(GROUP, 10, before=UUID(int=6))) == [5, 4, 3, 1]
        assert ids(await page(OTHER_GROUP, 10)) == [9]
        with pytest.raises(MessageNotFound):
            await page(GROUP, 10, before=UUID(int=99))
        assert await messages.search("picnic", 10) == [picnic]
        assert ids(await messages.search("group note", 10)) == [9, 8, 7, 6, 5, 4, 3]
        assert ids(await messages.search("note", 3)) == [9, 8, 7]

    run(scenario())


def test_group_messages_and_their_deliveries_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    mine, theirs = posted(1), received(2)

    async def before(db: Database) -> None:
        await SqliteMessageRepository(db).add([mine, theirs], to_members(mine))

    async def after(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        assert await repository.get(mine.id) == mine
        assert await repository.get(theirs.id) == theirs
        assert await repository.deliveries(mine.id) == pending_to(1, *MEMBERS)
        assert await repository.group_progress(GROUP) == {"alice": 1, "bob": 2}
        assert await repository.group_messages(GROUP, "bob", 0, 10) == [theirs]
        assert await repository.add([posted(3, seq=1)]) == []  # alice's 1 is still taken

    with Database(path) as db:
        run(before(db))
    with Database(path) as db:
        run(after(db))
