"""Files over the in-memory transport: the twin asks the sender's ``FileServer`` directly and
must answer as TCP does (refusals as they are, failures as ``internal``, offline and stalled
peers as ``PeerUnreachable``)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any
from uuid import UUID, uuid4

import pytest

from chinwag.adapters.memory.transport import InMemoryNetwork, InMemoryTransport
from chinwag.application.errors import FileRefused, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import (
    GroupHave,
    Incoming,
    Intake,
    TransferNotice,
)
from chinwag.domain.group import Change
from chinwag.domain.user import PeerAddress

pytestmark = pytest.mark.timeout(30)

ALICE_KEY, BOB_KEY = b"a" * 32, b"b" * 32


def run(coro: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(20):
            await coro

    asyncio.run(bounded())


class Bob:
    """The sender's application: serves one file, refuses, fails or hangs as told."""

    def __init__(self) -> None:
        self.tid = uuid4()
        self.data = bytes(range(256)) * 100
        self.let_in = 0
        self.refuse: FileRefused | None = None
        self.crash = False
        self.hang = asyncio.Event()
        self.hanging = False
        self.notices: list[tuple[str, TransferNotice]] = []

    async def authorize(self, peer: str, key: bytes) -> None:
        self.let_in += 1

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        return Intake(committed=[m.id for m in messages])

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        return None

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        return None

    async def _check(self, transfer: UUID) -> None:
        if self.refuse is not None:
            raise self.refuse
        if self.crash:
            raise OSError("the disk is gone")
        if self.hanging:
            await self.hang.wait()
        if transfer != self.tid:
            raise FileRefused("unknown_transfer", "no such offer")

    async def piece_requested(self, peer: str, transfer: UUID, index: int) -> bytes:
        await self._check(transfer)
        return self.data[index * 1000 : (index + 1) * 1000]

    async def hashes_requested(self, peer: str, transfer: UUID, start: int) -> bytes:
        await self._check(transfer)
        return bytes(32) * 3

    async def notice_received(self, peer: str, notice: TransferNotice) -> None:
        await self._check(notice.transfer)
        self.notices.append((peer, notice))


async def pair(bob: Bob) -> tuple[InMemoryTransport, InMemoryTransport, PeerLocation]:
    network = InMemoryNetwork()
    alices = InMemoryTransport(network, ALICE_KEY)
    await alices.listen("alice", None, Bob())
    bobs = InMemoryTransport(network, BOB_KEY)
    address = await bobs.listen("bob", PeerAddress(host="memory", port=0), bob)
    assert address is not None
    return alices, bobs, PeerLocation(address=address, key=BOB_KEY)


def test_pieces_hashes_and_notices_reach_the_senders_file_server() -> None:
    async def scenario() -> None:
        bob = Bob()
        alices, _, place = await pair(bob)
        pieces = await asyncio.gather(
            *(alices.fetch_piece("bob", place, bob.tid, i, 5.0) for i in range(26))
        )
        assert b"".join(pieces) == bob.data
        assert await alices.fetch_hashes("bob", place, bob.tid, 0) == bytes(96)
        await alices.send_notice("bob", place, TransferNotice(bob.tid, "done"))
        assert bob.notices == [("alice", TransferNotice(bob.tid, "done"))]
        assert bob.let_in == 1  # one session, as over TCP

    run(scenario())


def test_refusals_pass_through_and_failures_are_internal() -> None:
    async def scenario() -> None:
        bob = Bob()
        alices, _, place = await pair(bob)
        with pytest.raises(FileRefused) as refused:
            await alices.fetch_piece("bob", place, uuid4(), 0, 5.0)
        assert refused.value.reason == "unknown_transfer"
        bob.refuse = FileRefused("changed", "the file changed")
        with pytest.raises(FileRefused) as refused:
            await alices.fetch_hashes("bob", place, bob.tid, 0)
        assert refused.value.reason == "changed"
        bob.refuse, bob.crash = None, True
        with pytest.raises(FileRefused) as refused:
            await alices.send_notice("bob", place, TransferNotice(bob.tid, "cancelled"))
        assert refused.value.reason == "internal"
        bob.crash = False
        assert await alices.fetch_piece("bob", place, bob.tid, 1, 5.0) == bob.data[1000:2000]

    run(scenario())


def test_an_offline_sender_is_unreachable_and_a_stalled_one_ends_the_session() -> None:
    async def scenario() -> None:
        bob = Bob()
        alices, bobs, place = await pair(bob)
        bob.hanging = True
        with pytest.raises(PeerUnreachable) as stalled:
            await alices.fetch_piece("bob", place, bob.tid, 0, 0.05)
        assert stalled.value.cause == "stalled"
        assert str(stalled.value) == "no data from bob for 0.05s"
        bob.hanging = False
        assert await alices.fetch_piece("bob", place, bob.tid, 0, 5.0) == bob.data[:1000]
        assert bob.let_in == 2  # the stalled session ended; a new one was opened
        await bobs.close()
        with pytest.raises(PeerUnreachable):
            await alices.fetch_piece("bob", place, bob.tid, 0, 5.0)
        with pytest.raises(PeerUnreachable):
            await alices.send_notice("bob", place, TransferNotice(bob.tid, "done"))

    run(scenario())
