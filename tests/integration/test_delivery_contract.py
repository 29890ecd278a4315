"""The deliveries of the message repository, one contract for SQLite and the memory twin.

One-to-one messages: an outgoing message has exactly one delivery, to its recipient, whose state
is the message's state (the summary), and both move together. (Group messages, with one per
member: ``test_group_storage*.py``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.memory.repositories import InMemoryMessageRepository
from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.application.ports import MessageRepository, StateChange
from chinwag.application.ports.message_repository import Delivery, OutboxEntry
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import Message, MessageState

T = TypeVar("T")

ALICE_BOB = Conversation.direct("alice", "bob")
T0 = datetime(2024, 5, 17, 12, 30, 45, tzinfo=UTC)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def outgoing(
    n: int, state: MessageState = MessageState.PENDING, reason: str | None = None
) -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=ALICE_BOB.id,
        sender="alice",
        recipient="bob",
        body=f"out {n}",
        sent_at=T0,
        state=state,
        reason=reason,
    )


def incoming(n: int) -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=ALICE_BOB.id,
        sender="bob",
        recipient="alice",
        body=f"in {n}",
        sent_at=T0,
        state=MessageState.RECEIVED,
        received_at=T0,
    )


def to_bob(n: int, state: MessageState, reason: str | None = None) -> list[Delivery]:
    return [Delivery(UUID(int=n), "bob", state, reason)]


async def summary(messages: MessageRepository, n: int) -> tuple[MessageState, str | None]:
    stored = await messages.get(UUID(int=n))
    assert stored is not None
    return stored.state, stored.reason


@pytest.fixture(params=["memory", "sqlite"])
def messages(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageRepository]:
    if request.param == "memory":
        yield InMemoryMessageRepository()
    else:
        with Database(tmp_path / "history.db") as db:
            yield SqliteMessageRepository(db)


def test_a_sent_message_has_one_delivery_to_its_recipient_in_its_state(
    messages: MessageRepository,
) -> None:
    async def scenario() -> None:
        await messages.add([outgoing(1), outgoing(2, MessageState.FAILED, "bob is unknown")])
        assert await messages.deliveries(UUID(int=1)) == to_bob(1, MessageState.PENDING)
        assert await messages.deliveries(UUID(int=2)) == to_bob(
            2, MessageState.FAILED, "bob is unknown"
        )

    run(scenario())


def test_state_changes_move_the_delivery_and_the_summary_together(
    messages: MessageRepository,
) -> None:
    async def scenario() -> None:
        await messages.add([outgoing(1), outgoing(2), outgoing(3)])
        await messages.update_states(
            [
                StateChange(UUID(int=1), MessageState.SENT),
                StateChange(UUID(int=2), MessageState.QUEUED),
                StateChange(UUID(int=1), MessageState.DELIVERED),
                StateChange(UUID(int=99), MessageState.SENT),  # unknown: ignored
            ]
        )
        await messages.update_states([StateChange(UUID(int=2), MessageState.FAILED, "gone")])
        expected = {
            1: (MessageState.DELIVERED, None),
            2: (MessageState.FAILED, "gone"),
            3: (MessageState.PENDING, None),
        }
        for n, (state, reason) in expected.items():
            assert await messages.deliveries(UUID(int=n)) == to_bob(n, state, reason)
            assert await summary(messages, n) == (state, reason)
        assert await messages.deliveries(UUID(int=99)) == []

    run(scenario())


def test_received_messages_have_no_delivery(messages: MessageRepository) -> None:
    async def scenario() -> None:
        await messages.add([incoming(1), outgoing(2), incoming(3)])
        assert await messages.deliveries(UUID(int=1)) == []
        assert await messages.deliveries(UUID(int=3)) == []
        assert await messages.deliveries(UUID(int=2)) == to_bob(2, MessageState.PENDING)

    run(scenario())


def test_a_message_stored_again_keeps_its_one_delivery(messages: MessageRepository) -> None:
    """Duplicates are skipped, in one call or in concurrent ones sharing a write job, and so is
    their delivery: a later copy in another state changes nothing."""

    async def scenario() -> None:
        batches = [[outgoing(n) for n in range(start, start + 30)] for start in (1, 15, 1)]
        await asyncio.gather(*(messages.add(batch) for batch in batches))
        await messages.add([outgoing(5, MessageState.DELIVERED), outgoing(5)])
        for n in range(1, 45):
            assert await messages.deliveries(UUID(int=n)) == to_bob(n, MessageState.PENDING)

    run(scenario())


def test_the_outbox_of_deliveries_is_one_entry_per_unacknowledged_message(
    messages: MessageRepository,
) -> None:
    """For one-to-one messages the outbox of deliveries is the outbox of messages, each to its
    recipient, oldest first."""

    async def scenario() -> None:
        await messages.add([outgoing(n) for n in range(1, 6)] + [incoming(6)])
        await messages.update_states(
            [
                StateChange(UUID(int=1), MessageState.DELIVERED),
                StateChange(UUID(int=2), MessageState.QUEUED, "bob is offline", "bob"),
                StateChange(UUID(int=3), MessageState.FAILED, "no"),
                StateChange(UUID(int=4), MessageState.SENT),
            ]
        )
        outbox = await messages.pending_deliveries("alice")
        stored = [await messages.get(UUID(int=n)) for n in (2, 4, 5)]
        assert outbox == [OutboxEntry(m, "bob") for m in stored if m is not None]
        assert [m.state for m in await messages.unacknowledged("alice")] == [
            MessageState.QUEUED,
            MessageState.SENT,
            MessageState.PENDING,
        ]
        assert await messages.pending_deliveries("bob") == []

    run(scenario())


def test_a_change_naming_another_recipient_moves_nothing(messages: MessageRepository) -> None:
    async def scenario() -> None:
        await messages.add([outgoing(1)])
        changes = [StateChange(UUID(int=1), MessageState.DELIVERED, None, "carol")]
        assert await messages.update_states(changes) == []
        assert await messages.deliveries(UUID(int=1)) == to_bob(1, MessageState.PENDING)
        assert await summary(messages, 1) == (MessageState.PENDING, None)

    run(scenario())


def test_deliveries_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "history.db"

    async def before(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        await repository.add([outgoing(1), incoming(2), outgoing(3)])
        await repository.update_states([StateChange(UUID(int=3), MessageState.FAILED, "no")])

    async def after(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        assert await repository.deliveries(UUID(int=1)) == to_bob(1, MessageState.PENDING)
        assert await repository.deliveries(UUID(int=2)) == []
        assert await repository.deliveries(UUID(int=3)) == to_bob(3, MessageState.FAILED, "no")
        await repository.update_states([StateChange(UUID(int=1), MessageState.DELIVERED)])
        assert await repository.deliveries(UUID(int=1)) == to_bob(1, MessageState.DELIVERED)

    with Database(path) as db:
        run(before(db))
    with Database(path) as db:
        run(after(db))
    with Database(path) as db:
        assert run(SqliteMessageRepository(db).deliveries(UUID(int=1))) == to_bob(
            1, MessageState.DELIVERED
        )
