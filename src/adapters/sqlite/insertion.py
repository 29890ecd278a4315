"""Storing new messages: ``add`` calls gathered into one write job of a few statements."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chinwag.adapters.sqlite.deliveries import add_deliveries, add_member_deliveries
from chinwag.adapters.sqlite.message_rows import (
    COLUMNS,
    GROUP,
    ID,
    MAX_IN,
    SENDER,
    STAMP_SEQ,
    STATE,
    WIDTH,
    Row,
    chunks,
    marks,
)
from chinwag.adapters.sqlite.schema import last_seq
from chinwag.adapters.sqlite.transfers import insert_transfers
from chinwag.domain.message import Message, MessageState, incoming_transfer
from chinwag.domain.transfer import Transfer

_RECEIVED: Final = MessageState.RECEIVED.value
_ROW_MARKS: Final = "(" + ", ".join("?" * (WIDTH + 1)) + ")"
"""One row's values: its ``seq``, then the :data:`Row`."""


_Author = tuple[str, str]
"""A group id and an author's name, as stored."""


@dataclass(frozen=True, slots=True)
class Call:
    """One ``add`` call: its messages, their rows, and the members each outgoing group
    message (by id) is sent to."""

    messages: Sequence[Message]
    rows: list[Row]
    members: dict[str, Sequence[str]]


class Insertion:
    """``add`` calls gathered into one write job until the writer thread starts it.

    The job inserts every gathered row with one multi-row INSERT per few dozen rows, after one
    SELECT finds the ids already stored (and one per group author, the sequence numbers already
    stored) and one the last ``seq`` ever used: each statement is a round trip for the GIL
    between the writer thread and the event loop, so few statements keep both threads moving.
    Rows are numbered explicitly, past every message ever stored, because a discarded message's
    number must not come back (see :func:`~chinwag.adapters.sqlite.schema.last_seq`).

    A message is new if neither its id nor, for a group message, its author's sequence number
    in that group is stored yet: an author's number is stored once (an author who signed two
    messages with one number gets the first one kept, and the other skipped as a duplicate,
    rather than failing everybody's write).

    A new received file offer (``Message.file``) gets its incoming transfer record in the same
    job, so in the same commit: no offer is stored without its record.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self._calls: list[Call] = []
        self._waiters: list[asyncio.Future[list[Message]]] = []

    def join(self, call: Call) -> asyncio.Future[list[Message]] | None:
        """Add one call; the future of its new messages, or None if the job has started. Each
        caller has a future of its own: one being cancelled cancels nothing else."""
        with self._lock:
            if self._started:
                return None
            self._calls.append(call)
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    def settle(self, job: asyncio.Future[list[list[Message]]]) -> None:
        """Hand each caller its share of the job's outcome (a done-callback of the job)."""
        for index, waiter in enumerate(self._waiters):
            if waiter.done():
                continue
            if job.cancelled():
                waiter.cancel()
            elif (exc := job.exception()) is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(job.result()[index])

    def run(self, connection: sqlite3.Connection) -> list[list[Message]]:
        with self._lock:
            self._started = True
            calls = self._calls
        rows = [row for call in calls for row in call.rows]
        seen = _stored_ids(connection, [row[ID] for row in rows])
        taken = _stored_stamps(connection, rows)
        stored: list[list[Message]] = []
        new_rows: list[Row] = []
        direct: list[str] = []
        members: list[tuple[str, str]] = []
        offers: list[Transfer] = []
        for call in calls:
            new: list[Message] = []
            for message, row in zip(call.messages, call.rows, strict=True):
                id_, group = row[ID], row[GROUP]
                stamp = None if group is None else (group, row[SENDER], row[STAMP_SEQ])
                if id_ in seen or (stamp is not None and stamp in taken):
                    continue
                seen.add(id_)
                new.append(message)
                new_rows.append(row)
                if stamp is not None:
                    taken.add(stamp)
                if row[STATE] == _RECEIVED:
                    if (offer := incoming_transfer(message)) is not None:
                        offers.append(offer)
                    continue
                if group is None:
                    direct.append(id_)
                else:
                    members.extend((id_, member) for member in call.members.get(id_, ()))
            stored.append(new)
        seq = last_seq(connection) if new_rows else 0  # numbers never reused (see last_seq)
        for some_rows in chunks(new_rows, MAX_IN // (WIDTH + 1)):
            values: list[object] = []
            for row in some_rows:
                seq += 1
                values.append(seq)
                values.extend(row)
            connection.execute(
                f"INSERT INTO messages (seq, {COLUMNS}) VALUES "
                + ",".join([_ROW_MARKS] * len(some_rows)),
                values,
            )
        add_deliveries(connection, direct)
        add_member_deliveries(connection, members)
        insert_transfers(connection, offers)
        return stored


def _stored_ids(connection: sqlite3.Connection, ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for chunk in chunks(ids):
        seen.update(
            found
            for (found,) in connection.execute(
                f"SELECT id FROM messages WHERE id IN ({marks(chunk)})", chunk
            )
        )
    return seen


def _stored_stamps(
    connection: sqlite3.Connection, rows: list[Row]
) -> set[tuple[str, str, int | None]]:
    """The (group, author, sequence number) of these group rows that are stored already: one
    indexed SELECT per author and few hundred numbers (a batch usually holds few authors)."""
    wanted: dict[_Author, list[int]] = {}
    for row in rows:
        group, seq = row[GROUP], row[STAMP_SEQ]
        if group is not None and seq is not None:
            wanted.setdefault((group, row[SENDER]), []).append(seq)
    taken: set[tuple[str, str, int | None]] = set()
    for (group, author), seqs in wanted.items():
        for chunk in chunks(seqs):
            taken.update(
                (group, author, seq)
                for (seq,) in connection.execute(
                    "SELECT stamp_seq FROM messages WHERE group_id = ? AND sender = ?"
                    f" AND stamp_seq IN ({marks(chunk)})",
                    (group, author, *chunk),
                )
            )
    return taken
