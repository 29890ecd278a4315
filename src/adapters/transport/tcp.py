"""The ``PeerTransport`` port over TCP: a thin asyncio shell around the secure channel.

Outbound, one connection per (peer, address, key), opened on demand and reused. The Noise
handshake (:mod:`chinwag.adapters.secure.channel`) must prove the key the registry gave for the
name, or nothing is sent; the accepting peer then asks the application whether the connecting
one (its name and key, proven in the same handshake) may deliver, and answers ``welcome`` or an
error. Batches are pipelined and matched to ``receipt`` frames by message id. The accepting
half is :mod:`chinwag.adapters.transport.inbound`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from chinwag.adapters.secure.channel import (
    READ_CHUNK,
    RemoteIdentity,
    SecureError,
    SecureStream,
    Security,
    open_secure,
)
from chinwag.adapters.transport import protocol
from chinwag.adapters.transport.inbound import (
    InboundConnections,
    ProtocolViolation,
    claimed_name,
    tune,
)
from chinwag.adapters.transport.settings import TransportSettings
from chinwag.adapters.wire.codec import encode
from chinwag.application.errors import AddressInUse, ChatError, PeerRefused, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import DeliveryReport, InboundHandler
from chinwag.domain.message import Message
from chinwag.domain.user import PeerAddress

log = logging.getLogger(__name__)

__all__ = ["DEFERRED", "TcpPeerTransport", "TransportSettings"]

DEFERRED = frozenset({"over_quota"})
"""Rejection codes that mean "not now": the sender keeps the message queued and tries later."""


@dataclass(eq=False)  # compared and hashed by identity: links keep sets of them
class _Waiter:
    """One ``deliver`` call waiting for the receipts of its messages."""

    remaining: set[UUID]
    future: asyncio.Future[DeliveryReport]
    acked: set[UUID] = field(default_factory=set)
    rejected: dict[UUID, str] = field(default_factory=dict)
    deferred: dict[UUID, str] = field(default_factory=dict)

    def settle(self, message_id: UUID, rejection: str | None, *, deferred: bool = False) -> None:
        self.remaining.discard(message_id)
        if rejection is None:
            self.acked.add(message_id)
        elif deferred:
            self.deferred[message_id] = rejection
        else:
            self.rejected[message_id] = rejection
        if not self.remaining and not self.future.done():
            self.future.set_result(
                DeliveryReport(
                    acknowledged=frozenset(self.acked),
                    rejected=self.rejected,
                    deferred=self.deferred,
                )
            )


class _Link:
    """An open, authenticated connection to one peer."""

    def __init__(self, peer: str, stream: SecureStream) -> None:
        self.peer = peer
        self.stream = stream
        self.writer = stream.writer
        self.waiting: dict[UUID, _Waiter] = {}
        self.failure: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.on_fail: Callable[[_Link], None] | None = None

    async def receive_receipts(self) -> None:
        try:
            while True:
                try:
                    payloads = await self.stream.receive()
                except ConnectionError:
                    raise ConnectionError(f"{self.peer} closed the connection") from None
                for payload in payloads:
                    frame = protocol.parse(payload)
                    if isinstance(frame, protocol.Receipt):
                        self._settle(frame)
                    elif isinstance(frame, protocol.Error):
                        raise ConnectionError(f"{self.peer} refused: {frame.message}")
                    else:
                        raise ProtocolViolation("bad_frame", f"unexpected {frame.type} frame")
        except (OSError, ValueError, ProtocolViolation, SecureError) as exc:
            self.fail(str(exc) or type(exc).__name__)
        except asyncio.CancelledError:
            self.fail("connection closed")
            raise

    def _settle(self, receipt: protocol.Receipt) -> None:
        for message_id in receipt.acked:
            waiter = self.waiting.pop(message_id, None)
            if waiter is not None:
                waiter.settle(message_id, None)
        for rejection in receipt.rejected:
            waiter = self.waiting.pop(rejection.id, None)
            if waiter is not None:
                if rejection.code in DEFERRED:  # the code is the reason the sender shows
                    waiter.settle(rejection.id, rejection.code, deferred=True)
                else:
                    waiter.settle(rejection.id, rejection.reason)

    def fail(self, reason: str) -> None:
        """Close the link and fail every waiting delivery with ``reason``."""
        if self.failure is None:
            self.failure = reason
            if self.on_fail is not None:
                self.on_fail(self)
        self.writer.close()
        for waiter in set(self.waiting.values()):
            if not waiter.future.done():
                waiter.future.set_exception(PeerUnreachable(self.failure))
        self.waiting.clear()

    @property
    def usable(self) -> bool:
        return self.failure is None and not self.writer.is_closing()


class AddressUnavailable(ChatError):
    """The address to listen on is not one of this machine's, or cannot be used at all."""

    code = "address_unavailable"


def listen_refusal(address: PeerAddress, exc: OSError) -> ChatError:
    """Why ``address`` cannot be listened on, in our words: only a port that is taken is
    ``address_in_use``; a host that is not this machine's, or no host at all, is said as such."""
    where = f"cannot listen on {address}"
    if exc.errno == errno.EADDRINUSE:
        return AddressInUse(f"{where}: the port is already in use (give another, or 0 for any)")
    if isinstance(exc, socket.gaierror):
        return AddressUnavailable(
            f"{where}: there is no host {address.host!r} (give an address of this machine, "
            "e.g. 127.0.0.1, or 0.0.0.0 for all of them)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return AddressUnavailable(
            f"{where}: {address.host} is not an address of this machine (give one of its "
            "addresses, e.g. 127.0.0.1, or 0.0.0.0 for all of them)"
        )
    if exc.errno == errno.EACCES:
        return AddressUnavailable(f"{where}: permission denied (ports below 1024 need privileges)")
    return AddressUnavailable(f"{where}: {(exc.strerror or str(exc)).lower()}")


class TcpPeerTransport:
    """Peer connections over TCP (see the module docstring and docs/protocol.md)."""

    def __init__(self, security: Security, settings: TransportSettings | None = None) -> None:
        self._security = security
        self._settings = settings or TransportSettings()
        self._server: asyncio.Server | None = None
        self._me = ""
        self._links: dict[tuple[str, PeerLocation], _Link] = {}
        self._connecting: dict[tuple[str, PeerLocation], asyncio.Future[_Link]] = {}
        self._inbound: InboundConnections | None = None

    # -- the port ---------------------------------------------------------------------------

    async def listen(self, me: str, address: PeerAddress, handler: InboundHandler) -> PeerAddress:
        self._me = me
        self._inbound = InboundConnections(self._security, self._settings, me, handler)
        try:
            self._server = await asyncio.start_server(
                self._inbound.serve, address.host, address.port, limit=READ_CHUNK
            )
        except OSError as exc:
            raise listen_refusal(address, exc) from exc
        host, port = self._server.sockets[0].getsockname()[:2]
        log.info("accepting peers on %s:%s", host, port)
        return PeerAddress(host=host, port=port)

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        if not messages:
            return DeliveryReport(acknowledged=frozenset())
        link = await self._link(peer, location)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(remaining={m.id for m in messages}, future=loop.create_future())
        for message in messages:
            link.waiting[message.id] = waiter
        try:
            link.stream.send_encoded(
                b"".join(encode(p) for p, _ in protocol.message_batches(messages))
            )
            async with asyncio.timeout(self._settings.ack_timeout):
                await link.writer.drain()
                return await waiter.future
        except TimeoutError:
            link.fail(f"{peer} did not acknowledge within {self._settings.ack_timeout:g}s")
            raise PeerUnreachable(link.failure or "timed out") from None
        except OSError as exc:
            link.fail(f"connection to {peer} lost: {exc}")
            raise PeerUnreachable(link.failure or str(exc)) from exc
        finally:
            for message in messages:
                if link.waiting.get(message.id) is waiter:
                    del link.waiting[message.id]
            if waiter.future.done() and not waiter.future.cancelled():
                waiter.future.exception()  # seen: failing the link failed it too, after us

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
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

    async def _link(self, peer: str, location: PeerLocation) -> _Link:
        """The open link to ``peer`` at ``location``; callers arriving while it is being opened
        share the one attempt. A link that fails leaves the table at once."""
        key = (peer, location)
        link = self._links.get(key)
        if link is not None and link.usable:
            return link
        connecting = self._connecting.get(key)
        if connecting is None:
            connecting = asyncio.ensure_future(self._connect(peer, location))
            self._connecting[key] = connecting
            connecting.add_done_callback(lambda _: self._connecting.pop(key, None))
        try:
            link = await asyncio.shield(connecting)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if connecting.cancelled() and (task is None or not task.cancelling()):
                raise PeerUnreachable("the transport is closing") from None
            raise
        if key not in self._links and link.usable:
            link.on_fail = lambda failed: self._forget(key, failed)
            link.task = asyncio.create_task(link.receive_receipts(), name=f"receipts:{peer}")
            self._links[key] = link
        return link

    def _forget(self, key: tuple[str, PeerLocation], link: _Link) -> None:
        if self._links.get(key) is link:
            del self._links[key]

    async def _connect(self, peer: str, location: PeerLocation) -> _Link:
        settings = self._settings
        address = location.address
        try:
            async with asyncio.timeout(settings.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    address.host, address.port, limit=READ_CHUNK
                )
        except (OSError, TimeoutError) as exc:
            raise PeerUnreachable(f"cannot reach {peer} at {address}: {_describe(exc)}") from None
        tune(writer)

        def expect(remote: RemoteIdentity) -> None:
            # Checked before we say who we are: a stale address now used by somebody else, or
            # anybody posing as the peer, learns nothing and gets nothing.
            if claimed_name(remote.name) != peer:
                raise SecureError("wrong_peer", f"{address} is not {peer} any more")
            if remote.key != location.key:
                raise SecureError("wrong_key", f"{address} does not hold {peer}'s key")

        hello = encode(protocol.hello())
        try:
            async with asyncio.timeout(settings.handshake_timeout):
                stream = await open_secure(
                    reader,
                    writer,
                    self._security,
                    prologue=protocol.PROLOGUE + hello,
                    max_frame=settings.max_frame,
                    name=self._me,
                    to=peer,
                    expect=expect,
                    preamble=hello,
                )
            # The peer may ask its registry before it answers: wait longer than it may take.
            async with asyncio.timeout(settings.authorize_timeout + settings.handshake_timeout):
                answer = protocol.parse((await stream.receive())[0])
        except (OSError, TimeoutError, ValueError, SecureError) as exc:
            writer.close()
            raise PeerUnreachable(
                f"no secure session with {peer} at {address}: {_describe(exc)}"
            ) from None
        except BaseException:  # cancelled (the transport is closing): no socket left behind
            writer.transport.abort()
            raise
        link = _Link(peer, stream)
        if isinstance(answer, protocol.Error):
            link.fail(answer.message)
            raise PeerRefused(answer.code, f"{peer} refused: {answer.message}")
        if not isinstance(answer, protocol.Welcome):
            link.fail("unexpected answer")
            raise PeerUnreachable(f"{peer} at {address} answered {answer.type!r}, not welcome")
        return link


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
