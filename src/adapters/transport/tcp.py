"""The ``PeerTransport`` port: the peer protocol over TCP, or relayed through the registry.

Outbound, one session per (peer, location), opened on demand and reused. The routes tried are
the application's rule (:func:`chinwag.application.routing.routes`): a TCP connection of our
own, else a byte stream relayed through the registry (:mod:`chinwag.adapters.registry.
relay_client`); a direct attempt that is refused, times out or finds no route falls back to the
relay. Either way the same Noise handshake (:mod:`chinwag.adapters.secure.channel`) must prove
the key the registry gave for the name, or nothing is sent; the accepting peer then asks the
application whether the connecting one (its name and key, proven in the same handshake) may
deliver, and answers ``welcome`` or an error. The session itself is
:mod:`chinwag.adapters.transport.outbound`; the accepting half, for TCP and relayed streams
alike, is :mod:`chinwag.adapters.transport.inbound`.

Group sync frames (``group_have``, ``group_changes``) go out like messages, on our own session
to the peer (opened if needed), never back on a session the peer opened to us: every session
carries frames one way and answers (receipts, pongs) the other, so whoever has something to say
opens its own. They are not answered on the wire.

File requests (``fetch_piece``, ``fetch_hashes``, ``send_notice``) go the same way: the one
who pulls a file asks on its own session to the sender, pipelined, and the answers come back
on it (:class:`~chinwag.adapters.transport.outbound.PeerLink.ask`); the sender serves them
from :mod:`~chinwag.adapters.transport.piece_server`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol
from uuid import UUID

from chinwag.adapters.secure.channel import (
    READ_CHUNK,
    Security,
)
from chinwag.adapters.transport import file_frames, protocol
from chinwag.adapters.transport.inbound import InboundConnections
from chinwag.adapters.transport.listening import AddressUnavailable, listen_refusal
from chinwag.adapters.transport.opening import Streams, open_tcp, secure_session
from chinwag.adapters.transport.outbound import DEFERRED, PeerLink, Waiter, failing
from chinwag.adapters.transport.settings import TransportSettings
from chinwag.adapters.wire.codec import encode
from chinwag.application.errors import PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import (
    DeliveryReport,
    GroupHave,
    InboundHandler,
    Probe,
    Route,
    TransferNotice,
)
from chinwag.application.routing import first_route, routes
from chinwag.domain.group import Change
from chinwag.domain.message import Message
from chinwag.domain.user import PeerAddress

log = logging.getLogger(__name__)

__all__ = [
    "DEFERRED",
    "AddressUnavailable",
    "RelayDialer",
    "TcpPeerTransport",
    "TransportSettings",
    "listen_refusal",
]


class RelayDialer(Protocol):
    """Byte streams relayed through the registry (the registry client implements it)."""

    def accept(
        self, serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
    ) -> None:
        """Hand every relayed session offered to us to ``serve``."""
        ...

    async def dial(self, peer: str) -> Streams:
        """A relayed stream to ``peer``; PeerUnreachable with the cause if there is none."""
        ...

    async def close(self) -> None: ...


class TcpPeerTransport:
    """Peer sessions over TCP or the registry's relay (see the module docstring)."""

    def __init__(
        self,
        security: Security,
        settings: TransportSettings | None = None,
        relay: RelayDialer | None = None,
    ) -> None:
        self._security = security
        self._settings = settings or TransportSettings()
        self._relay = relay
        self._server: asyncio.Server | None = None
        self._me = ""
        self._links: dict[tuple[str, PeerLocation], PeerLink] = {}
        self._connecting: dict[tuple[str, PeerLocation], asyncio.Future[PeerLink]] = {}
        self._inbound: InboundConnections | None = None
        self._direct_failed: dict[tuple[str, PeerAddress], tuple[float, str]] = {}
        """When a peer's address last failed directly, and why (the doctor's word)."""

    # -- the port ---------------------------------------------------------------------------

    async def listen(
        self, me: str, address: PeerAddress | None, handler: InboundHandler
    ) -> PeerAddress | None:
        self._me = me
        self._inbound = InboundConnections(self._security, self._settings, me, handler)
        if self._relay is not None:
            self._relay.accept(self._inbound.serve)
        if address is None:
            log.info("accepting no direct connections; peers reach us through the relay")
            return None
        try:
            self._server = await asyncio.start_server(
                self._inbound.serve, address.host, address.port, limit=READ_CHUNK
            )
        except OSError as exc:
            raise listen_refusal(address, exc) from exc
        host, port = self._server.sockets[0].getsockname()[:2]
        log.info("accepting peers on %s:%s", host, port)
        return PeerAddress(host=host, port=port)

    def route(self, peer: str) -> Route | None:
        for (name, _), link in reversed(self._links.items()):
            if name == peer and link.usable:
                return link.route
        return None

    async def probe(self, peer: str, location: PeerLocation) -> Probe:
        link = await self._link(peer, location)
        rtt = await link.ping(self._settings.ack_timeout)
        return Probe(route=link.route, rtt=rtt, direct_failure=link.direct_failure)

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        if not messages:
            return DeliveryReport(acknowledged=frozenset())
        link = await self._link(peer, location)
        loop = asyncio.get_running_loop()
        waiter = Waiter(
            remaining={m.id for m in messages}, future=loop.create_future(), route=link.route
        )
        for message in messages:
            link.waiting[message.id] = waiter
        try:
            link.stream.send_encoded(
                b"".join(encode(p) for p, _ in protocol.message_batches(messages))
            )
            timeout = self._settings.ack_timeout
            with failing(link, peer, f"{peer} did not acknowledge within {timeout:g}s"):
                async with asyncio.timeout(timeout):
                    await link.writer.drain()
                    return await waiter.future
        finally:
            for message in messages:
                if link.waiting.get(message.id) is waiter:
                    del link.waiting[message.id]
            if waiter.future.done() and not waiter.future.cancelled():
                waiter.future.exception()  # seen: failing the link failed it too, after us

    async def send_have(self, peer: str, location: PeerLocation, have: GroupHave) -> None:
        await self._send(peer, location, [protocol.group_have(have)])

    async def send_changes(
        self, peer: str, location: PeerLocation, changes: Sequence[Change]
    ) -> None:
        if changes:
            await self._send(peer, location, protocol.change_batches(changes))

    async def fetch_piece(
        self, peer: str, location: PeerLocation, transfer: UUID, index: int, timeout: float
    ) -> bytes:
        link = await self._link(peer, location)
        data = await link.ask(
            ("piece", transfer, index), file_frames.file_get(transfer, index), timeout
        )
        assert data is not None
        return data

    async def fetch_hashes(
        self, peer: str, location: PeerLocation, transfer: UUID, start: int
    ) -> bytes:
        link = await self._link(peer, location)
        data = await link.ask(
            ("hashes", transfer, start),
            file_frames.file_hashes(transfer, start),
            self._settings.fetch_timeout,
        )
        assert data is not None
        return data

    async def send_notice(self, peer: str, location: PeerLocation, notice: TransferNotice) -> None:
        link = await self._link(peer, location)
        await link.ask(
            ("notice", notice.transfer, None),
            file_frames.file_notice(notice),
            self._settings.ack_timeout,
        )

    async def _send(self, peer: str, location: PeerLocation, payloads: Iterable[bytes]) -> None:
        """Frames that get no answer, on the session :meth:`deliver` uses: returns once they
        are written (a peer that does not read them within ``write_timeout`` loses the session,
        as one that does not acknowledge does)."""
        link = await self._link(peer, location)
        timeout = self._settings.write_timeout
        with failing(link, peer, f"{peer} did not take what we sent within {timeout:g}s"):
            link.stream.send(payloads)
            async with asyncio.timeout(timeout):
                await link.writer.drain()
        if link.failure is not None:  # it broke meanwhile: what was written may be lost
            raise PeerUnreachable(link.failure)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._relay is not None:
            await self._relay.close()
        connecting = list(self._connecting.values())
        for attempt in connecting:  # connects in progress must not finish later and leak
            attempt.cancel()
        await asyncio.gather(*connecting, return_exceptions=True)
        links = list(self._links.values())
        for link in links:
            link.fail("transport closed")
            if link.task is not None:
                link.task.cancel()
        tasks = [t for t in (link.task for link in links) if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._inbound is not None:
            await self._inbound.close()
        if server is not None:
            await server.wait_closed()

    # -- outbound ---------------------------------------------------------------------------

    async def _link(self, peer: str, location: PeerLocation) -> PeerLink:
        """The open session to ``peer`` at ``location``; callers arriving while it is being
        opened share the one attempt. A session that fails leaves the table at once."""
        key = (peer, location)
        link = self._links.get(key)
        if link is not None and link.usable:
            return link
        connecting = self._connecting.get(key)
        if connecting is None:
            connecting = asyncio.ensure_future(self._connect(peer, location))
            self._connecting[key] = connecting
            connecting.add_done_callback(lambda attempt: self._settled(key, attempt))
        try:
            return await asyncio.shield(connecting)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if connecting.cancelled() and (task is None or not task.cancelling()):
                raise PeerUnreachable("the transport is closing") from None
            raise

    def _settled(self, key: tuple[str, PeerLocation], attempt: asyncio.Future[PeerLink]) -> None:
        """An attempt to open a session ended. Its callers may all have given up meanwhile (the
        doctor's deadline): the session is kept for the next caller all the same, and a failure
        is read here, so it is never reported as an exception nobody retrieved."""
        self._connecting.pop(key, None)
        if attempt.cancelled() or attempt.exception() is not None:
            return
        link = attempt.result()
        if link.usable and self._links.get(key) is not link:
            link.on_fail = lambda failed: self._forget(key, failed)
            link.task = asyncio.create_task(link.receive_receipts(), name=f"receipts:{key[0]}")
            self._links[key] = link

    def _forget(self, key: tuple[str, PeerLocation], link: PeerLink) -> None:
        if self._links.get(key) is link:
            del self._links[key]

    async def _connect(self, peer: str, location: PeerLocation) -> PeerLink:
        """A new session by the first route that works; a direct failure the relay may get
        around (FALLBACK_CAUSES) goes on to the next route."""
        loop = asyncio.get_running_loop()
        chosen = [r for r in routes(location) if r is Route.DIRECT or self._relay is not None]
        address = location.address
        direct_failure: str | None = None
        if address is not None and len(chosen) > 1:
            failed = self._direct_failed.get((peer, address))
            if failed is not None and loop.time() - failed[0] < self._settings.direct_retry:
                chosen.remove(Route.DIRECT)
                direct_failure = failed[1]

        async def attempt(route: Route) -> PeerLink:
            if route is Route.DIRECT:
                assert address is not None
                return await self._direct(peer, location, address)
            assert self._relay is not None
            reader, writer = await self._relay.dial(peer)
            return await self._secure(peer, location, reader, writer, Route.RELAYED)

        link, fell_back = await first_route(
            chosen,
            attempt,
            PeerUnreachable(f"{peer} accepts no connections and there is no relay", "unreachable"),
        )
        if fell_back is not None and address is not None:
            # Relayed for now; the address is tried again after ``direct_retry`` (not at once:
            # each try may cost a connect timeout). Only when the relay did carry: else the next
            # attempt must try everything again.
            self._direct_failed[(peer, address)] = (loop.time(), fell_back)
        if link.route is Route.RELAYED:
            link.direct_failure = fell_back or direct_failure
        return link

    async def _direct(self, peer: str, location: PeerLocation, address: PeerAddress) -> PeerLink:
        reader, writer = await open_tcp(peer, address, self._settings.connect_timeout)
        link = await self._secure(peer, location, reader, writer, Route.DIRECT)
        self._direct_failed.pop((peer, address), None)
        return link

    async def _secure(
        self,
        peer: str,
        location: PeerLocation,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        route: Route,
    ) -> PeerLink:
        return await secure_session(
            self._security, self._settings, self._me, peer, location, reader, writer, route
        )
