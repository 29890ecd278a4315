"""Groups' membership changes in SQLite (migration 5): each change once, as it was signed.

A row keeps the change's canonical JSON (what its author signed, without the context prefix)
and its signature, so the change is rebuilt exactly, field by field, by the domain's model. A
row is trusted only if the rebuilt change signs the very same bytes and hashes to the row's
``hash``: a history file is just a file, and a change edited in it (a member slipped in, a
version bumped) must not reach the canonical chain. Such a row is left out and logged; the
genuine change, learnt again from a peer, takes its place.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection, Sequence
from uuid import UUID

from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.wire.group_change import change_from_json
from chinwag.domain.group import CHANGE_CONTEXT, Change

log = logging.getLogger(__name__)

_Row = tuple[bytes, str, int, bytes, bytes]
"""hash, group_id, version, content, signature."""


def _to_row(change: Change) -> _Row:
    return (
        change.hash(),
        str(change.group),
        change.version,
        change.signed_bytes()[len(CHANGE_CONTEXT) :],
        change.signature,
    )


def _from_row(row: _Row) -> Change | None:
    """The change a row holds, or ``None`` (logged) if the row does not hash to its key or
    disagrees with its own columns."""
    digest, group_id, version, content, signature = row
    try:
        change = change_from_json(content, signature)
        genuine = (
            change.signed_bytes() == CHANGE_CONTEXT + content
            and change.hash() == digest
            and str(change.group) == group_id
            and change.version == version
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        genuine = False
    if not genuine:
        log.warning(
            "left out a change of group %s in the chat history: it does not match its hash %s "
            "(the file was damaged or edited)",
            group_id,
            bytes(digest).hex()[:12],
        )
        return None
    return change


class SqliteGroupRepository:
    """The :class:`~chinwag.application.ports.group_repository.GroupRepository` port, in the
    history file's ``group_changes`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_changes(self, changes: Sequence[Change]) -> list[Change]:
        """Insert the changes not stored yet, in one transaction; the new ones in order.

        A stored row under the same hash that no longer holds that change (edited in the file)
        is repaired with the genuine one, which counts as new: it was not readable before.
        """
        if not changes:
            return []
        rows = [_to_row(change) for change in changes]

        def insert(connection: sqlite3.Connection) -> list[int]:
            new: list[int] = []
            seen: set[bytes] = set()
            (end,) = connection.execute(
                "SELECT coalesce(max(seq), 0) FROM group_changes"
            ).fetchone()
            for index, (digest, group_id, version, content, signature) in enumerate(rows):
                if digest in seen:
                    continue
                seen.add(digest)
                stored = connection.execute(
                    "SELECT group_id, version, content, signature FROM group_changes"
                    " WHERE hash = ?",
                    (digest,),
                ).fetchone()
                if stored is None:
                    end += 1
                    connection.execute(
                        "INSERT INTO group_changes"
                        " (hash, seq, group_id, version, content, signature)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (digest, end, group_id, version, content, signature),
                    )
                elif tuple(stored) != (group_id, version, content, signature):
                    connection.execute(
                        "UPDATE group_changes SET group_id = ?, version = ?, content = ?,"
                        " signature = ? WHERE hash = ?",
                        (group_id, version, content, signature, digest),
                    )
                else:
                    continue
                new.append(index)
            return new

        return [changes[index] for index in await self._db.write(insert)]

    async def changes(self, group: UUID) -> list[Change]:
        """The group's changes in storage order, rows that fail their hash left out."""

        def select(connection: sqlite3.Connection) -> list[Change]:
            rows = connection.execute(
                "SELECT hash, group_id, version, content, signature FROM group_changes"
                " WHERE group_id = ? ORDER BY seq",
                (str(group),),
            )
            # Rebuilt and hashed here, on the reader thread, not on the event loop.
            return [change for change in map(_from_row, rows) if change is not None]

        return await self._db.read(select)

    async def remove_changes(self, group: UUID, hashes: Collection[bytes]) -> int:
        """Delete the group's rows under ``hashes``, in one transaction."""
        rows = [(str(group), bytes(digest)) for digest in set(hashes)]
        if not rows:
            return 0

        def delete(connection: sqlite3.Connection) -> int:
            gone = 0
            for row in rows:
                cursor = connection.execute(
                    "DELETE FROM group_changes WHERE group_id = ? AND hash = ?", row
                )
                gone += cursor.rowcount
            return gone

        return await self._db.write(delete)

    async def groups(self) -> list[UUID]:
        """Groups by their first row stored (as stored: :meth:`changes` checks each row)."""

        def select(connection: sqlite3.Connection) -> list[UUID]:
            rows = connection.execute(
                "SELECT group_id FROM group_changes GROUP BY group_id ORDER BY min(seq)"
            )
            found: list[UUID] = []
            for (group_id,) in rows:
                try:
                    found.append(UUID(group_id))
                except (ValueError, TypeError, AttributeError):  # an edited row: no group
                    continue
            return found

        return await self._db.read(select)
