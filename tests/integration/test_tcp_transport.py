"""The TCP peer transport on loopback: the secure handshake, receipts, and hostile peers.

Hostile input goes where it now matters: in clear before the handshake (only ``hello`` is ever
in clear), into the handshake, and inside an established session (by hand, with
``tests.secure_support``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from chinwag.adapters.secure.channel import SecureError, SecureStream, Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport import protocol
from chinwag.adapters.transport.tcp import TcpPeerTransport, TransportSettings
from chinwag.adapters.wire.codec import encode
from chinwag.application.errors import AddressInUse, PeerRefused, PeerUnreachable
from chinwag.application.files.none import NoFiles
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import DeliveryReport, GroupHave, Incoming, Intake
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.group import Change
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.secure_support import (
    RecordTap,
    clear_frames_until_closed,
    flip,
    frames_until_closed,
    peer_session,
)
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)

ANY = PeerAddress(host="127.0.0.1", port=0)
DEADLINE = 10.0


def run(coro: Coroutine[Any, Any, None], timeout: float = 45.0) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro

    asyncio.run(bounded())


class Inbox(NoFiles):
    """An inbound handler that commits everything, or nothing when told to refuse.

    With ``known`` it lets a peer in only if it proved the key ``known`` binds its name to, as
    the trust policy does with the registry's answer; without, it lets everyone in. Every
    question it was asked is kept in :attr:`asked`."""

    def __init__(self, refuse: bool = False, known: dict[str, bytes] | None = None) -> None:
        self.messages: list[Incoming] = []
        self.refuse = refuse
        self.defer = False
        self.known = known
        self.asked: list[tuple[str, bytes]] = []
        self.haves: list[tuple[str, GroupHave]] = []
        self.changes: list[tuple[str, list[Change]]] = []

    async def authorize(self, peer: str, key: bytes) -> None:
        self.asked.append((peer, key))
        if self.known is None:
            return
        bound = self.known.get(peer)
        if bound is None:
            raise PeerRefused("unverified", f"cannot check {peer}'s key with the registry now")
        if bound != key:
            raise PeerRefused("wrong_key", f"{peer} is registered to another key")

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        if self.refuse:
            return Intake(committed=[])
        if self.defer:
            return Intake(committed=[], deferred={m.id: "over_quota" for m in messages})
        self.messages.extend(messages)
        return Intake(committed=[m.id for m in messages])

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        self.haves.append((peer, have))

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        self.changes.append((peer, list(changes)))


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


def batch_frames(*messages: Message) -> list[bytes]:
    return [payload for payload, _ in protocol.message_batches(list(messages))]


@dataclass
class Peer:
    name: str
    keys: LocalKeys
    transport: TcpPeerTransport
    address: PeerAddress

    @property
    def location(self) -> PeerLocation:
        return PeerLocation(address=self.address, key=self.keys.identity_key)

    @property
    def key(self) -> bytes:
        return self.keys.identity_key

    async def deliver(self, to: Peer, messages: Sequence[Message]) -> DeliveryReport:
        return await self.transport.deliver(to.name, to.location, messages)


async def listening(name: str, inbox: Inbox, settings: TransportSettings | None = None) -> Peer:
    keys = LocalKeys.generate()
    transport = TcpPeerTransport(Security(keys), settings)
    address = await transport.listen(name, ANY, inbox)
    assert address is not None
    return Peer(name, keys, transport, address)


async def pair(inbox: Inbox, settings: TransportSettings | None = None) -> tuple[Peer, Peer]:
    """alice, and bob who stores into ``inbox``."""
    return await listening("alice", Inbox(), settings), await listening("bob", inbox, settings)


async def close(*peers: Peer) -> None:
    for peer in peers:
        await peer.transport.close()


async def session(
    bob: Peer,
    *,
    name: str = "mallory",
    to: str = "bob",
    keys: LocalKeys | None = None,
) -> tuple[SecureStream, RecordTap]:
    """A hand-driven session with ``bob`` as ``name``; the answer to it is not read yet."""
    tap = RecordTap(keys)
    stream, remote = await peer_session(
        bob.address.host, bob.address.port, name=name, to=to, security=tap
    )
    assert remote.key == bob.key
    return stream, tap


async def welcomed(
    bob: Peer, *, name: str = "mallory", keys: LocalKeys | None = None
) -> tuple[SecureStream, RecordTap]:
    """A hand-driven session that bob welcomed."""
    stream, tap = await session(bob, name=name, keys=keys)
    async with asyncio.timeout(DEADLINE):
        answer = protocol.parse((await stream.receive())[0])
    assert isinstance(answer, protocol.Welcome), answer
    assert answer.user == "bob"
    return stream, tap


async def clear_exchange(address: PeerAddress, data: bytes) -> list[bytes]:
    """Send ``data`` in clear; return the clear frames answered until the peer closes."""
    reader, writer = await asyncio.open_connection(address.host, address.port)
    try:
        writer.write(data)
        await writer.drain()
        return await clear_frames_until_closed(reader, DEADLINE)
    finally:
        writer.close()


def errors(frames: Sequence[bytes]) -> list[str]:
    """The codes of the error frames among ``frames``."""
    parsed = [protocol.parse(frame) for frame in frames]
    return [frame.code for frame in parsed if isinstance(frame, protocol.Error)]


HELLO = encode(protocol.hello())


# -- the happy paths ----------------------------------------------------------------------------


def test_batches_are_acknowledged_and_arrive_in_order() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        alice, bob = await pair(inbox)
        batches = [[outgoing(f"{b}-{i}") for i in range(300)] for b in range(5)]
        reports = await asyncio.gather(*(alice.deliver(bob, b) for b in batches))
        for batch, report in zip(batches, reports, strict=True):
            assert report.acknowledged == {m.id for m in batch}
        assert [m.body for m in inbox.messages] == [m.body for b in batches for m in b]
        assert all((m.sender, m.recipient) == ("alice", "bob") for m in inbox.messages)
        # Only a peer that proved alice's key, asked about at the handshake and again before
        # every batch it stored.
        assert set(inbox.asked) == {("alice", alice.key)}
        await close(alice, bob)

    run(scenario())


def test_nothing_uncommitted_is_acknowledged() -> None:
    async def scenario() -> None:
        alice, bob = await pair(Inbox(refuse=True))
        message = outgoing("hi")
        report = await alice.deliver(bob, [message])
        assert report.acknowledged == frozenset()
        assert message.id in report.rejected
        await close(alice, bob)

    run(scenario())


def test_messages_refused_for_now_are_reported_deferred_not_rejected() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        inbox.defer = True
        alice, bob = await pair(inbox)
        message = outgoing("later")
        report = await alice.deliver(bob, [message])
        assert report.acknowledged == frozenset()
        assert report.deferred == {message.id: "over_quota"}
        assert report.rejected == {}
        await close(alice, bob)

    run(scenario())


def test_a_peer_the_application_refuses_is_told_why() -> None:
    async def scenario() -> None:
        inbox = Inbox(known={"alice": LocalKeys.generate().identity_key})  # not alice's key now
        alice, bob = await pair(inbox)
        with pytest.raises(PeerRefused) as refused:
            await alice.deliver(bob, [outgoing("hi")])
        assert refused.value.reason == "wrong_key"
        assert inbox.messages == []
        inbox.known = {"alice": alice.key}
        report = await alice.deliver(bob, [outgoing("now?")])
        assert len(report.acknowledged) == 1
        await close(alice, bob)

    run(scenario())


def test_a_stale_address_now_used_by_somebody_else_is_noticed() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        alice, bob = await pair(inbox)
        carol_at_bobs_address = PeerLocation(
            address=bob.address, key=LocalKeys.generate().identity_key
        )
        with pytest.raises(PeerUnreachable, match="carol"):
            await alice.transport.deliver(
                "carol", carol_at_bobs_address, [outgoing("hi", recipient="carol")]
            )
        assert inbox.asked == []  # we never said who we are
        await close(bob)
        with pytest.raises(PeerUnreachable):
            await alice.deliver(bob, [outgoing("anyone?")])
        await close(alice)

    run(scenario())


def test_a_responder_proving_another_key_gets_nothing() -> None:
    """The address is bob's and the name is bob, but the key is not the one we were given: the
    connection is dropped before we say who we are, so bob's application hears nothing."""

    async def scenario() -> None:
        inbox = Inbox()
        alice, bob = await pair(inbox)
        elsewhere = PeerLocation(address=bob.address, key=LocalKeys.generate().identity_key)
        with pytest.raises(PeerUnreachable, match="key"):
            await alice.transport.deliver("bob", elsewhere, [outgoing("secret")])
        report = await alice.deliver(bob, [outgoing("to the real bob")])
        assert len(report.acknowledged) == 1
        # Only the second connection got as far as the application, and only it delivered.
        assert set(inbox.asked) == {("alice", alice.key)}
        assert [m.body for m in inbox.messages] == ["to the real bob"]
        await close(alice, bob)

    run(scenario())


def test_a_busy_port_is_a_clear_error() -> None:
    async def scenario() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(AddressInUse):
                await TcpPeerTransport(Security(LocalKeys.generate())).listen(
                    "bob", PeerAddress(host="127.0.0.1", port=port), Inbox()
                )

    run(scenario())


# -- identity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("claimed", "code"), [("alice", "wrong_key"), ("carol", "unverified")])
def test_a_peer_claiming_a_name_without_its_key_is_refused_and_nothing_is_stored(
    claimed: str, code: str
) -> None:
    async def scenario() -> None:
        alice_keys = LocalKeys.generate()
        inbox = Inbox(known={"alice": alice_keys.identity_key})
        _, bob = await pair(inbox)
        stream, tap = await session(bob, name=claimed)
        # Messages pipelined right behind the handshake: they must never be read.
        stream.send(batch_frames(outgoing("it's me", sender=claimed)))
        frames, end = await frames_until_closed(stream, DEADLINE)
        assert errors(frames) == [code]
        assert isinstance(end, ConnectionError)
        assert inbox.asked == [(claimed, tap.keys.identity_key)]
        assert inbox.messages == []
        # The real alice, with her key, is let in.
        stream, _ = await welcomed(bob, name="alice", keys=alice_keys)
        stream.close()
        await close(bob)

    run(scenario())


def test_a_version_1_peer_is_told_in_clear_to_upgrade() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        _, bob = await pair(inbox)
        old_hello = b'{"type":"hello","version":1,"from":"alice","to":"bob"}'
        frames = await clear_exchange(bob.address, encode(old_hello))
        assert len(frames) == 1
        error = protocol.parse(frames[0])
        assert isinstance(error, protocol.Error)
        assert error.code == "unsupported_version"
        assert "upgrade" in error.message
        assert inbox.asked == []
        await close(bob)

    run(scenario())


def test_connections_past_the_limit_for_one_identity_are_refused_busy() -> None:
    async def scenario() -> None:
        settings = TransportSettings(max_inbound_per_identity=2)
        inbox = Inbox()
        _, bob = await pair(inbox, settings)
        alice = LocalKeys.generate()
        held = [(await welcomed(bob, name="alice", keys=alice))[0] for _ in range(2)]
        extra, _ = await session(bob, name="alice", keys=alice)
        frames, _end = await frames_until_closed(extra, DEADLINE)
        assert errors(frames) == ["busy"]
        # Counted by key, not by name or address: another identity is still let in.
        other, _ = await welcomed(bob, name="carol")
        for stream in (*held, other):
            stream.close()
        await close(bob)

    run(scenario())


# -- hostile peers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """What a hostile peer sends, and what it must be told."""

    where: str
    """``clear`` (bytes instead of a hello), ``handshake`` (after a good hello, in place of
    the handshake) or ``session`` (inside a session bob welcomed)."""
    make: Callable[[RecordTap], bytes]
    told: str | None
    """The code of the last error frame, or None: closed without a word (nothing can be said
    to a peer that has no session)."""


def _sealed(*payloads: bytes) -> Callable[[RecordTap], bytes]:
    return lambda tap: tap.seal(*payloads)


HOSTILE: dict[str, Hostile] = {
    "absurd length": Hostile("clear", lambda _: b"\xff\xff\xff\xff", "frame_too_large"),
    "big frame before hello": Hostile(
        "clear", lambda _: encode(b"{" + b" " * 5000 + b"}"), "frame_too_large"
    ),
    "not json": Hostile("clear", lambda _: encode(b"not json"), "bad_frame"),
    "messages before hello": Hostile(
        "clear", lambda _: encode(b'{"type":"messages","messages":[]}'), "bad_frame"
    ),
    "welcome instead of hello": Hostile(
        "clear", lambda _: encode(protocol.welcome("bob")), "bad_frame"
    ),
    "http": Hostile("clear", lambda _: b"GET / HTTP/1.1\r\n\r\n", "frame_too_large"),
    "json where message 1 is due": Hostile("handshake", lambda _: encode(b"{}"), None),
    "absurd handshake length": Hostile("handshake", lambda _: b"\xff\xff\xff\xff", None),
    "empty handshake message": Hostile("handshake", lambda _: b"\x00\x00\x00\x00", None),
    "all-zero ephemeral key": Hostile("handshake", lambda _: encode(bytes(32)), None),
    "short message 1": Hostile("handshake", lambda _: encode(bytes(16)), None),
    "not json inside": Hostile("session", _sealed(b"not json"), "bad_frame"),
    "hello inside": Hostile("session", _sealed(protocol.hello()), "bad_frame"),
    "empty batch inside": Hostile(
        "session", _sealed(b'{"type":"messages","messages":[]}'), "bad_frame"
    ),
    "absurd length inside": Hostile(
        "session", lambda tap: tap.layer.seal(b"\x7f\xff\xff\xff" + b"x" * 8), "frame_too_large"
    ),
    "empty frame inside": Hostile(
        "session", lambda tap: tap.layer.seal(b"\x00\x00\x00\x00"), "frame_too_large"
    ),
    "flipped record": Hostile(
        "session", lambda tap: flip(tap.seal(protocol.hello()), 8 * 10), None
    ),
    "random bytes after the handshake": Hostile(
        "session", lambda _: random.Random(3).randbytes(300), None
    ),
}


async def _act(bob: Peer, hostile: Hostile) -> list[bytes]:
    """Play ``hostile`` against bob; return what bob answered after the welcome."""
    if hostile.where == "clear":
        return await clear_exchange(bob.address, hostile.make(RecordTap()))
    if hostile.where == "handshake":
        return await clear_exchange(bob.address, HELLO + hostile.make(RecordTap()))
    stream, tap = await welcomed(bob)
    stream.writer.write(hostile.make(tap))
    frames, end = await frames_until_closed(stream, DEADLINE)
    assert isinstance(end, ConnectionError), repr(end)  # bob closed; it always can be read
    stream.close()
    return frames


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_peers_are_cut_off_while_others_are_served(kind: str) -> None:
    hostile = HOSTILE[kind]

    async def scenario() -> None:
        inbox = Inbox()
        alice, bob = await pair(inbox, TransportSettings(handshake_timeout=2))
        frames = await _act(bob, hostile)
        if hostile.told is None:
            assert frames == []
        else:
            assert errors(frames)[-1:] == [hostile.told], frames
        assert inbox.asked.count(("alice", alice.key)) == 0
        report = await alice.deliver(bob, [outgoing("still fine")])
        assert len(report.acknowledged) == 1
        assert [m.body for m in inbox.messages] == ["still fine"]
        await close(alice, bob)

    run(scenario())


def test_a_bit_flipped_in_a_session_closes_it_and_stores_nothing() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        alice, bob = await pair(inbox)
        for bit in (8 * 4, 8 * 20, -1):  # first sealed byte, the middle, the tag's last bit
            stream, tap = await welcomed(bob, name="alice", keys=alice.keys)
            record = tap.seal(*batch_frames(outgoing("tampered")))
            stream.writer.write(flip(record, bit % (8 * len(record))))
            frames, end = await frames_until_closed(stream, DEADLINE)
            assert frames == []  # no receipt, no error: the session is simply over
            assert isinstance(end, ConnectionError)
            stream.close()
        assert inbox.messages == []
        report = await alice.deliver(bob, [outgoing("fine")])
        assert len(report.acknowledged) == 1
        assert [m.body for m in inbox.messages] == ["fine"]
        await close(alice, bob)

    run(scenario())


def test_a_replayed_record_is_not_stored_twice() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        alice, bob = await pair(inbox)
        stream, tap = await welcomed(bob, name="alice", keys=alice.keys)
        message = outgoing("once")
        record = tap.seal(*batch_frames(message))
        stream.writer.write(record)
        async with asyncio.timeout(DEADLINE):
            receipt = protocol.parse((await stream.receive())[0])
        assert isinstance(receipt, protocol.Receipt)
        assert receipt.acked == [message.id]
        stream.writer.write(record)  # the same bytes again, in the same session
        frames, end = await frames_until_closed(stream, DEADLINE)
        assert frames == []
        assert isinstance(end, ConnectionError)
        stream.close()
        # ... and in a new session with the same key: other session keys, it cannot be read.
        stream, _ = await welcomed(bob, name="alice", keys=alice.keys)
        stream.writer.write(record)
        frames, end = await frames_until_closed(stream, DEADLINE)
        assert frames == []
        stream.close()
        assert [m.id for m in inbox.messages] == [message.id]
        await close(alice, bob)

    run(scenario())


def test_a_forged_sender_inside_a_batch_is_rejected_alone() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        _, bob = await pair(inbox)
        stream, _ = await welcomed(bob, name="mallory")
        good, forged = outgoing("mine", sender="mallory"), outgoing("not mine", sender="alice")
        stream.send(batch_frames(good, forged))
        async with asyncio.timeout(DEADLINE):
            receipt = protocol.parse((await stream.receive())[0])
        stream.close()
        await close(bob)
        assert isinstance(receipt, protocol.Receipt)
        assert receipt.acked == [good.id]
        assert [(r.id, r.code) for r in receipt.rejected] == [(forged.id, "wrong_sender")]
        assert [m.body for m in inbox.messages] == ["mine"]

    run(scenario())


class Judge(Inbox):
    """Commits what it is not told to refuse; refuses for good, with the given code and
    reason, the bodies in :attr:`verdicts` (as the application refuses invalid messages)."""

    def __init__(self, verdicts: dict[str, tuple[str, str]]) -> None:
        super().__init__()
        self.verdicts = verdicts

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        judged = {m.id: self.verdicts[m.body] for m in messages if m.body in self.verdicts}
        kept = [m for m in messages if m.id not in judged]
        self.messages.extend(kept)
        return Intake(committed=[m.id for m in kept], rejected=judged)


def test_the_applications_refusals_reach_the_sender_as_given() -> None:
    """The accepting side only translates: what it read goes to the application untouched,
    even a body no rule allows, and the application's codes and reasons go back verbatim."""

    async def scenario() -> None:
        inbox = Judge(
            {
                " ": ("invalid_message", "body: a message cannot be empty"),
                "for carol": ("refused", "the recipient refused it"),
            }
        )
        _, bob = await pair(inbox)
        stream, _ = await welcomed(bob, name="mallory")
        wire = [
            {"id": str(uuid4()), "from": "mallory", "to": "bob", "body": body, "sent_at": when}
            for body, when in [
                ("fine", "2026-01-01T00:00:00+00:00"),
                (" ", "2026-01-01T00:00:00+00:00"),
                ("for carol", "2026-01-01T00:00:00"),  # naive: still the application's call
            ]
        ]
        stream.send([json.dumps({"type": "messages", "messages": wire}).encode()])
        async with asyncio.timeout(DEADLINE):
            receipt = protocol.parse((await stream.receive())[0])
        stream.close()
        await close(bob)
        assert isinstance(receipt, protocol.Receipt)
        assert [str(i) for i in receipt.acked] == [wire[0]["id"]]
        assert [(str(r.id), r.code, r.reason) for r in receipt.rejected] == [
            (wire[1]["id"], "invalid_message", "body: a message cannot be empty"),
            (wire[2]["id"], "refused", "the recipient refused it"),
        ]
        assert [m.body for m in inbox.messages] == ["fine"]

    run(scenario())


async def _dribble_until_closed(
    reader: asyncio.StreamReader, send_a_byte: Callable[[], Awaitable[None]]
) -> None:
    """Send a byte at a time (never a whole frame) until the other end closes."""
    async with asyncio.timeout(DEADLINE):
        while True:
            await send_a_byte()
            try:
                async with asyncio.timeout(0.05):
                    if not await reader.read(65536):
                        return
            except TimeoutError:
                pass
            except ConnectionError:
                return


def test_a_peer_dribbling_its_hello_byte_by_byte_is_cut_off_at_the_handshake_timeout() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        alice, bob = await pair(inbox, TransportSettings(handshake_timeout=0.3))
        reader, writer = await asyncio.open_connection(bob.address.host, bob.address.port)
        writer.write(b"\x00\x00\x0f\xa0")  # a hello of 4,000 bytes, under its limit

        async def send_a_byte() -> None:
            writer.write(b" ")
            await writer.drain()

        await _dribble_until_closed(reader, send_a_byte)
        writer.close()
        assert inbox.asked == []
        report = await alice.deliver(bob, [outgoing("others are fine")])
        assert len(report.acknowledged) == 1
        await close(alice, bob)

    run(scenario())


def test_a_peer_dribbling_a_frame_inside_its_session_is_cut_off_at_the_idle_timeout() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        alice, bob = await pair(inbox, TransportSettings(idle_timeout=0.3))
        stream, tap = await welcomed(bob)
        stream.writer.write(tap.layer.seal(b"\x00\x00\x03\xe8"))  # a frame of 1,000 bytes

        async def send_a_byte() -> None:  # each record decrypts; no frame ever completes
            stream.writer.write(tap.layer.seal(b"x"))
            await stream.writer.drain()

        await _dribble_until_closed(stream.reader, send_a_byte)
        stream.close()
        assert inbox.messages == []
        report = await alice.deliver(bob, [outgoing("others are fine")])
        assert len(report.acknowledged) == 1
        await close(alice, bob)

    run(scenario())


@pytest.mark.parametrize("stage", ["says nothing", "says hello only", "stops after message 1"])
def test_an_unauthenticated_connection_is_closed_after_the_handshake_timeout(stage: str) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        _, bob = await pair(inbox, TransportSettings(handshake_timeout=0.3, idle_timeout=60))
        reader, writer = await asyncio.open_connection(bob.address.host, bob.address.port)
        if stage != "says nothing":
            writer.write(HELLO)
        if stage == "stops after message 1":
            writer.write(encode(LocalKeys.generate().noise_public))  # a fine ephemeral key
        frames = await clear_frames_until_closed(reader, DEADLINE)
        writer.close()
        # Nothing but message 2 (the reply to message 1) was ever said, and in no case an
        # error: there is no session to say it in.
        assert len(frames) == (1 if stage == "stops after message 1" else 0)
        assert inbox.asked == []
        await close(bob)

    run(scenario())


def test_connections_past_the_limit_are_turned_away() -> None:
    async def scenario() -> None:
        settings = TransportSettings(max_inbound=2, handshake_timeout=5)
        _, bob = await pair(Inbox(), settings)
        first = await asyncio.open_connection(bob.address.host, bob.address.port)
        second = await asyncio.open_connection(bob.address.host, bob.address.port)
        frames = await clear_exchange(bob.address, b"")
        assert [protocol.parse(f) for f in frames] == [
            protocol.Error(
                type="error", code="busy", message="too many connections; try again later"
            )
        ]
        for _, writer in (first, second):
            writer.close()
        await close(bob)

    run(scenario())


class StuckInbox(Inbox):
    """Never commits: the sender's deliveries wait until the connection goes."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = 0

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        self.arrived += len(messages)
        await asyncio.Event().wait()
        return Intake(committed=[])


def test_a_lost_connection_fails_every_waiting_delivery_cleanly() -> None:
    async def scenario() -> None:
        inbox = StuckInbox()
        alice, bob = await pair(inbox)
        deliveries = [
            asyncio.ensure_future(alice.deliver(bob, [outgoing(f"{n}")])) for n in range(3)
        ]
        await wait_until(lambda: inbox.arrived >= 1, what="the first batch at bob")
        await close(bob)  # must not wait for the stuck application
        results = await asyncio.gather(*deliveries, return_exceptions=True)
        assert all(isinstance(r, PeerUnreachable) for r in results), results
        await close(alice)

    run(scenario())


# -- close() while connecting -----------------------------------------------------------------


class Mute:
    """A listener that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()
        self._done = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> PeerLocation:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return PeerLocation(
            address=PeerAddress(host="127.0.0.1", port=port),
            key=LocalKeys.generate().identity_key,
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.put_nowait(reader)  # the test reads it
        await self._done.wait()
        writer.close()

    async def close(self) -> None:
        self._done.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _stuck_connect() -> tuple[
    Peer, Mute, asyncio.Future[DeliveryReport], asyncio.StreamReader
]:
    """alice delivering to a listener that never answers: her connect waits in the handshake."""
    mute = Mute()
    location = await mute.start()
    alice = await listening("alice", Inbox())
    delivery = asyncio.ensure_future(alice.transport.deliver("bob", location, [outgoing("?")]))
    async with asyncio.timeout(DEADLINE):
        far_end = await mute.accepted.get()
        assert await far_end.readexactly(len(HELLO)) == HELLO  # she is in the handshake
    return alice, mute, delivery, far_end


def test_close_ends_connects_in_progress_and_leaves_no_task() -> None:
    async def scenario() -> None:
        alice, mute, delivery, _ = await _stuck_connect()
        await alice.transport.close()
        assert delivery.done()
        await mute.close()
        await wait_until(lambda: asyncio.all_tasks() == {asyncio.current_task()})

    run(scenario())


def test_close_closes_the_socket_of_a_connect_in_progress() -> None:
    async def scenario() -> None:
        alice, mute, delivery, far_end = await _stuck_connect()
        await alice.transport.close()
        try:
            # A closed socket reaches the far end at once; 2 s is only a bound for the leak.
            async with asyncio.timeout(2):
                while await far_end.read(65536):
                    pass
        finally:
            await mute.close()
        assert delivery.done()

    run(scenario())


def test_a_delivery_cut_short_by_close_fails_as_peer_unreachable() -> None:
    async def scenario() -> None:
        alice, mute, delivery, _ = await _stuck_connect()
        await alice.transport.close()
        await mute.close()
        async with asyncio.timeout(DEADLINE):
            await asyncio.wait([delivery])
        assert not delivery.cancelled()
        assert isinstance(delivery.exception(), PeerUnreachable)

    run(scenario())


# -- garbage while chatting --------------------------------------------------------------------


def test_a_live_peer_keeps_chatting_while_others_throw_garbage_at_it() -> None:
    async def hostile(bob: Peer, rng: random.Random) -> None:
        kind = rng.randrange(6)
        if kind >= 4:  # inside a session: a damaged record, or random bytes
            with contextlib.suppress(ConnectionError, SecureError, TimeoutError):
                stream, tap = await welcomed(bob)
                if kind == 4:
                    record = tap.seal(*batch_frames(outgoing("x", sender="mallory")))
                    stream.writer.write(flip(record, rng.randrange(8 * len(record))))
                else:
                    stream.writer.write(rng.randbytes(rng.randrange(1, 600)))
                await frames_until_closed(stream, DEADLINE)
                stream.close()
            return
        reader, writer = await asyncio.open_connection(bob.address.host, bob.address.port)
        if kind == 0:  # random bytes
            writer.write(rng.randbytes(rng.randrange(1, 600)))
        elif kind == 1:  # an absurd length
            writer.write(b"\x7f\xff\xff\xff" + rng.randbytes(8))
        elif kind == 2:  # half a frame, then silence
            writer.write(b"\x00\x00\x01\x00{")
        else:  # a valid hello, then garbage where the handshake is due
            writer.write(HELLO + encode(rng.randbytes(40)))
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(DEADLINE):
                while await reader.read(65536):
                    pass
        writer.close()

    async def scenario() -> None:
        inbox = Inbox()
        settings = TransportSettings(handshake_timeout=0.5, idle_timeout=0.5)
        alice, bob = await pair(inbox, settings)
        rng = random.Random(7)
        batches = [[outgoing(f"{b}-{i}") for i in range(50)] for b in range(20)]

        async def chat() -> list[DeliveryReport]:
            return [await alice.deliver(bob, batch) for batch in batches]

        chatting = asyncio.ensure_future(chat())
        await asyncio.gather(*(hostile(bob, rng) for _ in range(40)))
        reports = await chatting
        assert all(len(r.acknowledged) == 50 for r in reports)
        assert [m.body for m in inbox.messages] == [m.body for b in batches for m in b]
        await close(alice, bob)

    run(scenario())


def test_an_open_connection_stores_nothing_once_its_key_is_no_longer_trusted() -> None:
    async def scenario() -> None:
        inbox = Inbox(known={})
        alice, bob = await pair(inbox)
        assert inbox.known is not None
        inbox.known["alice"] = alice.key
        report = await alice.deliver(bob, [outgoing("while trusted")])
        assert len(report.acknowledged) == 1
        inbox.known["alice"] = LocalKeys.generate().identity_key  # a key change, held since
        with pytest.raises(PeerUnreachable):
            await alice.deliver(bob, [outgoing("on the same connection, after")])
        assert [m.body for m in inbox.messages] == ["while trusted"]
        await close(alice, bob)

    run(scenario())
