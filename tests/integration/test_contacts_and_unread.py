"""Contacts added by name and read markers: the conversation repository's read-marker contract
(SQLite and its memory twin), and the use cases over memory and real adapters."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
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
from chinwag.application.errors import ChatError, UnknownUser
from chinwag.application.ports import ConversationRepository, MessageRepository
from chinwag.application.ports.conversation_repository import Unread
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import Message, MessageState
from tests.integration.test_use_cases_contract import (
    ClientFactory,
    _online_pair,
    kind,
    scenario,
)

__all__ = ["kind"]  # the fixture, used by the scenarios

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
T0 = datetime(2024, 5, 17, 12, 0, tzinfo=UTC)
ALICE_BOB = Conversation.direct("alice", "bob")
ALICE_CAROL = Conversation.direct("alice", "carol")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def message(n: int, *, sender: str = "bob", conversation: Conversation = ALICE_BOB) -> Message:
    recipient = next(p for p in conversation.participants if p != sender)
    return Message(
        id=UUID(int=n),
        conversation_id=conversation.id,
        sender=sender,
        recipient=recipient,
        body=f"number {n}",
        sent_at=T0 + timedelta(seconds=n),
        state=MessageState.RECEIVED if recipient == "alice" else MessageState.DELIVERED,
    )


@pytest.fixture(params=["memory", "sqlite"])
def repos(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[MessageRepository, ConversationRepository]]:
    if request.param == "memory":
        messages = InMemoryMessageRepository()
        yield messages, InMemoryConversationRepository(messages)
    else:
        with Database(tmp_path / "history.sqlite3") as db:
            yield SqliteMessageRepository(db), SqliteConversationRepository(db)


def test_received_messages_after_the_read_marker_are_unread(
    repos: tuple[MessageRepository, ConversationRepository],
) -> None:
    messages, conversations = repos

    async def scenario() -> None:
        await conversations.save([ALICE_BOB, ALICE_CAROL])
        assert await conversations.unread() == {}
        await messages.add([message(1), message(2, sender="alice"), message(3), message(4)])
        assert await conversations.unread() == {ALICE_BOB.id: Unread(3, UUID(int=1))}
        await conversations.mark_read(ALICE_BOB.id, UUID(int=3))
        assert await conversations.unread() == {ALICE_BOB.id: Unread(1, UUID(int=4))}
        await conversations.mark_read(ALICE_BOB.id, UUID(int=1))  # never backwards
        assert await conversations.unread() == {ALICE_BOB.id: Unread(1, UUID(int=4))}
        await conversations.mark_read(ALICE_BOB.id, UUID(int=4))
        assert await conversations.unread() == {}
        await messages.add([message(5, sender="carol", conversation=ALICE_CAROL)])
        # A message of another conversation, or an unknown one, moves nothing.
        await conversations.mark_read(ALICE_BOB.id, UUID(int=5))
        await conversations.mark_read(ALICE_CAROL.id, UUID(int=99))
        assert await conversations.unread() == {ALICE_CAROL.id: Unread(1, UUID(int=5))}

    run(scenario())


def test_unread_up_to_a_history_end_leaves_out_what_was_stored_after_it(
    repos: tuple[MessageRepository, ConversationRepository],
) -> None:
    """The desktop app counts at sign-in what was stored before it, and what arrives after from
    the events: a message arriving while the counts load is counted once, not twice."""
    messages, conversations = repos

    async def scenario() -> None:
        await conversations.save([ALICE_BOB, ALICE_CAROL])
        assert await conversations.history_end() == 0
        await messages.add([message(1), message(2)])
        end = await conversations.history_end()
        await messages.add([message(3), message(4, sender="carol", conversation=ALICE_CAROL)])
        assert await conversations.history_end() > end
        assert await conversations.unread(end) == {ALICE_BOB.id: Unread(2, UUID(int=1))}
        assert await conversations.unread() == {
            ALICE_BOB.id: Unread(3, UUID(int=1)),
            ALICE_CAROL.id: Unread(1, UUID(int=4)),
        }
        await conversations.mark_read(ALICE_BOB.id, UUID(int=3))
        assert await conversations.unread(end) == {}

    run(scenario())


def test_read_markers_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"

    async def first(db: Database) -> None:
        await SqliteConversationRepository(db).save([ALICE_BOB])
        await SqliteMessageRepository(db).add([message(n) for n in range(1, 6)])
        await SqliteConversationRepository(db).mark_read(ALICE_BOB.id, UUID(int=2))

    with Database(path) as db:
        run(first(db))
    with Database(path) as db:
        assert run(SqliteConversationRepository(db).unread()) == {
            ALICE_BOB.id: Unread(3, UUID(int=3))
        }


# -- the use cases -------------------------------------------------------------------------------


@scenario
async def test_a_chat_with_somebody_offline_opens_lists_them_and_queues(
    make: ClientFactory,
) -> None:
    alice, bob = await _online_pair(make)
    await bob.sign_out()
    await alice.events.wait_for(lambda: not alice.sees_online("bob"))
    started = await alice.use.start_chat().execute("Bob")
    assert (started.name, started.online) == ("bob", False)
    assert await alice.use.list_contacts().execute() == ["bob"]
    assert await alice.use.load_history().execute("bob") == []
    sent = await alice.use.send_message().execute("bob", "when you are back")
    assert sent.state is MessageState.QUEUED


@scenario
async def test_a_chat_with_somebody_online_pins_their_key_at_once(make: ClientFactory) -> None:
    alice, bob = await _online_pair(make)
    started = await alice.use.start_chat().execute("bob")
    assert started.online
    contact = await alice.container.adapters.contacts().get("bob")
    assert contact is not None
    assert contact.accepted  # adding somebody answers them: no message request
    assert contact.key == bob.container.adapters.identity_key()
    assert await alice.use.list_contacts().execute() == ["bob"]


@scenario
async def test_an_unknown_name_or_my_own_is_refused_clearly(make: ClientFactory) -> None:
    alice, _ = await _online_pair(make)
    with pytest.raises(UnknownUser, match="nobody called nobody is registered"):
        await alice.use.start_chat().execute("nobody")
    with pytest.raises(ChatError, match="that is you"):
        await alice.use.start_chat().execute("ALICE")
    assert await alice.use.list_contacts().execute() == []


@scenario
async def test_unread_counts_by_person_until_marked_read(make: ClientFactory) -> None:
    alice, bob = await _online_pair(make)
    sent = [await bob.use.send_message().execute("alice", f"hi {n}") for n in range(3)]
    await alice.events.wait_for(lambda: len(alice.events.received) == 3)
    mine = await alice.use.send_message().execute("bob", "reading")
    assert await alice.use.count_unread().execute() == {"bob": Unread(3, sent[0].id)}
    await alice.use.mark_read().execute("Bob", sent[1].id)
    assert await alice.use.count_unread().execute() == {"bob": Unread(1, sent[2].id)}
    await alice.use.mark_read().execute("bob", mine.id)  # the latest seen: all of them
    assert await alice.use.count_unread().execute() == {}
    await bob.events.wait_for(lambda: any(m.id == mine.id for m in bob.events.received))
    # His own messages are never unread to him; hers are.
    assert await bob.use.count_unread().execute() == {"alice": Unread(1, mine.id)}


@scenario
async def test_unread_as_of_sign_in_leaves_out_what_arrived_since(make: ClientFactory) -> None:
    alice, bob = await _online_pair(make)
    first = await bob.use.send_message().execute("alice", "before")
    await alice.events.wait_for(lambda: len(alice.events.received) == 1)
    end = await alice.use.count_unread().history_end()
    await bob.use.send_message().execute("alice", "after")
    await alice.events.wait_for(lambda: len(alice.events.received) == 2)
    assert await alice.use.count_unread().execute(end) == {"bob": Unread(1, first.id)}
    assert (await alice.use.count_unread().execute())["bob"].count == 2
