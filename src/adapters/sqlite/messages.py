"""Message history in SQLite: keyset paging by local insertion order, FTS5 search over bodies."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar
from uuid import UUID

from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.deliveries import add_deliveries, deliveries_of, update_deliveries
from chinwag.application.errors import MessageNotFound
from chinwag.application.ports.message_repository import Delivery, StateChange
from chinwag.domain.message import EARLIEST_TIME, LATEST_TIME, Message, MessageState

MAX_LIMIT: Final = 500
"""The most messages one :meth:`page` or :meth:`search` returns."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

_COLUMNS: Final = (
    "id, conversation_id, sender, recipient, body, sent_at, state, reason, received_at"
)
_WIDTH: Final = 9
"""Columns in :data:`_COLUMNS`, values in a :data:`_Row`."""

# NUL ends an FTS5 string early and lone surrogates cannot be bound. Both only ever separate
# words, so they become another separator that, unlike whitespace, does not split the term.
_UNSEARCHABLE: Final = re.compile("[\x00\ud800-\udfff]")

_Row = tuple[str, str, str, str, str, int, str, str | None, int | None]
T = TypeVar("T")


def _check_limit(limit: int) -> None:
    """Raise ValueError unless ``1 <= limit <= MAX_LIMIT``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")


def _fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query that matches them all and cannot fail to parse.

    Every whitespace-separated term becomes a quoted string (inner quotes doubled), so operators,
    column filters, stars and parentheses are just text; the ``*`` after the closing quote is
    ours, and makes the term's last word a prefix (``lore`` finds ``lorem``), as people expect
    of a search box that searches while they are still typing a word. ``None`` when there is
    no term.
    """
    terms = _UNSEARCHABLE.sub("-", text).split()
    return " ".join('"' + term.replace('"', '""') + '"*' for term in terms) or None


def _to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


_EARLIEST: Final = _to_micros(EARLIEST_TIME)
_LATEST: Final = _to_micros(LATEST_TIME) - 1


def _from_micros(micros: int) -> datetime:
    """The stored time, moved to the nearest time a message may carry if it is out of bounds:
    a file written before times were bounded may hold any, and one such row must not make the
    whole history unreadable."""
    return _EPOCH + min(max(micros, _EARLIEST), _LATEST) * _MICROSECOND


def _to_row(message: Message) -> _Row:
    return (
        str(message.id),
        str(message.conversation_id),
        message.sender,
        message.recipient,
        message.body,
        _to_micros(message.sent_at),
        message.state.value,
        message.reason,
        None if message.received_at is None else _to_micros(message.received_at),
    )


def _from_row(row: _Row) -> Message:
    id_, conversation_id, sender, recipient, body, sent_at, state, reason, received_at = row
    return Message(
        id=UUID(id_),
        conversation_id=UUID(conversation_id),
        sender=sender,
        recipient=recipient,
        body=body,
        sent_at=_from_micros(sent_at),
        state=MessageState(state),
        reason=reason,
        received_at=None if received_at is None else _from_micros(received_at),
    )


_MAX_IN: Final = 500
"""Values bound in one statement, well under SQLite's limit of variables."""

_ROW_MARKS: Final = "(" + ", ".join("?" * _WIDTH) + ")"


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class _Insertion:
    """``add`` calls gathered into one write job until the writer thread starts it.

    The job inserts every gathered row with one multi-row INSERT per few hundred rows, after one
    SELECT finds the ids already stored: each statement is a round trip for the GIL between the
    writer thread and the event loop, so few statements keep both threads moving.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self._calls: list[tuple[Sequence[Message], list[_Row]]] = []
        self._waiters: list[asyncio.Future[list[Message]]] = []

    def join(
        self, messages: Sequence[Message], rows: list[_Row]
    ) -> asyncio.Future[list[Message]] | None:
        """Add one call's messages; the future of its new messages, or None if the job has
        started. Each caller has a future of its own: one being cancelled cancels nothing else."""
        with self._lock:
            if self._started:
                return None
            self._calls.append((messages, rows))
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
        ids = [row[0] for _, rows in calls for row in rows]
        seen: set[str] = set()
        for chunk in _chunks(ids, _MAX_IN):
            seen.update(
                found
                for (found,) in connection.execute(
                    f"SELECT id FROM messages WHERE id IN ({_marks(chunk)})", chunk
                )
            )
        stored: list[list[Message]] = []
        new_rows: list[_Row] = []
        for messages, rows in calls:
            new: list[Message] = []
            for message, row in zip(messages, rows, strict=True):
                if row[0] not in seen:
                    seen.add(row[0])
                    new.append(message)
                    new_rows.append(row)
            stored.append(new)
        for some_rows in _chunks(new_rows, _MAX_IN // _WIDTH):
            connection.execute(
                f"INSERT INTO messages ({_COLUMNS}) VALUES "
                + ",".join([_ROW_MARKS] * len(some_rows)),
                [value for row in some_rows for value in row],
            )
        received = MessageState.RECEIVED.value
        add_deliveries(connection, [row[0] for row in new_rows if row[6] != received])
        return stored


class SqliteMessageRepository:
    """The :class:`~chinwag.application.ports.MessageRepository` port, in SQLite.

    ``sent_at`` and ``received_at`` are stored as integer microseconds since the epoch and read
    back as aware UTC datetimes; a message never received here keeps ``received_at`` None. An
    outgoing message's delivery is written with it (see :mod:`.deliveries`).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._open: _Insertion | None = None

    async def add(self, messages: Sequence[Message]) -> list[Message]:
        """Store the messages whose ids are new; return those, in order, once committed.

        Calls made before the writer gets to them share one job of a few statements: a burst of
        single-message sends then costs a few statements, not one each (see :class:`_Insertion`).
        """
        if not messages:
            return []
        rows = [_to_row(message) for message in messages]
        while True:
            insertion = self._open
            if insertion is not None and (stored := insertion.join(messages, rows)) is not None:
                return await stored
            insertion = _Insertion()
            job = self._db.write(insertion.run)  # raises if closed: then no caller may join it
            self._open = insertion
            job.add_done_callback(insertion.settle)

    async def update_states(self, changes: Sequence[StateChange]) -> None:
        """Record new states of the deliveries to the messages' recipients and of the messages
        (the summary) in one transaction; ids that are not stored are ignored."""
        if not changes:
            return
        groups: dict[tuple[str, str | None], list[str]] = {}
        for change in changes:
            groups.setdefault((change.state.value, change.reason), []).append(str(change.id))

        def update(connection: sqlite3.Connection) -> None:
            for (state, reason), ids in groups.items():
                update_deliveries(connection, ids, state, reason)
                for chunk in _chunks(ids, _MAX_IN):
                    connection.execute(
                        f"UPDATE messages SET state = ?, reason = ? WHERE id IN ({_marks(chunk)})",
                        (state, reason, *chunk),
                    )

        await self._db.write(update)

    async def deliveries(self, message_id: UUID) -> list[Delivery]:
        return await self._db.read(lambda connection: deliveries_of(connection, message_id))

    async def get(self, message_id: UUID) -> Message | None:
        def select(connection: sqlite3.Connection) -> Message | None:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE id = ?", (str(message_id),)
            ).fetchone()
            return None if row is None else _from_row(row)

        return await self._db.read(select)

    async def unacknowledged(self, sender: str) -> list[Message]:
        def select(connection: sqlite3.Connection) -> list[Message]:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE sender = ? "
                "AND state IN ('pending', 'queued', 'sent') ORDER BY seq",
                (sender,),
            )
            return [_from_row(row) for row in rows]

        return await self._db.read(select)

    async def page(
        self, conversation_id: UUID, limit: int, before: UUID | None = None
    ) -> list[Message]:
        """Up to ``limit`` (1..500) messages, newest first, stored before ``before`` if given.

        Raises :class:`MessageNotFound` if ``before`` is not a stored message.
        """
        _check_limit(limit)

        def select(connection: sqlite3.Connection) -> list[Message]:
            if before is None:
                rows = connection.execute(
                    f"SELECT {_COLUMNS} FROM messages WHERE conversation_id = ?"
                    " ORDER BY seq DESC LIMIT ?",
                    (str(conversation_id), limit),
                )
            else:
                found = connection.execute(
                    "SELECT seq FROM messages WHERE id = ?", (str(before),)
                ).fetchone()
                if found is None:
                    raise MessageNotFound(f"no message {before} in the history")
                rows = connection.execute(
                    f"SELECT {_COLUMNS} FROM messages WHERE conversation_id = ? AND seq < ?"
                    " ORDER BY seq DESC LIMIT ?",
                    (str(conversation_id), found[0], limit),
                )
            return [_from_row(row) for row in rows]

        return await self._db.read(select)

    async def search(self, text: str, limit: int) -> list[Message]:
        """Up to ``limit`` (1..500) messages containing every word of ``text``, newest first.

        Words match ignoring case and Latin accents, the last word of each term as a prefix
        (``lore`` finds ``lorem``); a term with punctuation inside (``col:val``) matches those
        words next to each other. No input can make it fail.
        """
        _check_limit(limit)
        query = _fts_query(text)
        if query is None:
            return []

        def select(connection: sqlite3.Connection) -> list[Message]:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE seq IN ("
                " SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?"
                " ORDER BY rowid DESC LIMIT ?"
                ") ORDER BY seq DESC",
                (query, limit),
            )
            return [_from_row(row) for row in rows]

        return await self._db.read(select)
