"""Serving our files (FileService): who may have them, changed files, the watchdog, notices."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from uuid import UUID

import pytest

from chinwag.application.errors import FileRefused
from chinwag.application.files import FileService
from chinwag.application.ports.peer_transport import HASHES_PER_ANSWER, TransferNotice
from chinwag.domain.transfer import Direction, Transfer, TransferState
from tests.support import wait_until
from tests.unit.files_world import (
    PIECE,
    T0,
    World,
    content,
    incoming,
    offer_of,
    piece_hashes,
)

GROUP = UUID(int=0x6000)
SOURCE = "/home/alice/photo.jpg"


@dataclass
class Head:
    members: set[str]

    def is_member(self, name: str) -> bool:
        return name in self.members


@dataclass
class View:
    head: Head


@dataclass
class Book:
    members: set[str] = field(default_factory=lambda: {"alice", "bob", "carol"})

    async def view(self, group: UUID) -> View | None:
        return View(Head(self.members)) if group == GROUP else None


async def offered(world: World, data: bytes, *, to: str = "bob", group: bool = False) -> Transfer:
    """Alice's outgoing offer of ``data`` (as SendFile records it)."""
    offer = offer_of(data)
    world.files.sources[SOURCE] = data
    record = Transfer(
        id=UUID(int=1),
        direction=Direction.OUT,
        peer="" if group else to,
        conversation_id=GROUP if group else UUID(int=0x5000),
        group_id=GROUP if group else None,
        offer=offer,
        state=TransferState.OFFERED,
        path=SOURCE,
        created_at=T0,
        updated_at=T0,
    )
    await world.store.add(record)
    await world.store.set_hashes(record.id, piece_hashes(data))
    return record


def service(world: World, book: Book | None = None) -> FileService:
    return FileService(world.engine, world.files, book)


async def refusal(call: object) -> str:
    assert asyncio.iscoroutine(call)
    with pytest.raises(FileRefused) as caught:
        await call
    return caught.value.reason


def test_the_recipient_gets_pieces_and_hashes_and_the_record_moves() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        data = content(3 * PIECE + 10)
        await offered(world, data)
        files = service(world)
        assert await files.hashes_requested("bob", UUID(int=1), 0) == piece_hashes(data)
        assert await files.hashes_requested("bob", UUID(int=1), 4) == b""
        assert await files.piece_requested("bob", UUID(int=1), 3) == data[3 * PIECE :]
        assert await files.piece_requested("bob", UUID(int=1), 3) == data[3 * PIECE :]
        assert (await world.record()).state is TransferState.ACTIVE
        statuses = await world.engine.listing()
        # Asked for the last piece: a recipient asks for the lowest it lacks first, so the
        # ones before it count as held; the piece handed twice counts once.
        assert statuses[0].transfer.bytes == 3 * PIECE + 10
        assert await refusal(files.piece_requested("bob", UUID(int=1), 4)) == "unknown_transfer"
        await world.engine.stop()

    asyncio.run(scenario())


def test_nobody_else_learns_of_an_offer() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        await offered(world, content(PIECE))
        world.store.insert(incoming(offer_of(content(PIECE)), n=2))  # bob's offer to alice
        files = service(world, Book())
        unknown = "unknown_transfer"
        assert await refusal(files.piece_requested("carol", UUID(int=1), 0)) == unknown
        assert await refusal(files.hashes_requested("carol", UUID(int=1), 0)) == unknown
        assert await refusal(files.piece_requested("bob", UUID(int=9), 0)) == unknown
        assert await refusal(files.piece_requested("bob", UUID(int=2), 0)) == unknown
        assert (await world.record()).state is TransferState.OFFERED
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_group_member_gets_a_record_and_a_stranger_or_former_member_nothing() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        data = content(2 * PIECE)
        await offered(world, data, group=True)
        book = Book()
        files = service(world, book)
        assert await files.piece_requested("carol", UUID(int=1), 0) == data[:PIECE]
        carol = await world.record(peer="carol")
        assert carol.state is TransferState.ACTIVE
        assert carol.path == SOURCE
        assert (await world.record(peer="")).state is TransferState.OFFERED
        assert await refusal(files.piece_requested("dave", UUID(int=1), 0)) == "unknown_transfer"
        assert await world.store.get(UUID(int=1), "dave") is None
        book.members.discard("carol")
        assert await refusal(files.piece_requested("carol", UUID(int=1), 1)) == "unknown_transfer"
        assert await refusal(service(world).piece_requested("bob", UUID(int=1), 0)) == (
            "unknown_transfer"  # no group book: no member is known
        )
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_file_changed_since_it_was_offered_is_refused_and_fails() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        data = content(2 * PIECE)
        await offered(world, data)
        files = service(world)
        world.files.sources[SOURCE] = content(2 * PIECE, seed=9)
        assert await refusal(files.piece_requested("bob", UUID(int=1), 1)) == "changed"
        record = await world.record()
        assert record.state is TransferState.FAILED
        assert record.reason == "the file changed since it was offered"
        del world.files.sources[SOURCE]
        assert await refusal(files.piece_requested("bob", UUID(int=1), 0)) == "changed"
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_cancelled_offer_is_refused_as_cancelled() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        await offered(world, content(PIECE), group=True)
        files = service(world, Book())
        await files.piece_requested("carol", UUID(int=1), 0)
        cancelled = await world.engine.cancel(UUID(int=1))
        assert cancelled.peer == ""
        assert cancelled.state is TransferState.CANCELLED
        assert (await world.record(peer="carol")).state is TransferState.CANCELLED
        assert await refusal(files.piece_requested("carol", UUID(int=1), 0)) == "cancelled"
        assert await refusal(files.piece_requested("bob", UUID(int=1), 0)) == "cancelled"
        # carol asked: she is told; the group's own record tells nobody
        sender = world.transport.sender("carol")
        await world.come_online("carol")
        await wait_until(lambda: bool(sender.notices), what="carol's notice")
        assert sender.notices[0][1].state == "cancelled"
        await world.engine.stop()

    asyncio.run(scenario())


def test_an_outgoing_file_nobody_asks_for_says_it_waits_for_them() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        data = content(2 * PIECE)
        await offered(world, data)
        files = service(world)
        await world.come_online("bob")
        await files.piece_requested("bob", UUID(int=1), 0)
        await world.until_state(TransferState.PAUSED)
        record = await world.record()
        assert record.reason == "waiting for bob"
        assert record.bytes == PIECE
        await files.piece_requested("bob", UUID(int=1), 1)
        await world.until_state(TransferState.ACTIVE)
        world.engine.online(frozenset())  # bob went away
        await world.until_state(TransferState.PAUSED)
        assert (await world.record()).reason == "bob is offline"
        await world.engine.stop()

    asyncio.run(scenario())


def test_notices_move_only_the_peers_own_record() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        data = content(2 * PIECE)
        await offered(world, data, group=True)
        files = service(world, Book())
        await files.piece_requested("bob", UUID(int=1), 0)
        await files.notice_received("bob", TransferNotice(UUID(int=1), "done"))
        bob = await world.record(peer="bob")
        assert bob.state is TransferState.DONE
        assert bob.bytes == len(data)
        # carol never asked and declines: a record of her own says so
        await files.notice_received("carol", TransferNotice(UUID(int=1), "declined"))
        assert (await world.record(peer="carol")).state is TransferState.DECLINED
        assert (await world.record(peer="")).state is TransferState.OFFERED
        # a stranger's notice, an unknown state, an unknown transfer: nothing moves
        await files.notice_received("dave", TransferNotice(UUID(int=1), "cancelled"))
        await files.notice_received("bob", TransferNotice(UUID(int=1), "exploded"))
        await files.notice_received("bob", TransferNotice(UUID(int=7), "cancelled"))
        assert await world.store.get(UUID(int=1), "dave") is None
        assert (await world.record(peer="")).state is TransferState.OFFERED
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_senders_cancel_notice_stops_the_pull_and_deletes_the_partial_file() -> None:
    async def scenario() -> None:
        world = World()
        data = content(6 * PIECE)
        sender = world.serve(data)
        sender.hold = {3}
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await wait_until(lambda: world.files.writes >= 5, what="most pieces written")
        files = service(world)
        long_reason = "x" * 1000 + "\x1b[31m"
        await files.notice_received("carol", TransferNotice(UUID(int=1), "cancelled"))
        assert (await world.record()).state is TransferState.ACTIVE  # not carol's to say
        await files.notice_received("bob", TransferNotice(UUID(int=1), "failed", long_reason))
        record = await world.record()
        assert record.state is TransferState.FAILED
        assert record.reason is not None
        assert record.reason.startswith("bob stopped sending it: xxx")
        assert "\x1b" not in record.reason
        assert len(record.reason) < 400
        assert world.files.partials == {}
        assert not record.notice
        await world.engine.stop()

    asyncio.run(scenario())


def test_hashes_come_in_answers_of_bounded_size() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        data = content(3 * PIECE)
        await offered(world, data)
        files = service(world)
        answer = await files.hashes_requested("bob", UUID(int=1), 1)
        assert answer == piece_hashes(data)[32:]
        assert len(answer) <= HASHES_PER_ANSWER * 32
        assert await refusal(files.hashes_requested("bob", UUID(int=1), -1)) == "unknown_transfer"
        await world.engine.stop()

    asyncio.run(scenario())
