from __future__ import annotations

from chinwag.application.delivery import Courier
from chinwag.application.ports.directory import Directory
from chinwag.application.ports.peer_transport import PeerTransport
from chinwag.application.session import Session


class SignOut:
    """Leave the registry and stop talking to peers. Unacknowledged messages stay ``pending``."""

    def __init__(
        self, session: Session, directory: Directory, transport: PeerTransport, courier: Courier
    ) -> None:
        self._session = session
        self._directory = directory
        self._transport = transport
        self._courier = courier

    async def execute(self) -> None:
        try:
            await self._directory.sign_out()
        finally:
            await self._courier.close()
            await self._transport.close()
            self._session.end()
