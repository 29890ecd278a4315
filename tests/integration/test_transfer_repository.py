"""One contract for the transfer records and file offers in messages: SQLite and the memory twin.

Each test runs against both stores; a message repository and a transfer repository of one
store are used together, as the container wires them (the incoming record of a received offer
is made by the message repository).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.memory.repositories import InMemoryMessageRepository
from chinwag.adapters.memory.transfers import InMemoryTransferRepository
from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.adapters.sqlite.transfers import SqliteTransferRepository
from chinwag.application.errors import TransferNotFound
from chinwag.application.ports import MessageRepository
from chinwag.application.ports.transfer_repository import TransferRepository
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import GroupStamp, Message, MessageState
from chinwag.domain.transfer import Direction, FileOffer, Transfer, TransferState

T = TypeVar("T")

ALICE_BOB = Conversation.direct("alice", "bob")
GROUP = UUID("0190b5a4-7d1e-8c3f-9a2b-4c5d6e7f8091")
T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)
OFFER = FileOffer(
    name="holiday photo.jpg",
    size=1_000_000,
    sha256=hashlib.sha256(b"whole").digest(),
    piece_size=512 * 1024,
    root=hashlib.sha256(b"hashes").digest(),
    mime="image/jpeg",
)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def transfer(
    n: int,
    peer: str = "bob",
    *,
    direction: Direction = Direction.OUT,
    state: TransferState = TransferState.OFFERED,
    created_at: datetime = T0,
    offer: FileOffer = OFFER,
    notice: bool = False,
    group: UUID | None = None,
) -> Transfer:
    return Transfer(
        id=UUID(int=n),
        direction=direction,
        peer=peer,
        conversation_id=ALICE_BOB.id if group is None else group,
        group_id=group,
        offer=offer,
        state=state,
        path="/home/alice/holiday photo.jpg" if direction is Direction.OUT else None,
        created_at=created_at,
        updated_at=created_at,
        notice=notice,
    )


def offer_message(
    n: int,
    *,
    state: MessageState = MessageState.RECEIVED,
    file: FileOffer | None = OFFER,
    received_at: datetime | None = T0 + timedelta(seconds=3),
) -> Message:
    """A file offer from bob to alice (received), or from alice to bob (any other state)."""
    sender, recipient = ("bob", "alice") if state is MessageState.RECEIVED else ("alice", "bob")
    return Message(
        id=UUID(int=n),
        conversation_id=ALICE_BOB.id,
        sender=sender,
        recipient=recipient,
        body=f"📎 {OFFER.name}",
        sent_at=T0,
        state=state,
        received_at=received_at if state is MessageState.RECEIVED else None,
        file=file,
    )


def group_offer(n: int, author: str, seq: int, state: MessageState) -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=GROUP,
        group_id=GROUP,
        stamp=GroupStamp(seq=seq, version=1, signature=bytes(64)),
        sender=author,
        body=f"📎 {OFFER.name}",
        sent_at=T0,
        state=state,
        received_at=T0 if state is MessageState.RECEIVED else None,
        file=OFFER,
    )


@dataclass
class Stores:
    messages: MessageRepository
    transfers: TransferRepository


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "memory":
        transfers = InMemoryTransferRepository()
        yield Stores(InMemoryMessageRepository(transfers), transfers)
    else:
        with Database(tmp_path / "history.db") as db:
            yield Stores(SqliteMessageRepository(db), SqliteTransferRepository(db))


# --- the records -------------------------------------------------------------------------------


def test_a_record_reads_back_as_stored_and_is_added_once(stores: Stores) -> None:
    async def scenario() -> None:
        first = transfer(1)
        assert await stores.transfers.add(first) is True
        assert await stores.transfers.get(UUID(int=1), "bob") == first
        other = first.model_copy(update={"state": TransferState.ACTIVE, "bytes": 5})
        assert await stores.transfers.add(other) is False
        assert await stores.transfers.get(UUID(int=1), "bob") == first
        assert await stores.transfers.get(UUID(int=1), "carol") is None
        assert await stores.transfers.get(UUID(int=2), "bob") is None

    run(scenario())


def test_times_come_back_in_utc_to_the_microsecond(stores: Stores) -> None:
    async def scenario() -> None:
        east = timezone(timedelta(hours=5, minutes=30))
        at = datetime(2031, 2, 3, 4, 5, 6, 789012, tzinfo=east)
        await stores.transfers.add(transfer(1, created_at=at))
        stored = await stores.transfers.get(UUID(int=1), "bob")
        assert stored is not None
        assert stored.created_at == at and stored.updated_at == at
        assert stored.created_at.utcoffset() == timedelta(0)

    run(scenario())


@pytest.mark.parametrize(
    "name",
    [
        'a "quoted" name.txt',
        "ünïcödé ✓ 文件.pdf",
        "a\x00nul and \\ back",
        "evil\u202egpj.exe",
        "x" * 16384,
    ],
    ids=["quotes", "unicode", "nul", "bidi", "longest"],
)
def test_any_offered_name_and_type_read_back_exactly(stores: Stores, name: str) -> None:
    async def scenario() -> None:
        offer = FileOffer.model_validate(
            OFFER.model_dump() | {"name": name, "mime": 'text/plain; charset="x"'}
        )
        await stores.transfers.add(transfer(1, offer=offer))
        stored = await stores.transfers.get(UUID(int=1), "bob")
        assert stored is not None and stored.offer == offer

    run(scenario())


def test_an_empty_file_offer_is_stored(stores: Stores) -> None:
    async def scenario() -> None:
        empty = FileOffer.model_validate(
            OFFER.model_dump() | {"size": 0, "root": hashlib.sha256(b"").digest()}
        )
        await stores.transfers.add(transfer(1, offer=empty))
        assert (await stores.transfers.of_id(UUID(int=1)))[0].offer == empty

    run(scenario())


def test_a_group_offer_has_a_record_of_its_own_and_one_per_member_who_asked(
    stores: Stores,
) -> None:
    async def scenario() -> None:
        for peer in ("carol", "", "bob"):
            assert await stores.transfers.add(transfer(1, peer, group=GROUP))
        await stores.transfers.add(transfer(2, "bob"))
        records = await stores.transfers.of_id(UUID(int=1))
        assert [(t.peer, t.group_id) for t in records] == [
            ("", GROUP),
            ("bob", GROUP),
            ("carol", GROUP),
        ]
        assert await stores.transfers.of_id(UUID(int=3)) == []

    run(scenario())


def test_update_stores_what_moves_and_never_the_offer(stores: Stores) -> None:
    async def scenario() -> None:
        original = transfer(1, direction=Direction.IN, created_at=T0)
        await stores.transfers.add(original)
        later = T0 + timedelta(minutes=1)
        moved = original.moved(TransferState.PAUSED, later, reason="bob is offline").model_copy(
            update={
                "bytes": 4096,
                "directory": "/home/alice/Downloads",
                "path": "/home/alice/Downloads/x.jpg",
                "notice": True,
                "offer": OFFER.model_copy(update={"name": "changed.exe"}),
                "created_at": later,
            }
        )
        await stores.transfers.update(moved)
        stored = await stores.transfers.get(UUID(int=1), "bob")
        assert stored == moved.model_copy(update={"offer": OFFER, "created_at": T0})

    run(scenario())


def test_updating_a_record_that_is_not_stored_is_refused(stores: Stores) -> None:
    async def scenario() -> None:
        await stores.transfers.add(transfer(1, "bob"))
        with pytest.raises(TransferNotFound):
            await stores.transfers.update(transfer(1, "carol", state=TransferState.ACTIVE))
        with pytest.raises(TransferNotFound):
            await stores.transfers.update(transfer(2, "bob"))
        assert await stores.transfers.get(UUID(int=1), "carol") is None

    run(scenario())


def test_the_listing_is_newest_first_and_bounded(stores: Stores) -> None:
    async def scenario() -> None:
        await stores.transfers.add(transfer(1, created_at=T0))
        await stores.transfers.add(transfer(2, created_at=T0 + timedelta(hours=1)))
        await stores.transfers.add(transfer(3, created_at=T0 - timedelta(hours=1)))
        await stores.transfers.add(transfer(4, created_at=T0))  # same time: stored later first
        assert [t.id.int for t in await stores.transfers.listing()] == [2, 4, 1, 3]
        assert [t.id.int for t in await stores.transfers.listing(2)] == [2, 4]
        with pytest.raises(ValueError, match="limit"):
            await stores.transfers.listing(0)

    run(scenario())


def test_unfinished_is_every_record_not_final_or_with_a_notice_to_give(stores: Stores) -> None:
    async def scenario() -> None:
        states = list(TransferState)
        for n, state in enumerate(states, start=1):
            await stores.transfers.add(transfer(n, state=state, created_at=T0 + n * timedelta(1)))
        told = len(states) + 1
        await stores.transfers.add(transfer(told, state=TransferState.DONE, notice=True))
        found = {t.id.int: t.state for t in await stores.transfers.unfinished()}
        assert found == {
            1 + states.index(TransferState.OFFERED): TransferState.OFFERED,
            1 + states.index(TransferState.ACTIVE): TransferState.ACTIVE,
            1 + states.index(TransferState.PAUSED): TransferState.PAUSED,
            told: TransferState.DONE,
        }
        done = await stores.transfers.get(UUID(int=told), "bob")
        assert done is not None
        await stores.transfers.update(done.model_copy(update={"notice": False}))
        assert told not in {t.id.int for t in await stores.transfers.unfinished()}

    run(scenario())


def test_piece_hashes_are_kept_once_known(stores: Stores) -> None:
    async def scenario() -> None:
        assert await stores.transfers.hashes(UUID(int=1)) is None
        hashes = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(3))
        await stores.transfers.set_hashes(UUID(int=1), hashes)
        assert await stores.transfers.hashes(UUID(int=1)) == hashes
        await stores.transfers.set_hashes(UUID(int=2), b"")  # an empty file has none
        assert await stores.transfers.hashes(UUID(int=2)) == b""
        with pytest.raises(ValueError, match="32 bytes"):
            await stores.transfers.set_hashes(UUID(int=3), bytes(33))
        assert await stores.transfers.hashes(UUID(int=3)) is None

    run(scenario())


def test_the_bitmap_and_the_bytes_done_are_stored_together(stores: Stores) -> None:
    async def scenario() -> None:
        await stores.transfers.add(transfer(1, direction=Direction.IN))
        assert await stores.transfers.pieces(UUID(int=1)) == b""
        await stores.transfers.set_pieces(UUID(int=1), b"\x01", 512 * 1024)
        assert await stores.transfers.pieces(UUID(int=1)) == b"\x01"
        stored = await stores.transfers.get(UUID(int=1), "bob")
        assert stored is not None and stored.bytes == 512 * 1024
        await stores.transfers.set_pieces(UUID(int=1), b"\x03", OFFER.size)
        assert await stores.transfers.pieces(UUID(int=1)) == b"\x03"
        stored = await stores.transfers.get(UUID(int=1), "bob")
        assert stored is not None and stored.bytes == OFFER.size

    run(scenario())


def test_pieces_of_no_incoming_record_or_beyond_the_file_are_refused(stores: Stores) -> None:
    async def scenario() -> None:
        await stores.transfers.add(transfer(1, direction=Direction.IN))
        await stores.transfers.add(transfer(2, direction=Direction.OUT))
        with pytest.raises(TransferNotFound):
            await stores.transfers.set_pieces(UUID(int=3), b"\x01", 1)
        with pytest.raises(TransferNotFound):
            await stores.transfers.set_pieces(UUID(int=2), b"\x01", 1)
        with pytest.raises(ValueError, match="bytes done of a file of"):
            await stores.transfers.set_pieces(UUID(int=1), b"\x03", OFFER.size + 1)
        with pytest.raises(ValueError, match="negative"):
            await stores.transfers.set_pieces(UUID(int=1), b"\x00", -1)
        for n in (1, 2, 3):
            assert await stores.transfers.pieces(UUID(int=n)) == b""
        stored = await stores.transfers.get(UUID(int=1), "bob")
        assert stored is not None and stored.bytes == 0

    run(scenario())


def test_find_gives_the_records_of_the_offers_asked_in_that_order(stores: Stores) -> None:
    async def scenario() -> None:
        await stores.transfers.add(transfer(1))
        await stores.transfers.add(transfer(2, "carol", group=GROUP))
        await stores.transfers.add(transfer(2, "", group=GROUP))
        await stores.transfers.add(transfer(3))
        found = await stores.transfers.find([UUID(int=3), UUID(int=9), UUID(int=2), UUID(int=3)])
        assert [(t.id.int, t.peer) for t in found] == [(3, "bob"), (2, ""), (2, "carol")]
        assert await stores.transfers.find([]) == []
        many = [UUID(int=n) for n in range(1000, 1600)] + [UUID(int=1)]  # past one statement
        assert [t.id.int for t in await stores.transfers.find(many)] == [1]

    run(scenario())
