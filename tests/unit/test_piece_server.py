"""The accepting side's file request scheduler, with a fake session and a fake application."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from chinwag.adapters.secure.channel import SecureStream
from chinwag.adapters.transport import file_frames, protocol
from chinwag.adapters.transport.piece_server import PieceServer, Request
from chinwag.adapters.wire.codec import FrameDecoder
from chinwag.application.errors import FileRefused
from chinwag.application.ports.peer_transport import TransferNotice
from tests.support import wait_until

pytestmark = pytest.mark.timeout(30)


def run(coro: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(20):
            await coro

    asyncio.run(bounded())


class FakeTransport:
    def __init__(self) -> None:
        self.buffered = 0

    def get_write_buffer_size(self) -> int:
        return self.buffered


class FakeWriter:
    """A writer whose buffer the test fills and empties (``drained``)."""

    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.drained = asyncio.Event()
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed

    async def drain(self) -> None:
        await self.drained.wait()
        self.drained.clear()


class FakeStream:
    """Keeps what is sent, parsed: JSON answers and binary frames alike."""

    def __init__(self) -> None:
        self.writer = FakeWriter()
        self.frames: list[object] = []
        self.closed = False

    @property
    def closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def send(self, payloads: list[bytes]) -> None:
        self.frames.extend(protocol.parse(p) for p in payloads)

    def send_encoded(self, data: bytes) -> None:
        self.writer.transport.buffered += len(data)
        self.frames.extend(protocol.parse(p) for p in FrameDecoder(protocol.MAX_FRAME).feed(data))


class Files:
    """The application's FileServer: answers at once, or waits at ``gate`` while it is set."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, UUID, int | None]] = []
        self.gate: asyncio.Event | None = None
        self.in_hand = 0
        self.cancelled = 0
        self.refuse: dict[UUID, FileRefused] = {}
        self.crash: set[UUID] = set()
        self.notices: list[TransferNotice] = []

    async def _enter(self, kind: str, transfer: UUID, at: int | None) -> None:
        self.calls.append((kind, transfer, at))
        if transfer in self.crash:
            raise RuntimeError("disk on fire")
        if transfer in self.refuse:
            raise self.refuse[transfer]
        if self.gate is not None:
            self.in_hand += 1
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            finally:
                self.in_hand -= 1

    async def piece_requested(self, peer: str, transfer: UUID, index: int) -> bytes:
        await self._enter("piece", transfer, index)
        return bytes([index % 256]) * 1000

    async def hashes_requested(self, peer: str, transfer: UUID, start: int) -> bytes:
        await self._enter("hashes", transfer, start)
        return bytes(32) * 3

    async def notice_received(self, peer: str, notice: TransferNotice) -> None:
        await self._enter("notice", notice.transfer, None)
        self.notices.append(notice)


def server(files: Files, stream: FakeStream, **options: int) -> PieceServer:
    return PieceServer("alice", cast(SecureStream, stream), files, write_timeout=5.0, **options)


def test_transfers_are_served_round_robin_whatever_order_their_requests_came_in() -> None:
    async def scenario() -> None:
        files, stream = Files(), FakeStream()
        pieces = server(files, stream, workers=1)
        a, b, c = uuid4(), uuid4(), uuid4()
        for index in range(4):
            pieces.submit(Request("piece", a, index))
        for index in range(4):
            pieces.submit(Request("piece", b, index))
        pieces.submit(Request("piece", c, 0))
        await wait_until(lambda: len(stream.frames) == 9, what="every piece answered")
        assert [(t, i) for _, t, i in files.calls] == [
            (a, 0), (b, 0), (c, 0), (a, 1), (b, 1), (a, 2), (b, 2), (a, 3), (b, 3)
        ]  # fmt: skip
        assert stream.frames[0] == file_frames.PieceFrame(a, 0, bytes(1000))

    run(scenario())


def test_more_than_64_waiting_requests_are_answered_busy_at_once() -> None:
    async def scenario() -> None:
        files, stream = Files(), FakeStream()
        files.gate = asyncio.Event()
        pieces = server(files, stream)
        tid = uuid4()
        taken = [pieces.submit(Request("piece", tid, index)) for index in range(70)]
        assert taken == [True] * 64 + [False] * 6
        assert [(f.code, f.at) for f in stream.frames if isinstance(f, file_frames.FileError)] == [
            ("busy", index) for index in range(64, 70)
        ]
        await wait_until(lambda: files.in_hand == 4, what="four calls in hand")
        assert pieces.waiting == 60
        # Four in hand make room for four more.
        assert [pieces.submit(Request("piece", tid, i)) for i in range(70, 76)] == [
            True,
            True,
            True,
            True,
            False,
            False,
        ]
        files.gate.set()
        await wait_until(lambda: len(files.calls) == 68, what="every request served")
        assert pieces.refused_busy == 8

    run(scenario())


def test_refusals_and_failures_are_answered_and_serving_goes_on() -> None:
    async def scenario() -> None:
        files, stream = Files(), FakeStream()
        gone, broken, fine = uuid4(), uuid4(), uuid4()
        files.refuse[gone] = FileRefused("unknown_transfer", "no such offer")
        files.crash.add(broken)
        pieces = server(files, stream, workers=1)
        pieces.submit(Request("piece", gone, 3))
        pieces.submit(Request("hashes", broken, 8192))
        pieces.submit(Request("notice", gone, notice=TransferNotice(gone, "cancelled")))
        pieces.submit(Request("hashes", fine, 0))
        pieces.submit(Request("notice", fine, notice=TransferNotice(fine, "done")))
        await wait_until(lambda: len(stream.frames) == 5, what="five answers")
        refused = "unknown_transfer", "no such offer"
        failed = "internal", "the sender could not read it"
        assert stream.frames == [
            protocol.parse(file_frames.file_error(gone, "piece", 3, *refused)),
            protocol.parse(file_frames.file_error(broken, "hashes", 8192, *failed)),
            file_frames.HashesFrame(fine, 0, bytes(96)),
            protocol.parse(file_frames.file_error(gone, "notice", None, *refused)),
            protocol.parse(file_frames.file_noted(fine)),
        ]
        assert files.notices == [TransferNotice(fine, "done")]

    run(scenario())


def test_a_piece_is_written_only_while_the_buffer_is_under_the_low_water_mark() -> None:
    async def scenario() -> None:
        files, stream = Files(), FakeStream()
        pieces = server(files, stream, low_water=1500)
        tid = uuid4()
        for index in range(3):
            pieces.submit(Request("piece", tid, index))
        await wait_until(lambda: len(files.calls) == 3, what="three pieces read")
        await wait_until(lambda: len(stream.frames) == 2, what="two pieces written")
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(stream.frames) == 2  # 2000 bytes buffered: over the mark
        assert stream.writer.transport.buffered == 2 * (1000 + 4 + file_frames.HEAD_SIZE)
        stream.writer.transport.buffered = 0
        stream.writer.drained.set()
        await wait_until(lambda: len(stream.frames) == 3, what="the third once drained")

    run(scenario())


def test_closing_cancels_what_is_in_hand_and_drops_what_waits() -> None:
    async def scenario() -> None:
        files, stream = Files(), FakeStream()
        files.gate = asyncio.Event()
        pieces = server(files, stream)
        tid = uuid4()
        for index in range(10):
            pieces.submit(Request("piece", tid, index))
        await wait_until(lambda: files.in_hand == 4, what="four in hand")
        await pieces.close()
        assert files.cancelled == 4 and pieces.waiting == 0
        files.gate.set()
        assert not pieces.submit(Request("piece", tid, 11))
        await asyncio.sleep(0)
        assert len(files.calls) == 4 and stream.frames == []

    run(scenario())


def test_a_request_in_the_turn_the_last_workers_finish_is_still_served() -> None:
    """The workers leave the pool as they end, not a loop turn later: a request submitted
    between (the read loop's turn) once found four workers and started none, and waited for
    the asker's stall timeout."""

    async def scenario() -> None:
        files, stream = Files(), FakeStream()
        files.gate = asyncio.Event()
        pieces = server(files, stream)
        tid = uuid4()
        for index in range(4):
            assert pieces.submit(Request("piece", tid, index))
        await wait_until(lambda: files.in_hand == 4, what="four in hand")
        files.gate.set()  # the four finish next turn, and find nothing more
        asyncio.get_running_loop().call_soon(lambda: pieces.submit(Request("piece", tid, 99)))

        def answered() -> list[int]:
            return [f.index for f in stream.frames if isinstance(f, file_frames.PieceFrame)]

        await wait_until(lambda: 99 in answered(), what="the late request answered")

    run(scenario())
