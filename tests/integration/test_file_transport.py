"""Files over the TCP peer transport on loopback: offers in messages, pieces and hashes pulled
pipelined, refusals, the busy bound, fairness between transfers, pongs not stuck behind pieces,
stalls and lost connections. The application side is a fake ``FileServer``."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from chinwag.adapters.secure.channel import SecureStream, Security, open_secure
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport import file_frames, protocol
from chinwag.adapters.transport.tcp import TcpPeerTransport, TransportSettings
from chinwag.adapters.wire.codec import encode
from chinwag.application.errors import FileRefused, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import (
    GroupHave,
    Incoming,
    Intake,
    TransferNotice,
)
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.group import Change
from chinwag.domain.message import Message, MessageState
from chinwag.domain.transfer import FileOffer
from chinwag.domain.user import PeerAddress
from tests.group_frames_support import group_message
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)

ANY = PeerAddress(host="127.0.0.1", port=0)
PIECE = 64 * 1024


def run(coro: Coroutine[Any, Any, None], timeout: float = 45.0) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro

    asyncio.run(bounded())


class Sender:
    """The application of the peer that offered files: an ``InboundHandler`` whose
    ``FileServer`` serves ``files`` (by transfer id), refuses or fails as told, and may hold
    requests at a gate."""

    def __init__(self) -> None:
        self.files: dict[UUID, tuple[bytes, int]] = {}
        self.asked: list[str] = []
        self.messages: list[Incoming] = []
        self.calls: list[tuple[str, UUID, int | None]] = []
        self.refuse: dict[UUID, FileRefused] = {}
        self.crash: set[UUID] = set()
        self.held: set[UUID] = set()
        """Transfers whose requests wait at :attr:`gate` (all of them while it is None)."""
        self.gate: asyncio.Event | None = None
        self.in_hand = 0
        self.most_in_hand = 0
        self.cancelled = 0
        self.notices: list[tuple[str, TransferNotice]] = []

    def offer(self, data: bytes, piece_size: int = PIECE) -> UUID:
        tid = uuid4()
        self.files[tid] = (data, piece_size)
        return tid

    async def authorize(self, peer: str, key: bytes) -> None:
        self.asked.append(peer)

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        self.messages.extend(messages)
        return Intake(committed=[m.id for m in messages])

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        return None

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        return None

    async def _enter(self, kind: str, tid: UUID, at: int | None) -> None:
        self.calls.append((kind, tid, at))
        if tid in self.crash:
            raise RuntimeError("the disk is on fire")
        if tid in self.refuse:
            raise self.refuse[tid]
        if self.gate is not None and (not self.held or tid in self.held):
            self.in_hand += 1
            self.most_in_hand = max(self.most_in_hand, self.in_hand)
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            finally:
                self.in_hand -= 1

    async def piece_requested(self, peer: str, transfer: UUID, index: int) -> bytes:
        await self._enter("piece", transfer, index)
        data, size = self.files[transfer]
        return data[index * size : (index + 1) * size]

    async def hashes_requested(self, peer: str, transfer: UUID, start: int) -> bytes:
        await self._enter("hashes", transfer, start)
        data, size = self.files[transfer]
        return b"".join(piece_hashes(data, size)[start:])

    async def notice_received(self, peer: str, notice: TransferNotice) -> None:
        await self._enter("notice", notice.transfer, None)
        self.notices.append((peer, notice))


def piece_hashes(data: bytes, size: int) -> list[bytes]:
    return [hashlib.sha256(data[i : i + size]).digest() for i in range(0, len(data), size)]


@dataclass
class Peer:
    name: str
    keys: LocalKeys
    transport: TcpPeerTransport
    address: PeerAddress

    @property
    def location(self) -> PeerLocation:
        return PeerLocation(address=self.address, key=self.keys.identity_key)


async def listening(name: str, handler: Sender, settings: TransportSettings | None = None) -> Peer:
    keys = LocalKeys.generate()
    transport = TcpPeerTransport(Security(keys), settings)
    address = await transport.listen(name, ANY, handler)
    assert address is not None
    return Peer(name, keys, transport, address)


async def pair() -> tuple[Peer, Peer, Sender]:
    """alice (who pulls) and bob (who offered, served by the returned ``Sender``)."""
    sender = Sender()
    return await listening("alice", Sender()), await listening("bob", sender), sender


async def fetch(alice: Peer, bob: Peer, tid: UUID, index: int, timeout: float = 10.0) -> bytes:
    return await alice.transport.fetch_piece(bob.name, bob.location, tid, index, timeout)


async def close(*peers: Peer) -> None:
    for peer in peers:
        await peer.transport.close()


def content(size: int) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


def test_pieces_and_hashes_are_fetched_pipelined_on_one_session() -> None:
    async def scenario() -> None:
        alice, bob, sender = await pair()
        data = content(3 * 1024 * 1024 + 1234)
        tid = sender.offer(data)
        sender.gate = asyncio.Event()
        count = -(-len(data) // PIECE)
        asks = [asyncio.create_task(fetch(alice, bob, tid, i)) for i in range(count)]
        await wait_until(lambda: sender.in_hand == 4, what="four requests in hand at once")
        sender.gate.set()
        pieces = await asyncio.gather(*asks)
        assert b"".join(pieces) == data
        assert len(pieces[-1]) == 1234
        hashes = await alice.transport.fetch_hashes(bob.name, bob.location, tid, 0)
        assert hashes == b"".join(piece_hashes(data, PIECE))
        later = await alice.transport.fetch_hashes(bob.name, bob.location, tid, count - 1)
        assert later == hashlib.sha256(data[-1234:]).digest()
        assert sender.asked == ["alice"]  # one session carried it all
        assert sender.most_in_hand == 4
        await close(alice, bob)

    run(scenario())


def test_refusals_reach_the_asker_and_the_session_goes_on() -> None:
    async def scenario() -> None:
        alice, bob, sender = await pair()
        good = sender.offer(content(1000))
        gone, cancelled, broken = uuid4(), uuid4(), uuid4()
        sender.refuse[gone] = FileRefused("unknown_transfer", "no such offer")
        sender.refuse[cancelled] = FileRefused("cancelled", "bob cancelled it")
        sender.crash.add(broken)
        with pytest.raises(FileRefused) as refused:
            await fetch(alice, bob, gone, 3)
        assert (refused.value.reason, str(refused.value)) == (
            "unknown_transfer",
            "bob: no such offer",
        )
        with pytest.raises(FileRefused) as refused:
            await alice.transport.fetch_hashes(bob.name, bob.location, cancelled, 0)
        assert refused.value.reason == "cancelled"
        with pytest.raises(FileRefused) as refused:
            await fetch(alice, bob, broken, 0)
        assert refused.value.reason == "internal"
        notice = TransferNotice(gone, "declined")
        with pytest.raises(FileRefused) as refused:
            await alice.transport.send_notice(bob.name, bob.location, notice)
        assert refused.value.reason == "unknown_transfer"
        assert await fetch(alice, bob, good, 0) == content(1000)
        assert sender.asked == ["alice"]
        await close(alice, bob)

    run(scenario())


def test_a_notice_returns_once_the_sender_stored_it() -> None:
    async def scenario() -> None:
        alice, bob, sender = await pair()
        tid = sender.offer(content(10))
        notice = TransferNotice(tid, "failed", "the file never matched its hash")
        await alice.transport.send_notice(bob.name, bob.location, notice)
        assert sender.notices == [("alice", notice)]
        await alice.transport.send_notice(bob.name, bob.location, TransferNotice(tid, "done"))
        assert sender.notices[-1] == ("alice", TransferNotice(tid, "done", None))
        await close(alice, bob)

    run(scenario())


def test_requests_past_the_bound_are_refused_busy_and_the_rest_served() -> None:
    async def scenario() -> None:
        alice, bob, sender = await pair()
        data = content(100 * 1024)
        tid = sender.offer(data, piece_size=1024)
        sender.gate = asyncio.Event()
        asks = [asyncio.create_task(fetch(alice, bob, tid, i)) for i in range(100)]
        await wait_until(lambda: sender.in_hand == 4, what="four requests in hand")
        await alice.transport.probe(bob.name, bob.location)  # every request was read
        busy = [t for t in asks if t.done()]
        # 4 in hand, 64 waiting: the rest were refused at once (a few more may have been
        # read before the workers took their four).
        assert 32 <= len(busy) <= 36
        for task in busy:
            error = task.exception()
            assert isinstance(error, FileRefused) and error.reason == "busy"
        sender.gate.set()
        served = await asyncio.gather(*(t for t in asks if t not in busy))
        assert len(served) == 100 - len(busy)
        await close(alice, bob)

    run(scenario())


def test_transfers_share_the_link_round_robin() -> None:
    async def scenario() -> None:
        alice, bob, sender = await pair()
        first, second = (
            sender.offer(content(16 * 1024), 1024),
            sender.offer(content(16 * 1024), 1024),
        )
        sender.gate = asyncio.Event()
        asks = [asyncio.create_task(fetch(alice, bob, first, i)) for i in range(16)]
        await wait_until(lambda: sender.in_hand == 4, what="four of the first in hand")
        asks += [asyncio.create_task(fetch(alice, bob, second, i)) for i in range(16)]
        await alice.transport.probe(bob.name, bob.location)  # all of the second are queued
        sender.gate.set()
        await asyncio.gather(*asks)
        order = ["1" if tid == first else "2" for _, tid, _ in sender.calls]
        # The first came alone (4 taken); then 12 of the first and 16 of the second waited,
        # and were taken in turn.
        assert "".join(order) == "1111" + "12" * 12 + "2222"
        await close(alice, bob)

    run(scenario())


async def raw_session(bob: Peer, receive_buffer: int) -> SecureStream:
    """A session to bob whose socket keeps at most ``receive_buffer`` bytes unread: what the
    test measures is then bob's buffers, not the kernel's autotuning on our side."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await loop.sock_connect(sock, (bob.address.host, bob.address.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    hello = encode(protocol.hello())
    stream = await open_secure(
        reader,
        writer,
        Security(LocalKeys.generate()),
        prologue=protocol.PROLOGUE + hello,
        max_frame=protocol.MAX_FRAME,
        name="alice",
        to="bob",
        preamble=hello,
    )
    [welcome] = await stream.receive()
    assert isinstance(protocol.parse(welcome), protocol.Welcome)
    return stream


def test_a_pong_waits_behind_a_bounded_number_of_pieces_not_the_backlog() -> None:
    """60 pieces of 512 KiB are asked for (30 MiB), then a ping: the pong must come after a
    few pieces (what the sender's buffer and the sockets hold), not after the backlog."""

    async def scenario() -> None:
        sender = Sender()
        bob = await listening("bob", sender)
        size = 512 * 1024
        tid = sender.offer(bytes(60 * size), piece_size=size)
        stream = await raw_session(bob, 64 * 1024)
        stream.send([file_frames.file_get(tid, i) for i in range(60)])
        await stream.drain()
        frames: list[object] = []
        while not frames:
            frames = [protocol.parse(p) for p in await stream.receive()]
        assert isinstance(frames[0], file_frames.PieceFrame)
        stream.send([protocol.ping(1)])
        await stream.drain()
        pong = protocol.Pong(type="pong", n=1)
        while pong not in frames:
            frames += [protocol.parse(p) for p in await stream.receive()]
        before = frames.index(pong)
        while len(frames) < 61:
            frames += [protocol.parse(p) for p in await stream.receive()]
        after = 60 - before
        assert [f for f in frames if not isinstance(f, file_frames.PieceFrame)] == [pong]
        # A backlog of dozens of pieces was still to come when the pong arrived.
        assert before <= 16, f"{before} pieces came before the pong"
        assert after >= 40
        stream.close()
        await close(bob)

    run(scenario())


def test_a_fetch_with_nothing_arriving_fails_the_session_and_the_next_opens_another() -> None:
    async def scenario() -> None:
        alice, bob, sender = await pair()
        stuck, fine = sender.offer(content(2000)), sender.offer(content(2000))
        sender.gate = asyncio.Event()
        sender.held = {stuck}
        with pytest.raises(PeerUnreachable) as stalled:
            await fetch(alice, bob, stuck, 0, timeout=0.3)
        assert stalled.value.cause == "stalled"
        assert str(stalled.value) == "no data from bob for 0.3s"
        assert await fetch(alice, bob, fine, 0) == content(2000)
        assert sender.asked == ["alice", "alice"]  # a new session
        await wait_until(lambda: sender.cancelled == 1, what="the old session's ask cancelled")
        await close(alice, bob)

    run(scenario())


def test_a_fetch_waiting_while_other_pieces_arrive_is_not_stalled() -> None:
    async def scenario() -> None:
        alice, bob, sender = await pair()
        slow, busy = sender.offer(content(2000)), sender.offer(content(4096), 1024 * 16)
        sender.gate = asyncio.Event()
        sender.held = {slow}
        waiting = asyncio.create_task(fetch(alice, bob, slow, 0, timeout=0.5))
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < 1.5:  # three timeouts' worth, data flowing all along
            assert await fetch(alice, bob, busy, 0) == content(4096)
            assert not waiting.done()
        sender.gate.set()
        assert await waiting == content(2000)
        assert sender.asked == ["alice"]
        await close(alice, bob)

    run(scenario())


def test_a_connection_closing_mid_fetch_fails_the_fetch_and_cancels_the_request() -> None:
    async def scenario() -> None:
        alice, bob, sender = await pair()
        tid = sender.offer(content(5000))
        sender.gate = asyncio.Event()
        asking = asyncio.create_task(fetch(alice, bob, tid, 0))
        await wait_until(lambda: sender.in_hand == 1, what="the request in hand")
        await bob.transport.close()
        with pytest.raises(PeerUnreachable):
            await asking
        assert sender.cancelled == 1
        await close(alice)

    run(scenario())


OFFER = FileOffer(
    name="report.pdf",
    size=3_000_000,
    sha256=hashlib.sha256(b"report").digest(),
    piece_size=512 * 1024,
    root=hashlib.sha256(b"hashes").digest(),
    mime="application/pdf",
)


def test_offers_travel_in_messages_direct_and_group() -> None:
    async def scenario() -> None:
        alice, bob, sender = await pair()
        offer = Message(
            id=uuid4(),
            conversation_id=direct_conversation_id("alice", "bob"),
            sender="alice",
            recipient="bob",
            body="report.pdf",
            sent_at=datetime.now(UTC),
            state=MessageState.PENDING,
            file=OFFER,
        )
        grouped = group_message("report.pdf", author="alice").model_copy(update={"file": OFFER})
        plain = group_message("no file", author="alice", seq=2)
        report = await alice.transport.deliver(bob.name, bob.location, [offer, grouped, plain])
        assert report.acknowledged == {offer.id, grouped.id, plain.id}
        assert [m.file for m in sender.messages] == [OFFER, OFFER, None]
        assert sender.messages == [Incoming.of(offer), Incoming.of(grouped), Incoming.of(plain)]
        await close(alice, bob)

    run(scenario())
