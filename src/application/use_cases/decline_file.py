from __future__ import annotations

from uuid import UUID

from chinwag.application.files.engine import Transfers
from chinwag.application.files.progress import as_shown
from chinwag.application.session import Session
from chinwag.domain.transfer import Transfer


class DeclineFile:
    """Say no to an offered file; its sender is told (now, or once they can be reached)."""

    def __init__(self, session: Session, engine: Transfers) -> None:
        self._session = session
        self._engine = engine

    async def execute(self, transfer_id: UUID) -> Transfer:
        """The incoming record, ``declined``. Raises ``TransferNotFound``, or
        ``InvalidStateTransition`` if the file was accepted already (cancel it instead)."""
        self._session.require_user()
        return as_shown(await self._engine.decline(transfer_id))
