"""The ``PeerTransport`` port over TCP: a thin asyncio shell around the frame codec.

Outbound, one connection per (peer, address), opened on demand, checked by a ``hello``/``welcome``
handshake (so a stale address now used by somebody else is noticed), and reused; batches are
pipelined and matched to ``receipt`` frames by message id. Inbound, every connection is served by
its own task: it reads whatever has arrived, hands all the messages of those frames to the
application in one call, and acknowledges only the ids the application says are committed.
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

from chinwag.adapters.transport import protocol
from chinwag.adapters.wire.codec import EmptyFrame, FrameDecoder, FrameTooLarge, encode
from chinwag.application.errors import AddressInUse, PeerUnreachable
from chinwag.application.ports.peer_transport import DeliveryReport, InboundHandler
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.errors import DomainError
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress, normalize_username

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024
HELLO_MAX_FRAME = 4096
"""Until a peer has said who it is, it may send only small frames."""


@dataclass(frozen=True)
class TransportSettings:
    connect_timeout: float = 5.0
    handshake_timeout: float = 5.0
    ack_timeout: float = 30.0
    write_timeout: float = 30.0
    idle_timeout: float = 300.0
    """An accepted connection that completes no frame for this long is closed."""
    max_frame: int = protocol.MAX_FRAME
    max_inbound: int = 512
    max_inbound_per_host: int = 64


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

    def settle(self, message_id: UUID, rejection: str | None) -> None:
        self.remaining.discard(message_id)
        if rejection is None:
            self.acked.add(message_id)
        else:
            self.rejected[message_id] = rejection
        if not self.remaining and not self.future.done():
            self.future.set_result(
                DeliveryReport(acknowledged=frozenset(self.acked), rejected=self.rejected)
            )


class _Link:
    """An open, handshaken connection to one peer."""

    def __init__(
        self, peer: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_frame: int
    ) -> None:
        self.peer = peer
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder(max_frame)
        self.waiting: dict[UUID, _Waiter] = {}
        self.failure: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.on_fail: Callable[[_Link], None] | None = None

    async def read_frame(self) -> bytes:
        """The next frame (used only during the handshake, before the receipt loop starts)."""
        while True:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                raise ConnectionError("connection closed")
            frames = self.decoder.feed(data)
            if frames:
                if len(frames) > 1:
                    raise _ProtocolViolation("bad_frame", "unexpected frames after welcome")
                return frames[0]

    async def receive_receipts(self) -> None:
        try:
            while True:
                data = await self.reader.read(READ_CHUNK)
                if not data:
                    raise ConnectionError(f"{self.peer} closed the connection")
                for payload in self.decoder.feed(data):
                    frame = protocol.parse(payload)
                    if isinstance(frame, protocol.Receipt):
                        self._settle(frame)
                    elif isinstance(frame, protocol.Error):
                        raise ConnectionError(f"{self.peer} refused: {frame.message}")
                    else:
                        raise _ProtocolViolation("bad_frame", f"unexpected {frame.type} frame")
        except (OSError, ValueError, _ProtocolViolation) as exc:
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

    def __init__(self, settings: TransportSettings | None = None) -> None:
        self._settings = settings or TransportSettings()
        self._server: asyncio.Server | None = None
        self._me = ""
        self._handler: InboundHandler | None = None
        self._links: dict[tuple[str, PeerAddress], _Link] = {}
        self._connecting: dict[tuple[str, PeerAddress], asyncio.Future[_Link]] = {}
        self._inbound: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._inbound_hosts: Counter[str] = Counter()

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
        self, peer: str, address: PeerAddress, messages: Sequence[Message]
    ) -> DeliveryReport:
        if not messages:
            return DeliveryReport(acknowledged=frozenset())
        link = await self._link(peer, address)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(remaining={m.id for m in messages}, future=loop.create_future())
        for message in messages:
            link.waiting[message.id] = waiter
        try:
            link.writer.write(b"".join(encode(p) for p, _ in protocol.message_batches(messages)))
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

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
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

    async def _link(self, peer: str, address: PeerAddress) -> _Link:
        """The open link to ``peer`` at ``address``; callers arriving while it is being opened
        share the one attempt. A link that fails leaves the table at once."""
        key = (peer, address)
        link = self._links.get(key)
        if link is not None and link.usable:
            return link
        connecting = self._connecting.get(key)
        if connecting is None:
            connecting = asyncio.ensure_future(self._connect(peer, address))
            self._connecting[key] = connecting
            connecting.add_done_callback(lambda _: self._connecting.pop(key, None))
        link = await asyncio.shield(connecting)
        if key not in self._links and link.usable:
            link.on_fail = lambda failed: self._forget(key, failed)
            link.task = asyncio.create_task(link.receive_receipts(), name=f"receipts:{peer}")
            self._links[key] = link
        return link

    def _forget(self, key: tuple[str, PeerAddress], link: _Link) -> None:
        if self._links.get(key) is link:
            del self._links[key]

    async def _connect(self, peer: str, address: PeerAddress) -> _Link:
        settings = self._settings
        try:
            async with asyncio.timeout(settings.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    address.host, address.port, limit=READ_CHUNK
                )
        except (OSError, TimeoutError) as exc:
            raise PeerUnreachable(f"cannot reach {peer} at {address}: {_describe(exc)}") from None
        _tune(writer)
        link = _Link(peer, reader, writer, settings.max_frame)
        try:
            writer.write(encode(protocol.hello(self._me, peer)))
            async with asyncio.timeout(settings.handshake_timeout):
                await writer.drain()
                answer = protocol.parse(await link.read_frame())
        except (OSError, TimeoutError, ValueError, _ProtocolViolation) as exc:
            link.fail(str(exc))
            raise PeerUnreachable(
                f"no handshake with {peer} at {address}: {_describe(exc)}"
            ) from None
        if isinstance(answer, protocol.Error):
            link.fail(answer.message)
            raise PeerUnreachable(f"{peer} at {address} refused: {answer.message}")
        if not isinstance(answer, protocol.Welcome) or answer.user != peer:
            link.fail("unexpected answer")
            raise PeerUnreachable(f"{address} is not {peer} any more")
        return link

    # -- inbound ----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        where = writer.get_extra_info("peername")
        host = str(where[0]) if isinstance(where, tuple) else "?"
        self._inbound[task] = writer
        self._inbound_hosts[host] += 1
        _tune(writer)
        decoder = FrameDecoder(HELLO_MAX_FRAME)
        try:
            if (
                len(self._inbound) > self._settings.max_inbound
                or self._inbound_hosts[host] > self._settings.max_inbound_per_host
            ):
                raise _ProtocolViolation("busy", "too many connections; try again later")
            peer, early = await self._accept(reader, writer, decoder)
            await self._receive(peer, reader, writer, decoder, early)
        except _ProtocolViolation as exc:
            log.warning("peer %s: %s", where, exc)
            writer.write(encode(protocol.error(exc.code, str(exc))))
        except (FrameTooLarge, EmptyFrame) as exc:
            log.warning("peer %s: %s", where, exc)
            writer.write(encode(protocol.error("frame_too_large", str(exc))))
        except TimeoutError:
            log.info("peer %s idle or too slow; closing", where)
        except (OSError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("peer %s: could not store incoming messages; closing", where)
            writer.write(encode(protocol.error("internal", "the recipient could not store them")))
        finally:
            del self._inbound[task]
            self._inbound_hosts[host] -= 1
            if not self._inbound_hosts[host]:
                del self._inbound_hosts[host]
            await _close(writer)

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, decoder: FrameDecoder
    ) -> tuple[str, list[bytes]]:
        """Check the ``hello`` (a small frame) and answer ``welcome``; return the peer's name and
        any frames it already sent after its hello (a peer may pipeline them)."""
        deadline = asyncio.get_running_loop().time() + self._settings.handshake_timeout
        async with asyncio.timeout_at(deadline):
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
                "unsupported_version", f"peer protocol version {protocol.PROTOCOL_VERSION} only"
            )
        try:
            peer = normalize_username(hello.from_)
            wanted = normalize_username(hello.to)
        except DomainError as exc:
            raise _ProtocolViolation("invalid_username", str(exc)) from None
        if wanted != self._me:
            raise _ProtocolViolation("wrong_peer", f"this is {self._me}, not {wanted}")
        writer.write(encode(protocol.welcome(self._me)))
        async with asyncio.timeout_at(deadline):
            await writer.drain()
        decoder.max_frame = self._settings.max_frame
        return peer, decoder.feed(b"")

    async def _receive(
        self,
        peer: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decoder: FrameDecoder,
        early: list[bytes],
    ) -> None:
        handler = self._handler
        assert handler is not None
        conversation_id = direct_conversation_id(peer, self._me)
        loop = asyncio.get_running_loop()
        payloads = early
        # Only whole frames keep a connection alive: dribbling bytes of a frame does not.
        deadline = loop.time() + self._settings.idle_timeout
        while True:
            while not payloads:
                async with asyncio.timeout_at(deadline):
                    data = await reader.read(READ_CHUNK)
                if not data:
                    return
                payloads = decoder.feed(data)
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
            payloads = []
            if not batch and not rejected:
                continue
            committed = set(await handler.messages_received(peer, batch)) if batch else set()
            rejected.extend(
                (m.id, "refused", "the recipient refused it")
                for m in batch
                if m.id not in committed
            )
            writer.write(
                encode(protocol.receipt([m.id for m in batch if m.id in committed], rejected))
            )
            # A peer that sends but never reads its receipts is not waited for forever.
            async with asyncio.timeout(self._settings.write_timeout):
                await writer.drain()


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
