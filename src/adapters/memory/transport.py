"""An in-memory network shared by in-memory transports: peers deliver by calling each other,
directly at an address or "relayed" by name (the registry's relay, without a registry).

Group sync frames are handed over as the TCP transport hands them: the sender does not wait for
the recipient's application (each is a task of the network's; :meth:`InMemoryNetwork.drain`
waits for them all), and messages to a peer wait for the changes sent to it before them.

Sessions are kept as TCP keeps them: one per peer and location, opened when first needed and
reused while the peer still listens there. The recipient lets a peer in (``authorize``) when a
session opens and again before every batch of messages, as the TCP recipient does; group frames
on an open session are not asked about. (Asking on every frame woke the recipient's courier on
every frame, which no TCP peer does.)

File requests call the sender's ``FileServer`` on the session, as TCP carries them: its
``FileRefused`` reaches the asker as it is; anything else it raises reaches the asker as
``FileRefused('internal')`` (the TCP sender answers so and goes on); a peer gone offline raises
``PeerUnreachable``; a piece that takes longer than the ask's ``timeout`` is ``stalled`` and
ends the session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any, TypeVar
from uuid import UUID

from chinwag.application.errors import (
    AddressInUse,
    ChatError,
    FileRefused,
    PeerRefused,
    PeerUnreachable,
)
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import (
    DeliveryReport,
    GroupHave,
    InboundHandler,
    Incoming,
    Probe,
    Route,
    TransferNotice,
)
from chinwag.application.routing import FALLBACK_CAUSES, first_route, routes
from chinwag.domain.group import Change
from chinwag.domain.message import Message
from chinwag.domain.user import PeerAddress

log = logging.getLogger(__name__)

T = TypeVar("T")

CHANGES_WAIT = 5.0
"""Seconds messages to a peer wait at most for the changes sent to it before them (as the TCP
transport's ``changes_wait``): the recipient's application may be stuck, not only slow."""


FILE_TIMEOUT = 5.0
"""Seconds a hashes request may take (the TCP transport's ``fetch_timeout``)."""
NOTICE_TIMEOUT = 30.0
"""Seconds a notice may take to be stored (the TCP transport's ``ack_timeout``)."""


class InMemoryNetwork:
    """Addresses to listening peers. ``port=0`` picks the next free port, as the kernel would."""

    def __init__(self) -> None:
        self._listeners: dict[PeerAddress, tuple[str, bytes, InboundHandler]] = {}
        self._relayable: dict[str, tuple[str, bytes, InboundHandler]] = {}
        self._next_port = 40000
        self.blocked: set[PeerAddress] = set()
        """Addresses that refuse every connection (a firewall), for tests."""
        self.relay_refusal: str | None = None
        """A cause (``relay_off``, ``relay_full``...) the relay answers with, for tests."""
        self._handovers: set[asyncio.Task[None]] = set()

    def hand_over(self, what: str, call: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run a recipient's handler for a frame that gets no answer, as a task of its own."""

        async def handed() -> None:
            try:
                await call
            except ChatError as exc:
                log.info("%s not taken: %s", what, exc)
            except Exception:
                log.exception("the recipient's application failed on a %s", what)

        task = asyncio.create_task(handed(), name=what)
        self._handovers.add(task)
        task.add_done_callback(self._handovers.discard)
        return task

    async def drain(self) -> None:
        """Return once every group frame sent so far is handled, and those that handling
        sent in turn, until none is left in hand."""
        while self._handovers:
            await asyncio.gather(*self._handovers, return_exceptions=True)

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

    def reachable_by_relay(self, me: str, key: bytes, handler: InboundHandler) -> None:
        self._relayable[me] = (me, key, handler)

    def leave_relay(self, me: str) -> None:
        self._relayable.pop(me, None)

    def find(self, address: PeerAddress) -> tuple[str, bytes, InboundHandler]:
        if address in self.blocked:
            raise PeerUnreachable(f"{address} refused the connection", "refused")
        try:
            return self._listeners[address]
        except KeyError:
            raise PeerUnreachable(f"nobody listens at {address}", "refused") from None

    def relay_to(self, peer: str) -> tuple[str, bytes, InboundHandler]:
        if self.relay_refusal is not None:
            raise PeerUnreachable(f"the relay refused: {self.relay_refusal}", self.relay_refusal)
        try:
            return self._relayable[peer]
        except KeyError:
            raise PeerUnreachable(f"the relay cannot reach {peer}", "unreachable") from None


class InMemoryTransport:
    """The ``PeerTransport`` port over an :class:`InMemoryNetwork`: keys are not proven with
    cryptography here, but they are checked both ways as the real transport checks them."""

    def __init__(self, network: InMemoryNetwork, key: bytes) -> None:
        self._network = network
        self._key = key
        self._address: PeerAddress | None = None
        self._me = ""
        self._routes: dict[str, Route] = {}
        self._fallbacks: dict[str, str] = {}
        self._changes: dict[str, asyncio.Task[None]] = {}
        """The last ``send_changes`` to each peer still being handled: messages wait for it."""
        self._sessions: dict[tuple[str, PeerLocation], tuple[Route, InboundHandler]] = {}
        """The sessions open, by peer and location: the route and the recipient's handler."""

    async def listen(
        self, me: str, address: PeerAddress | None, handler: InboundHandler
    ) -> PeerAddress | None:
        self._me = me
        self._network.reachable_by_relay(me, self._key, handler)
        if address is not None:
            wanted = None if address.port == 0 else address
            self._address = self._network.bind(me, self._key, wanted, handler)
        return self._address

    def route(self, peer: str) -> Route | None:
        return self._routes.get(peer)

    async def probe(self, peer: str, location: PeerLocation) -> Probe:
        route, _ = await self._reach(peer, location)
        return Probe(route=route, rtt=0.0, direct_failure=self._fallbacks.get(peer))

    async def _reach(self, peer: str, location: PeerLocation) -> tuple[Route, InboundHandler]:
        """The first of the location's routes that reaches ``peer`` (as the real transport
        falls back from a failed direct attempt to the relay)."""

        async def attempt(route: Route) -> tuple[Route, InboundHandler]:
            if route is Route.DIRECT:
                assert location.address is not None
                owner, key, handler = self._network.find(location.address)
            else:
                owner, key, handler = self._network.relay_to(peer)
            if owner != peer or key != location.key:
                raise PeerUnreachable(f"that is not {peer} with that key", "key_mismatch")
            return route, handler

        self._fallbacks.pop(peer, None)
        try:
            (route, handler), fell_back = await first_route(
                routes(location),
                attempt,
                PeerUnreachable(f"no route reaches {peer}", "unreachable"),
            )
        except PeerUnreachable as exc:
            if exc.cause in FALLBACK_CAUSES:  # no route left (a refusal keeps the last one)
                self._routes.pop(peer, None)
            raise
        if fell_back is not None:
            self._fallbacks[peer] = fell_back
        self._routes[peer] = route
        return route, handler

    async def _session(self, peer: str, location: PeerLocation) -> tuple[Route, InboundHandler]:
        """The session open to ``peer`` at ``location``, or a new one once the recipient let us
        in (as a TCP handshake ends). A session whose recipient is gone (it closed, signed out,
        or its address is blocked) ends, and a new one is opened."""
        key = (peer, location)
        session = self._sessions.get(key)
        if session is not None and self._still_open(peer, location, *session):
            self._routes[peer] = session[0]
            return session
        self._sessions.pop(key, None)
        route, handler = await self._reach(peer, location)
        await self._let_in(handler, key)
        self._sessions[key] = route, handler
        return route, handler

    def _still_open(
        self, peer: str, location: PeerLocation, route: Route, handler: InboundHandler
    ) -> bool:
        """Whether the recipient of a session still listens where the session reached it."""
        try:
            if route is Route.DIRECT:
                assert location.address is not None
                _, _, listening = self._network.find(location.address)
            else:
                _, _, listening = self._network.relay_to(peer)
        except PeerUnreachable:
            return False
        return listening is handler

    async def _let_in(self, handler: InboundHandler, key: tuple[str, PeerLocation]) -> None:
        """Ask the recipient to let us in; a refusal ends the session (as the TCP recipient
        closes the connection with its reason)."""
        try:
            await handler.authorize(self._me, self._key)
        except ChatError as exc:
            self._sessions.pop(key, None)
            if isinstance(exc, PeerRefused):
                raise
            raise PeerRefused(exc.code, str(exc)) from exc

    async def send_have(self, peer: str, location: PeerLocation, have: GroupHave) -> None:
        _, handler = await self._session(peer, location)
        self._network.hand_over(
            f"group_have from {self._me} to {peer}", handler.group_have_received(self._me, have)
        )

    async def send_changes(
        self, peer: str, location: PeerLocation, changes: Sequence[Change]
    ) -> None:
        if not changes:
            return
        _, handler = await self._session(peer, location)
        before = self._changes.get(peer)
        taken = list(changes)

        async def in_order() -> None:
            if before is not None:  # one session's frames are handled in the order sent
                await asyncio.wait([before])
            await handler.group_changes_received(self._me, taken)

        task = self._network.hand_over(f"group_changes from {self._me} to {peer}", in_order())
        self._changes[peer] = task
        task.add_done_callback(lambda done: self._changed(peer, done))

    def _changed(self, peer: str, task: asyncio.Task[None]) -> None:
        if self._changes.get(peer) is task:
            del self._changes[peer]

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        route, handler = await self._session(peer, location)
        await self._let_in(handler, (peer, location))  # before every batch, as over TCP
        changes = self._changes.get(peer)
        if changes is not None:  # sent before these messages: they may be what admits them
            await asyncio.wait([changes], timeout=CHANGES_WAIT)
        intake = await handler.messages_received(self._me, [Incoming.of(m) for m in messages])
        acknowledged = frozenset(intake.committed)
        rejected = {  # the reason for people, as the TCP sender keeps it from a receipt
            m.id: intake.rejected.get(m.id, ("refused", "the recipient refused it"))[1]
            for m in messages
            if m.id not in acknowledged and m.id not in intake.deferred
        }
        return DeliveryReport(acknowledged, rejected, dict(intake.deferred), route)

    async def fetch_piece(
        self, peer: str, location: PeerLocation, transfer: UUID, index: int, timeout: float
    ) -> bytes:
        _, handler = await self._session(peer, location)
        return await self._file_call(
            peer, location, handler.piece_requested(self._me, transfer, index), timeout
        )

    async def fetch_hashes(
        self, peer: str, location: PeerLocation, transfer: UUID, start: int
    ) -> bytes:
        _, handler = await self._session(peer, location)
        return await self._file_call(
            peer, location, handler.hashes_requested(self._me, transfer, start), FILE_TIMEOUT
        )

    async def send_notice(self, peer: str, location: PeerLocation, notice: TransferNotice) -> None:
        _, handler = await self._session(peer, location)
        await self._file_call(
            peer, location, handler.notice_received(self._me, notice), NOTICE_TIMEOUT
        )

    async def _file_call(
        self, peer: str, location: PeerLocation, call: Awaitable[T], timeout: float
    ) -> T:
        """The sender's answer to a file request, as the TCP asker gets it."""
        try:
            async with asyncio.timeout(timeout):
                return await call
        except FileRefused:
            raise
        except TimeoutError:
            self._sessions.pop((peer, location), None)  # as TCP fails a stalled session
            raise PeerUnreachable(f"no data from {peer} for {timeout:g}s", "stalled") from None
        except Exception as exc:
            log.info("%s could not answer a file request: %r", peer, exc)
            raise FileRefused("internal", f"{peer}: the sender could not read it") from exc

    async def close(self) -> None:
        self._network.leave_relay(self._me)
        self._routes.clear()
        self._changes.clear()
        self._sessions.clear()
        if self._address is not None:
            self._network.unbind(self._address)
            self._address = None
