from __future__ import annotations

from chinwag.application.delivery import Courier
from chinwag.application.files.engine import Transfers
from chinwag.application.ports.directory import Directory, DirectoryListener
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.ports.peer_transport import InboundHandler, PeerTransport
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.watch_list import WatchList
from chinwag.domain.user import PeerAddress, normalize_username


class SignIn:
    """Start accepting peers, register with the registry, then resume the outbox and the
    file transfers."""

    def __init__(
        self,
        session: Session,
        directory: Directory,
        transport: PeerTransport,
        inbound: InboundHandler,
        presence: DirectoryListener,
        messages: MessageRepository,
        courier: Courier,
        trust: TrustPolicy,
        files: Transfers | None = None,
        watch_list: WatchList | None = None,
    ) -> None:
        self._files = files
        self._watch_list = watch_list
        self._trust = trust
        self._session = session
        self._directory = directory
        self._transport = transport
        self._inbound = inbound
        self._presence = presence
        self._messages = messages
        self._courier = courier

    async def execute(self, username: str, listen: PeerAddress | None) -> PeerAddress | None:
        """Sign ``username`` in, listening at ``listen`` (None: accepting no direct connections,
        reached through the registry's relay only); return the address peers will reach.

        The people the user has to do with (contacts, conversations, group members) are
        watched first, so the registry tells this client when they come and go. Deliveries
        stored earlier but not acknowledged (each member's of a group message) are
        taken up again, in order, ahead of any sent while this runs; so are accepted files not
        received yet, and notices about transfers not given yet. Raises
        ``InvalidUsername``, ``AddressInUse``, ``NameTaken`` or ``RegistryUnavailable``; on any
        failure nothing is left listening.
        """
        name = normalize_username(username)
        # The session must name the user before the first peer can connect.
        self._session.start(name, listen)
        self._trust.signed_in_as(name)
        self._courier.hold()  # sends from now on go out after the outbox read below
        registered: str | None = None
        try:
            bound = await self._transport.listen(name, listen, self._inbound)
            self._session.start(name, bound)
            if self._watch_list is not None:
                # Before registering, so the list goes with the registration and the first
                # presence already covers it. Never fails sign-in (logged instead).
                await self._watch_list.start()
            registered = await self._directory.sign_in(name, bound, self._presence)
            self._courier.resume(await self._messages.pending_deliveries(registered))
            if self._files is not None:
                await self._files.start()
        except BaseException:
            self._session.end()
            if self._files is not None:
                await self._files.stop()
            if registered is not None:
                await self._directory.sign_out()
            await self._transport.close()
            raise
        self._session.start(registered, bound)
        self._trust.signed_in_as(registered)
        return bound
