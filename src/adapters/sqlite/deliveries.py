"""Deliveries in SQLite (schema migration 6): statements run inside the message repository's jobs,
so a delivery is written in the same transaction as its message and its message's summary.

A one-to-one message has one delivery, to its own recipient, in the message's state; a group
message one per member it is sent to, and its state/reason are their summary
(:func:`~chinwag.adapters.sqlite.summary.summary`), rewritten whenever one of them moves. The
rows are found by joining on ``messages`` (``seq`` is the key, ``id`` the message's public id).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Final
from uuid import UUID

from chinwag.adapters.sqlite.message_rows import (
    JOINED_COLUMNS,
    WIDTH,
    chunks,
    from_row,
    marks,
)
from chinwag.adapters.sqlite.summary import summary
from chinwag.application.ports.message_repository import Delivery, OutboxEntry, StateChange
from chinwag.domain.message import MessageState

_RECEIVED: Final = MessageState.RECEIVED.value

_Summary = tuple[str, str | None]
"""A state and a reason, as stored."""


def _now() -> int:
    """When a delivery's state is written, in microseconds since the epoch: bookkeeping of this
    store (``updated_at``), not a time any message carries."""
    return time.time_ns() // 1000


def add_deliveries(connection: sqlite3.Connection, outgoing_ids: Sequence[str]) -> None:
    """Give each just stored outgoing one-to-one message (by id) its delivery to its recipient,
    in the message's state: one statement per few hundred messages, none when there are none."""
    now = _now()
    for chunk in chunks(outgoing_ids):
        connection.execute(
            "INSERT INTO deliveries (message_seq, recipient, state, reason, updated_at)"
            f" SELECT seq, recipient, state, reason, ? FROM messages WHERE id IN ({marks(chunk)})",
            (now, *chunk),
        )


def add_member_deliveries(
    connection: sqlite3.Connection, deliveries: Sequence[tuple[str, str]]
) -> None:
    """Give just stored outgoing group messages their deliveries: one per ``(message id,
    member)``, in the message's state and reason."""
    if deliveries:
        now = _now()
        connection.executemany(
            "INSERT INTO deliveries (message_seq, recipient, state, reason, updated_at)"
            " SELECT seq, ?, state, reason, ? FROM messages WHERE id = ?",
            [(member, now, message_id) for message_id, member in deliveries],
        )


class _Stored:
    """What :func:`record_states` needs of one stored message."""

    __slots__ = ("group", "id", "recipient", "seq", "summary")

    def __init__(self, row: tuple[str, int, str | None, str, str, str | None]) -> None:
        self.id = row[0]
        self.seq = row[1]
        self.group = row[2] is not None
        self.recipient = row[3]
        self.summary: _Summary = (row[4], row[5])


def record_states(
    connection: sqlite3.Connection, changes: Sequence[StateChange]
) -> list[StateChange]:
    """Move the deliveries ``changes`` name and their messages' summaries; return the new
    summaries of the group messages whose summary changed, in the order of ``changes``.

    A change naming no recipient moves a one-to-one message's delivery, and so does one naming
    its recipient; a group message's delivery is named by its member. Later changes of one
    delivery win over earlier ones. Unknown messages and deliveries are ignored.
    """
    ids = list(dict.fromkeys(str(change.id) for change in changes))
    stored: dict[str, _Stored] = {}
    for chunk in chunks(ids):
        for row in connection.execute(
            "SELECT id, seq, group_id, recipient, state, reason FROM messages"
            f" WHERE id IN ({marks(chunk)})",
            chunk,
        ):
            stored[row[0]] = _Stored(row)
    direct: dict[int, _Summary] = {}  # message seq: its one delivery's new state
    members: dict[tuple[int, str], _Summary] = {}  # (message seq, member): new state
    groups: dict[str, _Stored] = {}  # group messages touched, in the order of changes
    for change in changes:
        message = stored.get(str(change.id))
        if message is None:
            continue
        new = (change.state.value, change.reason)
        if not message.group:
            if change.recipient is None or change.recipient == message.recipient:
                direct[message.seq] = new
        elif change.recipient is not None and message.summary[0] != _RECEIVED:
            members[(message.seq, change.recipient)] = new
            groups.setdefault(message.id, message)
    now = _now()
    _move_direct(connection, direct, now)
    if not members:
        return []
    connection.executemany(
        "UPDATE deliveries SET state = ?, reason = ?, updated_at = ?"
        " WHERE message_seq = ? AND recipient = ?",
        [(state, reason, now, seq, member) for (seq, member), (state, reason) in members.items()],
    )
    return _resummarise(connection, list(groups.values()))


def _move_direct(connection: sqlite3.Connection, direct: dict[int, _Summary], now: int) -> None:
    """One-to-one messages: the delivery and the message move together, a few statements per
    distinct new state (the common case is a batch of acknowledgements, all ``delivered``)."""
    by_state: dict[_Summary, list[int]] = {}
    for seq, new in direct.items():
        by_state.setdefault(new, []).append(seq)
    for (state, reason), seqs in by_state.items():
        for chunk in chunks(seqs):
            connection.execute(
                "UPDATE deliveries SET state = ?, reason = ?, updated_at = ?"
                f" WHERE message_seq IN ({marks(chunk)})",
                (state, reason, now, *chunk),
            )
            connection.execute(
                f"UPDATE messages SET state = ?, reason = ? WHERE seq IN ({marks(chunk)})",
                (state, reason, *chunk),
            )


def _resummarise(connection: sqlite3.Connection, messages: list[_Stored]) -> list[StateChange]:
    """Rewrite the summary of each of these outgoing group messages from its deliveries; the
    new summaries of those whose summary changed, in the order given."""
    deliveries: dict[int, list[tuple[MessageState, str | None]]] = {m.seq: [] for m in messages}
    seqs = list(deliveries)
    for chunk in chunks(seqs):
        for seq, state, reason in connection.execute(
            "SELECT message_seq, state, reason FROM deliveries"
            f" WHERE message_seq IN ({marks(chunk)}) ORDER BY message_seq, recipient",
            chunk,
        ):
            deliveries[seq].append((MessageState(state), reason))
    changed: list[StateChange] = []
    rewrites: list[tuple[str, str | None, int]] = []
    for message in messages:
        state, reason = summary(deliveries[message.seq])
        if (state.value, reason) != message.summary:
            changed.append(StateChange(UUID(message.id), state, reason))
            rewrites.append((state.value, reason, message.seq))
    connection.executemany("UPDATE messages SET state = ?, reason = ? WHERE seq = ?", rewrites)
    return changed


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


def pending_deliveries(connection: sqlite3.Connection, sender: str) -> list[OutboxEntry]:
    """``sender``'s deliveries not yet acknowledged, by message seq then recipient, each
    message in its delivery's state and reason: read through the outbox index (without
    statistics the planner would rather scan every delivery ever made)."""
    rows = connection.execute(
        f"SELECT {JOINED_COLUMNS}, d.recipient, d.state, d.reason"
        " FROM deliveries AS d INDEXED BY deliveries_outbox"
        " JOIN messages AS m ON m.seq = d.message_seq"
        " WHERE d.state IN ('pending', 'queued', 'sent') AND m.sender = ?"
        " ORDER BY d.message_seq, d.recipient",
        (sender,),
    )
    entries: list[OutboxEntry] = []
    for row in rows:
        message = from_row(row[:WIDTH])
        recipient, state, reason = row[WIDTH:]
        if (message.state.value, message.reason) != (state, reason):
            message = message.model_copy(update={"state": MessageState(state), "reason": reason})
        entries.append(OutboxEntry(message, recipient))
    return entries
