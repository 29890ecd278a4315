"""One contract for the message and conversation repositories: SQLite and the memory twin."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
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
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import GroupStamp, Message, MessageState

T = TypeVar("T")

ALICE_BOB = Conversation.direct("alice", "bob")
ALICE_CAROL = Conversation.direct("alice", "carol")
BOB_CAROL = Conversation.direct("bob", "carol")
T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)

UNSTORABLE = "[\x00\ud800-\udfff]"  # NUL and lone surrogates: fine to search, not to store
HOSTILE = [
    '"x',
    "NEAR(",
    "AND",
    "*",
    "-",
    "col:val",
    ")",
    '"',
    "OR NOT",
    "body:x*",
    "^x",
    "a\x00b",
    "x\ud800y",
]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def message(
    n: int,
    body: str = "hello",
    conversation: Conversation = ALICE_BOB,
    sent_at: datetime = T0,
    received_at: datetime | None = None,
) -> Message:
    sender, recipient = conversation.participants
    return Message(
        id=UUID(int=n),
        conversation_id=conversation.id,
        sender=sender,
        recipient=recipient,
        body=body,
        sent_at=sent_at,
        state=MessageState.PENDING,
        received_at=received_at,
    )


def ids(messages: list[Message]) -> list[int]:
    return [m.id.int for m in messages]


@dataclass
class Repositories:
    messages: MessageRepository
    conversations: ConversationRepository


@pytest.fixture(params=["memory", "sqlite"])
def repos(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repositories]:
    if request.param == "memory":
        messages = InMemoryMessageRepository()
        yield Repositories(messages, InMemoryConversationRepository(messages))
    else:
        with Database(tmp_path / "history.db") as db:
            yield Repositories(SqliteMessageRepository(db), SqliteConversationRepository(db))


def test_add_returns_only_the_new_messages_in_order(repos: Repositories) -> None:
    async def scenario() -> None:
        assert ids(await repos.messages.add([message(1), message(2)])) == [1, 2]
        again = [message(2), message(3), message(1), message(4), message(3)]
        assert ids(await repos.messages.add(again)) == [3, 4]
        assert await repos.messages.add([]) == []
        assert ids(await repos.messages.page(ALICE_BOB.id, 10)) == [4, 3, 2, 1]

    run(scenario())


def test_get_returns_the_stored_message_or_none(repos: Repositories) -> None:
    async def scenario() -> None:
        await repos.messages.add([message(1, "hi there")])
        assert await repos.messages.get(UUID(int=1)) == message(1, "hi there")
        assert await repos.messages.get(UUID(int=2)) is None

    run(scenario())


def test_pages_follow_storage_order_not_sent_at(repos: Repositories) -> None:
    async def scenario() -> None:
        late, early = message(1, sent_at=T0), message(2, sent_at=T0 - timedelta(days=1))
        await repos.messages.add([late])
        await repos.messages.add([early])
        assert ids(await repos.messages.page(ALICE_BOB.id, 10)) == [2, 1]

    run(scenario())


def test_page_is_newest_first_with_keyset_before(repos: Repositories) -> None:
    async def scenario() -> None:
        await repos.messages.add([message(n) for n in range(1, 11)])
        await repos.messages.add([message(100 + n, conversation=ALICE_CAROL) for n in range(3)])
        await repos.messages.add([message(11), message(12)])
        page = repos.messages.page
        assert ids(await page(ALICE_BOB.id, 5)) == [12, 11, 10, 9, 8]
        assert ids(await page(ALICE_BOB.id, 5, before=UUID(int=8))) == [7, 6, 5, 4, 3]
        assert ids(await page(ALICE_BOB.id, 5, before=UUID(int=3))) == [2, 1]
        assert await page(ALICE_BOB.id, 5, before=UUID(int=1)) == []
        assert ids(await page(ALICE_CAROL.id, 500)) == [102, 101, 100]
        assert await page(BOB_CAROL.id, 1) == []

    run(scenario())


def test_page_before_an_unknown_message_is_not_found(repos: Repositories) -> None:
    async def scenario() -> None:
        await repos.messages.add([message(1)])
        with pytest.raises(MessageNotFound):
            await repos.messages.page(ALICE_BOB.id, 10, before=UUID(int=99))

    run(scenario())


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_limits_outside_1_to_500_are_refused(repos: Repositories, limit: int) -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="limit"):
            await repos.messages.page(ALICE_BOB.id, limit)
        with pytest.raises(ValueError, match="limit"):
            await repos.messages.search("hello", limit)

    run(scenario())


def test_update_states_records_states_and_reasons(repos: Repositories) -> None:
    async def scenario() -> None:
        await repos.messages.add([message(1), message(2), message(3)])
        changed = await repos.messages.update_states(
            [
                StateChange(UUID(int=1), MessageState.SENT),
                StateChange(UUID(int=2), MessageState.FAILED, "bob is offline"),
                StateChange(UUID(int=1), MessageState.DELIVERED),
                StateChange(UUID(int=99), MessageState.SENT),  # unknown: ignored
            ]
        )
        assert changed == []  # only group messages' summaries are returned
        assert await repos.messages.update_states([]) == []
        stored = {m.id.int: m for m in await repos.messages.page(ALICE_BOB.id, 10)}
        assert (stored[1].state, stored[1].reason) == (MessageState.DELIVERED, None)
        assert (stored[2].state, stored[2].reason) == (MessageState.FAILED, "bob is offline")
        assert stored[3].state is MessageState.PENDING
        assert await repos.messages.get(UUID(int=99)) is None

    run(scenario())


BODIES = [
    "party 🎉 time 👍🏽 ❤️",
    "שלום עולם, مرحبا بالعالم",
    "first line\nsecond line\r\n\tthird",
    "Crème brûlée à la CAFÉ",
    "x" * 10_000,
    "日本語のテキスト and 中文",
]


def test_unicode_bodies_round_trip_exactly(repos: Repositories) -> None:
    async def scenario() -> None:
        originals = [message(n, body) for n, body in enumerate(BODIES, start=1)]
        await repos.messages.add(originals)
        for original in originals:
            stored = await repos.messages.get(original.id)
            assert stored is not None
            assert stored.body == original.body
        assert [m.body for m in await repos.messages.page(ALICE_BOB.id, 10)] == BODIES[::-1]

    run(scenario())


@pytest.mark.parametrize(
    "sent_at",
    [
        T0,
        datetime(2024, 5, 17, 18, 0, 45, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_sent_at_round_trips_to_the_microsecond_in_utc(
    repos: Repositories, sent_at: datetime
) -> None:
    async def scenario() -> None:
        await repos.messages.add([message(1, sent_at=sent_at)])
        stored = await repos.messages.get(UUID(int=1))
        assert stored is not None
        assert stored.sent_at == sent_at
        assert stored.sent_at.microsecond == sent_at.astimezone(UTC).microsecond
        assert stored.sent_at.utcoffset() == timedelta(0)

    run(scenario())


@pytest.mark.parametrize(
    "received_at",
    [
        T0 + timedelta(minutes=5),
        datetime(2024, 5, 17, 18, 0, 45, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_received_at_round_trips_and_stays_none_when_absent(
    repos: Repositories, received_at: datetime
) -> None:
    async def scenario() -> None:
        received = message(1, received_at=received_at)
        await repos.messages.add([received, message(2)])
        await repos.messages.update_states([StateChange(UUID(int=1), MessageState.DELIVERED)])
        stored = {m.id.int: m for m in await repos.messages.page(ALICE_BOB.id, 10)}
        assert stored[1].received_at == received_at  # the same moment, to the microsecond
        assert stored[1].received_at is not None
        assert stored[1].received_at.microsecond == received_at.astimezone(UTC).microsecond
        assert stored[1].received_at.utcoffset() == timedelta(0)
        assert stored[1].state is MessageState.DELIVERED
        assert stored[2].received_at is None
        assert await repos.messages.get(UUID(int=2)) == message(2)

    run(scenario())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("🎉", [1]),
        ("👍🏽", [1]),
        ("❤️", [1]),
        ("עולם", [2]),
        ("بالعالم", [2]),
        ("second", [3]),
        ("FIRST\nline", [3]),
        ("creme brulee", [4]),
        ("café", [4]),
        ("Ç", [4]),  # folded to "c", the start of "crème" and "café"
        ("x" * 10_000, [5]),
        ("and", [6]),
        ("line", [3]),
        ("line third", [3]),
        ("line missing", []),
        ("lin", [3]),  # the last word of a term is a prefix
        ("ine", []),  # a prefix, not any part of a word
        ("fir lin", [3]),
        ("first lin", [3]),
        ("firs\nlin", [3]),
        ("   \n\t ", []),
        ("", []),
    ],
)
def test_search_finds_every_word_in_any_script(
    repos: Repositories, text: str, expected: list[int]
) -> None:
    async def scenario() -> None:
        await repos.messages.add([message(n, body) for n, body in enumerate(BODIES, start=1)])
        assert ids(await repos.messages.search(text, 10)) == expected

    run(scenario())


def test_search_is_newest_first_and_limited(repos: Repositories) -> None:
    async def scenario() -> None:
        await repos.messages.add([message(n, f"note {n}") for n in range(1, 8)])
        await repos.messages.add([message(8, "note", conversation=ALICE_CAROL)])
        assert ids(await repos.messages.search("note", 3)) == [8, 7, 6]
        assert ids(await repos.messages.search("NOTE 4", 500)) == [4]

    run(scenario())


@pytest.mark.parametrize("text", HOSTILE)
def test_search_never_parses_the_users_text(repos: Repositories, text: str) -> None:
    """Each input is searched as the words it contains; inputs without words find nothing."""

    async def scenario() -> None:
        stored = message(1, f"plain {re.sub(UNSTORABLE, ' ', text)} words")
        await repos.messages.add([stored, message(2, "other")])
        has_words = any(ch.isalnum() for ch in text)
        assert await repos.messages.search(text, 10) == ([stored] if has_words else [])
        assert await repos.messages.search(f"plain {text}", 10) == [stored]

    run(scenario())


def test_search_treats_operators_and_punctuation_as_words(repos: Repositories) -> None:
    async def scenario() -> None:
        bodies = ["cats AND dogs", "cats or dogs", 'she said "x" twice', "col:val", "val col"]
        await repos.messages.add([message(n, body) for n, body in enumerate(bodies, start=1)])
        assert ids(await repos.messages.search("AND", 10)) == [1]
        assert ids(await repos.messages.search("cats OR", 10)) == [2]
        assert ids(await repos.messages.search('"x', 10)) == [3]
        assert ids(await repos.messages.search("col:val", 10)) == [4]  # adjacent, in order
        assert ids(await repos.messages.search("col val", 10)) == [5, 4]
        assert ids(await repos.messages.search("cats -dogs", 10)) == [2, 1]
        assert ids(await repos.messages.search("NEAR(cats dogs)", 10)) == []

    run(scenario())


def test_search_takes_the_last_word_of_each_term_as_a_prefix(repos: Repositories) -> None:
    async def scenario() -> None:
        bodies = ["lorem ipsum dolor", "Loremaster", "the lore", "Crème brûlée", "col:value"]
        await repos.messages.add([message(n, body) for n, body in enumerate(bodies, start=1)])
        assert ids(await repos.messages.search("lore", 10)) == [3, 2, 1]
        assert ids(await repos.messages.search("LOREM ips", 10)) == [1]
        assert ids(await repos.messages.search("ipsum lore", 10)) == [1]
        assert ids(await repos.messages.search("orem", 10)) == []
        assert ids(await repos.messages.search("cre bru", 10)) == [4]
        assert ids(await repos.messages.search("col:va", 10)) == [5]
        assert ids(await repos.messages.search("co:value", 10)) == []  # only the last word
        assert ids(await repos.messages.search("lorem ipsum x", 10)) == []

    run(scenario())


@pytest.mark.parametrize(
    "text",
    ["lore*", '"lore', 'lore"', '"lore"*', "(lore)", "-lore", ":lore", "lore:", "*lore", "^lore"],
)
def test_search_by_prefix_still_never_parses_the_users_text(repos: Repositories, text: str) -> None:
    """Quotes, stars, minus signs, colons and parentheses around a prefix are punctuation."""

    async def scenario() -> None:
        await repos.messages.add([message(1, "lorem ipsum"), message(2, "dolor sit")])
        assert ids(await repos.messages.search(text, 10)) == [1]

    run(scenario())


@pytest.mark.parametrize(
    "text", ["NEAR(lore", "NEAR(lore dol)", "lore AND", "lore OR dol", "NOT lore", "body:lore"]
)
def test_search_by_prefix_takes_operators_as_words(repos: Repositories, text: str) -> None:
    """``NEAR``, ``AND``, ``OR``, ``NOT`` and a column name are words that must be there too."""

    async def scenario() -> None:
        await repos.messages.add([message(1, "lorem ipsum"), message(2, "dolor sit")])
        assert await repos.messages.search(text, 10) == []
        await repos.messages.add([message(3, f"{text.replace('lore', 'lorem')} dolor")])
        assert ids(await repos.messages.search(text, 10)) == [3]

    run(scenario())


def test_conversations_are_listed_by_latest_message(repos: Repositories) -> None:
    async def scenario() -> None:
        await repos.conversations.save([ALICE_BOB, ALICE_CAROL])
        await repos.conversations.save([BOB_CAROL, ALICE_BOB])
        await repos.conversations.save([])
        assert await repos.conversations.list_all() == [ALICE_BOB, ALICE_CAROL, BOB_CAROL]

        await repos.messages.add([message(1, conversation=ALICE_CAROL)])
        await repos.messages.add([message(2, conversation=BOB_CAROL)])
        assert await repos.conversations.list_all() == [BOB_CAROL, ALICE_CAROL, ALICE_BOB]

        await repos.messages.add([message(3, conversation=ALICE_CAROL)])
        assert await repos.conversations.list_all() == [ALICE_CAROL, BOB_CAROL, ALICE_BOB]

    run(scenario())


def test_conversations_are_found_by_id(repos: Repositories) -> None:
    async def scenario() -> None:
        await repos.conversations.save([ALICE_BOB])
        assert await repos.conversations.get(ALICE_BOB.id) == ALICE_BOB
        assert await repos.conversations.get(ALICE_CAROL.id) is None

    run(scenario())


def test_a_group_conversation_is_stored_and_found_by_its_groups_id(repos: Repositories) -> None:
    group = Conversation.of_group(uuid.UUID(int=77))

    async def scenario() -> None:
        await repos.conversations.save([group, ALICE_BOB])
        assert await repos.conversations.get(group.id) == group
        assert group in await repos.conversations.list_all()

    run(scenario())


def test_concurrent_adds_with_overlapping_ids_store_each_message_once(
    repos: Repositories,
) -> None:
    async def scenario() -> list[list[Message]]:
        batches = [[message(n) for n in range(start, start + 50)] for start in (0, 25, 40, 0)]
        return await asyncio.gather(*(repos.messages.add(batch) for batch in batches))

    results = run(scenario())
    assert ids(results[0]) == list(range(50))
    assert ids(results[1]) == list(range(50, 75))
    assert ids(results[2]) == list(range(75, 90))
    assert results[3] == []


def test_the_outbox_is_the_senders_unacknowledged_messages_oldest_first(
    repos: Repositories,
) -> None:
    async def scenario() -> list[Message]:
        mine = [message(n) for n in range(1, 6)]
        theirs = message(9, conversation=Conversation.direct("bob", "carol"))
        await repos.messages.add([*mine, theirs])
        await repos.messages.update_states(
            [
                StateChange(mine[1].id, MessageState.DELIVERED),
                StateChange(mine[2].id, MessageState.QUEUED),
                StateChange(mine[3].id, MessageState.FAILED, "no"),
            ]
        )
        return await repos.messages.unacknowledged(mine[0].sender)

    outbox = run(scenario())
    assert [(m.id.int, m.state) for m in outbox] == [
        (1, MessageState.PENDING),
        (3, MessageState.QUEUED),
        (5, MessageState.PENDING),
    ]


GROUP = Conversation.of_group(UUID("0190b5a4-7d1e-8c3f-9a2b-4c5d6e7f8091"))


def group_message(n: int, body: str, state: MessageState = MessageState.RECEIVED) -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=GROUP.id,
        group_id=GROUP.id,
        stamp=GroupStamp(seq=n, version=1, signature=bytes(range(64))),
        sender="bob" if state is MessageState.RECEIVED else "alice",
        body=body,
        sent_at=T0,
        state=state,
        received_at=T0 if state is MessageState.RECEIVED else None,
    )


def test_group_messages_share_the_history_with_one_to_one_ones(repos: Repositories) -> None:
    """Pages of the group's conversation hold its messages only; search finds them among the
    others, and both read them back whole (stamp, group, no recipient)."""

    async def scenario() -> None:
        mine = group_message(2, "lunch at noon", MessageState.PENDING)
        await repos.messages.add([message(1, "lunch today?"), mine], {mine.id: ["bob", "carol"]})
        await repos.messages.add([group_message(3, "noon works"), message(4, "see you")])
        assert await repos.messages.page(GROUP.id, 10) == [group_message(3, "noon works"), mine]
        assert ids(await repos.messages.page(ALICE_BOB.id, 10)) == [4, 1]
        assert await repos.messages.search("lunch", 10) == [mine, message(1, "lunch today?")]
        assert ids(await repos.messages.search("noon", 10)) == [3, 2]
        assert await repos.messages.unacknowledged("alice") == [
            message(1, "lunch today?"),
            mine,
            message(4, "see you"),
        ]

    run(scenario())
