from __future__ import annotations

from chinwag.application.delivery import Courier
from chinwag.application.files.engine import Transfers
from chinwag.application.ports.directory import Directory
from chinwag.application.ports.peer_transport import PeerTransport
from chinwag.application.session import Session

GRACE = 5.0
"""How long signing out waits for messages already on their way to be acknowledged."""


class SignOut:
    """Let messages under way finish (briefly), leave the registry, stop talking to peers.

    Messages still unacknowledged after :data:`GRACE` seconds stay ``pending``. File transfers
    stop (what arrived is kept; they go on at the next sign-in)."""

    def __init__(
        self,
        session: Session,
        directory: Directory,
        transport: PeerTransport,
        courier: Courier,
        files: Transfers | None = None,
    ) -> None:
        self._files = files
        self._session = session
        self._directory = directory
        self._transport = transport
        self._courier = courier

    async def execute(self) -> None:
        try:
            if self._files is not None:
                await self._files.stop()
            await self._courier.close(grace=GRACE)
            await self._directory.sign_out()
        finally:
            if self._files is not None:
                await self._files.stop()
            await self._courier.close()
            await self._transport.close()
            self._session.end()
