"""How a message is a row of ``messages``, and back; shared by the statements of the message
repository's modules.

Times are integer microseconds since the epoch, read back as aware UTC datetimes. A group
message stores :data:`~chinwag.adapters.sqlite.schema.NO_RECIPIENT` as its recipient (the
column is NOT NULL since migration 1) and its stamp in three columns (migration 7); a
one-to-one message leaves those NULL. A file offer's message keeps its offer as JSON in
``file`` (migration 8; see :func:`offer_json`), NULL for any other message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar
from uuid import UUID

from chinwag.adapters.sqlite.database import StorageError
from chinwag.adapters.sqlite.schema import NO_RECIPIENT
from chinwag.domain.message import EARLIEST_TIME, LATEST_TIME, GroupStamp, Message, MessageState
from chinwag.domain.transfer import FileOffer

T = TypeVar("T")

_NAMES: Final = (
    "id",
    "conversation_id",
    "sender",
    "recipient",
    "body",
    "sent_at",
    "state",
    "reason",
    "received_at",
    "group_id",
    "stamp_seq",
    "stamp_version",
    "stamp_signature",
    "file",
)
COLUMNS: Final = ", ".join(_NAMES)
"""The columns of a message, in :data:`Row` order."""

JOINED_COLUMNS: Final = ", ".join(f"m.{name}" for name in _NAMES)
""":data:`COLUMNS` of ``messages AS m``, for a join with a table that shares some names."""

WIDTH: Final = len(_NAMES)
"""Values in a :data:`Row`."""

# Where these are in a :data:`Row` (literals, so that the type checker knows each one's type).
ID: Final = 0
SENDER: Final = 2
STATE: Final = 6
GROUP: Final = 9
STAMP_SEQ: Final = 10
FILE: Final = 13
assert [_NAMES[i] for i in (ID, SENDER, STATE, GROUP, STAMP_SEQ, FILE)] == [
    "id",
    "sender",
    "state",
    "group_id",
    "stamp_seq",
    "file",
]

Row = tuple[
    str,  # id
    str,  # conversation_id
    str,  # sender
    str,  # recipient ('' for a group message)
    str,  # body
    int,  # sent_at
    str,  # state
    str | None,  # reason
    int | None,  # received_at
    str | None,  # group_id
    int | None,  # stamp_seq
    int | None,  # stamp_version
    bytes | None,  # stamp_signature
    str | None,  # file (the offer as JSON)
]

MAX_IN: Final = 500
"""Values bound in one statement, well under SQLite's limit of variables."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def marks(values: Sequence[object]) -> str:
    """As many ``?`` as ``values``, comma-separated."""
    return ",".join("?" * len(values))


def chunks(items: Sequence[T], size: int = MAX_IN) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


_EARLIEST: Final = to_micros(EARLIEST_TIME)
_LATEST: Final = to_micros(LATEST_TIME) - 1


def from_micros(micros: int) -> datetime:
    """The stored time, moved to the nearest time a message may carry if it is out of bounds:
    a file written before times were bounded may hold any, and one such row must not make the
    whole history unreadable."""
    return _EPOCH + min(max(micros, _EARLIEST), _LATEST) * _MICROSECOND


def offer_json(offer: FileOffer) -> str:
    """``offer`` as stored: JSON with its digests in hex, ASCII only (``ensure_ascii``): any
    character of a name, NUL included, is stored as its escape."""
    return json.dumps(offer.fields(), separators=(",", ":"))


def offer_from_json(text: str, what: str) -> FileOffer:
    """The offer stored as ``text``; :class:`StorageError` naming ``what`` holds it if it is
    not one (a damaged row is reported, not guessed at)."""
    try:
        return FileOffer.from_fields(json.loads(text))
    except (ValueError, TypeError, KeyError) as exc:  # pydantic's ValidationError included
        raise StorageError(f"{what} holds a damaged file offer: {exc}") from exc


def to_row(message: Message, state: MessageState | None = None) -> Row:
    """``message`` as a row; in ``state`` (no reason) instead of its own if given."""
    stamp = message.stamp
    return (
        str(message.id),
        str(message.conversation_id),
        message.sender,
        NO_RECIPIENT if message.recipient is None else message.recipient,
        message.body,
        to_micros(message.sent_at),
        message.state.value if state is None else state.value,
        message.reason if state is None else None,
        None if message.received_at is None else to_micros(message.received_at),
        None if message.group_id is None else str(message.group_id),
        None if stamp is None else stamp.seq,
        None if stamp is None else stamp.version,
        None if stamp is None else stamp.signature,
        None if message.file is None else offer_json(message.file),
    )


def from_row(row: Row) -> Message:
    (
        id_,
        conversation_id,
        sender,
        recipient,
        body,
        sent_at,
        state,
        reason,
        received_at,
        group_id,
        stamp_seq,
        stamp_version,
        signature,
        file,
    ) = row
    offer = None if file is None else offer_from_json(file, f"the message {id_}")
    if group_id is None:
        return Message(
            id=UUID(id_),
            conversation_id=UUID(conversation_id),
            sender=sender,
            recipient=recipient,
            body=body,
            sent_at=from_micros(sent_at),
            state=MessageState(state),
            reason=reason,
            received_at=None if received_at is None else from_micros(received_at),
            file=offer,
        )
    if stamp_seq is None or stamp_version is None:
        raise StorageError(f"the group message {id_} is stored without its sequence and version")
    return Message(
        id=UUID(id_),
        conversation_id=UUID(conversation_id),
        sender=sender,
        group_id=UUID(group_id),
        stamp=GroupStamp(seq=stamp_seq, version=stamp_version, signature=signature or b""),
        body=body,
        sent_at=from_micros(sent_at),
        state=MessageState(state),
        reason=reason,
        received_at=None if received_at is None else from_micros(received_at),
        file=offer,
    )
