from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from chinwag.domain.transfer import Transfer


class TransferRepository(Protocol):
    """The records of files sent and received, with what each transfer needs to resume.

    An incoming record (``peer`` the offer's author, state ``offered``) is made by the message
    repository in the same commit as the offer's message (``Message.file``), so no received
    offer is ever stored without its record; discarding the message (a withdrawn group
    message) forgets its record too. An outgoing record (``peer`` the recipient, or empty for
    a group's offer) is added by ``SendFile`` before the offer's message exists, so a fetch
    never finds an offer without its record. Records are keyed by (``id``, ``peer``); the
    memory twin and the SQLite store behave alike (the same contract tests run against both).
    """

    async def get(self, transfer_id: UUID, peer: str) -> Transfer | None: ...

    async def of_id(self, transfer_id: UUID) -> list[Transfer]:
        """Every record of one offer (a group's offer: its own, and one per member)."""
        ...

    async def add(self, transfer: Transfer) -> bool:
        """Store a new record (a group member's, made when it first asks for the file);
        False, and nothing changed, if (``id``, ``peer``) exists already."""
        ...

    async def update(self, transfer: Transfer) -> None:
        """Store ``state``, ``bytes``, ``reason``, ``path``, ``directory``, ``notice`` and
        ``updated_at`` of an existing record (the offer never changes)."""
        ...

    async def listing(self, limit: int = 500) -> list[Transfer]:
        """The newest records first (by ``created_at``), at most ``limit``."""
        ...

    async def unfinished(self) -> list[Transfer]:
        """Every record not in a final state, or with a ``notice`` to give: what a client
        resumes when it starts."""
        ...

    async def hashes(self, transfer_id: UUID) -> bytes | None:
        """The offer's piece hashes (32 bytes each, in order), once known."""
        ...

    async def set_hashes(self, transfer_id: UUID, hashes: bytes) -> None: ...

    async def pieces(self, transfer_id: UUID) -> bytes:
        """The bitmap of pieces stored and checked (incoming; piece i is bit ``i % 8`` of
        byte ``i // 8``); empty when none are."""
        ...

    async def set_pieces(self, transfer_id: UUID, bitmap: bytes, done: int) -> None:
        """Record the bitmap and the bytes it stands for (the record's ``bytes``) in one
        commit."""
        ...

    async def find(self, ids: Sequence[UUID]) -> list[Transfer]:
        """The records of these offers (for showing a conversation's files)."""
        ...
