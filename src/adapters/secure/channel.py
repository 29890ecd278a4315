"""The secure channel: a Noise XX session over any byte stream, with the identity checks in it.

Layers, bottom up (docs/protocol.md, "Secure channel"):

1. A byte stream (TCP today; a relayed stream through the registry later).
2. Noise ``Noise_XX_25519_ChaChaPoly_SHA256``: three handshake messages, then transport records.
   Every handshake message and every record travels as one frame of the codec (4-byte length,
   at most 65,535 bytes: the largest Noise message). Each side's handshake payload proves who it
   is: its Ed25519 identity key and that key's signature over its Noise static key (as libp2p
   binds its Noise keys), plus the names the protocol needs. Nothing in it is in clear: the
   responder's payload rides in message 2, the initiator's in message 3, both encrypted.
3. Inside the records, a plaintext byte stream carrying the protocol's own frames (the same codec,
   with the protocol's frame limit), cut into records of at most 65,519 bytes.

Any failure to decrypt ends the session: nonces are counters, so a replayed, reordered, dropped
or altered record can never be read. The session itself is sans-I/O (bytes in, bytes out:
:mod:`chinwag.adapters.secure.session`), so the registry server (an ``asyncio.Protocol``) and
the stream-based clients share it; :class:`SecureStream` here is the thin asyncio shell the
stream users share.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from chinwag.adapters.secure.session import (
    MAX_RECORD_PLAINTEXT,
    NOISE_PROTOCOL,
    Handshake,
    NoiseRecords,
    RecordLayer,
    RemoteIdentity,
    SecureError,
    Security,
)
from chinwag.adapters.wire.codec import FrameDecoder, encode

__all__ = [
    "CLOSE_GRACE",
    "MAX_RECORD_PLAINTEXT",
    "NOISE_PROTOCOL",
    "READ_CHUNK",
    "Handshake",
    "NoiseRecords",
    "RecordLayer",
    "RemoteIdentity",
    "SecureError",
    "SecureStream",
    "Security",
    "accept_secure",
    "close_writer",
    "open_secure",
    "read_clear_frame",
]

READ_CHUNK = 256 * 1024


class SecureStream:
    """An established secure channel over an asyncio stream pair, carrying codec frames."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        records: RecordLayer,
        remote: RemoteIdentity,
        max_frame: int,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.remote = remote
        self._records = records
        self._frames = FrameDecoder(max_frame)

    def send(self, payloads: Iterable[bytes]) -> None:
        """Queue frames; they leave as one or a few records."""
        self.writer.write(self._records.seal(b"".join(encode(p) for p in payloads)))

    def send_encoded(self, data: bytes) -> None:
        """Queue bytes that are already codec frames."""
        self.writer.write(self._records.seal(data))

    async def drain(self) -> None:
        await self.writer.drain()

    async def receive(self) -> list[bytes]:
        """The frames of the next read(s) that complete any; ConnectionError at the end of the
        stream, SecureError if a record does not decrypt, FrameTooLarge/EmptyFrame if the
        plaintext breaks the protocol's framing."""
        decoder = self._frames
        frames = decoder.feed(self._records.open(b""))  # records that came with the handshake
        while not frames:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                raise ConnectionError("connection closed")
            frames = decoder.feed(self._records.open(data))
        return frames

    async def receive_one(self) -> tuple[bytes, bytes]:
        """The next frame alone, and the plaintext already read after it, unframed: for a
        session whose framing ends after that frame (a relay leg, once joined)."""
        decoder = self._frames
        frames = decoder.feed(self._records.open(b""), max_frames=1)
        while not frames:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                raise ConnectionError("connection closed")
            frames = decoder.feed(self._records.open(data), max_frames=1)
        return frames[0], decoder.take_buffer()

    @property
    def records(self) -> RecordLayer:
        return self._records

    @property
    def closing(self) -> bool:
        return self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


CLOSE_GRACE = 1.0
"""Seconds a closing connection gets to take its last frames before it is cut."""


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close, giving a last frame a moment to leave; a peer that does not read is cut."""
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_GRACE):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()


async def read_clear_frame(reader: asyncio.StreamReader, decoder: FrameDecoder) -> bytes:
    """The first frame of a connection, in clear (a ``hello`` or a ``welcome``); whatever came
    after it stays in ``decoder`` (``take_buffer``) for the handshake."""
    while True:
        data = await reader.read(READ_CHUNK)
        if not data:
            raise ConnectionError("closed before its first frame")
        frames = decoder.feed(data, max_frames=1)
        if frames:
            return frames[0]


async def _run_handshake(
    handshake: Handshake,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    first: bytes,
) -> None:
    if first:
        writer.write(first)
    while handshake.remote is None:
        await writer.drain()
        data = await reader.read(READ_CHUNK)
        if not data:
            raise ConnectionError("closed during the secure handshake")
        reply = handshake.feed(data)
        if reply:
            writer.write(reply)
    await writer.drain()


async def open_secure(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    security: Security,
    *,
    prologue: bytes,
    max_frame: int,
    name: str | None = None,
    to: str | None = None,
    expect: Callable[[RemoteIdentity], None] | None = None,
    preamble: bytes = b"",
) -> SecureStream:
    """Run the handshake as initiator (after writing ``preamble``, which the caller put in the
    prologue); the caller bounds the time. Raises SecureError, OSError or ConnectionError."""
    handshake = Handshake(
        security, initiator=True, prologue=prologue, name=name, to=to, expect=expect
    )
    await _run_handshake(handshake, reader, writer, preamble + handshake.start())
    assert handshake.remote is not None
    return SecureStream(reader, writer, handshake.records(), handshake.remote, max_frame)


async def accept_secure(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    security: Security,
    *,
    prologue: bytes,
    max_frame: int,
    name: str | None = None,
    early: bytes = b"",
) -> SecureStream:
    """Run the handshake as responder; ``early`` is what was read past the preamble."""
    handshake = Handshake(security, initiator=False, prologue=prologue, name=name)
    first = handshake.feed(early) if early else b""
    await _run_handshake(handshake, reader, writer, first)
    assert handshake.remote is not None
    return SecureStream(reader, writer, handshake.records(), handshake.remote, max_frame)
