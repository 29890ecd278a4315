"""Discarding stored messages (a removed member's group messages that turned out not to count),
one contract for SQLite and the memory twin: gone from every read, their deliveries with them,
the rest untouched, writes taking effect in the order they were called, and a discarded
message's place never given to a later one.

What only SQLite has (the search index, one transaction, reopening the file) is in
``test_group_storage_discard_sqlite.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.memory.repositories import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
)
from chinwag.adapters.sqlite.conversations import SqliteConversationRepository
from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.application.errors import MessageNotFound
from chinwag.application.ports import ConversationRepository, MessageRepository, StateChange
from chinwag.application.ports.conversation_repository import Unread
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import Message, MessageState
from tests.integration.test_group_storage import (
    GROUP,
    MEMBERS,
    OTHER_GROUP,
    direct,
    ids,
    posted,
    received,
    to_members,
)

T = TypeVar("T")

ALICE_BOB = Conversation.direct("alice", "bob")


def heard(n: int, seq: int, body: str) -> Message:
    """bob's group message ``n`` (his number ``seq``), received, saying ``body``."""
    return posted(n, seq, "bob", GROUP, MessageState.RECEIVED, body)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Store:
    """A message repository and its conversation repository, over one history."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.db: Database | None = None
        self.messages: MessageRepository
        self.conversations: ConversationRepository
        if path is None:
            memory = InMemoryMessageRepository()
            self.messages, self.conversations = memory, InMemoryConversationRepository(memory)
        else:
            self._open(path)

    def _open(self, path: Path) -> None:
        self.db = Database(path)
        self.messages = SqliteMessageRepository(self.db)
        self.conversations = SqliteConversationRepository(self.db)

    async def reopen(self) -> None:
        """Close the history file and open it again (the memory twin stays as it is)."""
        if self.path is not None:
            await self.close()
            self._open(self.path)

    async def close(self) -> None:
        if self.db is not None:
            await asyncio.to_thread(self.db.close)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = Store(None if request.param == "memory" else tmp_path / "history.db")
    yield opened
    if opened.db is not None:
        opened.db.close()


@asynccontextmanager
async def closing(store: Store) -> AsyncIterator[Store]:
    """Close the history on the loop's way out (a reopened one is a new Database)."""
    try:
        yield store
    finally:
        await store.close()


async def everything(messages: MessageRepository, numbers: range) -> dict[int, Message | None]:
    return {n: await messages.get(UUID(int=n)) for n in numbers}


def test_discarded_messages_are_gone_from_every_read_and_the_rest_is_untouched(
    store: Store,
) -> None:
    """alice sent 1..3 to the group (3 still pending), bob's 4..7 (his numbers 1..4) and
    carol's 8 were received, 9 is a one-to-one message; bob's 3 and 4 and alice's 3 go."""
    messages = store.messages
    mine = [posted(n) for n in (1, 2, 3)]
    bobs = [heard(n, n - 3, f"bobsaid{n} shared") for n in (4, 5, 6, 7)]
    batch = [*mine, *bobs, received(8, seq=1, author="carol"), direct(9)]

    async def scenario() -> None:
        async with closing(store):
            await messages.add(batch, to_members(*mine))
            await messages.update_states(
                [
                    StateChange(UUID(int=n), MessageState.DELIVERED, None, m)
                    for n in (1, 2)
                    for m in MEMBERS
                ]
            )
            before = await everything(messages, range(1, 10))

            gone = await messages.discard([UUID(int=7), UUID(int=3), UUID(int=6)])
            assert gone == [before[7], before[3], before[6]]

            after = await everything(messages, range(1, 10))
            assert {n for n, m in after.items() if m is None} == {3, 6, 7}
            assert {n: m for n, m in after.items() if m is not None} == {
                n: before[n] for n in (1, 2, 4, 5, 8, 9)
            }
            assert ids(await messages.page(GROUP, 50)) == [8, 5, 4, 2, 1]
            assert ids(await messages.search("shared", 50)) == [5, 4]
            assert await messages.search("bobsaid7", 50) == []
            assert await messages.group_progress(GROUP) == {"alice": 2, "bob": 2, "carol": 1}
            assert ids(await messages.group_messages(GROUP, "bob", 0, 50)) == [4, 5]
            assert await messages.group_messages(GROUP, "alice", 2, 50) == []
            assert await messages.deliveries(UUID(int=3)) == []
            assert ids(await messages.unacknowledged("alice")) == [9]
            outbox = await messages.pending_deliveries("alice")
            assert [(entry.message.id.int, entry.recipient) for entry in outbox] == [(9, "bob")]
            with pytest.raises(MessageNotFound):
                await messages.page(GROUP, 10, before=UUID(int=6))

    run(scenario())


def test_unknown_and_repeated_ids_are_ignored(store: Store) -> None:
    messages = store.messages

    async def scenario() -> None:
        async with closing(store):
            await messages.add([received(1, seq=1), received(2, seq=2)])
            assert await messages.discard([]) == []
            assert await messages.discard([UUID(int=99)]) == []
            gone = await messages.discard([UUID(int=99), UUID(int=2), UUID(int=2), UUID(int=98)])
            assert ids(gone) == [2]
            assert await messages.discard([UUID(int=2)]) == []
            assert ids(await messages.page(GROUP, 10)) == [1]

    run(scenario())


def test_more_than_500_ids_at_once_are_refused(store: Store) -> None:
    messages = store.messages

    async def scenario() -> None:
        async with closing(store):
            await messages.add([received(1, seq=1)])
            with pytest.raises(ValueError, match="at most 500"):
                await messages.discard([UUID(int=1)] + [UUID(int=n) for n in range(1000, 1500)])
            assert ids(await messages.page(GROUP, 10)) == [1]  # nothing was discarded
            assert ids(await messages.discard([UUID(int=n) for n in range(1, 501)])) == [1]

    run(scenario())


def test_a_group_progress_is_what_remains_and_a_discarded_number_can_be_stored_again(
    store: Store,
) -> None:
    """Every one of carol's messages goes: she has no progress left. bob's last goes: his
    number 2 is free, and a (new, differently signed) message numbered 2 is stored."""
    messages = store.messages

    async def scenario() -> None:
        async with closing(store):
            await messages.add(
                [
                    received(1, seq=1),
                    received(2, seq=2),
                    received(3, seq=1, author="carol"),
                    received(4, seq=2, author="carol"),
                    received(5, seq=1, group=OTHER_GROUP, author="carol"),
                ]
            )
            await messages.discard([UUID(int=n) for n in (2, 3, 4)])
            assert await messages.group_progress(GROUP) == {"bob": 1}
            assert await messages.group_progress(OTHER_GROUP) == {"carol": 1}
            assert await messages.group_messages(GROUP, "carol", 0, 10) == []

            assert ids(await messages.add([received(6, seq=2), received(7, seq=1)])) == [6]
            assert await messages.group_progress(GROUP) == {"bob": 2}
            assert ids(await messages.group_messages(GROUP, "bob", 0, 10)) == [1, 6]

    run(scenario())


def test_concurrent_adds_and_discards_take_effect_in_the_order_they_were_called(
    store: Store,
) -> None:
    """All called in one loop pass: an add called after a discard is not discarded by it (in
    SQLite it would otherwise join the insertion queued before the discard), and a discard
    called after an add removes what that add stored."""
    messages = store.messages

    async def scenario() -> None:
        async with closing(store):
            first, second, third = received(1, seq=1), received(2, seq=2), received(3, seq=3)
            results = await asyncio.gather(
                messages.add([first]),
                messages.discard([second.id]),
                messages.add([second]),
                messages.discard([first.id]),
                messages.add([third]),
            )
            assert [ids(result) for result in results] == [[1], [], [2], [1], [3]]
            assert ids(await messages.page(GROUP, 10)) == [3, 2]
            assert await messages.group_progress(GROUP) == {"bob": 3}

    run(scenario())


def test_many_concurrent_adds_and_discards_leave_exactly_the_undiscarded(store: Store) -> None:
    """Fifty writers each store two messages and discard the second: the even ones after
    storing it (it goes), the odd ones before (nothing to discard yet: it stays). Their calls
    interleave, in SQLite over several write jobs and transactions."""
    messages = store.messages

    async def writer(n: int) -> None:
        pair = [direct(2 * n), direct(2 * n + 1)]
        if n % 2:
            assert await messages.discard([UUID(int=2 * n + 1)]) == []
            assert ids(await messages.add(pair)) == [2 * n, 2 * n + 1]
        else:
            assert ids(await messages.add(pair)) == [2 * n, 2 * n + 1]
            assert ids(await messages.discard([UUID(int=2 * n + 1)])) == [2 * n + 1]

    async def scenario() -> None:
        async with closing(store):
            await asyncio.gather(*(writer(n) for n in range(50)))
            kept = [n for n in range(100) if n % 2 == 0 or n % 4 == 3]
            assert sorted(ids(await messages.page(ALICE_BOB.id, 500))) == kept
            assert sorted(ids(await messages.unacknowledged("alice"))) == kept
            outbox = await messages.pending_deliveries("alice")
            assert sorted(entry.message.id.int for entry in outbox) == kept

    run(scenario())


def test_conversations_are_listed_by_the_latest_message_left(store: Store) -> None:
    group = Conversation.of_group(GROUP)
    other = Conversation.of_group(OTHER_GROUP)

    async def scenario() -> None:
        async with closing(store):
            await store.conversations.save([ALICE_BOB, group, other])
            await store.messages.add([direct(1), received(2, seq=1), direct(3)])
            await store.messages.add([received(4, seq=1, group=OTHER_GROUP)])
            assert await store.conversations.list_all() == [other, ALICE_BOB, group]

            await store.messages.discard([UUID(int=4), UUID(int=3)])
            assert await store.conversations.list_all() == [group, ALICE_BOB, other]
            await store.messages.discard([UUID(int=2)])
            assert await store.conversations.list_all() == [ALICE_BOB, group, other]
            assert await store.conversations.get(group.id) == group

    run(scenario())


def test_a_discarded_place_is_never_given_to_a_later_message(store: Store) -> None:
    """The user read up to bob's latest message; it is discarded (the newest of the whole
    history), and after reopening the history bob's next message is unread, found by search,
    and listed after the others."""
    group = Conversation.of_group(GROUP)

    async def scenario() -> None:
        async with closing(store):
            await store.conversations.save([group])
            await store.messages.add([received(1, seq=1), received(2, seq=2)])
            await store.conversations.mark_read(GROUP, UUID(int=2))
            end = await store.conversations.history_end()
            await store.messages.discard([UUID(int=2)])
            await store.reopen()

            later = heard(3, 2, "comeback words")
            assert ids(await store.messages.add([later])) == [3]
            assert await store.conversations.unread() == {GROUP: Unread(1, later.id)}
            assert await store.conversations.unread(end) == {}
            assert ids(await store.messages.search("comeback", 10)) == [3]
            assert ids(await store.messages.page(GROUP, 10)) == [3, 1]
            assert await store.conversations.history_end() > end

    run(scenario())
