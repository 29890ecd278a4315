"""The peer protocol, version 2: wire DTOs, separate from the domain models (docs/protocol.md).

Only the first frame (``hello``, which carries nothing but the version) is in clear; the Noise
handshake follows, and every other frame travels inside its session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import to_json

from chinwag.domain.message import MAX_BODY_BYTES, Message

PROTOCOL_VERSION = 2
PROLOGUE = b"chinwag peer protocol 2\n"
"""Mixed into the Noise handshake with the clear ``hello`` frame, so a changed hello fails it."""
MAX_FRAME = 1024 * 1024
"""Largest peer frame. A batch is cut well below it; one message of the largest body fits even
if every character needs a six-byte JSON escape."""
BATCH_BYTES = 256 * 1024
MAX_BATCH = 1024

assert MAX_BODY_BYTES * 6 + 1024 < MAX_FRAME


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hello(_Frame):
    """First frame from the connecting peer, in clear: the version it speaks. ``from`` and
    ``to`` are empty since version 2 (the names travel encrypted, in the handshake); they stay
    so that a version-1 peer reads the frame and answers ``unsupported_version``."""

    type: Literal["hello"]
    version: int
    from_: str = Field(alias="from", max_length=256)
    to: str = Field(max_length=256)


class Welcome(_Frame):
    """The accepting peer's answer to a matching ``hello``."""

    type: Literal["welcome"]
    version: int
    user: str


class WireMessage(_Frame):
    id: UUID
    from_: str = Field(alias="from", max_length=256)
    to: str = Field(max_length=256)
    body: str
    sent_at: datetime


class Messages(_Frame):
    type: Literal["messages"]
    messages: list[WireMessage] = Field(min_length=1, max_length=MAX_BATCH)


Code = Annotated[str, Field(max_length=64, pattern=r"^[a-z_]+$")]
"""An error or refusal code: a word of the protocol, never free text."""
Text = Annotated[str, Field(max_length=500)]
"""A reason for people: bounded, since the sender shows and stores it."""


class Rejection(_Frame):
    id: UUID
    code: Code
    reason: Text


class Receipt(_Frame):
    """The answer to a ``messages`` frame: ``acked`` ids are committed by the recipient."""

    type: Literal["receipt"]
    acked: list[UUID]
    rejected: list[Rejection] = []


class Ping(_Frame):
    """Asks for a ``pong`` with the same ``n``: a round trip, for the connection doctor."""

    type: Literal["ping"]
    n: int = Field(ge=0, le=2**53)


class Pong(_Frame):
    type: Literal["pong"]
    n: int = Field(ge=0, le=2**53)


class Error(_Frame):
    type: Literal["error"]
    code: Code
    message: Text


Frame = Annotated[
    Hello | Welcome | Messages | Receipt | Ping | Pong | Error, Field(discriminator="type")
]
FRAME = TypeAdapter(Frame)


def parse(payload: bytes) -> Hello | Welcome | Messages | Receipt | Ping | Pong | Error:
    """Decode one frame; raises ``pydantic.ValidationError`` (a ``ValueError``) if malformed."""
    return FRAME.validate_json(payload)


def _dump(frame: dict[str, object]) -> bytes:
    """Compact UTF-8 JSON (pydantic-core's encoder: several times faster than ``json``)."""
    return to_json(frame)


def hello() -> bytes:
    return _dump({"type": "hello", "version": PROTOCOL_VERSION, "from": "", "to": ""})


def welcome(me: str) -> bytes:
    return _dump({"type": "welcome", "version": PROTOCOL_VERSION, "user": me})


def ping(n: int) -> bytes:
    return _dump({"type": "ping", "n": n})


def pong(n: int) -> bytes:
    return _dump({"type": "pong", "n": n})


def error(code: str, message: str) -> bytes:
    return _dump({"type": "error", "code": code, "message": message})


def receipt(acked: Sequence[UUID], rejected: Sequence[tuple[UUID, str, str]]) -> bytes:
    return _dump(
        {
            "type": "receipt",
            "acked": [str(i) for i in acked],
            "rejected": [{"id": str(i), "code": c, "reason": r} for i, c, r in rejected],
        }
    )


def message_batches(messages: Sequence[Message]) -> list[tuple[bytes, list[Message]]]:
    """``messages`` as ``messages`` frames of at most :data:`BATCH_BYTES` (one message may pass)."""
    frames: list[tuple[bytes, list[Message]]] = []
    parts: list[bytes] = []
    batch: list[Message] = []
    size = 0
    for message in messages:
        part = _dump(
            {
                "id": str(message.id),
                "from": message.sender,
                "to": message.recipient,
                "body": message.body,
                "sent_at": message.sent_at.isoformat(),
            }
        )
        if batch and (size + len(part) > BATCH_BYTES or len(batch) >= MAX_BATCH):
            frames.append((_messages_frame(parts), batch))
            parts, batch, size = [], [], 0
        parts.append(part)
        batch.append(message)
        size += len(part)
    if batch:
        frames.append((_messages_frame(parts), batch))
    return frames


def _messages_frame(parts: list[bytes]) -> bytes:
    return b'{"type":"messages","messages":[' + b",".join(parts) + b"]}"
