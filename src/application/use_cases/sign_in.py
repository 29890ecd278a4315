from __future__ import annotations

from chinwag.application.ports.directory import Directory
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.peer_transport import InboundHandler, PeerTransport
from chinwag.application.session import Session
from chinwag.domain.user import PeerAddress, normalize_username


class SignIn:
    """Start accepting peers, then register with the registry under the user's name."""

    def __init__(
        self,
        session: Session,
        directory: Directory,
        transport: PeerTransport,
        inbound: InboundHandler,
        events: ChatEvents,
    ) -> None:
        self._session = session
        self._directory = directory
        self._transport = transport
        self._inbound = inbound
        self._events = events

    async def execute(self, username: str, listen: PeerAddress) -> PeerAddress:
        """Sign ``username`` in, listening at ``listen``; return the address peers will reach.

        Raises ``InvalidUsername``, ``AddressInUse``, ``NameTaken`` or ``RegistryUnavailable``;
        on any failure nothing is left listening.
        """
        name = normalize_username(username)
        # The session must name the user before the first peer can connect.
        self._session.start(name, listen)
        try:
            bound = await self._transport.listen(name, listen, self._inbound)
            self._session.start(name, bound)
            registered = await self._directory.sign_in(name, bound, self._events)
        except BaseException:
            self._session.end()
            await self._transport.close()
            raise
        self._session.start(registered, bound)
        return bound
