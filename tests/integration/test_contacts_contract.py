"""One contract for the contact repository: SQLite and the memory twin."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.sqlite.contacts import SqliteContactRepository
from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.application.ports import ContactRepository
from chinwag.domain.contact import Contact
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import Message, MessageState

pytestmark = pytest.mark.timeout(30)

T = TypeVar("T")

T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
KEY_ZEROS = bytes(32)  # NUL bytes must survive as they are


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def contact(
    name: str = "alice",
    key: bytes = KEY_A,
    first_seen: datetime = T0,
    verified: bool = False,
    pending_key: bytes | None = None,
) -> Contact:
    return Contact(
        name=name, key=key, first_seen=first_seen, verified=verified, pending_key=pending_key
    )


@pytest.fixture(params=["memory", "sqlite"])
def contacts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ContactRepository]:
    if request.param == "memory":
        yield InMemoryContactRepository()
    else:
        with Database(tmp_path / "history.sqlite3") as db:
            yield SqliteContactRepository(db)


def test_nobody_is_pinned_at_first(contacts: ContactRepository) -> None:
    async def scenario() -> None:
        assert await contacts.get("alice") is None
        assert await contacts.list_all() == []

    run(scenario())


@pytest.mark.parametrize(
    "original",
    [
        contact(),
        contact("bob", KEY_ZEROS, verified=True),
        contact("carol", KEY_A, pending_key=KEY_B),
        contact("dave", KEY_B, T0 - timedelta(days=20_000), verified=True, pending_key=KEY_ZEROS),
    ],
    ids=["plain", "verified", "pending", "everything"],
)
def test_a_saved_contact_is_found_as_it_was_saved(
    contacts: ContactRepository, original: Contact
) -> None:
    async def scenario() -> None:
        await contacts.save(original)
        assert await contacts.get(original.name) == original
        assert await contacts.list_all() == [original]
        assert await contacts.get("nobody") is None

    run(scenario())


@pytest.mark.parametrize(
    "first_seen",
    [
        T0,
        datetime(2024, 5, 17, 18, 0, 45, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(1969, 7, 20, 20, 17, 40, 1, tzinfo=UTC),
    ],
)
def test_first_seen_round_trips_to_the_microsecond_in_utc(
    contacts: ContactRepository, first_seen: datetime
) -> None:
    async def scenario() -> None:
        await contacts.save(contact(first_seen=first_seen))
        stored = await contacts.get("alice")
        assert stored is not None
        assert stored.first_seen == first_seen
        assert stored.first_seen.microsecond == first_seen.astimezone(UTC).microsecond
        assert stored.first_seen.utcoffset() == timedelta(0)

    run(scenario())


def test_saving_a_name_again_replaces_its_contact(contacts: ContactRepository) -> None:
    async def scenario() -> None:
        await contacts.save(contact("alice", KEY_A))
        await contacts.save(contact("bob", KEY_A))
        replaced = contact("alice", KEY_B, T0 + timedelta(hours=1), verified=True)
        await contacts.save(replaced)
        assert await contacts.get("alice") == replaced
        assert await contacts.get("bob") == contact("bob", KEY_A)
        assert [c.name for c in await contacts.list_all()] == ["alice", "bob"]

    run(scenario())


def test_a_pending_key_is_kept_until_cleared(contacts: ContactRepository) -> None:
    """The trust policy's round: pinned, a new key seen (blocked), then accepted or refused."""

    async def scenario() -> None:
        pinned = contact(verified=True)
        await contacts.save(pinned)
        blocked = pinned.model_copy(update={"pending_key": KEY_B})
        await contacts.save(blocked)
        stored = await contacts.get("alice")
        assert stored == blocked
        assert stored is not None
        assert stored.blocked
        assert stored.pending_key == KEY_B

        refused = blocked.model_copy(update={"pending_key": None})
        await contacts.save(refused)
        stored = await contacts.get("alice")
        assert stored == pinned
        assert stored is not None
        assert not stored.blocked

        await contacts.save(blocked)
        accepted = contact(key=KEY_B, verified=False)  # the new key must be verified again
        await contacts.save(accepted)
        assert await contacts.get("alice") == accepted
        assert await contacts.list_all() == [accepted]

    run(scenario())


def test_contacts_are_listed_by_name(contacts: ContactRepository) -> None:
    """By code point, whatever order they were saved in: SQLite's BINARY collation compares
    UTF-8 bytes, which order as code points do."""
    names = ["zoë", "bob", "日本", "émile", "alice", "bo", "carol"]

    async def scenario() -> None:
        for n, name in enumerate(names):
            await contacts.save(contact(name, first_seen=T0 + n * timedelta(seconds=1)))
        assert [c.name for c in await contacts.list_all()] == sorted(names)
        assert sorted(names) == ["alice", "bo", "bob", "carol", "zoë", "émile", "日本"]

    run(scenario())


def test_contacts_hold_normalised_names_and_are_found_by_them(
    contacts: ContactRepository,
) -> None:
    async def scenario() -> None:
        await contacts.save(contact("Alice"))
        await contacts.save(contact("ÉMILE", KEY_B))
        stored = await contacts.get("alice")
        assert stored is not None
        assert stored.name == "alice"
        assert stored.key == KEY_A
        assert await contacts.get("émile") == contact("émile", KEY_B)
        assert [c.name for c in await contacts.list_all()] == ["alice", "émile"]
        await contacts.save(contact("ALICE", KEY_B))  # the same person: replaced
        assert [c.key for c in await contacts.list_all()] == [KEY_B, KEY_B]

    run(scenario())


def test_concurrent_saves_are_all_kept(contacts: ContactRepository) -> None:
    names = [f"user{n:03}" for n in range(200)]

    async def scenario() -> None:
        await asyncio.gather(*(contacts.save(contact(name)) for name in names))
        assert [c.name for c in await contacts.list_all()] == names

    run(scenario())


# --- SQLite only: the contacts live in the history file ---------------------------------------


def test_contacts_survive_closing_and_reopening_the_history(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    saved = [contact("alice", KEY_A, verified=True), contact("bob", KEY_B, pending_key=KEY_A)]

    async def save(db: Database) -> None:
        for one in saved:
            await SqliteContactRepository(db).save(one)

    with Database(path) as db:
        run(save(db))
    with Database(path) as db:
        repository = SqliteContactRepository(db)
        assert run(repository.list_all()) == saved
        assert run(repository.get("bob")) == saved[1]


def test_contacts_and_messages_share_the_file_and_its_transactions(tmp_path: Path) -> None:
    conversation = Conversation.direct("alice", "bob")
    messages = [
        Message(
            id=UUID(int=n),
            conversation_id=conversation.id,
            sender="bob",
            recipient="alice",
            body=f"hello {n}",
            sent_at=T0,
            state=MessageState.DELIVERED,
            received_at=T0 + timedelta(seconds=n),
        )
        for n in range(50)
    ]

    async def scenario(db: Database) -> None:
        contacts = SqliteContactRepository(db)
        history = SqliteMessageRepository(db)
        before = db.batches_committed
        await asyncio.gather(
            contacts.save(contact("bob", KEY_B)),
            *(history.add([one]) for one in messages),
            contacts.save(contact("carol", KEY_A)),
        )
        assert db.batches_committed - before < 10  # grouped with the messages, not one each
        assert [c.name for c in await contacts.list_all()] == ["bob", "carol"]
        assert len(await history.search("hello", 500)) == 50

    with Database(tmp_path / "history.sqlite3") as db:
        run(scenario(db))
