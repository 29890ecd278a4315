"""One open, authenticated session to a peer (direct or relayed): batches out, receipts in.

Batches are pipelined and matched to ``receipt`` frames by message id; a ``ping`` is matched to
its ``pong``. When the session fails, every delivery waiting on it fails with the reason.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from chinwag.adapters.secure.channel import SecureError, SecureStream
from chinwag.adapters.transport import protocol
from chinwag.adapters.transport.dispatch import Dispatcher, ProtocolViolation
from chinwag.application.errors import PeerUnreachable
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

    def __init__(self, peer: str, stream: SecureStream, route: Route) -> None:
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
        self.task: asyncio.Task[None] | None = None
        self.on_fail: Callable[[PeerLink], None] | None = None

    async def receive_receipts(self) -> None:
        try:
            while True:
                try:
                    payloads = await self.stream.receive()
                except ConnectionError:
                    raise ConnectionError(f"{self.peer} closed the connection") from None
                # Parsed one at a time: a malformed frame (a ValueError) fails the link
                # after the frames before it were handled.
                FRAMES.dispatch_all(self, (protocol.parse(payload) for payload in payloads))
        except (OSError, ValueError, ProtocolViolation, SecureError) as exc:
            self.fail(str(exc) or type(exc).__name__)
        except asyncio.CancelledError:
            self.fail("connection closed")
            raise

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
        for pinged in self.pings.values():
            if not pinged.done():
                pinged.set_exception(PeerUnreachable(self.failure))
        self.pings.clear()

    def _ponged(self, pong: protocol.Pong) -> None:
        pinged = self.pings.pop(pong.n, None)
        if pinged is not None and not pinged.done():
            pinged.set_result(None)

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


FRAMES: Dispatcher[PeerLink] = Dispatcher()
"""What the connecting side takes inside a session, by frame type; any other is a bad_frame."""
FRAMES.register(protocol.Receipt, PeerLink._settle)
FRAMES.register(protocol.Pong, PeerLink._ponged)
FRAMES.register(protocol.Error, PeerLink._refused)
