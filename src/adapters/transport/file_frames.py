"""The peer protocol's file frames (docs/protocol.md, "Files"): the offer a message carries, the
requests the connecting peer sends for a file it was offered, and the answers.

Requests and the small answers are JSON like every other frame. The two answers that carry
data are binary: a frame whose first byte is not ``{`` (0x01: a piece, 0x02: piece hashes), then
the transfer id (16 bytes), an 8-byte big-endian number (the piece's index, the first hash's
index) and the data itself, as it is: no JSON, no base64, so a piece costs one copy on each side.
:func:`parse_binary` reads them; :func:`chinwag.adapters.transport.protocol.parse` routes a
frame by its first byte, so messages pay one byte comparison for it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Annotated, ClassVar, Final, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, to_json

from chinwag.application.ports.peer_transport import HASHES_PER_ANSWER, TransferNotice
from chinwag.domain.transfer import (
    MAX_FILE_SIZE,
    MAX_MIME_CHARS,
    MAX_NAME_CHARS,
    MAX_PIECE_SIZE,
    MIN_PIECE_SIZE,
    SHA256_SIZE,
    FileOffer,
)

PIECE: Final = 0x01
"""First byte of a piece frame."""
HASHES: Final = 0x02
"""First byte of a hashes frame."""
BINARY_KINDS: Final = frozenset({PIECE, HASHES})
_HEAD = struct.Struct(">B16sQ")
_FRAMED = struct.Struct(">IB16sQ")
"""The codec's length header, then a binary frame's head."""
HEAD_SIZE: Final = _HEAD.size
"""Bytes before the data of a binary frame: kind, transfer id, index."""
MAX_INDEX: Final = 2**53
"""The largest piece index or hash start on the wire (JSON's exact integers; a file of 1 TiB
in 16 KiB pieces has 2^26)."""
MAX_HASHES_BYTES: Final = HASHES_PER_ANSWER * SHA256_SIZE
NOTICE_STATES: Final = ("declined", "cancelled", "done", "failed")


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _is_digest(value: str) -> str:
    if len(value) != 2 * SHA256_SIZE or value.strip("0123456789abcdef"):
        raise ValueError(f"a SHA-256 is {2 * SHA256_SIZE} lowercase hex digits")
    return value


HexDigest = Annotated[str, AfterValidator(_is_digest)]
Index = Annotated[int, Field(ge=0, le=MAX_INDEX, strict=True)]
Code = Annotated[str, Field(max_length=64, pattern=r"^[a-z_]+$")]
Text = Annotated[str, Field(max_length=500)]


class WireFile(_Frame):
    """The ``file`` of a message: what :class:`~chinwag.domain.transfer.FileOffer` says, with
    its digests in hex. Its bounds are the offer's: a file the domain would refuse is a
    malformed frame, as any other malformed field is."""

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    size: int = Field(ge=0, le=MAX_FILE_SIZE, strict=True)
    sha256: HexDigest
    piece_size: int = Field(ge=MIN_PIECE_SIZE, le=MAX_PIECE_SIZE, strict=True)
    root: HexDigest
    mime: str = Field(min_length=1, max_length=MAX_MIME_CHARS)

    def to_offer(self) -> FileOffer:
        return FileOffer(
            name=self.name,
            size=self.size,
            sha256=bytes.fromhex(self.sha256),
            piece_size=self.piece_size,
            root=bytes.fromhex(self.root),
            mime=self.mime,
        )


def file_to_wire(offer: FileOffer) -> dict[str, object]:
    """``offer`` as a message's ``file`` object."""
    return offer.fields()


# -- requests (connecting peer -> accepting peer) ---------------------------------------------


class FileGet(_Frame):
    """Asks for piece ``piece`` of the file offered as transfer ``id``."""

    type: Literal["file_get"]
    id: UUID
    piece: Index


class FileHashes(_Frame):
    """Asks for the piece hashes of transfer ``id`` from index ``from`` on."""

    type: Literal["file_hashes"]
    id: UUID
    from_: Index = Field(alias="from")


class FileNotice(_Frame):
    """Tells the peer a transfer between them ended (answered ``file_noted`` once stored)."""

    type: Literal["file_notice"]
    id: UUID
    state: Literal["declined", "cancelled", "done", "failed"]
    reason: Text | None = None

    def to_notice(self) -> TransferNotice:
        return TransferNotice(self.id, self.state, self.reason)


# -- answers (accepting peer -> connecting peer) ----------------------------------------------


class FileError(_Frame):
    """A request about transfer ``id`` refused: ``for`` says which kind, ``at`` which piece
    or hash start (null for a notice), ``code`` why (``unknown_transfer``, ``cancelled``,
    ``changed``, ``busy``, ``internal``)."""

    type: Literal["file_error"]
    id: UUID
    for_: Literal["piece", "hashes", "notice"] = Field(alias="for")
    at: Index | None = None
    code: Code
    reason: Text


class FileNoted(_Frame):
    """The notice about transfer ``id`` was handled (stored)."""

    type: Literal["file_noted"]
    id: UUID


@dataclass(frozen=True, slots=True)
class PieceFrame:
    """A binary answer: piece ``index`` of ``transfer`` (``data`` as received, unchecked)."""

    transfer: UUID
    index: int
    data: bytes
    type: ClassVar[str] = "piece"


@dataclass(frozen=True, slots=True)
class HashesFrame:
    """A binary answer: piece hashes of ``transfer`` from ``start`` on (32 bytes each)."""

    transfer: UUID
    start: int
    data: bytes
    type: ClassVar[str] = "hashes"


def _bad(kind: str, text: str, payload: bytes) -> ValidationError:
    """A malformed binary frame, reported as a malformed JSON frame is (a ValidationError)."""
    detail: InitErrorDetails = {
        "type": PydanticCustomError("bad_frame", text),
        "loc": (kind,),
        "input": payload[:HEAD_SIZE],
    }
    return ValidationError.from_exception_data(kind, [detail])


def parse_binary(payload: bytes) -> PieceFrame | HashesFrame:
    """A binary answer (the caller saw its first byte is one of :data:`BINARY_KINDS`);
    ``ValidationError`` if it is malformed."""
    kind_name = "piece" if payload[:1] == b"\x01" else "hashes"
    if len(payload) < HEAD_SIZE:
        raise _bad(kind_name, f"a {kind_name} frame has a {HEAD_SIZE}-byte head", payload)
    kind, transfer, index = _HEAD.unpack_from(payload)
    if index > MAX_INDEX:
        raise _bad(kind_name, f"an index is at most 2^53, not {index}", payload)
    data = payload[HEAD_SIZE:]
    if kind == PIECE:
        if len(data) > MAX_PIECE_SIZE:
            raise _bad(kind_name, f"a piece is at most {MAX_PIECE_SIZE} bytes", payload)
        return PieceFrame(UUID(bytes=transfer), index, data)
    if len(data) % SHA256_SIZE or len(data) > MAX_HASHES_BYTES:
        raise _bad(
            kind_name,
            f"hashes are {SHA256_SIZE} bytes each, at most {HASHES_PER_ANSWER} of them",
            payload,
        )
    return HashesFrame(UUID(bytes=transfer), index, data)


# -- encoding ---------------------------------------------------------------------------------


def file_get(transfer: UUID, index: int) -> bytes:
    return to_json({"type": "file_get", "id": str(transfer), "piece": index})


def file_hashes(transfer: UUID, start: int) -> bytes:
    return to_json({"type": "file_hashes", "id": str(transfer), "from": start})


def file_notice(notice: TransferNotice) -> bytes:
    return to_json(
        {
            "type": "file_notice",
            "id": str(notice.transfer),
            "state": notice.state,
            "reason": notice.reason,
        }
    )


def file_error(transfer: UUID, kind: str, at: int | None, code: str, reason: str) -> bytes:
    return to_json(
        {
            "type": "file_error",
            "id": str(transfer),
            "for": kind,
            "at": at,
            "code": code,
            "reason": reason[:500],
        }
    )


def file_noted(transfer: UUID) -> bytes:
    return to_json({"type": "file_noted", "id": str(transfer)})


def piece_frame(transfer: UUID, index: int, data: bytes) -> bytes:
    """A piece frame's payload."""
    return b"".join((_HEAD.pack(PIECE, transfer.bytes, index), data))


def hashes_frame(transfer: UUID, start: int, data: bytes) -> bytes:
    """A hashes frame's payload."""
    return b"".join((_HEAD.pack(HASHES, transfer.bytes, start), data))


def encoded_binary(kind: int, transfer: UUID, index: int, data: bytes) -> bytes:
    """A binary frame ready for the session, its codec header included, made with one copy of
    ``data``: what :meth:`~chinwag.adapters.secure.channel.SecureStream.send_encoded` takes."""
    return b"".join((_FRAMED.pack(HEAD_SIZE + len(data), kind, transfer.bytes, index), data))
