"""The ``PeerTransport`` port over TCP: a thin asyncio shell around the secure channel.

Outbound, one connection per (peer, address, key), opened on demand and reused. The Noise
handshake (:mod:`chinwag.adapters.secure.channel`) must prove the key the registry gave for the
name, or nothing is sent; the accepting peer then asks the application whether the connecting
one (its name and key, proven in the same handshake) may deliver, and answers ``welcome`` or an
error. Batches are pipelined and matched to ``receipt`` frames by message id. Inbound, every
connection is served by its own task: it reads whatever has arrived, hands all the messages of
those frames to the application in one call, and acknowledges only the ids the application says
are committed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from pydantic import ValidationError

from chinwag.adapters.secure.channel import (
    RemoteIdentity,
    SecureError,
    SecureStream,
    Security,
    accept_secure,
    open_secure,
)
from chinwag.adapters.transport import protocol
from chinwag.adapters.wire.codec import EmptyFrame, FrameDecoder, FrameTooLarge, encode
from chinwag.application.errors import AddressInUse, ChatError, PeerRefused, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import DeliveryReport, InboundHandler
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.errors import DomainError
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress, normalize_username

log = logging.getLogger(__name__)

DEFERRED = frozenset({"over_quota"})
"""Rejection codes that mean "not now": the sender keeps the message queued and tries later."""

READ_CHUNK = 256 * 1024
HELLO_MAX_FRAME = 4096
"""The clear ``hello`` is small; a bigger first frame is refused before it is buffered."""


@dataclass(frozen=True)
class TransportSettings:
    connect_timeout: float = 5.0
    handshake_timeout: float = 5.0
    ack_timeout: float = 30.0
    write_timeout: float = 30.0
    idle_timeout: float = 60.0
    """An accepted connection that completes no frame for this long is closed (the sender opens
    a new one when it has more to say)."""
    authorize_timeout: float = 10.0
    """How long the application may take to decide whether a peer may deliver (it may ask the
    registry for a stranger's key)."""
    max_frame: int = protocol.MAX_FRAME
    max_inbound: int = 512
    max_inbound_per_host: int = 64
    max_inbound_per_identity: int = 4
    """Connections one identity may hold open to us at once: one is all a client uses."""


class _ProtocolViolation(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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
                        raise _ProtocolViolation("bad_frame", f"unexpected {frame.type} frame")
        except (OSError, ValueError, _ProtocolViolation, SecureError) as exc:
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


class TcpPeerTransport:
    """Peer connections over TCP (see the module docstring and docs/protocol.md)."""

    def __init__(self, security: Security, settings: TransportSettings | None = None) -> None:
        self._security = security
        self._settings = settings or TransportSettings()
        self._server: asyncio.Server | None = None
        self._me = ""
        self._handler: InboundHandler | None = None
        self._links: dict[tuple[str, PeerLocation], _Link] = {}
        self._connecting: dict[tuple[str, PeerLocation], asyncio.Future[_Link]] = {}
        self._inbound: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._inbound_hosts: Counter[str] = Counter()
        self._inbound_identities: Counter[bytes] = Counter()

    # -- the port ---------------------------------------------------------------------------

    async def listen(self, me: str, address: PeerAddress, handler: InboundHandler) -> PeerAddress:
        self._me = me
        self._handler = handler
        try:
            self._server = await asyncio.start_server(
                self._serve, address.host, address.port, limit=READ_CHUNK
            )
        except OSError as exc:
            raise AddressInUse(f"cannot listen on {address}: {exc.strerror or exc}") from exc
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
        for task, writer in self._inbound.items():
            writer.close()
            task.cancel()  # it may be waiting on the application, not on the socket
        tasks = [t for t in (link.task for link in links) if t is not None]
        tasks.extend(self._inbound)
        await asyncio.gather(*tasks, return_exceptions=True)
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
        _tune(writer)

        def expect(remote: RemoteIdentity) -> None:
            # Checked before we say who we are: a stale address now used by somebody else, or
            # anybody posing as the peer, learns nothing and gets nothing.
            if _claimed_name(remote.name) != peer:
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

    # -- inbound ----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        where = writer.get_extra_info("peername")
        host = str(where[0]) if isinstance(where, tuple) else "?"
        self._inbound[task] = writer
        self._inbound_hosts[host] += 1
        identity: bytes | None = None
        _tune(writer)
        stream: SecureStream | None = None
        try:
            if (
                len(self._inbound) > self._settings.max_inbound
                or self._inbound_hosts[host] > self._settings.max_inbound_per_host
            ):
                raise _ProtocolViolation("busy", "too many connections; try again later")
            stream = await self._accept(reader, writer)
            identity = stream.remote.key
            self._inbound_identities[identity] += 1
            peer = await self._authorize(stream, self._inbound_identities[identity])
            await self._receive(peer, stream)
        except _ProtocolViolation as exc:
            log.warning("peer %s: %s", where, exc)
            _send_error(writer, stream, exc.code, str(exc))
        except (FrameTooLarge, EmptyFrame) as exc:
            log.warning("peer %s: %s", where, exc)
            _send_error(writer, stream, "frame_too_large", str(exc))
        except SecureError as exc:
            log.info("peer %s: %s", where, exc)
        except TimeoutError:
            log.info("peer %s idle or too slow; closing", where)
        except (OSError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("peer %s: could not store incoming messages; closing", where)
            _send_error(writer, stream, "internal", "the recipient could not store them")
        except asyncio.CancelledError:
            # close() ends every connection this way. The task is the connection's own (made
            # by the server), nobody awaits it, and on Python 3.11 the server's callback would
            # log a cancelled one as an error: end it quietly instead.
            if self._server is not None:
                raise
        finally:
            del self._inbound[task]
            self._inbound_hosts[host] -= 1
            if not self._inbound_hosts[host]:
                del self._inbound_hosts[host]
            if identity is not None:
                self._inbound_identities[identity] -= 1
                if not self._inbound_identities[identity]:
                    del self._inbound_identities[identity]
            await _close(writer)

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> SecureStream:
        """Read the clear ``hello`` (a small frame), then run the handshake as responder; all
        within ``handshake_timeout``, so a connection that does not authenticate goes soon."""
        decoder = FrameDecoder(HELLO_MAX_FRAME)
        async with asyncio.timeout(self._settings.handshake_timeout):
            frames: list[bytes] = []
            while not frames:
                data = await reader.read(READ_CHUNK)
                if not data:
                    raise ConnectionError("closed before hello")
                frames = decoder.feed(data, max_frames=1)
            try:
                hello = protocol.parse(frames[0])
            except ValueError:
                raise _ProtocolViolation("bad_frame", "expected a hello frame") from None
            if not isinstance(hello, protocol.Hello):
                raise _ProtocolViolation("bad_frame", "expected a hello frame")
            if hello.version != protocol.PROTOCOL_VERSION:
                raise _ProtocolViolation(
                    "unsupported_version",
                    f"peer protocol version {protocol.PROTOCOL_VERSION} only (encrypted); "
                    "please upgrade chinwag",
                )
            return await accept_secure(
                reader,
                writer,
                self._security,
                prologue=protocol.PROLOGUE + encode(frames[0]),
                max_frame=self._settings.max_frame,
                name=self._me,
                early=decoder.take_buffer(),
            )

    async def _authorize(self, stream: SecureStream, connections: int) -> str:
        """The proven peer's name once the application lets it deliver; ``welcome`` sent."""
        remote = stream.remote
        peer = _claimed_name(remote.name)
        if peer is None:
            raise _ProtocolViolation("invalid_username", "no valid name in the handshake")
        if _claimed_name(remote.to) != self._me:
            raise _ProtocolViolation("wrong_peer", f"this is {self._me}, not {remote.to}")
        if connections > self._settings.max_inbound_per_identity:
            raise _ProtocolViolation("busy", f"{peer} has too many connections open already")
        handler = self._handler
        assert handler is not None
        try:
            async with asyncio.timeout(self._settings.authorize_timeout):
                await handler.authorize(peer, remote.key)
        except PeerRefused as exc:
            raise _ProtocolViolation(exc.reason, str(exc)) from None
        except ChatError as exc:
            raise _ProtocolViolation(exc.code, str(exc)) from None
        stream.send([protocol.welcome(self._me)])
        async with asyncio.timeout(self._settings.write_timeout):
            await stream.drain()
        return peer

    async def _receive(self, peer: str, stream: SecureStream) -> None:
        handler = self._handler
        assert handler is not None
        conversation_id = direct_conversation_id(peer, self._me)
        loop = asyncio.get_running_loop()
        # Only whole frames keep a connection alive: dribbling bytes of a frame does not.
        deadline = loop.time() + self._settings.idle_timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    payloads = await stream.receive()
            except ConnectionError:
                return
            deadline = loop.time() + self._settings.idle_timeout
            batch: list[Message] = []
            rejected: list[tuple[UUID, str, str]] = []
            for payload in payloads:
                try:
                    frame = protocol.parse(payload)
                except ValidationError as exc:
                    raise _ProtocolViolation("bad_frame", _first_error(exc)) from None
                if not isinstance(frame, protocol.Messages):
                    raise _ProtocolViolation("bad_frame", f"unexpected {frame.type} frame")
                for wire in frame.messages:
                    if wire.from_ != peer:
                        rejected.append(
                            (
                                wire.id,
                                "wrong_sender",
                                f"this connection is {peer}'s, not {wire.from_}'s",
                            )
                        )
                        continue
                    try:
                        batch.append(
                            Message(
                                id=wire.id,
                                conversation_id=conversation_id,
                                sender=wire.from_,
                                recipient=wire.to,
                                body=wire.body,
                                sent_at=wire.sent_at,
                                state=MessageState.RECEIVED,
                            )
                        )
                    except (ValidationError, DomainError) as exc:
                        reason = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
                        rejected.append((wire.id, "invalid_message", reason))
            if not batch and not rejected:
                continue
            intake = await handler.messages_received(peer, batch) if batch else None
            committed = set(intake.committed) if intake else set()
            deferred = intake.deferred if intake else {}
            rejected.extend(
                (m.id, deferred[m.id], "the recipient takes no more for now")
                if m.id in deferred
                else (m.id, "refused", "the recipient refused it")
                for m in batch
                if m.id not in committed
            )
            stream.send([protocol.receipt([m.id for m in batch if m.id in committed], rejected)])
            # A peer that sends but never reads its receipts is not waited for forever.
            async with asyncio.timeout(self._settings.write_timeout):
                await stream.drain()


def _claimed_name(name: str | None) -> str | None:
    """A name from a handshake, normalised; None if it is missing or not a valid name."""
    if name is None:
        return None
    try:
        return normalize_username(name)
    except DomainError:
        return None


def _send_error(
    writer: asyncio.StreamWriter, stream: SecureStream | None, code: str, message: str
) -> None:
    """An error frame: inside the session once there is one, in clear before (only ``busy``,
    ``bad_frame`` and ``unsupported_version`` can be said before the handshake)."""
    if writer.is_closing():
        return
    if stream is None:
        writer.write(encode(protocol.error(code, message)))
    else:
        stream.send([protocol.error(code, message)])


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close, giving a last error frame a moment to leave; a peer that does not read is cut."""
    writer.close()
    try:
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()


def _tune(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
