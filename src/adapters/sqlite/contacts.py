"""Contacts in SQLite: each name pinned to the identity key first seen for it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Final

from chinwag.adapters.sqlite.database import Database
from chinwag.domain.contact import Contact

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

_COLUMNS: Final = "name, key, first_seen, verified, pending_key, accepted"

_Row = tuple[str, bytes, int, int, bytes | None, int]


def _to_row(contact: Contact) -> _Row:
    return (
        contact.name,
        contact.key,
        (contact.first_seen - _EPOCH) // _MICROSECOND,
        int(contact.verified),
        contact.pending_key,
        int(contact.accepted),
    )


def _from_row(row: _Row) -> Contact:
    name, key, first_seen, verified, pending_key, accepted = row
    return Contact(
        name=name,
        key=key,
        first_seen=_EPOCH + first_seen * _MICROSECOND,
        verified=bool(verified),
        pending_key=pending_key,
        accepted=bool(accepted),
    )


class SqliteContactRepository:
    """The :class:`~chinwag.application.ports.ContactRepository` port, in the history file.

    ``first_seen`` is stored as integer microseconds since the epoch and read back as an aware UTC
    datetime; keys are stored as the raw bytes. Names are compared exactly: callers pass the
    normalised name, which is what a :class:`Contact` holds.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, name: str) -> Contact | None:
        def select(connection: sqlite3.Connection) -> Contact | None:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM contacts WHERE name = ?", (name,)
            ).fetchone()
            return None if row is None else _from_row(row)

        return await self._db.read(select)

    async def save(self, contact: Contact) -> None:
        """Insert or replace the contact of that name; returns once committed."""
        row = _to_row(contact)

        def upsert(connection: sqlite3.Connection) -> None:
            connection.execute(
                f"INSERT OR REPLACE INTO contacts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", row
            )

        await self._db.write(upsert)

    async def list_all(self) -> list[Contact]:
        """Every contact, by name (in code point order, as the memory twin sorts)."""

        def select(connection: sqlite3.Connection) -> list[Contact]:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM contacts ORDER BY name")
            return [_from_row(row) for row in rows]

        return await self._db.read(select)
