"""In-memory twin of the transfer records (the SQLite store is
:mod:`chinwag.adapters.sqlite.transfers`; the same contract tests run against both).

Nothing is durable, so "committed" means "in this object". Times are kept in UTC at whole
microseconds, as SQLite gives them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from chinwag.application.errors import TransferNotFound
from chinwag.domain.message import utc
from chinwag.domain.transfer import Direction, Transfer

_Key = tuple[UUID, str]


def _as_stored(transfer: Transfer) -> Transfer:
    """``transfer`` as a store gives it back: its times in UTC (SQLite keeps microseconds,
    which is all a datetime has)."""
    return transfer.model_copy(
        update={"created_at": utc(transfer.created_at), "updated_at": utc(transfer.updated_at)}
    )


class InMemoryTransferRepository:
    """The :class:`~chinwag.application.ports.transfer_repository.TransferRepository` port,
    kept in dicts. The in-memory message repository makes incoming records in it
    (:meth:`insert`) when it stores a received offer."""

    def __init__(self) -> None:
        self._records: dict[_Key, Transfer] = {}
        """Every record, in the order stored (a dict keeps it): the tie-break of listings."""
        self._hashes: dict[UUID, bytes] = {}
        self._pieces: dict[UUID, bytes] = {}

    def insert(self, transfer: Transfer) -> bool:
        """Store a new record at once (no await: the message repository calls this in the
        same step as it stores the offer); False, and nothing changed, if it exists."""
        key = (transfer.id, transfer.peer)
        if key in self._records:
            return False
        self._records[key] = _as_stored(transfer)
        return True

    def forget_incoming(self, ids: Sequence[UUID]) -> None:
        """Drop the incoming records of these offers (their messages are discarded), with
        what was kept to resume them, as SQLite does."""
        gone = set(ids)
        for key, transfer in list(self._records.items()):
            if transfer.id in gone and transfer.direction is Direction.IN:
                del self._records[key]
        kept = {transfer_id for transfer_id, _ in self._records}
        for transfer_id in gone - kept:
            self._hashes.pop(transfer_id, None)
            self._pieces.pop(transfer_id, None)

    async def get(self, transfer_id: UUID, peer: str) -> Transfer | None:
        return self._records.get((transfer_id, peer))

    async def of_id(self, transfer_id: UUID) -> list[Transfer]:
        """Every record of one offer, by peer (the group's own, ``''``, first)."""
        return sorted(
            (t for t in self._records.values() if t.id == transfer_id), key=lambda t: t.peer
        )

    async def add(self, transfer: Transfer) -> bool:
        return self.insert(transfer)

    async def update(self, transfer: Transfer) -> None:
        key = (transfer.id, transfer.peer)
        stored = self._records.get(key)
        if stored is None:
            raise TransferNotFound(
                f"no transfer {transfer.id} with {transfer.peer or 'the group'} is stored"
            )
        changes = _as_stored(transfer)
        self._records[key] = stored.model_copy(
            update={
                "state": changes.state,
                "bytes": changes.bytes,
                "reason": changes.reason,
                "path": changes.path,
                "directory": changes.directory,
                "updated_at": changes.updated_at,
                "notice": changes.notice,
            }
        )

    async def listing(self, limit: int = 500) -> list[Transfer]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        newest = sorted(
            enumerate(self._records.values()),
            key=lambda pair: (pair[1].created_at, pair[0]),
            reverse=True,
        )
        return [t for _, t in newest[:limit]]

    async def unfinished(self) -> list[Transfer]:
        """Records not final, or with a notice to give; oldest first."""
        waiting = [
            (t.created_at, n, t)
            for n, t in enumerate(self._records.values())
            if not t.final or t.notice
        ]
        return [t for *_, t in sorted(waiting, key=lambda item: item[:2])]

    async def hashes(self, transfer_id: UUID) -> bytes | None:
        return self._hashes.get(transfer_id)

    async def set_hashes(self, transfer_id: UUID, hashes: bytes) -> None:
        if len(hashes) % 32:
            raise ValueError(f"piece hashes come 32 bytes each, not {len(hashes)} bytes in all")
        self._hashes[transfer_id] = bytes(hashes)

    async def pieces(self, transfer_id: UUID) -> bytes:
        return self._pieces.get(transfer_id, b"")

    async def set_pieces(self, transfer_id: UUID, bitmap: bytes, done: int) -> None:
        if done < 0:
            raise ValueError(f"bytes done cannot be negative ({done})")
        incoming = [
            key
            for key, t in self._records.items()
            if t.id == transfer_id and t.direction is Direction.IN
        ]
        if not incoming:
            raise TransferNotFound(f"no incoming transfer {transfer_id} is stored")
        for key in incoming:
            size = self._records[key].offer.size
            if done > size:
                raise ValueError(f"{done} bytes done of a file of {size} bytes")
        for key in incoming:
            self._records[key] = self._records[key].model_copy(update={"bytes": done})
        self._pieces[transfer_id] = bytes(bitmap)

    async def find(self, ids: Sequence[UUID]) -> list[Transfer]:
        found: list[Transfer] = []
        for transfer_id in dict.fromkeys(ids):
            found.extend(await self.of_id(transfer_id))
        return found
