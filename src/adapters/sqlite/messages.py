"""Message history in SQLite: keyset paging by local insertion order, FTS5 search over bodies."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from chinwag.adapters.sqlite.database import Database
from chinwag.application.errors import MessageNotFound
from chinwag.application.ports.message_repository import StateChange
from chinwag.domain.message import Message, MessageState

MAX_LIMIT: Final = 500
"""The most messages one :meth:`page` or :meth:`search` returns."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

_COLUMNS: Final = "id, conversation_id, sender, recipient, body, sent_at, state, reason"
_INSERT: Final = f"INSERT OR IGNORE INTO messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

# NUL ends an FTS5 string early and lone surrogates cannot be bound. Both only ever separate
# words, so they become another separator that, unlike whitespace, does not split the term.
_UNSEARCHABLE: Final = re.compile("[\x00\ud800-\udfff]")

_Row = tuple[str, str, str, str, str, int, str, str | None]


def _check_limit(limit: int) -> None:
    """Raise ValueError unless ``1 <= limit <= MAX_LIMIT``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")


def _fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query that matches them all and cannot fail to parse.

    Every whitespace-separated term becomes a quoted string (inner quotes doubled), so operators,
    column filters, prefixes and parentheses are just text. ``None`` when there is no term.
    """
    terms = _UNSEARCHABLE.sub("-", text).split()
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms) or None


def _to_row(message: Message) -> _Row:
    return (
        str(message.id),
        str(message.conversation_id),
        message.sender,
        message.recipient,
        message.body,
        (message.sent_at - _EPOCH) // _MICROSECOND,
        message.state.value,
        message.reason,
    )


def _from_row(row: _Row) -> Message:
    id_, conversation_id, sender, recipient, body, sent_at, state, reason = row
    return Message(
        id=UUID(id_),
        conversation_id=UUID(conversation_id),
        sender=sender,
        recipient=recipient,
        body=body,
        sent_at=_EPOCH + sent_at * _MICROSECOND,
        state=MessageState(state),
        reason=reason,
    )


class SqliteMessageRepository:
    """The :class:`~chinwag.application.ports.MessageRepository` port, in SQLite.

    ``sent_at`` is stored as integer microseconds and read back as an aware UTC datetime.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, messages: Sequence[Message]) -> list[Message]:
        """Store the messages whose ids are new, in one transaction; return those, in order."""
        if not messages:
            return []
        rows = [_to_row(message) for message in messages]

        def insert(connection: sqlite3.Connection) -> list[Message]:
            return [
                message
                for message, row in zip(messages, rows, strict=True)
                if connection.execute(_INSERT, row).rowcount == 1
            ]

        return await self._db.write(insert)

    async def update_states(self, changes: Sequence[StateChange]) -> None:
        """Record new states in one transaction; ids that are not stored are ignored."""
        if not changes:
            return
        rows = [(change.state.value, change.reason, str(change.id)) for change in changes]

        def update(connection: sqlite3.Connection) -> None:
            connection.executemany("UPDATE messages SET state = ?, reason = ? WHERE id = ?", rows)

        await self._db.write(update)

    async def get(self, message_id: UUID) -> Message | None:
        def select(connection: sqlite3.Connection) -> Message | None:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE id = ?", (str(message_id),)
            ).fetchone()
            return None if row is None else _from_row(row)

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

        Words match whole words, ignoring case and Latin accents; a term with punctuation inside
        (``col:val``) matches those words next to each other. No input can make it fail.
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
