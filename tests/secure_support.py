"""Raw secure connections for tests that speak the protocols by hand (attacks, garbage, limits).

Both protocols start with one clear frame and a Noise XX handshake; these helpers do that part
with the product's own secure channel, so a test can then send whatever frames it likes inside
the session, or skip the session altogether and send bytes in clear.

To tamper with records, give the session a :class:`RecordTap` as its security: it keeps the
session's record layer, so a test can seal records itself (advancing the nonce exactly as
sending does) and then flip, replay, reorder or drop them before they are written.
"""

from __future__ import annotations

import asyncio
import socket

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chinwag.adapters.registry import protocol as registry_protocol
from chinwag.adapters.secure.channel import (
    RecordLayer,
    RemoteIdentity,
    SecureError,
    SecureStream,
    Security,
    open_secure,
)
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.secure.noise import CipherState
from chinwag.adapters.transport import protocol as peer_protocol
from chinwag.adapters.wire.codec import FrameDecoder, encode


class RecordTap(Security):
    """Security that keeps the record layer of every session it makes (the last one is
    :attr:`layer`), so the test can seal records by hand."""

    def __init__(self, keys: LocalKeys | None = None) -> None:
        super().__init__(keys or LocalKeys.generate())
        self.layers: list[RecordLayer] = []

    def records(
        self, send: CipherState, receive: CipherState, decoder: FrameDecoder
    ) -> RecordLayer:
        layer = super().records(send, receive, decoder)
        self.layers.append(layer)
        return layer

    @property
    def layer(self) -> RecordLayer:
        return self.layers[-1]

    def seal(self, *payloads: bytes) -> bytes:
        """``payloads`` framed and sealed as the next record(s), not sent: the caller writes
        them (or a damaged copy) itself. Each call uses the next nonce, as a send would."""
        return self.layer.seal(b"".join(encode(p) for p in payloads))


def ephemeral_starting_with(first: int | None = None, avoid: int | None = None) -> bytes:
    """A raw X25519 private key whose public key starts (or does not start) with a byte."""
    while True:
        key = X25519PrivateKey.generate()
        public = key.public_key().public_bytes_raw()
        if (first is None or public[0] == first) and (avoid is None or public[0] != avoid):
            return key.private_bytes_raw()


def flip(data: bytes, bit: int) -> bytes:
    """``data`` with bit number ``bit`` (0 = the most significant bit of byte 0) inverted."""
    damaged = bytearray(data)
    damaged[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(damaged)


async def read_clear_frame(reader: asyncio.StreamReader, limit: int = 65536) -> bytes:
    """The next clear frame (the registry's welcome)."""
    decoder = FrameDecoder(limit)
    while True:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("closed")
        frames = decoder.feed(data, max_frames=1)
        if frames:
            return frames[0]


async def clear_frames_until_closed(
    reader: asyncio.StreamReader, timeout: float = 10.0, limit: int = 4 * 1024 * 1024
) -> list[bytes]:
    """Every clear frame read until the other end closes (a reset counts as a close)."""
    decoder = FrameDecoder(limit)
    frames: list[bytes] = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                data = await reader.read(65536)
            except ConnectionError:
                return frames
            if not data:
                return frames
            frames.extend(decoder.feed(data))


async def frames_until_closed(
    stream: SecureStream, timeout: float = 10.0
) -> tuple[list[bytes], BaseException]:
    """Every frame of the session until it ends, and how it ended: a ``ConnectionError`` (the
    peer closed or reset) or a ``SecureError`` (a record did not decrypt). Anything else
    propagates: the channel must never end another way."""
    frames: list[bytes] = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                frames.extend(await stream.receive())
            except (ConnectionError, SecureError) as exc:
                return frames, exc


async def _connect(
    host: str, port: int, rcvbuf: int | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if rcvbuf is None:
        return await asyncio.open_connection(host, port)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def registry_session(
    host: str,
    port: int,
    keys: LocalKeys | None = None,
    timeout: float = 5.0,
    *,
    security: Security | None = None,
    rcvbuf: int | None = None,
) -> SecureStream:
    """A connection to a registry with the handshake done, as ``keys`` (new ones by default)
    or as ``security`` (a :class:`RecordTap`, say); ``rcvbuf`` shrinks the receive buffer of a
    client that means not to read."""
    async with asyncio.timeout(timeout):
        reader, writer = await _connect(host, port, rcvbuf)
        try:
            welcome = await read_clear_frame(reader)
            return await open_secure(
                reader,
                writer,
                security or Security(keys or LocalKeys.generate()),
                prologue=registry_protocol.PROLOGUE + encode(welcome),
                max_frame=registry_protocol.MAX_SERVER_FRAME,
            )
        except BaseException:
            writer.transport.abort()
            raise


async def peer_session(
    host: str,
    port: int,
    *,
    name: str,
    to: str,
    keys: LocalKeys | None = None,
    timeout: float = 5.0,
    security: Security | None = None,
) -> tuple[SecureStream, RemoteIdentity]:
    """A connection to a peer's port with the handshake done, claiming ``name`` as ``keys``
    (or ``security``); the peer's answer (welcome or error) is the first frame of the stream."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        hello = encode(peer_protocol.hello())
        try:
            stream = await open_secure(
                reader,
                writer,
                security or Security(keys or LocalKeys.generate()),
                prologue=peer_protocol.PROLOGUE + hello,
                max_frame=peer_protocol.MAX_FRAME,
                name=name,
                to=to,
                preamble=hello,
            )
        except BaseException:
            writer.transport.abort()
            raise
        return stream, stream.remote
