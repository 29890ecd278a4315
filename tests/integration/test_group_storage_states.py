"""Delivery states of group messages, one contract for SQLite and the memory twin: each member's
delivery moves by itself, the message's state is their summary, ``update_states`` says which
summaries changed, and the outbox lists every delivery still to make.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.application.ports import MessageRepository, StateChange
from chinwag.application.ports.message_repository import Delivery, OutboxEntry
from chinwag.domain.message import Message, MessageState
from tests.integration.test_group_storage import (
    MEMBERS,
    direct,
    messages,
    posted,
    received,
    to_members,
)

__all__ = ["messages"]  # the fixture, shared with test_group_storage

T = TypeVar("T")

PENDING, QUEUED, SENT = MessageState.PENDING, MessageState.QUEUED, MessageState.SENT
DELIVERED, FAILED = MessageState.DELIVERED, MessageState.FAILED


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def to(member: str, state: MessageState, reason: str | None = None, n: int = 1) -> StateChange:
    return StateChange(UUID(int=n), state, reason, member)


async def summary_of(messages: MessageRepository, n: int) -> tuple[MessageState, str | None]:
    stored = await messages.get(UUID(int=n))
    assert stored is not None
    return stored.state, stored.reason


# Each case: the deliveries of a message to bob, carol and dave (all pending before), and its
# summary then.
SUMMARIES = {
    "all pending": ({}, (PENDING, None)),
    "one sent, others pending": ({"bob": (SENT, None)}, (PENDING, None)),
    "queued is behind pending": (
        {"dave": (QUEUED, "dave is offline")},
        (QUEUED, "dave is offline"),
    ),
    "the first queued by name gives the reason": (
        {"dave": (QUEUED, "dave is offline"), "carol": (QUEUED, "carol is away")},
        (QUEUED, "carol is away"),
    ),
    "all sent": ({name: (SENT, None) for name in MEMBERS}, (SENT, None)),
    "some delivered, one sent": (
        {"bob": (DELIVERED, None), "carol": (DELIVERED, None), "dave": (SENT, None)},
        (SENT, None),
    ),
    "all delivered": ({name: (DELIVERED, None) for name in MEMBERS}, (DELIVERED, None)),
    "a failed one is done, a pending one is not": (
        {"bob": (FAILED, "bob is unknown"), "carol": (DELIVERED, None)},
        (PENDING, None),
    ),
    "all done, one failed": (
        {
            "bob": (DELIVERED, None),
            "carol": (FAILED, "carol refused it"),
            "dave": (DELIVERED, None),
        },
        (FAILED, "carol refused it"),
    ),
    "all failed: the first by name": (
        {"dave": (FAILED, "d"), "bob": (FAILED, "b"), "carol": (FAILED, "c")},
        (FAILED, "b"),
    ),
}


@pytest.mark.parametrize(("moves", "expected"), SUMMARIES.values(), ids=SUMMARIES.keys())
def test_a_group_messages_state_is_its_least_advanced_delivery(
    messages: MessageRepository,
    moves: dict[str, tuple[MessageState, str | None]],
    expected: tuple[MessageState, str | None],
) -> None:
    async def scenario() -> None:
        await messages.add([posted(1)], to_members(posted(1)))
        changes = [to(name, state, reason) for name, (state, reason) in moves.items()]
        changed = await messages.update_states(changes)
        assert changed == (
            [] if expected == (PENDING, None) else [StateChange(UUID(int=1), *expected)]
        )
        assert await summary_of(messages, 1) == expected
        stored = {d.recipient: (d.state, d.reason) for d in await messages.deliveries(UUID(int=1))}
        assert stored == {name: moves.get(name, (PENDING, None)) for name in MEMBERS}

    run(scenario())


def test_update_states_returns_the_summaries_that_changed_in_the_order_of_the_changes(
    messages: MessageRepository,
) -> None:
    async def scenario() -> None:
        group = [posted(n) for n in (1, 2, 3, 4)]
        await messages.add([*group, direct(5), received(6, seq=1)], to_members(*group))
        changed = await messages.update_states(
            [
                to("bob", SENT, n=3),  # 3: pending still (carol and dave)
                to("carol", QUEUED, "carol is offline", n=2),  # 2: queued
                StateChange(UUID(int=5), DELIVERED),  # a direct message: never returned
                *(to(name, SENT, n=4) for name in MEMBERS),  # 4: sent
                *(to(name, DELIVERED, n=1) for name in MEMBERS),  # 1: delivered
                to("bob", SENT, n=6),  # received: it has no delivery
                to("erin", DELIVERED, n=3),  # not a member it was sent to
                StateChange(UUID(int=3), DELIVERED),  # a group message's delivery has a name
                to("bob", DELIVERED, n=99),  # unknown
            ]
        )
        assert changed == [
            StateChange(UUID(int=2), QUEUED, "carol is offline"),
            StateChange(UUID(int=4), SENT),
            StateChange(UUID(int=1), DELIVERED),
        ]
        assert await summary_of(messages, 3) == (PENDING, None)
        assert [d.recipient for d in await messages.deliveries(UUID(int=3))] == list(MEMBERS)
        assert await summary_of(messages, 5) == (DELIVERED, None)
        assert await summary_of(messages, 6) == (MessageState.RECEIVED, None)
        assert await messages.deliveries(UUID(int=6)) == []
        assert await messages.update_states([to("bob", SENT, n=3)]) == []  # no change: none
        assert await messages.update_states([]) == []

    run(scenario())


def test_a_summary_is_returned_once_per_batch_where_its_message_first_moved(
    messages: MessageRepository,
) -> None:
    """Later changes of one delivery win; the summary is compared with the one before the
    batch, so going there and back is no change."""

    async def scenario() -> None:
        await messages.add([posted(1), posted(2)], to_members(posted(1), posted(2)))
        changed = await messages.update_states(
            [
                to("bob", QUEUED, "bob is offline", n=1),
                to("bob", SENT, n=2),
                *(to(name, SENT, n=2) for name in MEMBERS),
                to("bob", PENDING, n=1),  # back where it was
                to("dave", FAILED, "dave left", n=2),
            ]
        )
        assert changed == [StateChange(UUID(int=2), SENT)]
        assert await summary_of(messages, 1) == (PENDING, None)
        stored = await messages.deliveries(UUID(int=2))
        assert [(d.recipient, d.state) for d in stored] == [
            ("bob", SENT),
            ("carol", SENT),
            ("dave", FAILED),
        ]

    run(scenario())


def test_a_direct_messages_delivery_is_named_by_no_one_or_by_its_recipient(
    messages: MessageRepository,
) -> None:
    async def scenario() -> None:
        await messages.add([direct(1), direct(2), direct(3)])
        changed = await messages.update_states(
            [
                StateChange(UUID(int=1), SENT),
                StateChange(UUID(int=2), SENT, None, "bob"),
                StateChange(UUID(int=3), SENT, None, "carol"),  # not its recipient: ignored
                StateChange(UUID(int=1), DELIVERED, None, "bob"),  # the later change wins
            ]
        )
        assert changed == []
        expected = {1: DELIVERED, 2: SENT, 3: PENDING}
        for n, state in expected.items():
            assert await summary_of(messages, n) == (state, None)
            assert await messages.deliveries(UUID(int=n)) == [Delivery(UUID(int=n), "bob", state)]

    run(scenario())


def test_the_outbox_of_deliveries_is_in_storage_order_then_by_member(
    messages: MessageRepository,
) -> None:
    async def scenario() -> None:
        # Alice's messages 3, 1, 2 (stored in that order), a direct one, and others' messages.
        mine = [posted(3), direct(4), posted(1), posted(2)]
        await messages.add(mine, to_members(*mine))
        await messages.add([received(5, seq=1), posted(6, author="bob")], to_members(posted(6)))
        await messages.update_states(
            [
                to("carol", DELIVERED, n=3),
                to("bob", QUEUED, "bob is offline", n=3),
                to("dave", FAILED, "dave left", n=3),
                *(to(name, DELIVERED, n=1) for name in MEMBERS),
                StateChange(UUID(int=4), SENT),
                to("dave", SENT, n=2),
            ]
        )
        outbox = await messages.pending_deliveries("alice")
        assert [
            (e.message.id.int, e.recipient, e.message.state, e.message.reason) for e in outbox
        ] == [
            (3, "bob", QUEUED, "bob is offline"),
            (4, "bob", SENT, None),
            (2, "bob", PENDING, None),
            (2, "carol", PENDING, None),
            (2, "dave", SENT, None),
        ]
        # Each entry is the message as stored but in its delivery's state.
        stored = await messages.get(UUID(int=2))
        assert stored is not None
        assert outbox[4] == OutboxEntry(stored.model_copy(update={"state": SENT}), "dave")
        assert outbox[2] == OutboxEntry(stored, "bob")
        assert [e.recipient for e in await messages.pending_deliveries("bob")] == list(MEMBERS)
        assert await messages.pending_deliveries("carol") == []

    run(scenario())


def test_unacknowledged_lists_messages_with_a_delivery_to_make_in_their_summary(
    messages: MessageRepository,
) -> None:
    async def scenario() -> list[Message]:
        mine = [posted(n) for n in range(1, 5)]
        await messages.add([*mine, direct(5), received(6, seq=1)], to_members(*mine))
        await messages.update_states(
            [
                *(to(name, DELIVERED, n=1) for name in MEMBERS),  # 1: done
                to("bob", FAILED, "bob left", n=2),  # 2: carol and dave to go
                to("carol", DELIVERED, n=3),
                to("bob", DELIVERED, n=3),
                to("dave", FAILED, "dave left", n=3),  # 3: done, one failed
                to("bob", SENT, n=4),  # 4: pending still
            ]
        )
        return await messages.unacknowledged("alice")

    outbox = run(scenario())
    assert [(m.id.int, m.state) for m in outbox] == [(2, PENDING), (4, PENDING), (5, PENDING)]


def test_group_deliveries_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "history.db"

    async def before(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        await repository.add([posted(1)], to_members(posted(1)))
        await repository.update_states([to("bob", DELIVERED), to("carol", SENT)])

    async def after(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        outbox = await repository.pending_deliveries("alice")
        assert [(e.recipient, e.message.state) for e in outbox] == [
            ("carol", SENT),
            ("dave", PENDING),
        ]
        changed = await repository.update_states([to("carol", DELIVERED), to("dave", DELIVERED)])
        assert changed == [StateChange(UUID(int=1), DELIVERED)]

    with Database(path) as db:
        run(before(db))
    with Database(path) as db:
        run(after(db))
    with Database(path) as db:
        assert run(SqliteMessageRepository(db).get(UUID(int=1))) == posted(1, state=DELIVERED)
