"""An in-memory network shared by in-memory transports: peers deliver by calling each other."""

from __future__ import annotations

from collections.abc import Sequence

from chinwag.application.errors import AddressInUse, ChatError, PeerRefused, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import DeliveryReport, InboundHandler
from chinwag.domain.message import Message
from chinwag.domain.user import PeerAddress


class InMemoryNetwork:
    """Addresses to listening peers. ``port=0`` picks the next free port, as the kernel would."""

    def __init__(self) -> None:
        self._listeners: dict[PeerAddress, tuple[str, bytes, InboundHandler]] = {}
        self._next_port = 40000

    def bind(
        self, me: str, key: bytes, address: PeerAddress | None, handler: InboundHandler
    ) -> PeerAddress:
        if address is None:
            self._next_port += 1
            address = PeerAddress(host="memory", port=self._next_port)
        if address in self._listeners:
            raise AddressInUse(f"{address} is in use")
        self._listeners[address] = (me, key, handler)
        return address

    def unbind(self, address: PeerAddress) -> None:
        self._listeners.pop(address, None)

    def find(self, address: PeerAddress) -> tuple[str, bytes, InboundHandler]:
        try:
            return self._listeners[address]
        except KeyError:
            raise PeerUnreachable(f"nobody listens at {address}") from None


class InMemoryTransport:
    """The ``PeerTransport`` port over an :class:`InMemoryNetwork`: keys are not proven with
    cryptography here, but they are checked both ways as the real transport checks them."""

    def __init__(self, network: InMemoryNetwork, key: bytes) -> None:
        self._network = network
        self._key = key
        self._address: PeerAddress | None = None
        self._me = ""

    async def listen(self, me: str, address: PeerAddress, handler: InboundHandler) -> PeerAddress:
        wanted = None if address.port == 0 else address
        self._address = self._network.bind(me, self._key, wanted, handler)
        self._me = me
        return self._address

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        owner, key, handler = self._network.find(location.address)
        if owner != peer or key != location.key:
            raise PeerUnreachable(f"{location.address} is not {peer} with that key")
        try:
            await handler.authorize(self._me, self._key)
        except PeerRefused:
            raise
        except ChatError as exc:
            raise PeerRefused(exc.code, str(exc)) from exc
        intake = await handler.messages_received(self._me, messages)
        acknowledged = frozenset(intake.committed)
        rejected = {
            m.id: "the recipient refused it"
            for m in messages
            if m.id not in acknowledged and m.id not in intake.deferred
        }
        return DeliveryReport(acknowledged, rejected, dict(intake.deferred))

    async def close(self) -> None:
        if self._address is not None:
            self._network.unbind(self._address)
            self._address = None
