"""JSON lines: one object per message, everything needed to store it again, and the reader that
turns such a line back into a message to import.

A line (keys always present: ``v``, ``id``, ``conversation``, ``sender``, ``sent_at``,
``state``, ``body``)::

    {"v": 1, "id": "…", "conversation": "…", "peer": "bob", "sender": "alice",
     "recipient": "bob", "sent_at": "2024-05-17T12:30:45.123456+00:00", "state": "delivered",
     "body": "hi"}

A direct message has ``peer`` (the other person) and ``recipient``; a group message has
``group`` and ``stamp`` (``seq``, ``version``, ``signature`` in base64, exactly as signed, so
the import can still forward it) and, when outgoing, ``deliveries`` (one per member, each with
its own state). Optional: ``reason``, ``received_at``, ``file`` (the file offer's fields).
Times are ISO 8601 in UTC to the microsecond, as stored. ``v`` is this layout's version: a
reader refuses a line of a later one rather than guess.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Final, TextIO
from uuid import UUID

from pydantic import ValidationError

from chinwag.application.history_export import ConversationHeading, ExportedMessage
from chinwag.application.history_import import ImportedMessage
from chinwag.application.ports.message_repository import Delivery
from chinwag.domain.errors import DomainError
from chinwag.domain.message import GroupStamp, Message, MessageState
from chinwag.domain.transfer import FileOffer

VERSION: Final = 1


class BadLine(ValueError):
    """A line that is not a message of this format; the message says what is wrong."""


def message_fields(message: ExportedMessage) -> dict[str, object]:
    """The JSON object of one message (see the module's docstring)."""
    fields: dict[str, object] = {
        "v": VERSION,
        "id": message.id,
        "conversation": message.conversation_id,
    }
    if message.group_id is None:
        fields["peer"] = message.peer
    else:
        fields["group"] = message.group_id
    fields["sender"] = message.sender
    if message.recipient is not None:
        fields["recipient"] = message.recipient
    fields["sent_at"] = message.sent_at.isoformat()
    if message.received_at is not None:
        fields["received_at"] = message.received_at.isoformat()
    fields["state"] = message.state
    if message.reason is not None:
        fields["reason"] = message.reason
    if message.stamp_seq is not None:
        fields["stamp"] = {
            "seq": message.stamp_seq,
            "version": message.stamp_version,
            "signature": base64.b64encode(message.stamp_signature or b"").decode("ascii"),
        }
    if message.file is not None:
        try:
            fields["file"] = json.loads(message.file)
        except ValueError:
            fields["file"] = message.file  # damaged as stored: kept, the import refuses it
    if message.deliveries:
        fields["deliveries"] = [
            {"recipient": d.recipient, "state": d.state}
            | ({} if d.reason is None else {"reason": d.reason})
            for d in message.deliveries
        ]
    fields["body"] = message.body
    return fields


class JsonLinesWriter:
    """Every message on a line of its own, in the order stored (not grouped: an import then
    stores them in the same order, so the conversations list comes back in the same order)."""

    grouped = False

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def begin(self, heading: ConversationHeading) -> None:
        pass

    def write(self, message: ExportedMessage) -> None:
        self._out.write(json.dumps(message_fields(message), ensure_ascii=False))
        self._out.write("\n")

    def end(self) -> None:
        pass

    def close(self) -> None:
        self._out.flush()


def _get(fields: dict[str, Any], key: str, kind: type, optional: bool = False) -> Any:
    value = fields.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadLine(f"{key!r} is missing or not a {kind.__name__}")
    return value


def _time(fields: dict[str, Any], key: str, optional: bool = False) -> datetime | None:
    text = _get(fields, key, str, optional)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadLine(f"{key!r} is not an ISO 8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise BadLine(f"{key!r} has no time zone: {text!r}")
    return moment


def _stamp(fields: dict[str, Any]) -> GroupStamp | None:
    stamp = _get(fields, "stamp", dict, optional=True)
    if stamp is None:
        return None
    try:
        signature = base64.b64decode(_get(stamp, "signature", str), validate=True)
    except binascii.Error as exc:
        raise BadLine("the stamp's signature is not base64") from exc
    return GroupStamp(
        seq=_get(stamp, "seq", int), version=_get(stamp, "version", int), signature=signature
    )


def _offer(fields: dict[str, Any]) -> FileOffer | None:
    offer = _get(fields, "file", dict, optional=True)
    if offer is None:
        return None
    try:
        return FileOffer.from_fields(offer)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadLine(f"'file' is not a file offer: {exc}") from exc


def parse_line(line: str) -> ImportedMessage:
    """The message (and deliveries) one exported line holds; :class:`BadLine` if it holds
    none, or one that breaks a rule of messages (a name, a body, a time, a stamp)."""
    try:
        fields = json.loads(line)
    except ValueError as exc:
        raise BadLine(f"not JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise BadLine("not a JSON object")
    version = _get(fields, "v", int)
    if version != VERSION:
        raise BadLine(f"written by another chinwag (format {version}, this one reads {VERSION})")
    try:
        id_ = UUID(_get(fields, "id", str))
        group = _get(fields, "group", str, optional=True)
        message = Message(
            id=id_,
            conversation_id=UUID(_get(fields, "conversation", str)),
            sender=_get(fields, "sender", str),
            recipient=_get(fields, "recipient", str, optional=True),
            group_id=None if group is None else UUID(group),
            stamp=_stamp(fields),
            body=_get(fields, "body", str),
            sent_at=_time(fields, "sent_at"),
            state=MessageState(_get(fields, "state", str)),
            reason=_get(fields, "reason", str, optional=True),
            received_at=_time(fields, "received_at", optional=True),
            file=_offer(fields),
        )
        deliveries = tuple(
            Delivery(
                id_,
                _get(entry, "recipient", str),
                MessageState(_get(entry, "state", str)),
                _get(entry, "reason", str, optional=True),
            )
            for entry in _get(fields, "deliveries", list, optional=True) or ()
            if isinstance(entry, dict) or _not_object()
        )
    except BadLine:
        raise
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the message"
        raise BadLine(f"{where}: {error['msg']}") from exc
    except (ValueError, TypeError, DomainError) as exc:
        raise BadLine(str(exc) or type(exc).__name__) from exc
    return ImportedMessage(message, deliveries)


def _not_object() -> bool:
    raise BadLine("a delivery is not a JSON object")
