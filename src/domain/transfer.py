"""Files sent in a conversation: the offer a message carries, and the life of a transfer.

A file goes as an *offer*: a message of the conversation (so it is delivered, ordered, stored
and searched like any message) whose ``file`` says what the file is: its name (the sender's
claim, cleaned by :func:`chinwag.domain.filename.safe_filename` before it touches a disk), its
size, its SHA-256, and how it is cut into pieces. Each piece has a SHA-256 of its own; the list
of those hashes is fetched from the sender and checked against the offer's ``root`` (the SHA-256
of the hashes one after another), so every piece can be checked on arrival, and the whole file
once more at the end. The offer's message id is the transfer's id.

The recipient *pulls*: it asks the sender for the pieces it lacks, so a transfer resumes from
what the recipient has, whatever broke (see docs/design-files.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from chinwag.domain.errors import InvalidStateTransition

SHA256_SIZE = 32
PIECE_SIZE = 512 * 1024
"""The piece size this client offers. Pieces of one file are all this size but the last."""
MIN_PIECE_SIZE = 16 * 1024
MAX_PIECE_SIZE = 512 * 1024
"""Pieces a client accepts in an offer: a piece (with its frame header) must fit one frame."""
MAX_FILE_SIZE = 2**40
"""The largest file an offer may describe (1 TiB): a protocol bound; each client also has a
configurable limit of its own for what it accepts (:class:`FileLimits`)."""
MAX_NAME_CHARS = 16 * 1024
"""Characters of an offered name. Longer names are refused with the message; shorter hostile
ones are taken and cleaned (a saved name is bounded far lower)."""
MAX_MIME_CHARS = 255

Digest = Annotated[bytes, Field(min_length=SHA256_SIZE, max_length=SHA256_SIZE)]


class FileOffer(BaseModel):
    """What a file message says about its file. ``name`` is the sender's claim, as sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    size: int = Field(ge=0, le=MAX_FILE_SIZE)
    sha256: Digest
    piece_size: int = Field(ge=MIN_PIECE_SIZE, le=MAX_PIECE_SIZE)
    root: Digest
    """SHA-256 of the pieces' SHA-256 hashes, in piece order (of nothing, for an empty file)."""
    mime: str = Field(default="application/octet-stream", min_length=1, max_length=MAX_MIME_CHARS)

    @property
    def pieces(self) -> int:
        """How many pieces the file has (none when it is empty)."""
        return -(-self.size // self.piece_size)

    def fields(self) -> dict[str, object]:
        """Its fields as text and integers, the digests in lowercase hex: what an offer is
        signed as (in a group message), sent as (a message's ``file``) and stored as."""
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256.hex(),
            "piece_size": self.piece_size,
            "root": self.root.hex(),
            "mime": self.mime,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> FileOffer:
        """The offer :meth:`fields` gives ``fields`` of; ``KeyError``, ``TypeError`` or
        ``ValueError`` (pydantic's ``ValidationError`` among them) if they are not one's."""
        return cls(
            name=fields["name"],
            size=fields["size"],
            sha256=bytes.fromhex(fields["sha256"]),
            piece_size=fields["piece_size"],
            root=bytes.fromhex(fields["root"]),
            mime=fields["mime"],
        )

    def piece_length(self, index: int) -> int:
        """Bytes of piece ``index``: ``piece_size``, but the last may be shorter."""
        if not 0 <= index < self.pieces:
            raise IndexError(f"piece {index} of a file of {self.pieces} pieces")
        return min(self.piece_size, self.size - index * self.piece_size)


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class TransferState(StrEnum):
    """Where a transfer is.

    ``offered``: the offer is made (out) or has arrived (in), nothing is accepted yet.
    ``active``: pieces are moving. ``paused``: they would, but cannot now; ``reason`` says why
    (the peer is offline, the disk is full...), and it goes on by itself when it can.
    ``done``: the whole file arrived and matched its hash (in: saved at ``path``).
    ``declined`` / ``cancelled``: the recipient said no / either side stopped it.
    ``failed``: it cannot go on (``reason``: the file changed at the sender, it never matched
    its hash...).
    """

    OFFERED = "offered"
    ACTIVE = "active"
    PAUSED = "paused"
    DONE = "done"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    FAILED = "failed"


FINAL = frozenset(
    {TransferState.DONE, TransferState.DECLINED, TransferState.CANCELLED, TransferState.FAILED}
)
_MOVING = frozenset({TransferState.ACTIVE, TransferState.PAUSED})
_TRANSITIONS: dict[TransferState, frozenset[TransferState]] = {
    TransferState.OFFERED: frozenset(
        {TransferState.ACTIVE, TransferState.PAUSED, *FINAL}  # paused: accepted, peer away
    ),
    TransferState.ACTIVE: frozenset(
        {TransferState.PAUSED, TransferState.DONE, TransferState.CANCELLED, TransferState.FAILED}
    ),
    TransferState.PAUSED: frozenset(
        {TransferState.ACTIVE, TransferState.DONE, TransferState.CANCELLED, TransferState.FAILED}
    ),
    **{state: frozenset() for state in FINAL},
}


def can_move(current: TransferState, new: TransferState) -> bool:
    """Whether a transfer may go from ``current`` to ``new`` (staying put always may)."""
    return new == current or new in _TRANSITIONS[current]


class Transfer(BaseModel):
    """One file moving between this user and one peer, as this side records it.

    ``id`` is the offer message's id. ``peer`` is the other side: the sender of an incoming
    file, the recipient of an outgoing one; an offer to a group has one record per member that
    asked for it, and one of its own with ``peer`` empty (the offer to all). ``path`` is the
    source file (out), or where the file was saved (in, once ``done``); ``directory`` is the
    folder an accepted incoming file goes to.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    direction: Direction
    peer: str
    conversation_id: UUID
    group_id: UUID | None = None
    offer: FileOffer
    state: TransferState
    bytes: int = Field(default=0, ge=0)
    """Bytes done: stored and checked (in), or handed to the recipient (out)."""
    reason: str | None = None
    path: str | None = None
    directory: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    notice: bool = False
    """A final state this side reached that the peer has not been told of yet."""

    @model_validator(mode="after")
    def _rules(self) -> Transfer:
        if self.bytes > self.offer.size:
            raise ValueError("a transfer cannot have done more bytes than its file has")
        if self.direction is Direction.IN and not self.peer:
            raise ValueError("an incoming file has a sender")
        return self

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def moving(self) -> bool:
        return self.state in _MOVING

    def moved(
        self,
        state: TransferState,
        now: datetime,
        *,
        reason: str | None = None,
        notice: bool | None = None,
        **changes: object,
    ) -> Transfer:
        """This transfer in ``state`` (``reason`` replaces the old one);
        :class:`InvalidStateTransition` if that is no move."""
        if not can_move(self.state, state):
            raise InvalidStateTransition(f"a {self.state} transfer cannot become {state}")
        update: dict[str, object] = {"state": state, "reason": reason, "updated_at": now}
        if notice is not None:
            update["notice"] = notice
        update.update(changes)
        return self.model_copy(update=update)


class FileLimits(BaseModel):
    """A user's rules for incoming files: the largest offer taken (larger ones are refused
    with the message), and the largest taken without asking from a verified contact (0: none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_size: int = Field(default=4 * 2**30, ge=0, le=MAX_FILE_SIZE)
    auto_accept: int = Field(default=0, ge=0, le=MAX_FILE_SIZE)


class RateMeter:
    """Bytes per second over the last few seconds (a sliding window of samples), and the time
    left at that rate. Pure: the caller passes the clock's reading."""

    WINDOW = 5.0

    def __init__(self) -> None:
        self._samples: list[tuple[float, int]] = []

    def add(self, now: float, done: int) -> None:
        """``done`` bytes are done at ``now`` (seconds, any monotonic origin)."""
        self._samples.append((now, done))
        cutoff = now - self.WINDOW
        while len(self._samples) > 2 and self._samples[1][0] <= cutoff:
            self._samples.pop(0)

    def reset(self) -> None:
        self._samples.clear()

    def rate(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (start, first), (end, last) = self._samples[0], self._samples[-1]
        return (last - first) / (end - start) if end > start else 0.0

    def time_left(self, remaining: int) -> float | None:
        rate = self.rate()
        return remaining / rate if rate > 0 else None
