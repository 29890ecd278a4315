"""The peer protocol, version 2: wire DTOs, separate from the domain models (docs/protocol.md).

Only the first frame (``hello``, which carries nothing but the version) is in clear; the Noise
handshake follows, and every other frame travels inside its session."""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    model_validator,
)
from pydantic_core import to_json

from chinwag.adapters.transport.file_frames import (
    BINARY_KINDS,
    FileError,
    FileGet,
    FileHashes,
    FileNoted,
    FileNotice,
    HashesFrame,
    PieceFrame,
    WireFile,
    file_to_wire,
    parse_binary,
)
from chinwag.adapters.wire.group_change import change_from_wire, change_to_wire, decode_signature
from chinwag.application.ports.peer_transport import GroupHave
from chinwag.application.refusals import WAITING as WAITING  # "not now" codes, with reasons
from chinwag.domain.group import HASH_SIZE, MAX_MEMBERS, MAX_VERSION, Change
from chinwag.domain.identity import KEY_SIZE
from chinwag.domain.message import MAX_BODY_BYTES, MAX_SEQ, MAX_SIGNATURE, Message
from chinwag.domain.transfer import MAX_NAME_CHARS, MAX_PIECE_SIZE
from chinwag.domain.user import MAX_USERNAME_LENGTH

PROTOCOL_VERSION = 2
PROLOGUE = b"chinwag peer protocol 2\n"
"""Mixed into the Noise handshake with the clear ``hello`` frame, so a changed hello fails it."""
MAX_FRAME = 1024 * 1024
"""Largest peer frame. A batch is cut well below it; one message of the largest body fits even
if every character needs a six-byte JSON escape."""
BATCH_BYTES = 256 * 1024
MAX_BATCH = 1024
MAX_CHANGES = 1024
"""Changes in one ``group_changes`` frame (senders cut them at :data:`BATCH_BYTES` too)."""
MAX_NAME = 256
"""Characters of a name on the wire (a valid one has at most 32; the application checks)."""

assert MAX_BODY_BYTES * 6 + 1024 < MAX_FRAME
# ...with the largest file offer beside it; and the largest piece, with its head, fits a frame.
assert MAX_BODY_BYTES * 6 + MAX_NAME_CHARS * 6 + 2048 < MAX_FRAME
assert MAX_PIECE_SIZE + 64 < MAX_FRAME
# The largest create (every member's name four bytes a character) fits a batch with room.
assert MAX_MEMBERS * (24 + 2 * KEY_SIZE + 4 * MAX_USERNAME_LENGTH) + 4096 < BATCH_BYTES // 2


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


def _signature(value: object) -> object:
    """A signature arrives as base64 text; anything else is left for the type to refuse."""
    return decode_signature(value) if isinstance(value, str) else value


Signature = Annotated[bytes, BeforeValidator(_signature), Field(max_length=MAX_SIGNATURE)]
"""A signature: base64 of at most 64 bytes (an Ed25519 signature is 64; one that does not
verify, empty included, is the application's to refuse, for that message alone)."""
Name = Annotated[str, Field(max_length=MAX_NAME)]
GROUP_FIELDS = ("group", "seq", "version", "sig")
"""The fields a group message carries and a direct one does not."""
_DIRECT = (None, None, None, None)


class WireMessage(_Frame):
    """One message of a ``messages`` frame: to a person (``to``), or of a group (``group``,
    ``seq``, ``version`` and ``sig``, and no ``to``); never a mix. Either kind may carry a
    ``file`` (an offer)."""

    id: UUID
    from_: Name = Field(alias="from")
    to: Name | None = None
    body: str
    sent_at: datetime
    group: UUID | None = None
    seq: int | None = Field(default=None, ge=1, le=MAX_SEQ, strict=True)
    version: int | None = Field(default=None, ge=0, le=MAX_SEQ, strict=True)
    sig: Signature | None = None
    file: WireFile | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> WireMessage:
        # Plain tests first: this runs for every message of every batch.
        group = (self.group, self.seq, self.version, self.sig)
        if (group == _DIRECT) if self.to is not None else (None not in group):
            return self
        raise ValueError(self._kind_error())

    def _kind_error(self) -> str:
        present = [name for name in GROUP_FIELDS if getattr(self, name) is not None]
        if self.to is not None:
            return (
                f"a message to a person (with 'to') carries no {', '.join(present)}; a group "
                "message has no 'to'"
            )
        if not present:
            return (
                "a message has 'to' (to a person), or 'group', 'seq', 'version' and 'sig' (of a "
                "group); this one has neither"
            )
        missing = [name for name in GROUP_FIELDS if name not in present]
        return "a group message carries 'group', 'seq', 'version' and 'sig'; this one lacks " + (
            ", ".join(repr(name) for name in missing)
        )


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


def _is_head(value: str) -> str:
    if len(value) != 2 * HASH_SIZE or value.strip("0123456789abcdef"):
        raise ValueError(f"a head is {2 * HASH_SIZE} lowercase hex digits (a SHA-256)")
    return value


class GroupHaveFrame(_Frame):
    """How far the sender is in one group: its log's ``version`` and ``head`` (hex of the last
    change's hash), the highest sequence number it stored per author, and whether it answers
    another ``group_have`` (``reply``, never answered with one)."""

    type: Literal["group_have"]
    group: UUID
    version: int = Field(ge=0, le=MAX_VERSION, strict=True)
    head: Annotated[str, AfterValidator(_is_head)]
    authors: dict[Name, Annotated[int, Field(ge=0, le=MAX_SEQ, strict=True)]] = Field(
        max_length=MAX_MEMBERS
    )
    reply: bool = Field(default=False, strict=True)

    def to_have(self) -> GroupHave:
        return GroupHave(
            self.group, self.version, bytes.fromhex(self.head), dict(self.authors), self.reply
        )


WireChange = Annotated[Change, PlainValidator(change_from_wire)]
"""A change of a group's log: its canonical JSON object plus ``sig``
(:func:`~chinwag.adapters.wire.group_change.change_to_wire`)."""


class GroupChangesFrame(_Frame):
    """Changes of a group's membership log, each as its author signed it (not checked here)."""

    type: Literal["group_changes"]
    changes: list[WireChange] = Field(min_length=1, max_length=MAX_CHANGES)


JsonFrame = (
    Hello
    | Welcome
    | Messages
    | Receipt
    | Ping
    | Pong
    | Error
    | GroupHaveFrame
    | GroupChangesFrame
    | FileGet
    | FileHashes
    | FileNotice
    | FileError
    | FileNoted
)
AnyFrame = JsonFrame | PieceFrame | HashesFrame
Frame = Annotated[JsonFrame, Field(discriminator="type")]
FRAME: TypeAdapter[JsonFrame] = TypeAdapter(Frame)


def parse(payload: bytes) -> AnyFrame:
    """Decode one frame; raises ``pydantic.ValidationError`` (a ``ValueError``) if malformed.
    A JSON frame starts with ``{``; a binary one (a piece, hashes) with its kind byte."""
    if payload[:1] in _BINARY_STARTS:
        return parse_binary(payload)
    return FRAME.validate_json(payload)


_BINARY_STARTS = frozenset(bytes([kind]) for kind in BINARY_KINDS)


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


def group_have(have: GroupHave) -> bytes:
    return _dump(
        {
            "type": "group_have",
            "group": str(have.group),
            "version": have.version,
            "head": have.head.hex(),
            "authors": dict(have.authors),
            "reply": have.reply,
        }
    )


def change_batches(changes: Iterable[Change]) -> list[bytes]:
    """``changes`` as ``group_changes`` frames of at most :data:`MAX_CHANGES` changes and
    :data:`BATCH_BYTES` (one change may pass: the largest create is far smaller)."""
    frames: list[bytes] = []
    parts: list[bytes] = []
    size = 0
    for change in changes:
        part = change_to_wire(change)
        if parts and (size + len(part) > BATCH_BYTES or len(parts) >= MAX_CHANGES):
            frames.append(b'{"type":"group_changes","changes":[' + b",".join(parts) + b"]}")
            parts, size = [], 0
        parts.append(part)
        size += len(part)
    if parts:
        frames.append(b'{"type":"group_changes","changes":[' + b",".join(parts) + b"]}")
    return frames


_ENCODED_GROUP_MESSAGES: Final = 4096
"""Group messages whose wire item is remembered: one goes to every member (up to 255 times)."""

_encoded: OrderedDict[tuple[object, ...], bytes] = OrderedDict()


def _wire_message(message: Message) -> bytes:
    """One item of a ``messages`` frame: a direct message with ``to``, a group message with
    its group and stamp and no ``to``. A group message's item is the same for every member, so
    it is made once; it is remembered by everything it says (not by its id alone: an item must
    say what it is given, even a copy someone altered)."""
    stamp = message.stamp
    if message.group_id is None or stamp is None:
        return _encode_item(message)
    key = (
        message.id,
        message.sender,
        message.group_id,
        stamp,
        message.body,
        message.sent_at,
        message.file,
    )
    item = _encoded.get(key)
    if item is None:
        item = _encoded[key] = _encode_item(message)
        if len(_encoded) > _ENCODED_GROUP_MESSAGES:
            _encoded.popitem(last=False)
    return item


def _encode_item(message: Message) -> bytes:
    fields: dict[str, object] = {"id": str(message.id), "from": message.sender}
    stamp = message.stamp
    if message.group_id is None or stamp is None:
        fields["to"] = message.recipient
    else:
        fields["group"] = str(message.group_id)
        fields["seq"] = stamp.seq
        fields["version"] = stamp.version
        fields["sig"] = base64.b64encode(stamp.signature).decode("ascii")
    fields["body"] = message.body
    fields["sent_at"] = message.sent_at.isoformat()
    if message.file is not None:
        fields["file"] = file_to_wire(message.file)
    return _dump(fields)


def message_batches(messages: Sequence[Message]) -> list[tuple[bytes, list[Message]]]:
    """``messages`` as ``messages`` frames of at most :data:`BATCH_BYTES` (one message may pass)."""
    frames: list[tuple[bytes, list[Message]]] = []
    parts: list[bytes] = []
    batch: list[Message] = []
    size = 0
    for message in messages:
        part = _wire_message(message)
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
