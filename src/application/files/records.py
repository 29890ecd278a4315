"""Moving transfer records from state to state: one move at a time, from what is stored.

A record is changed from several places (its pull, the user, a notice from the peer, the
watchdog of outgoing files); each move reads the record again and checks the move against
what is stored *now*, so a late writer never undoes an earlier one (a pull that pauses after
the user cancelled leaves it cancelled).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from chinwag.application.files.progress import Progress
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.transfer_repository import TransferRepository
from chinwag.domain.transfer import Direction, Transfer, TransferState, can_move


class Records:
    """The transfer records, with the only way to change their state."""

    def __init__(self, store: TransferRepository, progress: Progress, clock: Clock) -> None:
        self.store = store
        self.progress = progress
        self._clock = clock
        self._lock = asyncio.Lock()

    def now(self) -> datetime:
        return self._clock.now()

    async def incoming(self, transfer_id: UUID) -> Transfer | None:
        """The incoming record of an offer (an offer has one: its message's author's)."""
        return next(
            (t for t in await self.store.of_id(transfer_id) if t.direction is Direction.IN), None
        )

    async def move(
        self,
        transfer: Transfer,
        state: TransferState,
        *,
        reason: str | None = None,
        notice: bool | None = None,
        only_from: frozenset[TransferState] | None = None,
        changes: Mapping[str, object] | None = None,
    ) -> Transfer | None:
        """Move the stored record of ``transfer`` to ``state`` (and tell), if that is a move
        from where it is now (and it is in ``only_from``, if given), with ``changes`` to its
        other fields (``bytes``, ``path``, ``directory``); the record as stored after, or None
        if it did not move. Staying in a state with another reason is a move
        (a pause says why it goes on waiting)."""
        async with self._lock:
            stored = await self.store.get(transfer.id, transfer.peer)
            if stored is None or not can_move(stored.state, state):
                return None
            if only_from is not None and stored.state not in only_from:
                return None
            same = stored.state is state and stored.reason == reason and not changes
            if same and (notice is None or notice == stored.notice):
                return stored
            moved = stored.moved(
                state, self._clock.now(), reason=reason, notice=notice, **(changes or {})
            )
            await self.store.update(moved)
        self.progress.changed(moved)
        return moved

    async def noticed(self, transfer: Transfer) -> None:
        """The peer was told of ``transfer``'s final state: nothing is left to tell."""
        async with self._lock:
            stored = await self.store.get(transfer.id, transfer.peer)
            if stored is None or not stored.notice:
                return
            await self.store.update(
                stored.model_copy(update={"notice": False, "updated_at": self._clock.now()})
            )
