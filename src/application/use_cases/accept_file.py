from __future__ import annotations

from uuid import UUID

from chinwag.application.files.engine import Transfers
from chinwag.application.files.progress import as_shown
from chinwag.application.session import Session
from chinwag.domain.transfer import Transfer


class AcceptFile:
    """Take an offered file: it is pulled into ``directory`` (the downloads folder if None)."""

    def __init__(self, session: Session, engine: Transfers) -> None:
        self._session = session
        self._engine = engine

    async def execute(self, transfer_id: UUID, directory: str | None = None) -> Transfer:
        """The incoming record, ``active`` (it says ``paused`` soon, with why, if the sender
        cannot be reached). Accepting a file already accepted (active or paused) tries again
        at once. Raises ``TransferNotFound`` if no file was offered as ``transfer_id``, and
        ``InvalidStateTransition`` if it is done, declined, cancelled or failed (a failed
        file is not retried: the sender offers it again)."""
        self._session.require_user()
        return as_shown(await self._engine.accept(transfer_id, directory))
