"""File offers in the message history, on both stores: ``Message.file`` reads back on every
path, and a received offer brings its incoming transfer record with it, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest

from chinwag.adapters.memory.repositories import InMemoryMessageRepository
from chinwag.adapters.memory.transfers import InMemoryTransferRepository
from chinwag.adapters.sqlite.database import Database, StorageError
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.adapters.sqlite.transfers import SqliteTransferRepository
from chinwag.application.ports import StateChange
from chinwag.domain.message import MessageState
from chinwag.domain.transfer import Direction, Transfer, TransferState
from tests.integration.test_transfer_repository import (
    ALICE_BOB,
    GROUP,
    OFFER,
    T0,
    Stores,
    group_offer,
    offer_message,
    run,
)


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "memory":
        transfers = InMemoryTransferRepository()
        yield Stores(InMemoryMessageRepository(transfers), transfers)
    else:
        with Database(tmp_path / "history.db") as db:
            yield Stores(SqliteMessageRepository(db), SqliteTransferRepository(db))


def test_an_offer_reads_back_on_every_path_and_a_plain_message_has_none(stores: Stores) -> None:
    async def scenario() -> None:
        sent = offer_message(1, state=MessageState.PENDING)
        plain = offer_message(2, state=MessageState.PENDING, file=None)
        got = offer_message(3)
        assert await stores.messages.add([sent, plain, got]) == [sent, plain, got]
        assert await stores.messages.get(sent.id) == sent
        assert await stores.messages.get(plain.id) == plain
        assert (await stores.messages.get(got.id)) == got
        assert await stores.messages.page(ALICE_BOB.id, 10) == [got, plain, sent]
        assert await stores.messages.unacknowledged("alice") == [sent, plain]
        outbox = await stores.messages.pending_deliveries("alice")
        assert [entry.message for entry in outbox] == [sent, plain]
        await stores.messages.update_states([StateChange(sent.id, MessageState.DELIVERED, None)])
        delivered = await stores.messages.get(sent.id)
        assert delivered is not None and delivered.file == OFFER

    run(scenario())


def test_search_finds_an_offer_by_its_file_name_in_the_body(stores: Stores) -> None:
    async def scenario() -> None:
        await stores.messages.add([offer_message(1), offer_message(2, file=None)])
        found = await stores.messages.search("holiday phot", 10)
        assert [m.id.int for m in found] == [2, 1]
        assert found[1].file == OFFER and found[0].file is None

    run(scenario())


def test_a_group_offer_reads_back_for_sync_and_its_members(stores: Stores) -> None:
    async def scenario() -> None:
        mine = group_offer(1, "alice", 1, MessageState.PENDING)
        theirs = group_offer(2, "carol", 1, MessageState.RECEIVED)
        await stores.messages.add([mine, theirs], {mine.id: ["bob", "carol"]})
        assert await stores.messages.group_messages(GROUP, "alice", 0, 10) == [mine]
        assert await stores.messages.group_messages(GROUP, "carol", 0, 10) == [theirs]
        outbox = await stores.messages.pending_deliveries("alice")
        assert [(e.message.file, e.recipient) for e in outbox] == [(OFFER, "bob"), (OFFER, "carol")]

    run(scenario())


def test_a_received_offer_comes_with_its_incoming_record(stores: Stores) -> None:
    async def scenario() -> None:
        got = offer_message(1)
        await stores.messages.add([got])
        assert got.received_at is not None
        assert await stores.transfers.of_id(got.id) == [
            Transfer(
                id=got.id,
                direction=Direction.IN,
                peer="bob",
                conversation_id=ALICE_BOB.id,
                offer=OFFER,
                state=TransferState.OFFERED,
                created_at=got.received_at,
                updated_at=got.received_at,
            )
        ]
        unstamped = offer_message(2, received_at=None)  # no local time: the sender's
        await stores.messages.add([unstamped])
        record = await stores.transfers.get(unstamped.id, "bob")
        assert record is not None and record.created_at == T0

    run(scenario())


def test_a_received_group_offer_is_recorded_with_its_author_and_group(stores: Stores) -> None:
    async def scenario() -> None:
        await stores.messages.add([group_offer(1, "carol", 1, MessageState.RECEIVED)])
        (record,) = await stores.transfers.of_id(UUID(int=1))
        assert (record.peer, record.group_id, record.conversation_id) == ("carol", GROUP, GROUP)
        assert record.direction is Direction.IN

    run(scenario())


def test_a_repeated_offer_adds_nothing_and_leaves_its_record_alone(stores: Stores) -> None:
    async def scenario() -> None:
        await stores.messages.add([offer_message(1)])
        record = await stores.transfers.get(UUID(int=1), "bob")
        assert record is not None
        later = T0 + timedelta(hours=1)
        accepted = record.moved(TransferState.ACTIVE, later, directory="/tmp/downloads")
        await stores.transfers.update(accepted)
        again = offer_message(1, received_at=later)
        assert await stores.messages.add([again, again]) == []
        assert await stores.transfers.of_id(UUID(int=1)) == [accepted]
        assert len(await stores.transfers.listing()) == 1

    run(scenario())


def test_only_a_received_offer_makes_a_record(stores: Stores) -> None:
    async def scenario() -> None:
        await stores.messages.add(
            [
                offer_message(1, state=MessageState.PENDING),  # SendFile makes its own
                offer_message(2, file=None),
                group_offer(3, "alice", 1, MessageState.PENDING),
            ],
            {UUID(int=3): ["bob"]},
        )
        assert await stores.transfers.listing() == []

    run(scenario())


def test_discarding_an_offer_forgets_its_incoming_record(stores: Stores) -> None:
    async def scenario() -> None:
        kept, withdrawn = (group_offer(n, "carol", n, MessageState.RECEIVED) for n in (1, 2))
        await stores.messages.add([kept, withdrawn])
        hashes = bytes(64)
        await stores.transfers.set_hashes(withdrawn.id, hashes)
        await stores.transfers.set_pieces(withdrawn.id, b"\x01", 1000)
        assert await stores.messages.discard([withdrawn.id]) == [withdrawn]
        assert await stores.transfers.of_id(withdrawn.id) == []
        assert await stores.transfers.hashes(withdrawn.id) is None
        assert await stores.transfers.pieces(withdrawn.id) == b""
        assert [t.id for t in await stores.transfers.listing()] == [kept.id]

    run(scenario())


def test_the_memory_twin_makes_its_own_transfer_store_when_given_none() -> None:
    messages = InMemoryMessageRepository()
    run(messages.add([offer_message(1)]))
    assert [t.id.int for t in run(messages.transfers.listing())] == [1]


# --- SQLite only ----------------------------------------------------------------------------


def test_the_record_is_in_the_same_commit_as_its_offer(tmp_path: Path) -> None:
    """If the record cannot be written, the offer message is not stored either."""

    async def scenario(db: Database) -> None:
        messages, transfers = SqliteMessageRepository(db), SqliteTransferRepository(db)
        await db.write(
            lambda c: c.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON transfers"
                " BEGIN SELECT RAISE(ABORT, 'no records today'); END"
            )
        )
        with pytest.raises(StorageError, match="no records today"):
            await messages.add([offer_message(1)])
        assert await messages.get(UUID(int=1)) is None
        assert await messages.search("holiday", 10) == []
        await db.write(lambda c: c.execute("DROP TRIGGER refuse"))
        assert await messages.add([offer_message(1)]) == [offer_message(1)]
        assert [t.id.int for t in await transfers.listing()] == [1]

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))


def test_records_hashes_and_pieces_survive_a_reopening(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    hashes = bytes(range(64))

    async def write(db: Database) -> None:
        transfers = SqliteTransferRepository(db)
        await SqliteMessageRepository(db).add([offer_message(1)])
        await transfers.set_hashes(UUID(int=1), hashes)
        await transfers.set_pieces(UUID(int=1), b"\x02", 1000)

    with Database(path) as db:
        run(write(db))
    with Database(path) as db:
        transfers = SqliteTransferRepository(db)
        record = run(transfers.get(UUID(int=1), "bob"))
        assert record is not None and record.bytes == 1000 and record.offer == OFFER
        assert run(transfers.hashes(UUID(int=1))) == hashes
        assert run(transfers.pieces(UUID(int=1))) == b"\x02"
        message = run(SqliteMessageRepository(db).get(UUID(int=1)))
        assert message is not None and message.file == OFFER


def test_a_damaged_stored_offer_is_reported_with_the_message_it_belongs_to(
    tmp_path: Path,
) -> None:
    async def scenario(db: Database) -> None:
        messages = SqliteMessageRepository(db)
        await messages.add([offer_message(1)])
        await db.write(lambda c: c.execute("UPDATE messages SET file = '{\"name\": 1}'"))
        with pytest.raises(StorageError, match=f"message {UUID(int=1)} holds a damaged file"):
            await messages.get(UUID(int=1))

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))
