from __future__ import annotations

from uuid import UUID

from chinwag.application.files.engine import Transfers
from chinwag.application.files.progress import as_shown
from chinwag.application.session import Session
from chinwag.domain.transfer import Transfer


class CancelFile:
    """Stop a file transfer, either way; the other side is told."""

    def __init__(self, session: Session, engine: Transfers) -> None:
        self._session = session
        self._engine = engine

    async def execute(self, transfer_id: UUID) -> Transfer:
        """The main record, ``cancelled``: the incoming one (its partial file deleted), or the
        outgoing one (the recipient's; a group's own, every member's being cancelled too).
        Raises ``TransferNotFound``, or ``InvalidStateTransition`` if it has ended already."""
        self._session.require_user()
        return as_shown(await self._engine.cancel(transfer_id))
