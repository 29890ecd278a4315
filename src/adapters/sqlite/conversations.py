"""Conversations in SQLite, listed by their latest message, with how far the user has read each.

The read marker (``conversations.read_upto``, migration 4) is the local ``seq`` of the last
message the user saw: the unread messages are the received ones stored after it, found through
the ``(conversation_id, seq)`` index without reading the rest of the history.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final
from uuid import UUID

from chinwag.adapters.sqlite.database import Database
from chinwag.application.ports.conversation_repository import Unread
from chinwag.domain.conversation import Conversation, ConversationKind
from chinwag.domain.message import MessageState

_SEPARATOR: Final = "\n"  # no username can contain it

_Row = tuple[str, str, str]


def _from_row(row: _Row) -> Conversation:
    id_, kind, participants = row
    return Conversation(
        id=UUID(id_),
        kind=ConversationKind(kind),
        participants=tuple(p for p in participants.split(_SEPARATOR) if p),  # a group: none
    )


class SqliteConversationRepository:
    """The :class:`~chinwag.application.ports.ConversationRepository` port, in SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, conversations: Sequence[Conversation]) -> None:
        """Remember new conversations in one transaction; known ones are left as they are."""
        if not conversations:
            return
        rows = [(str(c.id), c.kind.value, _SEPARATOR.join(c.participants)) for c in conversations]

        def insert(connection: sqlite3.Connection) -> None:
            connection.executemany(
                "INSERT OR IGNORE INTO conversations (id, kind, participants) VALUES (?, ?, ?)",
                rows,
            )

        await self._db.write(insert)

    async def get(self, conversation_id: UUID) -> Conversation | None:
        def select(connection: sqlite3.Connection) -> Conversation | None:
            row = connection.execute(
                "SELECT id, kind, participants FROM conversations WHERE id = ?",
                (str(conversation_id),),
            ).fetchone()
            return None if row is None else _from_row(row)

        return await self._db.read(select)

    async def list_all(self) -> list[Conversation]:
        """Every conversation, latest message first; those without messages last, oldest first."""

        def select(connection: sqlite3.Connection) -> list[Conversation]:
            rows = connection.execute(
                "SELECT id, kind, participants,"
                " (SELECT max(seq) FROM messages WHERE conversation_id = c.id) AS latest"
                " FROM conversations AS c ORDER BY latest IS NULL, latest DESC, c.rowid"
            )
            return [_from_row(row[:3]) for row in rows]

        return await self._db.read(select)

    async def mark_read(self, conversation_id: UUID, upto: UUID) -> None:
        """Move the read marker forward to ``upto`` if it is a message of that conversation."""
        key = str(conversation_id)

        def update(connection: sqlite3.Connection) -> None:
            connection.execute(
                "UPDATE conversations SET read_upto = max(read_upto, coalesce("
                " (SELECT seq FROM messages WHERE id = ? AND conversation_id = ?), 0))"
                " WHERE id = ?",
                (str(upto), key, key),
            )

        await self._db.write(update)

    async def history_end(self) -> int:
        """The ``seq`` of the last message stored (0 for none): later ones have a larger one."""

        def select(connection: sqlite3.Connection) -> int:
            (end,) = connection.execute("SELECT coalesce(max(seq), 0) FROM messages").fetchone()
            return int(end)

        return await self._db.read(select)

    async def unread(self, stored_upto: int | None = None) -> dict[UUID, Unread]:
        upto = -1 if stored_upto is None else stored_upto

        def select(connection: sqlite3.Connection) -> dict[UUID, Unread]:
            rows = connection.execute(
                "SELECT c.id, count(*), min(m.seq) FROM conversations AS c"
                " JOIN messages AS m ON m.conversation_id = c.id AND m.seq > c.read_upto"
                " WHERE m.state = ? AND (? < 0 OR m.seq <= ?) GROUP BY c.id",
                (MessageState.RECEIVED.value, upto, upto),
            ).fetchall()
            found: dict[UUID, Unread] = {}
            for id_, count, first_seq in rows:
                (first,) = connection.execute(
                    "SELECT id FROM messages WHERE seq = ?", (first_seq,)
                ).fetchone()
                found[UUID(id_)] = Unread(count, UUID(first))
            return found

        return await self._db.read(select)
