"""The TCP peer transport on loopback: handshake, receipts, and hostile peers."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from chinwag.adapters.transport import protocol
from chinwag.adapters.transport.tcp import TcpPeerTransport, TransportSettings
from chinwag.adapters.wire.codec import FrameDecoder, encode
from chinwag.application.errors import AddressInUse, PeerUnreachable
from chinwag.application.ports.peer_transport import DeliveryReport
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.support import wait_until

ANY = PeerAddress(host="127.0.0.1", port=0)


class Inbox:
    """An inbound handler that commits everything, or nothing when told to refuse."""

    def __init__(self, refuse: bool = False) -> None:
        self.messages: list[Message] = []
        self.refuse = refuse

    async def messages_received(self, peer: str, messages: Sequence[Message]) -> Sequence[UUID]:
        if self.refuse:
            return []
        self.messages.extend(messages)
        return [m.id for m in messages]


def outgoing(body: str, sender: str = "alice", recipient: str = "bob") -> Message:
    return Message(
        id=uuid4(),
        conversation_id=direct_conversation_id(sender, recipient),
        sender=sender,
        recipient=recipient,
        body=body,
        sent_at=datetime.now(UTC),
        state=MessageState.PENDING,
    )


async def pair(
    inbox: Inbox, settings: TransportSettings | None = None
) -> tuple[TcpPeerTransport, TcpPeerTransport, PeerAddress]:
    alice, bob = TcpPeerTransport(settings), TcpPeerTransport(settings)
    await alice.listen("alice", ANY, Inbox())
    address = await bob.listen("bob", ANY, inbox)
    return alice, bob, address


def test_batches_are_acknowledged_and_arrive_in_order() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        alice, bob, address = await pair(inbox)
        batches = [[outgoing(f"{b}-{i}") for i in range(300)] for b in range(5)]
        reports = await asyncio.gather(*(alice.deliver("bob", address, b) for b in batches))
        for batch, report in zip(batches, reports, strict=True):
            assert report.acknowledged == {m.id for m in batch}
        assert [m.body for m in inbox.messages] == [m.body for b in batches for m in b]
        assert all(m.state is MessageState.RECEIVED for m in inbox.messages)
        await alice.close()
        await bob.close()

    asyncio.run(scenario())


def test_nothing_uncommitted_is_acknowledged() -> None:
    async def scenario() -> None:
        alice, bob, address = await pair(Inbox(refuse=True))
        message = outgoing("hi")
        report = await alice.deliver("bob", address, [message])
        assert report.acknowledged == frozenset()
        assert message.id in report.rejected
        await alice.close()
        await bob.close()

    asyncio.run(scenario())


def test_a_stale_address_now_used_by_somebody_else_is_noticed() -> None:
    async def scenario() -> None:
        alice, bob, address = await pair(Inbox())
        with pytest.raises(PeerUnreachable, match="carol"):
            await alice.deliver("carol", address, [outgoing("hi", recipient="carol")])
        await bob.close()
        with pytest.raises(PeerUnreachable):
            await alice.deliver("bob", address, [outgoing("anyone?")])
        await alice.close()

    asyncio.run(scenario())


def test_a_busy_port_is_a_clear_error() -> None:
    async def scenario() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(AddressInUse):
                await TcpPeerTransport().listen(
                    "bob", PeerAddress(host="127.0.0.1", port=port), Inbox()
                )

    asyncio.run(scenario())


async def _raw_exchange(address: PeerAddress, data: bytes, wanted: int = 0) -> list[bytes]:
    """Send ``data``; return the frames answered until the peer closes (or ``wanted`` came)."""
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(data)
    await writer.drain()
    decoder = FrameDecoder(protocol.MAX_FRAME)
    frames: list[bytes] = []
    async with asyncio.timeout(5):
        while (not wanted or len(frames) < wanted) and (chunk := await reader.read(65536)):
            frames.extend(decoder.feed(chunk))
    writer.close()
    return frames


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff\xff\xff\xff",
        encode(b"not json"),
        encode(b'{"type":"messages","messages":[]}'),
        encode(protocol.hello("mallory", "bob")) + encode(b"{}"),
        encode(protocol.hello("mallory", "somebody-else")),
    ],
)
def test_hostile_peers_get_an_error_and_a_close_while_others_are_served(garbage: bytes) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        alice, bob, address = await pair(inbox, TransportSettings(handshake_timeout=2))
        frames = await _raw_exchange(address, garbage)
        assert frames, "a hostile peer is told why before the close"
        last = protocol.parse(frames[-1])
        assert isinstance(last, protocol.Error)
        report = await alice.deliver("bob", address, [outgoing("still fine")])
        assert len(report.acknowledged) == 1
        assert [m.body for m in inbox.messages] == ["still fine"]
        await alice.close()
        await bob.close()

    asyncio.run(scenario())


def test_a_forged_sender_inside_a_batch_is_rejected_alone() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        _, bob, address = await pair(inbox)
        good, forged = outgoing("mine", sender="mallory"), outgoing("not mine", sender="alice")
        payload = b"".join(encode(p) for p, _ in protocol.message_batches([good, forged]))
        frames = await _raw_exchange(address, encode(protocol.hello("mallory", "bob")) + payload, 2)
        await bob.close()
        welcome, receipt = (protocol.parse(f) for f in frames)
        assert isinstance(welcome, protocol.Welcome)
        assert isinstance(receipt, protocol.Receipt)
        assert receipt.acked == [good.id]
        assert [(r.id, r.code) for r in receipt.rejected] == [(forged.id, "wrong_sender")]
        assert [m.body for m in inbox.messages] == ["mine"]

    asyncio.run(scenario())


def test_a_peer_dribbling_a_frame_byte_by_byte_is_cut_off() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        settings = TransportSettings(idle_timeout=0.3)
        alice, bob, address = await pair(inbox, settings)
        reader, writer = await asyncio.open_connection(address.host, address.port)
        writer.write(encode(protocol.hello("mallory", "bob")) + b"\x00\x00\x03\xe8")
        started = asyncio.get_running_loop().time()
        closed = False
        async with asyncio.timeout(5):
            while not closed:
                writer.write(b"x")  # always some bytes, never a whole frame
                await writer.drain()
                try:
                    async with asyncio.timeout(0.05):
                        closed = (await reader.read(65536)) == b"" or reader.at_eof()
                except TimeoutError:
                    pass
                except ConnectionError:
                    closed = True
        assert asyncio.get_running_loop().time() - started < 3
        writer.close()
        report = await alice.deliver("bob", address, [outgoing("others are fine")])
        assert len(report.acknowledged) == 1
        await alice.close()
        await bob.close()

    asyncio.run(scenario())


def test_connections_past_the_limit_are_turned_away() -> None:
    async def scenario() -> None:
        settings = TransportSettings(max_inbound=2, handshake_timeout=2)
        _, bob, address = await pair(Inbox(), settings)
        first = await asyncio.open_connection(address.host, address.port)
        second = await asyncio.open_connection(address.host, address.port)
        frames = await _raw_exchange(address, b"")
        assert [protocol.parse(f) for f in frames] == [
            protocol.Error(
                type="error", code="busy", message="too many connections; try again later"
            )
        ]
        for _, writer in (first, second):
            writer.close()
        await bob.close()

    asyncio.run(scenario())


def test_a_big_frame_before_hello_is_refused() -> None:
    async def scenario() -> None:
        _, bob, address = await pair(Inbox())
        frames = await _raw_exchange(address, encode(b"{" + b" " * 5000 + b"}"))
        error = protocol.parse(frames[-1])
        assert isinstance(error, protocol.Error)
        assert error.code == "frame_too_large"
        await bob.close()

    asyncio.run(scenario())


class StuckInbox(Inbox):
    """Never commits: the sender's deliveries wait until the connection goes."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = 0

    async def messages_received(self, peer: str, messages: Sequence[Message]) -> Sequence[UUID]:
        self.arrived += len(messages)
        await asyncio.Event().wait()
        return []


def test_a_lost_connection_fails_every_waiting_delivery_cleanly() -> None:
    async def scenario() -> None:
        inbox = StuckInbox()
        alice, bob, address = await pair(inbox)
        deliveries = [
            asyncio.ensure_future(alice.deliver("bob", address, [outgoing(f"{n}")]))
            for n in range(3)
        ]
        await wait_until(lambda: inbox.arrived >= 1, what="the first batch at bob")
        await bob.close()  # must not wait for the stuck application
        results = await asyncio.gather(*deliveries, return_exceptions=True)
        assert all(isinstance(r, PeerUnreachable) for r in results), results
        await alice.close()

    asyncio.run(scenario())


def test_a_live_peer_keeps_chatting_while_others_throw_garbage_at_it() -> None:
    async def hostile(address: PeerAddress, rng: random.Random) -> None:
        reader, writer = await asyncio.open_connection(address.host, address.port)
        kind = rng.randrange(4)
        if kind == 0:  # random bytes
            writer.write(rng.randbytes(rng.randrange(1, 600)))
        elif kind == 1:  # an absurd length
            writer.write(b"\x7f\xff\xff\xff" + rng.randbytes(8))
        elif kind == 2:  # half a frame, then silence
            writer.write(b"\x00\x00\x01\x00{")
        else:  # a valid hello, then garbage inside a frame
            writer.write(encode(protocol.hello("mallory", "bob")) + encode(rng.randbytes(40)))
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(5):
                while await reader.read(65536):
                    pass
        writer.close()

    async def scenario() -> None:
        inbox = Inbox()
        settings = TransportSettings(handshake_timeout=0.5, idle_timeout=0.5)
        alice, bob, address = await pair(inbox, settings)
        rng = random.Random(7)
        batches = [[outgoing(f"{b}-{i}") for i in range(50)] for b in range(20)]

        async def chat() -> list[DeliveryReport]:
            return [await alice.deliver("bob", address, batch) for batch in batches]

        chatting = asyncio.ensure_future(chat())
        await asyncio.gather(*(hostile(address, rng) for _ in range(40)))
        reports = await chatting
        assert all(len(r.acknowledged) == 50 for r in reports)
        assert [m.body for m in inbox.messages] == [m.body for b in batches for m in b]
        await alice.close()
        await bob.close()

    asyncio.run(scenario())
