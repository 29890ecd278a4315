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
or altered record can never be read. The pieces here are sans-I/O (bytes in, bytes out), so the
registry server (an ``asyncio.Protocol``) and the stream-based clients share them;
:class:`SecureStream` is the thin asyncio shell the stream users share.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chinwag.adapters.secure.keys import LocalKeys, verify_static_key
from chinwag.adapters.secure.noise import (
    MAX_MESSAGE,
    PROTOCOL_NAME,
    TAG_SIZE,
    CipherState,
    HandshakeState,
    NoiseError,
)
from chinwag.adapters.wire.codec import EmptyFrame, FrameDecoder, FrameTooLarge, encode

NOISE_PROTOCOL = PROTOCOL_NAME
MAX_RECORD_PLAINTEXT = MAX_MESSAGE - TAG_SIZE
READ_CHUNK = 256 * 1024


class SecureError(Exception):
    """The secure channel cannot go on; ``code`` is the wire/CLI error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class RemoteIdentity:
    """Who is at the other end, as proven in the handshake."""

    key: bytes
    """The peer's Ed25519 identity key (raw 32 bytes)."""
    name: str | None = None
    """The name it claims (peer protocol); checked by the caller against the registry and pins."""
    to: str | None = None
    """The name it wants to reach (peer protocol, initiator only)."""


class _Proof(BaseModel):
    """A handshake payload: an identity and its signature of the Noise static key."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    identity: str = Field(max_length=64)
    signature: str = Field(max_length=128)
    name: str | None = Field(default=None, max_length=256)
    to: str | None = Field(default=None, max_length=256)


def _proof(keys: LocalKeys, name: str | None, to: str | None) -> bytes:
    return (
        _Proof(
            identity=base64.b64encode(keys.identity_key).decode("ascii"),
            signature=base64.b64encode(keys.static_key_signature()).decode("ascii"),
            name=name,
            to=to,
        )
        .model_dump_json(exclude_none=True)
        .encode()
    )


def _check_proof(payload: bytes, remote_static: bytes | None) -> RemoteIdentity:
    """The identity a handshake payload proves for ``remote_static``; SecureError if it does not."""
    try:
        proof = _Proof.model_validate_json(payload)
        identity = base64.b64decode(proof.identity, validate=True)
        signature = base64.b64decode(proof.signature, validate=True)
    except (ValidationError, binascii.Error, ValueError):
        raise SecureError("handshake_failed", "malformed identity in the handshake") from None
    if remote_static is None or not verify_static_key(identity, remote_static, signature):
        raise SecureError("handshake_failed", "the peer's identity key did not sign its Noise key")
    return RemoteIdentity(key=identity, name=proof.name, to=proof.to)


class _ClearError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    code: str = Field(max_length=64)
    message: str = Field(default="", max_length=500)


def _clear_refusal(message: bytes) -> SecureError | None:
    """An ``error`` frame sent in clear where a handshake message was due (a version-1 peer
    saying ``unsupported_version``, or ``busy``), as a SecureError; None if it is not one."""
    if message[:1] != b"{":
        return None
    try:
        error = _ClearError.model_validate_json(message)
    except ValidationError:
        return None
    if error.type != "error":
        return None
    return SecureError(error.code, f"refused before the handshake: {error.message!r}")


class RecordLayer(Protocol):
    """Turns the plaintext stream into records and back (Noise in the product)."""

    def seal(self, data: bytes) -> bytes:
        """``data`` as framed records, ready to write."""
        ...

    def open(self, data: bytes) -> bytes:
        """The plaintext of the records ``data`` completes (maybe none); SecureError if any
        record does not decrypt."""
        ...


class NoiseRecords:
    """Records sealed with the session's two cipher states (one per direction)."""

    __slots__ = ("_broken", "_decoder", "_receive", "_send")

    def __init__(self, send: CipherState, receive: CipherState, decoder: FrameDecoder) -> None:
        self._send = send
        self._receive = receive
        self._decoder = decoder
        self._broken = False

    def seal(self, data: bytes) -> bytes:
        encrypt = self._send.encrypt_with_ad
        if len(data) <= MAX_RECORD_PLAINTEXT:
            return encode(encrypt(b"", data))
        view = memoryview(data)
        return b"".join(
            encode(encrypt(b"", bytes(view[start : start + MAX_RECORD_PLAINTEXT])))
            for start in range(0, len(data), MAX_RECORD_PLAINTEXT)
        )

    def open(self, data: bytes) -> bytes:
        if self._broken:  # one failure ends the session: nothing after it is read
            raise SecureError("decrypt_failed", "the session already failed")
        try:
            records = self._decoder.feed(data)
            decrypt = self._receive.decrypt_with_ad
            if len(records) == 1:
                return decrypt(b"", records[0])
            return b"".join(decrypt(b"", record) for record in records)
        except (FrameTooLarge, EmptyFrame) as exc:
            self._broken = True
            raise SecureError("bad_record", str(exc)) from None
        except NoiseError:
            self._broken = True
            raise SecureError("decrypt_failed", "a record failed to decrypt") from None


class Security:
    """What the adapters are given: this side's keys, and how a session seals its records.

    The product always uses Noise records; the benchmarks substitute a subclass whose records are
    not encrypted, to measure what encryption costs (it lives in ``benchmarks/``, out of reach of
    the product).
    """

    def __init__(self, keys: LocalKeys) -> None:
        self.keys = keys

    def records(
        self, send: CipherState, receive: CipherState, decoder: FrameDecoder
    ) -> RecordLayer:
        return NoiseRecords(send, receive, decoder)


class Handshake:
    """The Noise XX handshake of one connection, sans-I/O.

    The initiator calls :meth:`start` and sends what it returns; both sides then :meth:`feed`
    whatever arrives and send what it returns, until :attr:`remote` is set. The initiator checks
    the responder (``expect``) before it reveals its own identity in message 3.
    """

    def __init__(
        self,
        security: Security,
        *,
        initiator: bool,
        prologue: bytes,
        name: str | None = None,
        to: str | None = None,
        expect: Callable[[RemoteIdentity], None] | None = None,
    ) -> None:
        self._security = security
        self._initiator = initiator
        self._name = name
        self._to = to
        self._expect = expect
        self._state = HandshakeState(
            NOISE_PROTOCOL,
            initiator=initiator,
            prologue=prologue,
            s=security.keys.noise_private,
        )
        self._decoder = FrameDecoder(MAX_MESSAGE)
        self.remote: RemoteIdentity | None = None

    def start(self) -> bytes:
        """Message 1 (initiator only): an ephemeral key, nothing else."""
        assert self._initiator
        return self._write(b"")

    def feed(self, data: bytes) -> bytes:
        """Take handshake bytes; return what to send. Bytes past the last handshake message are
        kept for the session (see :meth:`records`)."""
        out: list[bytes] = []
        while self.remote is None:
            try:
                frames = self._decoder.feed(data, max_frames=1)
            except (FrameTooLarge, EmptyFrame) as exc:
                raise SecureError("handshake_failed", str(exc)) from None
            data = b""
            if not frames:
                break
            out.append(self._step(frames[0]))
        return b"".join(out)

    def _step(self, message: bytes) -> bytes:
        payload = self._read(message)
        if self._initiator:  # message 2: the responder's identity
            remote = _check_proof(payload, self._state.remote_static)
            if self._expect is not None:
                self._expect(remote)
            reply = self._write(_proof(self._security.keys, self._name, self._to))
            self.remote = remote
            return reply
        if not self._state.complete:  # message 1 read: answer with our identity
            return self._write(_proof(self._security.keys, self._name, None))
        self.remote = _check_proof(payload, self._state.remote_static)  # message 3
        return b""

    def _read(self, message: bytes) -> bytes:
        try:
            return self._state.read_message(message)
        except NoiseError as exc:
            refusal = _clear_refusal(message)
            if refusal is not None:  # an older chinwag, or a refusal before any session
                raise refusal from None
            raise SecureError("handshake_failed", f"handshake failed: {exc}") from None

    def _write(self, payload: bytes) -> bytes:
        try:
            return encode(self._state.write_message(payload))
        except NoiseError as exc:
            raise SecureError("handshake_failed", f"handshake failed: {exc}") from None

    def records(self) -> RecordLayer:
        """The session's record layer; only once :attr:`remote` is set. It starts with whatever
        arrived after the handshake."""
        assert self.remote is not None and self._state.complete
        initiator_to_responder, responder_to_initiator = self._state.split()
        if self._initiator:
            send, receive = initiator_to_responder, responder_to_initiator
        else:
            send, receive = responder_to_initiator, initiator_to_responder
        return self._security.records(send, receive, self._decoder)


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
