"""One open, authenticated session to a peer (direct or relayed): batches out, receipts in.

Batches are pipelined and matched to ``receipt`` frames by message id; a ``ping`` is matched to
its ``pong``; file requests (``file_get``, ``file_hashes``, ``file_notice``) to their answers
by kind, transfer and number (:mod:`~chinwag.adapters.transport.fetches`). When the session
fails, every delivery and request waiting on it fails with the reason.

The link reads its session itself (not through ``SecureStream.receive``) to note when the last
bytes came (:attr:`PeerLink.heard`): a fetch fails the session as stalled only when *nothing*
arrived for its timeout, not when one big piece is still on its way over a slow link.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from chinwag.adapters.secure.channel import READ_CHUNK, SecureError, SecureStream
from chinwag.adapters.transport import file_frames, protocol
from chinwag.adapters.transport.dispatch import Dispatcher, ProtocolViolation
from chinwag.adapters.transport.fetches import Answer, FileRequests, Key
from chinwag.adapters.wire.codec import FrameDecoder
from chinwag.application.errors import FileRefused, PeerUnreachable
from chinwag.application.ports.peer_transport import DeliveryReport, Route

DEFERRED = frozenset(protocol.WAITING)
"""Rejection codes that mean "not now": the sender keeps the message queued and tries later
(a quota; a group message the recipient cannot take until it has synced that group)."""


@dataclass(eq=False)  # compared and hashed by identity: links keep sets of them
class Waiter:
    """One ``deliver`` call waiting for the receipts of its messages."""

    remaining: set[UUID]
    future: asyncio.Future[DeliveryReport]
    route: Route
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
                    route=self.route,
                )
            )


class PeerLink:
    """An open, authenticated connection to one peer."""

    def __init__(
        self,
        peer: str,
        stream: SecureStream,
        route: Route,
        max_frame: int = protocol.MAX_FRAME,
    ) -> None:
        self.peer = peer
        self.stream = stream
        self.route = route
        self.direct_failure: str | None = None
        """Why the peer's address failed directly when this session went relayed instead."""
        self.pings: dict[int, asyncio.Future[None]] = {}
        self._ping_numbers = itertools.count()
        self.writer = stream.writer
        self.waiting: dict[UUID, Waiter] = {}
        self.failure: str | None = None
        self.failure_cause = "lost"
        """The doctor's word for :attr:`failure` (``lost``, ``timeout``, ``stalled``)."""
        self.task: asyncio.Task[None] | None = None
        self.on_fail: Callable[[PeerLink], None] | None = None
        self.files = FileRequests()
        """File requests waiting for their answers."""
        self._frames = FrameDecoder(max_frame)
        self.heard = 0.0
        """The loop's time when bytes last came from the peer (0: none yet)."""

    async def receive_receipts(self) -> None:
        try:
            while True:
                payloads = await self._receive()
                # Parsed one at a time: a malformed frame (a ValueError) fails the link
                # after the frames before it were handled.
                FRAMES.dispatch_all(self, (protocol.parse(payload) for payload in payloads))
        except (OSError, ValueError, ProtocolViolation, SecureError) as exc:
            self.fail(str(exc) or type(exc).__name__)
        except asyncio.CancelledError:
            self.fail("connection closed")
            raise

    async def _receive(self) -> list[bytes]:
        """The frames of the next read(s) that complete any (as ``SecureStream.receive``),
        noting when bytes came."""
        stream, decoder = self.stream, self._frames
        loop = asyncio.get_running_loop()
        frames = decoder.feed(stream.records.open(b""))  # records that came with the welcome
        while not frames:
            data = await stream.reader.read(READ_CHUNK)
            if not data:
                raise ConnectionError(f"{self.peer} closed the connection")
            self.heard = loop.time()
            frames = decoder.feed(stream.records.open(data))
        return frames

    def _settle(self, receipt: protocol.Receipt) -> None:
        """Each delivery waiting on the ``receipt``'s ids learns their fate."""
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

    def fail(self, reason: str, cause: str = "lost") -> None:
        """Close the link and fail every waiting delivery and request with ``reason``."""
        if self.failure is None:
            self.failure = reason
            self.failure_cause = cause
            if self.on_fail is not None:
                self.on_fail(self)
        self.writer.close()
        self.files.fail(PeerUnreachable(self.failure, self.failure_cause))
        for waiter in set(self.waiting.values()):
            if not waiter.future.done():
                waiter.future.set_exception(PeerUnreachable(self.failure))
        self.waiting.clear()
        for pinged in self.pings.values():
            if not pinged.done():
                pinged.set_exception(PeerUnreachable(self.failure))
        self.pings.clear()

    def _ponged(self, pong: protocol.Pong) -> None:
        pinged = self.pings.pop(pong.n, None)
        if pinged is not None and not pinged.done():
            pinged.set_result(None)

    def _piece(self, frame: file_frames.PieceFrame) -> None:
        self.files.answer(("piece", frame.transfer, frame.index), frame.data)

    def _hashes(self, frame: file_frames.HashesFrame) -> None:
        self.files.answer(("hashes", frame.transfer, frame.start), frame.data)

    def _noted(self, frame: file_frames.FileNoted) -> None:
        self.files.answer(("notice", frame.id, None), None)

    def _file_refused(self, frame: file_frames.FileError) -> None:
        at = None if frame.for_ == "notice" else frame.at
        self.files.refuse(
            (frame.for_, frame.id, at), FileRefused(frame.code, f"{self.peer}: {frame.reason}")
        )

    async def ask(self, key: Key, request: bytes, timeout: float) -> Answer:
        """Send a file ``request`` and wait for its answer (see :data:`Key`). ``FileRefused``
        if the peer refuses it; ``PeerUnreachable`` if the session fails, and ``stalled`` (the
        session then failed) if nothing at all came from the peer for ``timeout`` seconds."""
        if self.failure is not None:
            raise PeerUnreachable(self.failure, self.failure_cause)
        loop = asyncio.get_running_loop()
        future = self.files.expect(key)
        started = loop.time()
        try:
            self.stream.send([request])
            while not future.done():
                remaining = max(self.heard, started) + timeout - loop.time()
                if remaining <= 0:
                    self.fail(f"no data from {self.peer} for {timeout:g}s", "stalled")
                    break
                if self.writer.transport.get_write_buffer_size():
                    try:  # a peer that does not take our requests is as stalled
                        async with asyncio.timeout(remaining):
                            await self.writer.drain()
                    except TimeoutError:
                        continue
                    except OSError as exc:
                        self.fail(f"connection to {self.peer} lost: {exc}")
                        break
                await asyncio.wait([future], timeout=remaining)
            return future.result()
        finally:
            self.files.discard(key, future)
            if future.done() and not future.cancelled():
                future.exception()  # seen here, whoever raises it

    def _refused(self, error: protocol.Error) -> None:
        """The peer ended the session with a reason: the link fails with it."""
        raise ConnectionError(f"{self.peer} refused: {error.message}")

    @property
    def usable(self) -> bool:
        return self.failure is None and not self.writer.is_closing()

    async def ping(self, timeout: float) -> float:
        """A round trip on this session, in seconds."""
        loop = asyncio.get_running_loop()
        n = next(self._ping_numbers)
        pinged: asyncio.Future[None] = loop.create_future()
        self.pings[n] = pinged
        started = loop.time()
        try:
            self.stream.send([protocol.ping(n)])
            async with asyncio.timeout(timeout):
                await self.writer.drain()
                await pinged
        except TimeoutError:
            self.fail(f"{self.peer} did not answer a ping within {timeout:g}s")
            raise PeerUnreachable(self.failure or "timed out", "timeout") from None
        finally:
            self.pings.pop(n, None)
        return loop.time() - started


@contextlib.contextmanager
def failing(link: PeerLink, peer: str, late: str) -> Iterator[None]:
    """A session that times out (``late`` says how) or loses its connection is failed, and the
    caller told ``PeerUnreachable``: what was not answered goes again on a new session."""
    try:
        yield
    except TimeoutError:
        link.fail(late)
        raise PeerUnreachable(link.failure or "timed out", "timeout") from None
    except OSError as exc:
        link.fail(f"connection to {peer} lost: {exc}")
        raise PeerUnreachable(link.failure or str(exc)) from exc


FRAMES: Dispatcher[PeerLink] = Dispatcher()
"""What the connecting side takes inside a session, by frame type; any other is a bad_frame."""
FRAMES.register(protocol.Receipt, PeerLink._settle)
FRAMES.register(protocol.Pong, PeerLink._ponged)
FRAMES.register(protocol.Error, PeerLink._refused)
FRAMES.register(file_frames.PieceFrame, PeerLink._piece)
FRAMES.register(file_frames.HashesFrame, PeerLink._hashes)
FRAMES.register(file_frames.FileError, PeerLink._file_refused)
FRAMES.register(file_frames.FileNoted, PeerLink._noted)
