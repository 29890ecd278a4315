"""Deliveries in SQLite (schema migration 6): statements run inside the message repository's jobs,
so a delivery is written in the same transaction as its message and its message's summary.

A one-to-one message has one delivery, to its own recipient; the rows are found by joining on
``messages`` (``seq`` is the key, ``id`` the message's public id).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Final
from uuid import UUID

from chinwag.application.ports.message_repository import Delivery
from chinwag.domain.message import MessageState

_MAX_IN: Final = 500
"""Values bound in one statement, well under SQLite's limit of variables."""


def _now() -> int:
    """When a delivery's state is written, in microseconds since the epoch: bookkeeping of this
    store (``updated_at``), not a time any message carries."""
    return time.time_ns() // 1000


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def add_deliveries(connection: sqlite3.Connection, outgoing_ids: Sequence[str]) -> None:
    """Give each just stored outgoing message (by id) its delivery to its recipient, in the
    message's state: one statement per few hundred messages, none when there are none."""
    now = _now()
    for chunk in _chunks(outgoing_ids, _MAX_IN):
        connection.execute(
            "INSERT INTO deliveries (message_seq, recipient, state, reason, updated_at)"
            f" SELECT seq, recipient, state, reason, ? FROM messages WHERE id IN ({_marks(chunk)})",
            (now, *chunk),
        )


def update_deliveries(
    connection: sqlite3.Connection, ids: Sequence[str], state: str, reason: str | None
) -> None:
    """Move the delivery of each message (by id) to its own recipient to ``state``/``reason``;
    messages without one (received, unknown) are left alone."""
    now = _now()
    for chunk in _chunks(ids, _MAX_IN):
        connection.execute(
            "UPDATE deliveries SET state = ?, reason = ?, updated_at = ?"
            " WHERE (message_seq, recipient) IN"
            f" (SELECT seq, recipient FROM messages WHERE id IN ({_marks(chunk)}))",
            (state, reason, now, *chunk),
        )


def deliveries_of(connection: sqlite3.Connection, message_id: UUID) -> list[Delivery]:
    """The deliveries of one message, by recipient; none for a received or unknown message."""
    rows = connection.execute(
        "SELECT d.recipient, d.state, d.reason FROM deliveries AS d"
        " JOIN messages AS m ON m.seq = d.message_seq WHERE m.id = ? ORDER BY d.recipient",
        (str(message_id),),
    )
    return [
        Delivery(message_id, recipient, MessageState(state), reason)
        for recipient, state, reason in rows
    ]
