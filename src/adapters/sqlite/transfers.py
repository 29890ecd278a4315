"""The records of files sent and received, in SQLite (migration 8, docs/design-files.md).

A record is a row of ``transfers`` keyed by (offer id, peer), with the offer repeated as JSON
(an outgoing record is stored before its message). An incoming record is made by the message
repository in the same job as its offer message (:func:`~chinwag.domain.message.incoming_transfer`,
:func:`insert_transfers`); everything else goes through :class:`SqliteTransferRepository`.
Times are integer microseconds since the epoch, read back as aware UTC datetimes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.message_rows import (
    chunks,
    marks,
    offer_from_json,
    offer_json,
    to_micros,
)
from chinwag.application.errors import TransferNotFound
from chinwag.domain.transfer import FINAL, Direction, Transfer, TransferState

_NAMES: Final = (
    "id",
    "peer",
    "direction",
    "conversation_id",
    "group_id",
    "offer",
    "state",
    "bytes",
    "reason",
    "path",
    "directory",
    "created_at",
    "updated_at",
    "notice",
)
_COLUMNS: Final = ", ".join(_NAMES)
_ROW_MARKS: Final = "(" + ", ".join("?" * len(_NAMES)) + ")"
UNFINISHED: Final = "state IN ('offered', 'active', 'paused') OR notice <> 0"
"""The condition of the partial index ``transfers_unfinished``, word for word, so that the
query planner uses it."""
assert {s.value for s in TransferState if s not in FINAL} == {"offered", "active", "paused"}

_Row = tuple[
    str,  # id
    str,  # peer
    str,  # direction
    str,  # conversation_id
    str | None,  # group_id
    str,  # offer (JSON)
    str,  # state
    int,  # bytes
    str | None,  # reason
    str | None,  # path
    str | None,  # directory
    int,  # created_at
    int,  # updated_at
    int,  # notice
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def _to_row(transfer: Transfer) -> _Row:
    return (
        str(transfer.id),
        transfer.peer,
        transfer.direction.value,
        str(transfer.conversation_id),
        None if transfer.group_id is None else str(transfer.group_id),
        offer_json(transfer.offer),
        transfer.state.value,
        transfer.bytes,
        transfer.reason,
        transfer.path,
        transfer.directory,
        to_micros(transfer.created_at),
        to_micros(transfer.updated_at),
        int(transfer.notice),
    )


def _from_row(row: _Row) -> Transfer:
    (
        id_,
        peer,
        direction,
        conversation_id,
        group_id,
        offer,
        state,
        done,
        reason,
        path,
        directory,
        created_at,
        updated_at,
        notice,
    ) = row
    return Transfer(
        id=UUID(id_),
        direction=Direction(direction),
        peer=peer,
        conversation_id=UUID(conversation_id),
        group_id=None if group_id is None else UUID(group_id),
        offer=offer_from_json(offer, f"the transfer {id_} with {peer!r}"),
        state=TransferState(state),
        bytes=done,
        reason=reason,
        path=path,
        directory=directory,
        created_at=_EPOCH + created_at * _MICROSECOND,
        updated_at=_EPOCH + updated_at * _MICROSECOND,
        notice=bool(notice),
    )


def insert_transfers(connection: sqlite3.Connection, transfers: Sequence[Transfer]) -> list[bool]:
    """Store the records whose (id, peer) is new; for each, whether it was stored."""
    return [
        connection.execute(
            f"INSERT OR IGNORE INTO transfers ({_COLUMNS}) VALUES {_ROW_MARKS}", _to_row(t)
        ).rowcount
        == 1
        for t in transfers
    ]


def forget_incoming(connection: sqlite3.Connection, ids: Sequence[str]) -> None:
    """Delete the incoming records of these offers (their messages are being discarded: a
    withdrawn group message), with what was kept to resume them."""
    for chunk in chunks(ids):
        connection.execute(
            f"DELETE FROM transfers WHERE direction = 'in' AND id IN ({marks(chunk)})", chunk
        )
        for table in ("transfer_hashes", "transfer_pieces"):
            connection.execute(
                f"DELETE FROM {table} WHERE id IN ({marks(chunk)})"
                " AND id NOT IN (SELECT id FROM transfers)",
                chunk,
            )


class SqliteTransferRepository:
    """The :class:`~chinwag.application.ports.transfer_repository.TransferRepository` port, in
    SQLite. Writes go through the database's writer thread (group commit) and reads through
    its reader, like the other repositories."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, transfer_id: UUID, peer: str) -> Transfer | None:
        def select(connection: sqlite3.Connection) -> Transfer | None:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM transfers WHERE id = ? AND peer = ?",
                (str(transfer_id), peer),
            ).fetchone()
            return None if row is None else _from_row(row)

        return await self._db.read(select)

    async def of_id(self, transfer_id: UUID) -> list[Transfer]:
        """Every record of one offer, by peer (the group's own, ``''``, first)."""

        def select(connection: sqlite3.Connection) -> list[Transfer]:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM transfers WHERE id = ? ORDER BY peer",
                (str(transfer_id),),
            )
            return [_from_row(row) for row in rows]

        return await self._db.read(select)

    async def add(self, transfer: Transfer) -> bool:
        (stored,) = await self._db.write(lambda c: insert_transfers(c, [transfer]))
        return stored

    async def update(self, transfer: Transfer) -> None:
        """Store what may change of an existing record; :class:`TransferNotFound` if there is
        none with its (id, peer)."""
        row = _to_row(transfer)

        def change(connection: sqlite3.Connection) -> int:
            return connection.execute(
                "UPDATE transfers SET state = ?, bytes = ?, reason = ?, path = ?,"
                " directory = ?, updated_at = ?, notice = ? WHERE id = ? AND peer = ?",
                (*row[6:11], row[12], row[13], row[0], row[1]),
            ).rowcount

        if not await self._db.write(change):
            raise TransferNotFound(
                f"no transfer {transfer.id} with {transfer.peer or 'the group'} is stored"
            )

    async def listing(self, limit: int = 500) -> list[Transfer]:
        """The newest records first (by ``created_at``, then the latest stored), at most
        ``limit``; ``ValueError`` for a limit below 1."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")

        def select(connection: sqlite3.Connection) -> list[Transfer]:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM transfers ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (limit,),
            )
            return [_from_row(row) for row in rows]

        return await self._db.read(select)

    async def unfinished(self) -> list[Transfer]:
        """Records not final, or with a notice to give; oldest first."""

        def select(connection: sqlite3.Connection) -> list[Transfer]:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM transfers WHERE {UNFINISHED} ORDER BY created_at, rowid"
            )
            return [_from_row(row) for row in rows]

        return await self._db.read(select)

    async def hashes(self, transfer_id: UUID) -> bytes | None:
        def select(connection: sqlite3.Connection) -> bytes | None:
            row = connection.execute(
                "SELECT hashes FROM transfer_hashes WHERE id = ?", (str(transfer_id),)
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._db.read(select)

    async def set_hashes(self, transfer_id: UUID, hashes: bytes) -> None:
        """Store the offer's piece hashes (replacing any stored); ``ValueError`` if they are
        not whole SHA-256 digests."""
        if len(hashes) % 32:
            raise ValueError(f"piece hashes come 32 bytes each, not {len(hashes)} bytes in all")
        value = bytes(hashes)
        await self._db.write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO transfer_hashes (id, hashes) VALUES (?, ?)",
                (str(transfer_id), value),
            )
        )

    async def pieces(self, transfer_id: UUID) -> bytes:
        def select(connection: sqlite3.Connection) -> bytes:
            row = connection.execute(
                "SELECT bitmap FROM transfer_pieces WHERE id = ?", (str(transfer_id),)
            ).fetchone()
            return b"" if row is None else bytes(row[0])

        return await self._db.read(select)

    async def set_pieces(self, transfer_id: UUID, bitmap: bytes, done: int) -> None:
        """Store the bitmap and the record's ``bytes`` in one commit; :class:`TransferNotFound`
        (nothing stored) if the offer has no incoming record, ``ValueError`` if ``done`` is
        negative or more than the file has."""
        if done < 0:
            raise ValueError(f"bytes done cannot be negative ({done})")
        key, value = str(transfer_id), bytes(bitmap)

        def store(connection: sqlite3.Connection) -> None:
            row = connection.execute(
                "SELECT offer FROM transfers WHERE id = ? AND direction = 'in'", (key,)
            ).fetchone()
            if row is None:
                raise TransferNotFound(f"no incoming transfer {transfer_id} is stored")
            size = offer_from_json(row[0], f"the transfer {transfer_id}").size
            if done > size:
                raise ValueError(f"{done} bytes done of a file of {size} bytes")
            connection.execute(
                "UPDATE transfers SET bytes = ? WHERE id = ? AND direction = 'in'", (done, key)
            )
            connection.execute(
                "INSERT OR REPLACE INTO transfer_pieces (id, bitmap) VALUES (?, ?)", (key, value)
            )

        await self._db.write(store)

    async def find(self, ids: Sequence[UUID]) -> list[Transfer]:
        """The records of these offers, in the order of ``ids`` (repeats counted once), each
        offer's by peer."""
        wanted = list(dict.fromkeys(str(id_) for id_ in ids))

        def select(connection: sqlite3.Connection) -> list[Transfer]:
            found: dict[str, list[Transfer]] = {}
            for chunk in chunks(wanted):
                for row in connection.execute(
                    f"SELECT {_COLUMNS} FROM transfers WHERE id IN ({marks(chunk)}) ORDER BY peer",
                    chunk,
                ):
                    found.setdefault(row[0], []).append(_from_row(row))
            return [t for id_ in wanted for t in found.get(id_, [])]

        return await self._db.read(select)
