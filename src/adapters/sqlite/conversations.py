"""Conversations in SQLite, listed by their latest message."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final
from uuid import UUID

from chinwag.adapters.sqlite.database import Database
from chinwag.domain.conversation import Conversation, ConversationKind

_SEPARATOR: Final = "\n"  # no username can contain it

_Row = tuple[str, str, str]


def _from_row(row: _Row) -> Conversation:
    id_, kind, participants = row
    return Conversation(
        id=UUID(id_),
        kind=ConversationKind(kind),
        participants=tuple(participants.split(_SEPARATOR)),
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
