"""Messages, their size rules and the life of their delivery state."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from chinwag.domain.errors import InvalidMessage, InvalidStateTransition
from chinwag.domain.transfer import Direction, FileOffer, Transfer, TransferState
from chinwag.domain.user import Username

MAX_BODY_BYTES = 64 * 1024
"""The largest message body, in bytes of UTF-8. Frames on the wire are sized to carry it."""

EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""The earliest time a message may carry (included)."""

LATEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)
"""The first time a message may no longer carry (excluded)."""


class MessageState(StrEnum):
    """Where an outgoing message is on its way to the recipient.

    ``pending``: committed locally, not yet written to the recipient.
    ``queued``: committed locally and waiting for the recipient to be reachable (offline, or
    tries failed); it goes out by itself, in order, when they are.
    ``sent``: written to the recipient's connection, not yet acknowledged.
    ``delivered``: the recipient acknowledged it, which it does only after committing it.
    ``failed``: it will not be delivered; the reason says why.
    ``received``: the state of a message that somebody sent to us.
    """

    PENDING = "pending"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    RECEIVED = "received"


UNACKNOWLEDGED = frozenset({MessageState.PENDING, MessageState.QUEUED, MessageState.SENT})
"""The states of outgoing messages still to be delivered (the outbox)."""

_TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    MessageState.PENDING: frozenset(
        {MessageState.QUEUED, MessageState.SENT, MessageState.DELIVERED, MessageState.FAILED}
    ),
    MessageState.QUEUED: frozenset(
        {MessageState.PENDING, MessageState.SENT, MessageState.DELIVERED, MessageState.FAILED}
    ),
    # An unacknowledged message goes back to pending (or queued) when its connection drops.
    MessageState.SENT: frozenset(
        {MessageState.PENDING, MessageState.QUEUED, MessageState.DELIVERED, MessageState.FAILED}
    ),
    MessageState.DELIVERED: frozenset(),
    MessageState.FAILED: frozenset({MessageState.PENDING}),
    MessageState.RECEIVED: frozenset(),
}


def can_transition(current: MessageState, new: MessageState) -> bool:
    """Whether a message may move from ``current`` to ``new``."""
    return new in _TRANSITIONS[current]


def validate_time(moment: datetime) -> datetime:
    """Return ``moment`` in UTC if a message may carry it, else raise :class:`InvalidMessage`.

    ``sent_at`` is the sender's claim and is stored as it comes. A peer once sent
    ``9999-12-31T23:59:59-23:59``: valid ISO 8601, but past ``datetime.max`` in UTC, so converting
    it raised and made the whole history unreadable. Times are therefore bounded to
    [:data:`EARLIEST_TIME`, :data:`LATEST_TIME`), compared before converting (comparison of
    aware datetimes cannot overflow, conversion can), and kept in UTC so every reader and store
    sees one form.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidMessage("a message time must say its offset from UTC")
    if not EARLIEST_TIME <= moment < LATEST_TIME:
        raise InvalidMessage(
            f"a message time must be from {EARLIEST_TIME:%Y-%m-%d} and before "
            f"{LATEST_TIME:%Y-%m-%d} (UTC); {moment.isoformat()!r} is not"
        )
    return moment.astimezone(UTC)


_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Characters that are letters or symbols by category but draw nothing (Hangul fillers, the
blank braille pattern)."""


def _visible(ch: str) -> bool:
    """Whether ``ch`` draws something: not a space, control, format (zero-width, tags) or mark
    alone, nor a blank letter."""
    category = unicodedata.category(ch)
    return category[0] not in "ZCM" and ch not in _BLANK_LETTERS


def validate_body(body: str) -> str:
    """Return ``body`` unchanged if it may be sent, else raise :class:`InvalidMessage`.

    Bodies are kept exactly as typed (newlines, emoji, right-to-left text) but must contain
    something visible, encode as UTF-8 (no lone surrogates) and fit in :data:`MAX_BODY_BYTES`.
    """
    if not body.strip() or not any(_visible(ch) for ch in body):
        raise InvalidMessage("a message cannot be empty (or only invisible characters)")
    try:
        size = len(body.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidMessage("a message must be valid Unicode text") from exc
    if size > MAX_BODY_BYTES:
        raise InvalidMessage(
            f"a message is at most {MAX_BODY_BYTES} bytes of UTF-8; this one has {size}"
        )
    if "\x00" in body:
        raise InvalidMessage("a message cannot contain NUL characters")
    return body


MAX_SIGNATURE = 64
"""Bytes of an Ed25519 signature."""

MAX_SEQ = 2**53 - 1
"""The largest author sequence number or membership version (exact in every JSON reader)."""


class GroupStamp(BaseModel):
    """What makes a group message checkable by every member, whoever forwards it.

    ``seq``: the author's sequence number in this group (1, 2, 3... with no gap), which gives
    each author's order; ``version``: the membership version (of the group's log) the author
    sent it under; ``signature``: the author's identity-key signature of
    :func:`chinwag.domain.group_message.signed_bytes` (empty until signed).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1, le=MAX_SEQ)
    version: int = Field(ge=0, le=MAX_SEQ)
    signature: bytes = Field(default=b"", max_length=MAX_SIGNATURE)


class Message(BaseModel):
    """One message of a conversation, as stored by both its sender and its recipient.

    A direct message has a ``recipient``; a group message has none (its recipients are the
    group's members, each with a delivery of its own) but a ``group_id`` (which is also its
    conversation's id) and a :class:`GroupStamp`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    conversation_id: UUID
    sender: Username
    recipient: Username | None = None
    group_id: UUID | None = None
    stamp: GroupStamp | None = None
    body: str
    sent_at: AwareDatetime
    state: MessageState
    reason: str | None = None
    received_at: AwareDatetime | None = None
    """For a received message, this device's clock when it was stored (``sent_at`` is the
    sender's claim)."""
    file: FileOffer | None = None
    """A file offer (the message's id is its transfer's id); ``body`` is then its text in
    the conversation, for people and search (the sender puts the file's name)."""

    @field_validator("body")
    @classmethod
    def _body_rules(cls, body: str) -> str:
        return validate_body(body)

    @field_validator("sent_at", "received_at")
    @classmethod
    def _time_rules(cls, moment: datetime | None) -> datetime | None:
        return None if moment is None else validate_time(moment)

    @model_validator(mode="after")
    def _kind_rules(self) -> Message:
        if self.group_id is None:
            if self.recipient is None:
                raise InvalidMessage("a message goes to a person or to a group")
            if self.stamp is not None:
                raise InvalidMessage("only a group message carries a group stamp")
        else:
            if self.recipient is not None:
                raise InvalidMessage("a group message goes to the group, not to one person")
            if self.stamp is None:
                raise InvalidMessage("a group message carries its author's sequence and version")
            if self.conversation_id != self.group_id:
                raise InvalidMessage("a group message belongs to its group's conversation")
        return self

    @property
    def is_group(self) -> bool:
        return self.group_id is not None

    def is_outgoing_for(self, user: str) -> bool:
        return self.sender == user

    def with_state(self, new: MessageState, reason: str | None = None) -> Message:
        """This message in state ``new``; :class:`InvalidStateTransition` if that is no move."""
        if not can_transition(self.state, new):
            raise InvalidStateTransition(f"a {self.state} message cannot become {new}")
        return self.model_copy(update={"state": new, "reason": reason})


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; naive datetimes are refused, never guessed."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not allowed; chinwag keeps time in UTC")
    return moment.astimezone(UTC)


def incoming_transfer(message: Message) -> Transfer | None:
    """The record a received file offer makes (state ``offered``, nothing done yet), or None
    if ``message`` is no received offer: what every message store makes in the same commit
    as the offer."""
    if message.file is None or message.state is not MessageState.RECEIVED:
        return None
    at = message.received_at or message.sent_at
    return Transfer(
        id=message.id,
        direction=Direction.IN,
        peer=message.sender,
        conversation_id=message.conversation_id,
        group_id=message.group_id,
        offer=message.file,
        state=TransferState.OFFERED,
        created_at=at,
        updated_at=at,
    )
