from __future__ import annotations

from chinwag.application.files.engine import Transfers
from chinwag.application.files.status import TransferStatus
from chinwag.application.session import Session


class ListTransfers:
    """Files sent and received, newest first, with how fast those moving now go."""

    def __init__(self, session: Session, engine: Transfers) -> None:
        self._session = session
        self._engine = engine

    async def execute(self) -> list[TransferStatus]:
        self._session.require_user()
        return await self._engine.listing()
