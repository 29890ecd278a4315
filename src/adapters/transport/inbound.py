"""The accepting half of the TCP peer transport: one task per connection that reads the clear
``hello``, runs the Noise handshake as responder, asks the application whether the proven peer
may deliver, then hands what it sends to the application as it reads (``Incoming``: the
application alone validates it) and acknowledges what is committed (docs/protocol.md).

Group sync frames (``group_have``, ``group_changes``) are not answered on the wire: they go to
the application through the peer's :class:`~chinwag.adapters.transport.group_inbox.GroupInbox`,
off the read loop. File requests (``file_get``, ``file_hashes``, ``file_notice``) go to the
application's ``FileServer`` off the read loop too, through the connection's
:class:`~chinwag.adapters.transport.piece_server.PieceServer`, which answers them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from pydantic import ValidationError

from chinwag.adapters.secure.channel import (
    SecureError,
    SecureStream,
    Security,
    accept_secure,
    close_writer,
    read_clear_frame,
)
from chinwag.adapters.transport import file_frames, protocol
from chinwag.adapters.transport.dispatch import Dispatcher, ProtocolViolation
from chinwag.adapters.transport.group_inbox import GroupInboxes
from chinwag.adapters.transport.piece_server import PieceServer, Request
from chinwag.adapters.transport.settings import TransportSettings
from chinwag.adapters.wire.codec import EmptyFrame, FrameDecoder, FrameTooLarge, encode
from chinwag.application.errors import ChatError, PeerRefused
from chinwag.application.ports.peer_transport import InboundHandler, Incoming, Intake
from chinwag.application.validation import first_error
from chinwag.domain.errors import DomainError
from chinwag.domain.user import normalize_username

log = logging.getLogger("chinwag.adapters.transport.tcp")

HELLO_MAX_FRAME = 4096
"""The clear ``hello`` is small; a bigger first frame is refused before it is buffered."""


REFUSALS = frozenset({"identity_changed", "wrong_key", "unverified", "busy"})
"""Codes of the application's refusals, as opposed to protocol violations."""


@dataclass
class Read:
    """One read's frames being handled: the context of the accepting side's handlers. What
    they gather is answered once the read's frames are all handled (one batch, one receipt)."""

    peer: str
    """The connection's authenticated name."""
    stream: SecureStream
    groups: GroupInboxes
    batch: list[Incoming] = field(default_factory=list)
    rejected: list[tuple[UUID, str, str]] = field(default_factory=list)
    files: PieceServer | None = None
    """The connection's file requests (None where a read takes none: some tests)."""
    wrote: bool = False
    """Whether the read's frames were answered at once (a pong, a ``busy``): drain after."""


def _answer_ping(read: Read, frame: protocol.Ping) -> None:
    """The sender timing a round trip."""
    read.stream.send([protocol.pong(frame.n)])
    read.wrote = True


def _take_messages(read: Read, frame: protocol.Messages) -> None:
    for wire in frame.messages:
        # The connection's authenticated name against the frame's claim: a check of this
        # session (like ``wrong_peer``), not a rule of conversations. A group message may be
        # forwarded by any member: its author's signature, checked by the application, is what
        # says who wrote it.
        if wire.group is None and wire.from_ != read.peer:
            read.rejected.append(
                (wire.id, "wrong_sender", f"this connection is {read.peer}'s, not {wire.from_}'s")
            )
            continue
        read.batch.append(
            Incoming(
                wire.id,
                wire.from_,
                wire.to,
                wire.body,
                wire.sent_at,
                wire.group,
                wire.seq,
                wire.version,
                wire.sig or b"",
                wire.file.to_offer() if wire.file is not None else None,
            )
        )


def _take_have(read: Read, frame: protocol.GroupHaveFrame) -> None:
    read.groups.of(read.peer).have(frame.to_have())


def _take_changes(read: Read, frame: protocol.GroupChangesFrame) -> None:
    read.groups.of(read.peer).changes(list(frame.changes))


def _request(read: Read, request: Request, frame: str) -> None:
    if read.files is None:
        raise ProtocolViolation("bad_frame", f"unexpected {frame} frame")
    if not read.files.submit(request):
        read.wrote = True


def _take_file_get(read: Read, frame: file_frames.FileGet) -> None:
    _request(read, Request("piece", frame.id, frame.piece), frame.type)


def _take_file_hashes(read: Read, frame: file_frames.FileHashes) -> None:
    _request(read, Request("hashes", frame.id, frame.from_), frame.type)


def _take_file_notice(read: Read, frame: file_frames.FileNotice) -> None:
    _request(read, Request("notice", frame.id, notice=frame.to_notice()), frame.type)


FRAMES: Dispatcher[Read] = Dispatcher()
"""What the accepting side takes inside a session, by frame type; any other is a bad_frame."""
FRAMES.register(protocol.Ping, _answer_ping)
FRAMES.register(protocol.Messages, _take_messages)
FRAMES.register(protocol.GroupHaveFrame, _take_have)
FRAMES.register(protocol.GroupChangesFrame, _take_changes)
FRAMES.register(file_frames.FileGet, _take_file_get)
FRAMES.register(file_frames.FileHashes, _take_file_hashes)
FRAMES.register(file_frames.FileNotice, _take_file_notice)


def _parsed(payloads: Iterable[bytes]) -> Iterator[protocol.AnyFrame]:
    """Each payload's frame, parsed only when the one before it was handled."""
    for payload in payloads:
        try:
            yield protocol.parse(payload)
        except ValidationError as exc:
            raise ProtocolViolation("bad_frame", first_error(exc)) from None


class InboundConnections:
    """Every connection a peer opened to us, served until it ends or :meth:`close`."""

    def __init__(
        self, security: Security, settings: TransportSettings, me: str, handler: InboundHandler
    ) -> None:
        self._security = security
        self._settings = settings
        self._me = me
        self._handler: InboundHandler | None = handler
        self.groups = GroupInboxes(handler)
        """Group frames from each peer, on their way to the application."""
        self._tasks: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._hosts: Counter[str] = Counter()
        self._identities: Counter[bytes] = Counter()
        self._closing = False

    async def close(self) -> None:
        """End every connection (a task may be waiting on the application, not the socket)."""
        self._closing = True
        for task, writer in self._tasks.items():
            writer.close()
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.groups.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        where = writer.get_extra_info("peername")
        host = str(where[0]) if isinstance(where, tuple) else "?"
        self._tasks[task] = writer
        self._hosts[host] += 1
        identity: bytes | None = None
        tune(writer)
        stream: SecureStream | None = None
        try:
            if (
                len(self._tasks) > self._settings.max_inbound
                or self._hosts[host] > self._settings.max_inbound_per_host
            ):
                raise ProtocolViolation("busy", "too many connections; try again later")
            stream = await self._accept(reader, writer)
            identity = stream.remote.key
            self._identities[identity] += 1
            peer = await self._authorize(stream, self._identities[identity])
            await self._receive(peer, stream)
        except ProtocolViolation as exc:
            # A peer the application turns away (a key not accepted yet, a quota) is an event
            # of the chat, told to the user elsewhere; only a broken protocol is worth a warning.
            level = logging.INFO if exc.code in REFUSALS else logging.WARNING
            log.log(level, "peer %s: %r", where, str(exc))
            send_error(writer, stream, exc.code, str(exc))
        except (FrameTooLarge, EmptyFrame) as exc:
            log.warning("peer %s: %r", where, str(exc))
            send_error(writer, stream, "frame_too_large", str(exc))
        except SecureError as exc:
            log.info("peer %s: %r", where, str(exc))
        except TimeoutError:
            log.info("peer %s idle or too slow; closing", where)
        except (OSError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("peer %s: could not store incoming messages; closing", where)
            send_error(writer, stream, "internal", "the recipient could not store them")
        except asyncio.CancelledError:
            # close() ends every connection this way. The task is the connection's own (made
            # by the server), nobody awaits it, and on Python 3.11 the server's callback would
            # log a cancelled one as an error: end it quietly instead.
            if not self._closing:
                raise
        finally:
            del self._tasks[task]
            self._hosts[host] -= 1
            if not self._hosts[host]:
                del self._hosts[host]
            if identity is not None:
                self._identities[identity] -= 1
                if not self._identities[identity]:
                    del self._identities[identity]
            await close_writer(writer)

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> SecureStream:
        """Read the clear ``hello`` (a small frame), then run the handshake as responder; all
        within ``handshake_timeout``, so a connection that does not authenticate goes soon."""
        decoder = FrameDecoder(HELLO_MAX_FRAME)
        async with asyncio.timeout(self._settings.handshake_timeout):
            first = await read_clear_frame(reader, decoder)
            try:
                hello = protocol.parse(first)
            except ValueError:
                raise ProtocolViolation("bad_frame", "expected a hello frame") from None
            if not isinstance(hello, protocol.Hello):
                raise ProtocolViolation("bad_frame", "expected a hello frame")
            if hello.version != protocol.PROTOCOL_VERSION:
                raise ProtocolViolation(
                    "unsupported_version",
                    f"peer protocol version {protocol.PROTOCOL_VERSION} only (encrypted); "
                    "please upgrade chinwag",
                )
            return await accept_secure(
                reader,
                writer,
                self._security,
                prologue=protocol.PROLOGUE + encode(first),
                max_frame=self._settings.max_frame,
                name=self._me,
                early=decoder.take_buffer(),
            )

    async def _authorize(self, stream: SecureStream, connections: int) -> str:
        """The proven peer's name once the application lets it deliver; ``welcome`` sent."""
        remote = stream.remote
        peer = claimed_name(remote.name)
        if peer is None:
            raise ProtocolViolation("invalid_username", "no valid name in the handshake")
        if claimed_name(remote.to) != self._me:
            raise ProtocolViolation("wrong_peer", f"this is {self._me}, not {remote.to}")
        if connections > self._settings.max_inbound_per_identity:
            raise ProtocolViolation("busy", f"{peer} has too many connections open already")
        await self._allowed(peer, stream)
        stream.send([protocol.welcome(self._me)])
        async with asyncio.timeout(self._settings.write_timeout):
            await stream.drain()
        return peer

    async def _allowed(self, peer: str, stream: SecureStream) -> None:
        """Ask the application whether ``peer``, with the key it proved, may deliver: after the
        handshake, and again before every batch is stored (a connection authorized once must
        not outlive the user's trust: a key change held since)."""
        handler = self._handler
        assert handler is not None
        try:
            async with asyncio.timeout(self._settings.authorize_timeout):
                await handler.authorize(peer, stream.remote.key)
        except PeerRefused as exc:
            raise ProtocolViolation(exc.reason, str(exc)) from None
        except ChatError as exc:
            raise ProtocolViolation(exc.code, str(exc)) from None
        except TimeoutError:
            raise ProtocolViolation("unverified", "could not check your key in time") from None

    async def _receive(self, peer: str, stream: SecureStream) -> None:
        handler = self._handler
        assert handler is not None
        files = PieceServer(peer, stream, handler, write_timeout=self._settings.write_timeout)
        try:
            await self._read(peer, stream, handler, files)
        finally:
            await files.close()  # the connection ended: what it asked for is not served

    async def _read(
        self, peer: str, stream: SecureStream, handler: InboundHandler, files: PieceServer
    ) -> None:
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
            read = Read(peer, stream, self.groups, files=files)
            FRAMES.dispatch_all(read, _parsed(payloads))
            batch, rejected = read.batch, read.rejected
            if not batch and not rejected:
                # Pongs and ``busy`` answers: a peer that asks but never reads is not served
                # forever. (Pieces have their own writers, which wait for room themselves.)
                if read.wrote and stream.writer.transport.get_write_buffer_size():
                    async with asyncio.timeout(self._settings.write_timeout):
                        await stream.drain()
                continue
            if batch:  # the user may have changed their mind about this key meanwhile
                await self._allowed(peer, stream)
                await self._changes_first(peer)
            intake = await handler.messages_received(peer, batch) if batch else Intake([])
            committed = set(intake.committed)
            rejected.extend(_refusal(m.id, intake) for m in batch if m.id not in committed)
            stream.send([protocol.receipt([m.id for m in batch if m.id in committed], rejected)])
            # A peer that sends but never reads its receipts is not waited for forever.
            async with asyncio.timeout(self._settings.write_timeout):
                await stream.drain()

    async def _changes_first(self, peer: str) -> None:
        """Wait (a while) for the group changes ``peer`` sent before its messages: they may be
        what admits them. Bounded: the application may be stuck on something of its own, even
        on us (answering a change by delivering to a peer that waits on this very loop)."""
        try:
            async with asyncio.timeout(self._settings.changes_wait):
                await self.groups.changes_handed(peer)
        except TimeoutError:
            log.info("peer %s: messages handed before its group changes (still in hand)", peer)


def _refusal(message_id: UUID, intake: Intake) -> tuple[UUID, str, str]:
    """The receipt's entry for a message the application did not commit: refused for now
    (``over_quota``, or a group to sync first), for good with its code and reason, or else
    plainly refused."""
    if message_id in intake.deferred:
        code = intake.deferred[message_id]
        return message_id, code, protocol.WAITING.get(code, "the recipient cannot take it yet")
    code, reason = intake.rejected.get(message_id, ("refused", "the recipient refused it"))
    return message_id, code, reason


def claimed_name(name: str | None) -> str | None:
    """A name from a handshake, normalised; None if it is missing or not a valid name."""
    if name is None:
        return None
    try:
        return normalize_username(name)
    except DomainError:
        return None


def send_error(
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


def tune(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):  # TCP, not a pipe
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
