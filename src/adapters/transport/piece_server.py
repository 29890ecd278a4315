"""The accepting side's file requests, one scheduler per connection (docs/protocol.md, "Files").

A peer we offered a file pulls it: ``file_get`` (a piece), ``file_hashes`` (the piece hashes)
and ``file_notice`` (a transfer ended) arrive on the session it opened to us, among its messages
and pings. The read loop must not wait for the disk, nor may the pieces we send crowd out the
receipts and pongs of the same session. So the read loop only hands each request to this
connection's :class:`PieceServer`, which:

- keeps at most ``max_waiting`` (64) requests waiting; one more is answered ``busy`` at once
  (the peer asks again later), so a flood costs a bounded queue;
- serves the transfers round robin, one request of each in turn, so many transfers share the
  link fairly, whatever order their requests came in;
- runs up to ``workers`` (4) calls of the application at once, so disk reads overlap network
  writes;
- writes a piece (or hashes) only while the connection's write buffer holds at most
  ``low_water`` (256 KiB) bytes, waiting for the transport to drain first: a receipt or pong
  written meanwhile waits behind at most that and about one piece.

What the application raises is answered, never fatal: ``FileRefused`` as a ``file_error`` with
its reason code, anything else as ``internal`` (logged); the connection goes on. When the
connection ends (:meth:`PieceServer.close`), what waits is dropped and what is in hand cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Final, Literal
from uuid import UUID

from chinwag.adapters.secure.channel import SecureStream
from chinwag.adapters.transport import file_frames
from chinwag.application.errors import FileRefused
from chinwag.application.ports.peer_transport import FileServer, TransferNotice
from chinwag.domain.transfer import MAX_PIECE_SIZE, SHA256_SIZE

log = logging.getLogger("chinwag.adapters.transport.tcp")

MAX_WAITING: Final = 64
"""Requests one connection may have waiting (not yet in hand); one more is answered ``busy``."""
WORKERS: Final = 4
"""Calls of the application one connection may have in hand at once."""
LOW_WATER: Final = 256 * 1024
"""A piece is written only while the connection's write buffer holds at most this many bytes."""

Kind = Literal["piece", "hashes", "notice"]


@dataclass(frozen=True, slots=True)
class Request:
    """One request of the peer: a piece or hashes (``at``: the index or start), or a notice."""

    kind: Kind
    transfer: UUID
    at: int | None = None
    notice: TransferNotice | None = None


class PieceServer:
    """One connection's file requests, served as the module docstring says."""

    def __init__(
        self,
        peer: str,
        stream: SecureStream,
        handler: FileServer,
        *,
        write_timeout: float = 30.0,
        max_waiting: int = MAX_WAITING,
        workers: int = WORKERS,
        low_water: int = LOW_WATER,
    ) -> None:
        self.peer = peer
        self._stream = stream
        self._handler = handler
        self._write_timeout = write_timeout
        self._max_waiting = max_waiting
        self._max_workers = workers
        self._low_water = low_water
        self._queues: OrderedDict[UUID, deque[Request]] = OrderedDict()
        """Waiting requests by transfer; the first transfer is served next, then goes last."""
        self._waiting = 0
        self._workers: set[asyncio.Task[None]] = set()
        self._closed = False
        self.refused_busy = 0
        """Requests answered ``busy`` (for tests and logs)."""
        self.failures = 0
        """Requests the application failed on (answered ``internal``)."""

    @property
    def waiting(self) -> int:
        return self._waiting

    def submit(self, request: Request) -> bool:
        """Queue ``request`` (called by the read loop: never waits). False if it was answered
        ``busy`` at once instead (something was written: the read loop drains)."""
        if self._closed:
            return False
        if self._waiting >= self._max_waiting:
            self.refused_busy += 1
            if self.refused_busy in (1, 100) or not self.refused_busy % 10000:
                log.info("peer %s asks for more than %d things at once", self.peer, self._waiting)
            self._answer_error(request, "busy", "too many requests at once; ask again")
            return False
        queue = self._queues.get(request.transfer)
        if queue is None:
            queue = self._queues[request.transfer] = deque()
        queue.append(request)
        self._waiting += 1
        if len(self._workers) < self._max_workers:
            worker = asyncio.create_task(self._work(), name=f"files:{self.peer}")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        return True

    async def close(self) -> None:
        """Drop what waits, cancel what is in hand (the connection ended)."""
        self._closed = True
        self._queues.clear()
        self._waiting = 0
        workers = list(self._workers)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    # -- serving ---------------------------------------------------------------------------

    def _next(self) -> Request | None:
        """The next request, round robin over transfers."""
        if not self._queues:
            return None
        transfer, queue = next(iter(self._queues.items()))
        request = queue.popleft()
        if queue:
            self._queues.move_to_end(transfer)
        else:
            del self._queues[transfer]
        self._waiting -= 1
        return request

    async def _work(self) -> None:
        try:
            while (request := self._next()) is not None:
                await self._serve(request)
            # Out of the pool before this turn ends: a request submitted in the same turn
            # must start a worker (a done-callback would run a turn later, and strand it).
            self._workers.discard(asyncio.current_task())
        except (ConnectionError, OSError, TimeoutError) as exc:
            # The peer stopped reading (or left): the connection cannot carry answers any more.
            if not self._closed:
                log.info("peer %s: file answers not taken (%s); closing", self.peer, exc)
                self._closed = True
                self._stream.close()

    async def _serve(self, request: Request) -> None:
        try:
            data = await self._ask(request)
        except FileRefused as exc:
            await self._room()  # every answer waits for room: a peer that never reads
            self._answer_error(request, exc.reason, str(exc))  # is not answered into memory
            return
        except Exception:
            self.failures += 1
            if self.failures <= 5:  # a broken store fails every request: the first few say why
                log.exception(
                    "peer %s: the application failed on a %s request", self.peer, request.kind
                )
            await self._room()
            self._answer_error(request, "internal", "the sender could not read it")
            return
        if data is None:
            await self._room()
            if not self._stream.closing:
                self._stream.send([file_frames.file_noted(request.transfer)])
            return
        await self._room()
        assert request.at is not None
        kind = file_frames.PIECE if request.kind == "piece" else file_frames.HASHES
        self._stream.send_encoded(
            file_frames.encoded_binary(kind, request.transfer, request.at, data)
        )

    async def _ask(self, request: Request) -> bytes | None:
        """The application's answer: a piece's or hashes' data (checked to fit an answer), or
        None once a notice is handled."""
        handler = self._handler
        if request.kind == "notice":
            assert request.notice is not None
            await handler.notice_received(self.peer, request.notice)
            return None
        assert request.at is not None
        if request.kind == "piece":
            data = await handler.piece_requested(self.peer, request.transfer, request.at)
            if len(data) > MAX_PIECE_SIZE:
                raise ValueError(f"a piece of {len(data)} bytes is over {MAX_PIECE_SIZE}")
            return data
        data = await handler.hashes_requested(self.peer, request.transfer, request.at)
        if len(data) % SHA256_SIZE or len(data) > file_frames.MAX_HASHES_BYTES:
            raise ValueError(f"{len(data)} bytes of hashes is not a whole answer")
        return data

    async def _room(self) -> None:
        """Return once the write buffer holds at most ``low_water`` bytes (TimeoutError if the
        peer takes nothing for ``write_timeout``)."""
        writer = self._stream.writer
        transport = writer.transport
        async with asyncio.timeout(self._write_timeout):
            while transport.get_write_buffer_size() > self._low_water:
                if writer.is_closing():
                    raise ConnectionResetError("the connection is closing")
                await writer.drain()
                if transport.get_write_buffer_size() > self._low_water:
                    # Another worker wrote first (they all wake on one resume), or a transport
                    # whose pause mark is above ours: wait a moment, never spin.
                    await asyncio.sleep(0.001)

    def _answer_error(self, request: Request, code: str, reason: str) -> None:
        if self._stream.closing:
            return
        at = None if request.kind == "notice" else request.at
        self._stream.send(
            [file_frames.file_error(request.transfer, request.kind, at, code, reason)]
        )
