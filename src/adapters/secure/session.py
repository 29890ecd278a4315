"""The Noise XX session of one connection, sans-I/O: the handshake with the identity checks in
it, and the records after it (see :mod:`chinwag.adapters.secure.channel` for the layers).

Bytes in, bytes out: the registry server (an ``asyncio.Protocol``) drives these directly, the
stream users through :class:`~chinwag.adapters.secure.channel.SecureStream`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
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
from chinwag.adapters.wire.codec import HEADER, EmptyFrame, FrameDecoder, FrameTooLarge, encode

NOISE_PROTOCOL = PROTOCOL_NAME
MAX_RECORD_PLAINTEXT = MAX_MESSAGE - TAG_SIZE


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
        # Bulk data (file pieces): each record encrypted straight from a view of ``data`` and
        # copied once, into the output; building it from joined pieces copied every byte
        # three times, which capped a file transfer at the sender's loop.
        view = memoryview(data)
        parts: list[bytes] = []
        pack = HEADER.pack
        for start in range(0, len(data), MAX_RECORD_PLAINTEXT):
            record = encrypt(b"", view[start : start + MAX_RECORD_PLAINTEXT])
            parts += (pack(len(record)), record)
        return b"".join(parts)

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
