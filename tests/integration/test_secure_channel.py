"""The secure channel over real sockets: a live session, and every way a hostile network or a
hostile peer can damage one, each ending in ``SecureError`` or a closed connection and nothing
else.

Most scenarios run through :class:`Proxy`, a TCP relay that decodes the codec frames going each
way (every handshake message and every record is one frame) and lets the test flip, cut,
replace, replay, reorder or drop any of them, while both ends run the product's
``open_secure`` / ``accept_secure`` untouched.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from chinwag.adapters.secure.channel import (
    NOISE_PROTOCOL,
    Handshake,
    RemoteIdentity,
    SecureError,
    Security,
    accept_secure,
    open_secure,
)
from chinwag.adapters.secure.keys import STATIC_KEY_CONTEXT, LocalKeys
from chinwag.adapters.secure.noise import MAX_MESSAGE, HandshakeState
from chinwag.adapters.wire.codec import HEADER_SIZE, FrameDecoder, encode
from tests.secure_support import flip, frames_until_closed, read_clear_frame

pytestmark = pytest.mark.timeout(60)

PROLOGUE = b"chinwag channel test\n"
MAX_FRAME = 1024 * 1024
DEADLINE = 10.0
PAYLOADS = [b'{"n":0,"secret":"first words"}', b'{"n":1}', b'{"n":2}']
FIRST_RECORD = 2
"""Index of the first record among the frames the initiator sends: message 1, message 3, then
records."""
NAME, TO = "alice-the-initiator", "bob-the-responder"
"""The names the initiator gives in its handshake payload (long: they are looked for in the
ciphertext, where a short one could turn up by chance)."""
READY = b'{"type":"ready"}'
"""What the responder sends first once the session is up (as a peer's ``welcome``): the
initiator sends its records only after it, so none arrives together with message 3."""

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def run(coro: Coroutine[Any, Any, None], timeout: float = 45.0) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro

    asyncio.run(bounded())


# -- keys that lie ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimsAnotherIdentity(LocalKeys):
    """Presents someone else's identity key with its own signature: it cannot sign for it."""

    claimed: bytes = b""

    @property
    def identity_key(self) -> bytes:
        return self.claimed


@dataclass(frozen=True)
class SignsAnotherNoiseKey(LocalKeys):
    """A real identity whose signature covers some other Noise key than the one it uses."""

    def static_key_signature(self) -> bytes:
        other = LocalKeys.generate().noise_public
        return self.signing.sign(STATIC_KEY_CONTEXT + other)


def impostor_of(victim: LocalKeys) -> LocalKeys:
    mine = LocalKeys.generate()
    return ClaimsAnotherIdentity(
        signing=mine.signing, noise=mine.noise, claimed=victim.identity_key
    )


def wrong_signer() -> LocalKeys:
    mine = LocalKeys.generate()
    return SignsAnotherNoiseKey(signing=mine.signing, noise=mine.noise)


# -- the relay --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """What a tamper returns to forward ``data`` and then end the connection."""

    data: bytes = b""


Tamper = Callable[[int, bytes], bytes | Cut]
"""Given a frame's index in its direction and its bytes on the wire (header included), the
bytes to forward in its place."""


def untouched(index: int, frame: bytes) -> bytes | Cut:
    return frame


def at(wanted: int, change: Callable[[bytes], bytes | Cut]) -> Tamper:
    """A tamper that changes frame number ``wanted`` only."""

    def tamper(index: int, frame: bytes) -> bytes | Cut:
        return change(frame) if index == wanted else frame

    return tamper


def reframed(change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Change a frame's payload and frame it again, so the damage is inside a whole frame."""
    return lambda frame: encode(change(frame[HEADER_SIZE:]))


class Proxy:
    """A TCP relay to ``target`` that passes frames through :attr:`forward` (client to server)
    and :attr:`backward` (server to client); when either way ends, both do."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.forward: Tamper = untouched
        self.backward: Tamper = untouched
        self.wire: list[bytes] = []
        """Every byte relayed, both ways, as it went."""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
            ends = (writer, up_writer)
            await asyncio.gather(
                self._pipe(reader, up_writer, self.forward, ends),
                self._pipe(up_reader, writer, self.backward, ends),
            )
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            self._tasks.discard(task)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tamper: Tamper,
        ends: tuple[asyncio.StreamWriter, ...],
    ) -> None:
        decoder = FrameDecoder(MAX_MESSAGE)
        index = 0
        try:
            while data := await reader.read(65536):
                for frame in decoder.feed(data):
                    out = tamper(index, encode(frame))
                    index += 1
                    if isinstance(out, Cut):
                        writer.write(out.data)
                        self.wire.append(out.data)
                        await writer.drain()
                        return
                    writer.write(out)
                    self.wire.append(out)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            for end in ends:
                end.close()


# -- the two ends -----------------------------------------------------------------------------


@dataclass
class Ending:
    """How one end of a connection fared."""

    error: BaseException | None = None
    """What ended the handshake, if it did not complete."""
    remote: RemoteIdentity | None = None
    frames: list[bytes] = field(default_factory=list)
    end: BaseException | None = None
    """What ended the session after the handshake (the receiving end only)."""

    @property
    def failure(self) -> BaseException | None:
        return self.error or self.end


class Rig:
    """A responder (a server that runs ``accept_secure`` and then reads every frame until the
    session ends), reached through a :class:`Proxy`."""

    def __init__(self, responder: Security | None = None, prologue: bytes = PROLOGUE) -> None:
        self.responder = responder or Security(LocalKeys.generate())
        self.prologue = prologue
        self.endings: asyncio.Queue[Ending] = asyncio.Queue()
        self.proxy: Proxy | None = None
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.proxy = Proxy(int(self._server.sockets[0].getsockname()[1]))
        self.port = await self.proxy.start()

    async def close(self) -> None:
        if self.proxy is not None:
            await self.proxy.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ending = Ending()
        try:
            try:
                async with asyncio.timeout(DEADLINE):
                    stream = await accept_secure(
                        reader, writer, self.responder, prologue=self.prologue, max_frame=MAX_FRAME
                    )
            except BaseException as exc:  # the test judges what it was
                ending.error = exc
                return
            ending.remote = stream.remote
            stream.send([READY])  # as a peer's welcome: the initiator sends after it
            await stream.drain()
            ending.frames, ending.end = await frames_until_closed(stream, DEADLINE)
        except BaseException as exc:
            ending.end = exc
        finally:
            writer.close()
            self.endings.put_nowait(ending)

    async def exchange(
        self,
        *,
        forward: Tamper = untouched,
        backward: Tamper = untouched,
        initiator: Security | None = None,
        prologue: bytes = PROLOGUE,
        payloads: list[bytes] | None = None,
        expect: Callable[[RemoteIdentity], None] | None = None,
    ) -> tuple[Ending, Ending]:
        """Connect through the proxy, run the handshake as initiator, send ``payloads`` one
        record each and close; return how the initiator and the responder fared."""
        assert self.proxy is not None
        self.proxy.forward, self.proxy.backward = forward, backward
        security = initiator or Security(LocalKeys.generate())
        ours = Ending()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            async with asyncio.timeout(DEADLINE):
                stream = await open_secure(
                    reader,
                    writer,
                    security,
                    prologue=prologue,
                    max_frame=MAX_FRAME,
                    name=NAME,
                    to=TO,
                    expect=expect,
                )
                ours.remote = stream.remote
                ours.frames = await stream.receive()
                for payload in PAYLOADS if payloads is None else payloads:
                    stream.send([payload])
                    await stream.drain()
        except BaseException as exc:  # the test judges what it was
            ours.error = exc
        finally:
            writer.close()
        async with asyncio.timeout(DEADLINE):
            theirs = await self.endings.get()
        return ours, theirs


@contextlib.asynccontextmanager
async def rig(responder: Security | None = None) -> AsyncIterator[Rig]:
    started = Rig(responder)
    await started.start()
    try:
        yield started
    finally:
        await started.close()


def clean(failure: BaseException | None) -> bool:
    """Whether an end stopped the way the channel promises: a SecureError or a closed
    connection (never a stray ValueError, KeyError, NoiseError, ...)."""
    return isinstance(failure, SecureError | ConnectionError)


def no_session(initiator: Ending, responder: Ending) -> None:
    """The responder never accepted a session, and both ends stopped cleanly."""
    assert responder.error is not None, "the responder must not accept this session"
    assert responder.frames == []
    assert clean(responder.error), repr(responder.error)
    assert initiator.error is None or clean(initiator.error), repr(initiator.error)


# -- a live session -----------------------------------------------------------------------------


async def tcp_pair() -> tuple[Streams, Streams]:
    """Two connected loopback TCP sockets as asyncio streams."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    for sock in (client, server):
        sock.setblocking(False)
    return (
        await asyncio.open_connection(sock=client),
        await asyncio.open_connection(sock=server),
    )


def test_a_live_session_carries_frames_both_ways_and_proves_both_identities() -> None:
    async def scenario() -> None:
        alice, bob = LocalKeys.generate(), LocalKeys.generate()
        (a_reader, a_writer), (b_reader, b_writer) = await tcp_pair()
        checked: list[RemoteIdentity] = []
        opened, accepted = await asyncio.gather(
            open_secure(
                a_reader,
                a_writer,
                Security(alice),
                prologue=PROLOGUE,
                max_frame=MAX_FRAME,
                name="alice",
                to="bob",
                expect=checked.append,
            ),
            accept_secure(
                b_reader,
                b_writer,
                Security(bob),
                prologue=PROLOGUE,
                max_frame=MAX_FRAME,
                name="bob",
            ),
        )
        assert checked == [RemoteIdentity(key=bob.identity_key, name="bob")]
        assert opened.remote == RemoteIdentity(key=bob.identity_key, name="bob")
        assert accepted.remote == RemoteIdentity(key=alice.identity_key, name="alice", to="bob")

        big = b"x" * (3 * MAX_MESSAGE)  # one frame, several records
        opened.send([b"one", b"two"])
        opened.send([big])
        await opened.drain()
        received: list[bytes] = []
        while len(received) < 3:
            received.extend(await accepted.receive())
        assert received == [b"one", b"two", big]
        for n in range(50):
            accepted.send([f"answer {n}".encode()])
        await accepted.drain()
        answers: list[bytes] = []
        while len(answers) < 50:
            answers.extend(await opened.receive())
        assert answers == [f"answer {n}".encode() for n in range(50)]

        opened.close()
        with pytest.raises(ConnectionError):
            await accepted.receive()
        accepted.close()

    run(scenario())


def test_nothing_of_the_session_or_the_identities_travels_in_clear() -> None:
    async def scenario() -> None:
        alice = LocalKeys.generate()
        async with rig() as relay:
            initiator, responder = await relay.exchange(initiator=Security(alice))
            assert initiator.error is None
            assert responder.frames == PAYLOADS
            assert responder.remote is not None
            assert responder.remote == RemoteIdentity(key=alice.identity_key, name=NAME, to=TO)
            assert relay.proxy is not None
            wire = b"".join(relay.proxy.wire)
            for secret in (
                b"first words",
                NAME.encode(),
                TO.encode(),
                alice.identity_key,
                base64.b64encode(alice.identity_key),
                relay.responder.keys.identity_key,
                base64.b64encode(relay.responder.keys.identity_key),
                alice.noise_public,  # static keys travel encrypted too
                relay.responder.keys.noise_public,
            ):
                assert secret not in wire

    run(scenario())


# -- damaged records ---------------------------------------------------------------------------


def test_a_bit_flipped_anywhere_in_a_record_ends_the_session() -> None:
    async def scenario() -> None:
        async with rig() as relay:
            record_bits = 8 * (HEADER_SIZE + HEADER_SIZE + len(PAYLOADS[1]) + 16)
            for bit in range(record_bits):
                initiator, responder = await relay.exchange(
                    forward=at(FIRST_RECORD + 1, lambda frame, b=bit: flip(frame, b))  # type: ignore[misc]
                )
                assert initiator.error is None
                assert responder.error is None
                # Never the damaged record or any after it (the good one before it may go
                # with the connection, when both arrive in one read).
                assert responder.frames in ([], PAYLOADS[:1]), f"bit {bit}"
                if bit >= 8 * HEADER_SIZE:  # in the sealed bytes: it cannot decrypt
                    assert isinstance(responder.end, SecureError), f"bit {bit}: {responder.end!r}"
                else:  # in the length: too big, too short to decrypt, or waits for bytes
                    assert clean(responder.end), f"bit {bit}: {responder.end!r}"

    run(scenario())


@pytest.mark.parametrize(
    "damage",
    ["replayed", "reordered", "dropped", "replayed from the start", "replaced by a handshake"],
)
def test_replayed_reordered_or_dropped_records_end_the_session(damage: str) -> None:
    held: list[bytes] = []

    def tamper(index: int, frame: bytes) -> bytes | Cut:
        if damage == "replayed" and index == FIRST_RECORD + 1:
            return frame + frame
        if damage == "reordered" and index == FIRST_RECORD + 1:
            held.append(frame)
            return b""
        if damage == "reordered" and index == FIRST_RECORD + 2:
            return frame + held.pop()
        if damage == "dropped" and index == FIRST_RECORD + 1:
            return b""
        if damage == "replayed from the start" and index == FIRST_RECORD:
            held.append(frame)
        if damage == "replayed from the start" and index == FIRST_RECORD + 1:
            return held[0]
        if damage == "replaced by a handshake" and index == 1:
            held.append(frame)
        if damage == "replaced by a handshake" and index == FIRST_RECORD + 1:
            return held[0]  # message 3 again, where a record is due
        return frame

    async def scenario() -> None:
        async with rig() as relay:
            initiator, responder = await relay.exchange(forward=tamper)
            assert initiator.error is None
            assert responder.frames in ([], PAYLOADS[:1])
            assert isinstance(responder.end, SecureError), repr(responder.end)
            assert responder.end.code == "decrypt_failed"

    run(scenario())


def test_garbage_where_records_are_due_ends_the_session() -> None:
    async def scenario() -> None:
        async with rig() as relay:
            for garbage in (
                b"\xff\xff\xff\xff",  # a record longer than Noise allows
                b"\x00\x00\x00\x00",  # an empty record
                encode(b"{}"),  # a record shorter than its tag
                encode(b'{"type":"messages"}' * 10),  # plaintext, framed as a record would be
            ):
                _initiator, responder = await relay.exchange(
                    forward=at(FIRST_RECORD + 1, lambda _frame, g=garbage: g)  # type: ignore[misc]
                )
                assert responder.frames in ([], PAYLOADS[:1])
                assert isinstance(responder.end, SecureError), (garbage, responder.end)

    run(scenario())


def test_a_record_layer_that_failed_once_opens_nothing_more() -> None:
    alice, bob = Security(LocalKeys.generate()), Security(LocalKeys.generate())
    initiator = Handshake(alice, initiator=True, prologue=PROLOGUE)
    responder = Handshake(bob, initiator=False, prologue=PROLOGUE)
    responder.feed(initiator.feed(responder.feed(initiator.start())))
    assert initiator.remote is not None and responder.remote is not None
    sending, receiving = initiator.records(), responder.records()
    record = sending.seal(encode(b"hello"))
    with pytest.raises(SecureError):
        receiving.open(flip(record, 8 * len(record) - 1))
    with pytest.raises(SecureError):
        receiving.open(record)


def test_records_that_arrive_with_message_3_are_not_lost() -> None:
    async def scenario() -> None:
        accepted: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()

        async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                stream = await accept_secure(
                    reader,
                    writer,
                    Security(LocalKeys.generate()),
                    prologue=PROLOGUE,
                    max_frame=MAX_FRAME,
                )
                accepted.set_result(await stream.receive())
            except BaseException as exc:
                accepted.set_exception(exc)
            finally:
                writer.close()

        server = await asyncio.start_server(respond, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.sockets[0].getsockname()[1]
        )
        handshake = Handshake(Security(LocalKeys.generate()), initiator=True, prologue=PROLOGUE)
        writer.write(handshake.start())
        message_3 = b""
        while handshake.remote is None:
            message_3 += handshake.feed(await reader.read(65536))
        # Message 3 and a first record in one write, as a pipelining client sends them.
        writer.write(message_3 + handshake.records().seal(encode(b"early")))
        writer.write_eof()
        try:
            async with asyncio.timeout(DEADLINE):
                assert await accepted == [b"early"]
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    run(scenario())


# -- damaged handshakes ------------------------------------------------------------------------

LOW_ORDER_POINTS = [
    bytes(32),  # zero
    (1).to_bytes(32, "little"),  # order 1
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),  # order 8
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),  # order 8
    (2**255 - 19 - 1).to_bytes(32, "little"),  # p - 1: order 2
    (2**255 - 19).to_bytes(32, "little"),  # p: zero, not reduced
    (2**255 - 19 + 1).to_bytes(32, "little"),  # p + 1: one, not reduced
]


@pytest.mark.parametrize("point", LOW_ORDER_POINTS, ids=lambda p: p.hex()[:8])
def test_a_low_order_ephemeral_key_in_message_1_is_refused(point: bytes) -> None:
    async def scenario() -> None:
        async with rig() as relay:
            initiator, responder = await relay.exchange(
                forward=at(0, reframed(lambda message: point + message[32:]))
            )
            no_session(initiator, responder)
            assert isinstance(responder.error, SecureError)
            assert responder.error.code == "handshake_failed"
            assert initiator.remote is None

    run(scenario())


def test_a_low_order_ephemeral_key_in_message_2_is_refused_by_the_initiator() -> None:
    async def scenario() -> None:
        async with rig() as relay:
            initiator, responder = await relay.exchange(
                backward=at(0, reframed(lambda message: bytes(32) + message[32:]))
            )
            no_session(initiator, responder)
            assert isinstance(initiator.error, SecureError)

    run(scenario())


@pytest.mark.parametrize(
    ("direction", "index", "who"),
    [("forward", 0, "either"), ("backward", 0, "initiator"), ("forward", 1, "responder")],
    ids=["message 1", "message 2", "message 3"],
)
def test_a_bit_flipped_in_a_handshake_message_fails_the_handshake(
    direction: str, index: int, who: str
) -> None:
    async def scenario() -> None:
        async with rig() as relay:
            bits = await _message_bits(relay, direction, index)
            # Past the length (a longer length only waits, bounded by the caller's timeout):
            # every 7th bit, so each part of the message (key, encrypted key, payload) is hit.
            for bit in range(8 * HEADER_SIZE, bits, 7):
                tamper = at(index, lambda frame, b=bit: flip(frame, b))  # type: ignore[misc]
                if direction == "forward":
                    initiator, responder = await relay.exchange(forward=tamper)
                else:
                    initiator, responder = await relay.exchange(backward=tamper)
                no_session(initiator, responder)
                if who == "initiator":
                    assert isinstance(initiator.error, SecureError), f"bit {bit}"
                elif who == "responder":
                    assert isinstance(responder.error, SecureError), f"bit {bit}"
                else:  # a changed ephemeral key: whoever computes with it first fails
                    assert isinstance(initiator.error, SecureError) or isinstance(
                        responder.error, SecureError
                    ), f"bit {bit}"

    run(scenario())


async def _message_bits(relay: Rig, direction: str, index: int) -> int:
    """Bits of handshake message ``index`` going ``direction``, header included."""
    sizes: list[int] = []

    def measure(i: int, frame: bytes) -> bytes | Cut:
        if i == index:
            sizes.append(len(frame))
        return frame

    if direction == "forward":
        await relay.exchange(forward=measure, payloads=[])
    else:
        await relay.exchange(backward=measure, payloads=[])
    return 8 * sizes[0]


@pytest.mark.parametrize(
    ("direction", "index", "change", "who"),
    [
        ("forward", 0, lambda f: Cut(f[: len(f) // 2]), None),
        ("forward", 0, reframed(lambda m: m[:16]), "responder"),
        ("forward", 0, lambda f: Cut(f[:2]), None),
        ("backward", 0, lambda f: Cut(f[: len(f) // 2]), None),
        ("backward", 0, reframed(lambda m: m[:-1]), "initiator"),
        ("backward", 0, reframed(lambda m: m[:40]), "initiator"),
        ("forward", 1, lambda f: Cut(f[: len(f) - 1]), None),
        ("forward", 1, reframed(lambda m: m[:-1]), "responder"),
        ("forward", 1, reframed(lambda m: m[:20]), "responder"),
    ],
    ids=[
        "message 1 cut off",
        "message 1 short",
        "message 1 header cut",
        "message 2 cut off",
        "message 2 short by a byte",
        "message 2 short",
        "message 3 cut off",
        "message 3 short by a byte",
        "message 3 short",
    ],
)
def test_a_truncated_handshake_fails_cleanly(
    direction: str, index: int, change: Callable[[bytes], bytes | Cut], who: str | None
) -> None:
    async def scenario() -> None:
        async with rig() as relay:
            tamper = at(index, change)
            if direction == "forward":
                initiator, responder = await relay.exchange(forward=tamper)
            else:
                initiator, responder = await relay.exchange(backward=tamper)
            no_session(initiator, responder)
            if who == "initiator":
                assert isinstance(initiator.error, SecureError)
            elif who == "responder":
                assert isinstance(responder.error, SecureError)
            else:  # cut off: nobody can tell more than that the connection closed
                assert isinstance(responder.error, ConnectionError)

    run(scenario())


def test_a_responder_whose_signature_does_not_match_is_refused_before_we_say_who_we_are() -> None:
    async def scenario() -> None:
        victim = LocalKeys.generate()
        for liar in (impostor_of(victim), wrong_signer()):
            async with rig(Security(liar)) as relay:
                initiator, responder = await relay.exchange()
                no_session(initiator, responder)
                assert isinstance(initiator.error, SecureError)
                assert initiator.error.code == "handshake_failed"
                assert initiator.remote is None
                assert relay.proxy is not None
                # Message 3 (our identity) never left: only message 1 went forward.
                assert isinstance(responder.error, ConnectionError)

    run(scenario())


def test_an_initiator_whose_signature_does_not_match_is_refused() -> None:
    async def scenario() -> None:
        victim = LocalKeys.generate()
        async with rig() as relay:
            for liar in (impostor_of(victim), wrong_signer()):
                initiator, responder = await relay.exchange(initiator=Security(liar))
                no_session(initiator, responder)
                assert isinstance(responder.error, SecureError)
                assert responder.error.code == "handshake_failed"
                assert responder.remote is None

    run(scenario())


def test_an_unexpected_responder_key_is_refused_by_the_caller_check() -> None:
    async def scenario() -> None:
        expected = LocalKeys.generate().identity_key

        def expect(remote: RemoteIdentity) -> None:
            if remote.key != expected:
                raise SecureError("wrong_key", "not the key we were given")

        async with rig() as relay:
            initiator, responder = await relay.exchange(expect=expect)
            no_session(initiator, responder)
            assert isinstance(initiator.error, SecureError)
            assert initiator.error.code == "wrong_key"

    run(scenario())


def test_a_wrong_prologue_fails_the_handshake() -> None:
    async def scenario() -> None:
        async with rig() as relay:
            initiator, responder = await relay.exchange(prologue=PROLOGUE + b"changed\n")
            no_session(initiator, responder)
            assert isinstance(initiator.error, SecureError)
            assert initiator.error.code == "handshake_failed"

    run(scenario())


MALFORMED_PROOFS = [
    b"",
    b"not json at all",
    b'{"identity":"!!","signature":"!!"}',
    b'{"identity":"' + b"A" * 100 + b'","signature":"AA=="}',
    b'{"identity":"AAAA","signature":"AAAA","extra":1}',
    b'{"identity":1,"signature":2}',
    b"\xff\xfe" * 100,
    b"[" * 5000,
]
MALFORMED_IDS = [
    "empty",
    "not json",
    "not base64",
    "too long",
    "unknown field",
    "wrong types",
    "not utf-8",
    "deep nesting",
]


@pytest.mark.parametrize("payload", MALFORMED_PROOFS, ids=MALFORMED_IDS)
def test_an_initiator_with_a_malformed_identity_payload_is_refused(payload: bytes) -> None:
    """A hand-driven initiator whose message 3 carries something that is not a proof."""

    async def scenario() -> None:
        async with rig() as relay:
            keys = LocalKeys.generate()
            state = HandshakeState(
                NOISE_PROTOCOL, initiator=True, prologue=PROLOGUE, s=keys.noise_private
            )
            reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
            writer.write(encode(state.write_message(b"")))
            state.read_message(await read_clear_frame(reader))
            writer.write(encode(state.write_message(payload)))
            await writer.drain()
            async with asyncio.timeout(DEADLINE):
                responder = await relay.endings.get()
            writer.close()
            assert isinstance(responder.error, SecureError), repr(responder.error)
            assert responder.error.code == "handshake_failed"

    run(scenario())


@pytest.mark.parametrize("payload", MALFORMED_PROOFS, ids=MALFORMED_IDS)
def test_a_responder_with_a_malformed_identity_payload_is_refused(payload: bytes) -> None:
    """A hand-driven responder whose message 2 carries something that is not a proof."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        keys = LocalKeys.generate()
        state = HandshakeState(
            NOISE_PROTOCOL, initiator=False, prologue=PROLOGUE, s=keys.noise_private
        )
        state.read_message(await read_clear_frame(reader))
        writer.write(encode(state.write_message(payload)))
        with contextlib.suppress(ConnectionError):
            await reader.read()
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(respond, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.sockets[0].getsockname()[1]
        )
        with pytest.raises(SecureError) as refused:
            async with asyncio.timeout(DEADLINE):
                await open_secure(
                    reader,
                    writer,
                    Security(LocalKeys.generate()),
                    prologue=PROLOGUE,
                    max_frame=MAX_FRAME,
                )
        assert refused.value.code == "handshake_failed"
        writer.close()
        server.close()
        await server.wait_closed()

    run(scenario())
